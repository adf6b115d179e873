"""Drop it and regenerate: a prompt edited by ranges of its tokens.

A client shows the prompt as tokens (the contract's token strings: joined, with
`▁` read as a space, they spell the text). To remove a segment, or replace it
with typed text, it sends the ranges of those tokens; the server builds the
edited prompt from the same tokens, so both agree on exactly what was removed.

An edit is {"start": B, "end": B, "text": T}: the text between the two
boundaries is replaced by T ("" or no "text": removed). A boundary B is a token
index i (the start of token i) or [i, c]: c characters into token i's text (0 <=
c <= its length), so a range may start or end inside a token. Tokens are
numbered as `_NAME_tokenizer` and `_NAME_salience` return them for the example
(prompt + target, BOS first); ranges lie within the prompt's tokens (from
token 1 to the prompt's end) and do not overlap.

The text edited is the prompt as its tokens spell it (BOS left out): the
joined token texts of the prompt's tokens, then whatever of the example's
prompt follows them (a last character merged into the target's first token).
The record of what changed (`Edit.record`) is what an edited example keeps.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass

from lit_seqsal.contract import FieldNames
from lit_seqsal.errors import InputError
from lit_seqsal.tokens import token_text

_FIELD = FieldNames.EDITS


@dataclass(frozen=True)
class Change:
  start: int  # character offsets in the original prompt text, [start, end)
  end: int
  removed: str
  text: str
  tokens: tuple[tuple[int, int], tuple[int, int]]  # the boundaries as [token, character]


@dataclass(frozen=True)
class Edit:
  original: str  # the prompt as its tokens spell it
  edited: str
  changes: tuple[Change, ...]

  @property
  def record(self) -> dict:
    """What changed, as JSON: the edited example's `edit` field."""
    return {
      "original_prompt": self.original,
      "edited_prompt": self.edited,
      "changes": [
        {
          "start": c.start,
          "end": c.end,
          "removed": c.removed,
          "text": c.text,
          "tokens": [list(c.tokens[0]), list(c.tokens[1])],
        }
        for c in self.changes
      ],
    }


def parse(value) -> list[dict]:
  """The `edits` field as a list of objects (from a list or its JSON text)."""
  if isinstance(value, str):
    try:
      value = json.loads(value)
    except ValueError as e:
      raise InputError(f"Field {_FIELD!r} is not valid JSON: {e}") from None
  if not isinstance(value, list) or not value:
    raise InputError(
      f'Field {_FIELD!r} must be a non-empty list of {{"start", "end", "text"}} objects'
      " (token boundaries: a token index or [token index, character offset])."
    )
  for i, item in enumerate(value):
    if not isinstance(item, dict) or "start" not in item or "end" not in item:
      raise InputError(f"Field {_FIELD!r}, edit {i}: needs 'start' and 'end'.")
    if not isinstance(item.get("text", ""), str):
      raise InputError(f"Field {_FIELD!r}, edit {i}: 'text' must be a text.")
  return value


def _boundary(value, texts: Sequence[str], num_prompt: int, where: str) -> tuple[int, int]:
  """A boundary as (token, character), checked to lie within the prompt."""
  if isinstance(value, bool):
    value = None
  if isinstance(value, int):
    token, char = value, 0
  elif (
    isinstance(value, (list, tuple))
    and len(value) == 2
    and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
  ):
    token, char = value
  else:
    raise InputError(
      f"{where} must be a token index or [token index, character offset], got {value!r}."
    )
  if not 1 <= token <= num_prompt or (token == num_prompt and char != 0):
    raise InputError(
      f"{where} is outside the prompt: its tokens are 1 to {num_prompt - 1} (token 0 is"
      f" BOS; {num_prompt} is the prompt's end), got {value!r}."
    )
  length = len(texts[token]) if token < num_prompt else 0
  if not 0 <= char <= length:
    raise InputError(
      f"{where}: token {token} ({texts[token]!r}) has {length} characters;"
      f" offset {char} is outside it."
    )
  return token, char


def apply(tokens: Sequence[str], num_prompt: int, prompt: str, edits) -> Edit:
  """The prompt with `edits` applied (see the module docstring).

  `tokens`: the example's token strings (BOS first); `num_prompt`: how many of
  them are the prompt's; `prompt`: the example's prompt text.
  """
  texts = [token_text(t) for t in tokens]
  starts = [0, 0]  # character offset of each token in the prompt text (BOS: none)
  for t in texts[1:num_prompt]:
    starts.append(starts[-1] + len(t))
  spelled = "".join(texts[1:num_prompt])
  original = spelled + (prompt[len(spelled) :] if prompt.startswith(spelled) else "")
  changes = []
  for i, item in enumerate(parse(edits)):
    start = _boundary(item["start"], texts, num_prompt, f"Field {_FIELD!r}, edit {i}, 'start'")
    end = _boundary(item["end"], texts, num_prompt, f"Field {_FIELD!r}, edit {i}, 'end'")
    a, b = starts[start[0]] + start[1], starts[end[0]] + end[1]
    if b < a:
      raise InputError(f"Field {_FIELD!r}, edit {i}: 'end' comes before 'start'.")
    text = item.get("text", "") or ""
    changes.append(Change(a, b, original[a:b], text, (start, end)))
  changes.sort(key=lambda c: (c.start, c.end))
  for before, after in itertools.pairwise(changes):
    if after.start < before.end:
      raise InputError(f"Field {_FIELD!r}: two edits overlap (characters {after.start} on).")
  pieces, at = [], 0
  for c in changes:
    pieces += [original[at : c.start], c.text]
    at = c.end
  pieces.append(original[at:])
  return Edit(original, "".join(pieces), tuple(changes))
