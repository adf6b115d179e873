"""Segmenting token strings into words, sentences, lines and paragraphs.

The same rules as the client's `segments.ts` (a test runs both on the same
tokens), so that occlusion removes exactly the segments a user sees. They work
from the token strings alone: `▁` marks a word start, newlines stay `\\n`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lit_seqsal import inputs
from lit_seqsal import tokens as token_display

# The client's granularities, less custom patterns (which stay client-side).
GRANULARITIES = ("tokens", "words", "sentences", "lines", "paragraphs")

_SENTENCE_END = re.compile(r"[.!?。！？][\"'”’)\]]*\s*$")


def check_granularity(granularity, field: str = "granularity") -> str:
  return inputs.one_of(granularity, field, GRANULARITIES, " (custom patterns are client-side only)")


def _ends(texts: list[str], granularity: str) -> list[bool]:
  """ends[i]: a segment ends after token i."""
  n = len(texts)

  def next_starts_word(i: int) -> bool:
    """No token follows token i, or the next one starts with a space."""
    return i + 1 >= n or texts[i + 1].startswith(" ")

  if granularity == "tokens":
    ends = [True] * n
  elif granularity == "words":
    # A word ends before a token starting with a space, and at a newline.
    ends = [("\n" in t) or next_starts_word(i) for i, t in enumerate(texts)]
  elif granularity == "lines":
    ends = ["\n" in t for t in texts]
  elif granularity == "paragraphs":
    # A blank line: "\n\n" in one token, or a newline token after a line end.
    ends = [
      ("\n\n" in t) or (t.startswith("\n") and i > 0 and texts[i - 1].endswith("\n"))
      for i, t in enumerate(texts)
    ]
  elif granularity == "sentences":
    ends = [
      ("\n" in t) or (bool(_SENTENCE_END.search(t)) and next_starts_word(i))
      for i, t in enumerate(texts)
    ]
  else:
    check_granularity(granularity)
  if n:
    ends[-1] = True
  return ends


def segment_tokens(
  tokens: Sequence[str], granularity: str, start: int = 0, end: int | None = None
) -> list[tuple[int, int]]:
  """Token ranges [a, b) of the segments of tokens[start:end], in order.

  Boundaries are those of the whole sequence, cut at `start` and `end`.
  """
  check_granularity(granularity)
  end = len(tokens) if end is None else end
  ends = _ends([token_display.token_text(t) for t in tokens], granularity)
  segments, a = [], start
  for i in range(start, end):
    if ends[i] or i == end - 1:
      segments.append((a, i + 1))
      a = i + 1
  return segments
