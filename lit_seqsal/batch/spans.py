"""What an example explains: which output tokens the target mask selects.

The output is the example's target (`--explain=target`) or the model's own
generation (`--explain=generation`). Without a selector the whole output is
explained (the salience model's default). With one (`--span=REGEX`), the output
is cut into segments at `--span_granularity` (lines by default) by the same
rules as the client (lit_seqsal/salience/segmentation.py), and the first
segment whose text (without its surrounding whitespace) matches the regular
expression is explained, as if a person had clicked it in the client: its
whitespace-only end tokens (the newline a line keeps) are left out, as the
client's `explainedRange` does (lit_seqsal/client/src/salience_data.ts).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lit_seqsal.errors import InputError
from lit_seqsal.salience import segmentation
from lit_seqsal.tokens import token_text

EXPLAIN_CHOICES = ("target", "generation")


class SpanError(InputError):
  """The span selector matches nothing in an example's output."""


@dataclass(frozen=True)
class Span:
  start: int  # token range [start, end) of prompt + output that is explained
  end: int
  text: str  # what those tokens show

  def mask(self, num_tokens: int) -> list[int]:
    return [1 if self.start <= i < self.end and i > 0 else 0 for i in range(num_tokens)]


def compile_selector(pattern: str) -> re.Pattern | None:
  """The span selector; None for the whole output. re.error for an invalid one."""
  return re.compile(pattern, re.MULTILINE) if pattern else None


def _blank(token: str) -> bool:
  return not token_text(token).strip()


def explained_range(tokens: Sequence[str], start: int, end: int) -> tuple[int, int]:
  """[start, end) without whitespace-only tokens at its ends (the client's explainedRange)."""
  s, e = start, end
  while e - 1 > s and _blank(tokens[e - 1]):
    e -= 1
  while s < e - 1 and _blank(tokens[s]):
    s += 1
  return (start, end) if _blank(tokens[s]) and e - s == 1 else (s, e)


def select_span(
  tokens: Sequence[str], prompt_length: int, selector: re.Pattern | None, granularity: str = "lines"
) -> Span:
  """The span of the output (tokens [prompt_length, len)) to explain."""
  n = len(tokens)

  def text_of(a: int, b: int) -> str:
    return "".join(token_text(t) for t in tokens[a:b])

  if prompt_length >= n:
    raise InputError("Nothing to explain: the output is empty.")
  if selector is None:
    return Span(prompt_length, n, text_of(prompt_length, n))
  for a, b in segmentation.segment_tokens(tokens, granularity, prompt_length, n):
    if selector.search(text_of(a, b).strip()):
      a, b = explained_range(tokens, a, b)
      return Span(a, b, text_of(a, b))
  output = text_of(prompt_length, n)
  shown = output if len(output) <= 200 else output[:200] + "…"
  raise SpanError(
    f"The span selector /{selector.pattern}/ matches no {granularity[:-1]} of the output {shown!r}."
  )
