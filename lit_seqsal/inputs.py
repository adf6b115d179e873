"""Checks on the examples a model is asked about, shared by every framework.

Each check raises `InputError` with a message that names the field and says
what is allowed, so every framework rejects bad input with the same words (and
the server can answer 400 with them; see lit_seqsal/serving/responses.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lit_seqsal.contract import FieldNames
from lit_seqsal.errors import InputError  # the error every check here raises (400)


def prompt_of(example: Mapping, *, index: int | None = None) -> str:
  prompt = example.get(FieldNames.PROMPT)
  where = "" if index is None else f" (example {index})"
  if not isinstance(prompt, str):
    raise InputError(f"Field 'prompt'{where} is required and must be a string.")
  if not prompt.strip():
    raise InputError(f"Field 'prompt'{where} is empty: write a prompt to run the model on.")
  return prompt


def target_of(example: Mapping) -> str:
  target = example.get(FieldNames.TARGET) or ""
  if not isinstance(target, str):
    raise InputError("Field 'target' must be a string.")
  return target


def check_length(num_tokens: int, max_length: int, what: str) -> None:
  if num_tokens > max_length:
    raise InputError(
      f"{what} is {num_tokens} tokens long, over this model's maximum of"
      f" {max_length} tokens (--sequence_length / max_length). Shorten the"
      " input or load the model with a larger maximum length."
    )


def is_empty(value) -> bool:
  """A missing optional field: None, or an empty list (LIT's client sends [])."""
  return value is None or (hasattr(value, "__len__") and len(value) == 0)


def target_mask_for(example: Mapping, num_tokens: int, num_prompt_tokens: int) -> np.ndarray:
  """The 0/1 mask of tokens to explain, as float32 of length num_tokens.

  Without a `target_mask`, every token of the target is explained. Position 0
  (BOS) is never a target: nothing predicts it.
  """
  mask = example.get(FieldNames.TARGET_MASK)
  if is_empty(mask):
    if num_tokens <= num_prompt_tokens:
      raise InputError(
        "Nothing to explain: field 'target' is empty or missing and no"
        " 'target_mask' was given. Provide a target text (for example the"
        " model's own generation) or a target_mask over the tokens."
      )
    mask = np.zeros(num_tokens, dtype=np.float32)
    mask[num_prompt_tokens:] = 1.0
    return mask
  return validate_mask(mask, num_tokens)


def stop_of(example: Mapping) -> tuple[str, ...]:
  """The example's own stop sequences (field `stop`: a text or a list of texts)."""
  stop = example.get(FieldNames.STOP)
  if is_empty(stop):
    return ()
  if isinstance(stop, str):
    stop = [stop]
  if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) and s for s in stop):
    raise InputError(
      "Field 'stop' must be a text or a list of non-empty texts that end the generation."
    )
  return tuple(stop)


def foil_of(example: Mapping) -> str | None:
  """The text to contrast the explained span with, or None for plain salience."""
  foil = example.get(FieldNames.FOIL)
  if foil is None:
    return None
  if not isinstance(foil, str):
    raise InputError("Field 'foil' must be a text: the alternative to the explained span.")
  if not foil.strip():
    raise InputError(
      "Field 'foil' is empty: give the alternative text to contrast the"
      " explained span with, or leave the field out for plain salience."
    )
  return foil


def contiguous_span(mask: np.ndarray) -> tuple[int, int]:
  """[start, end) of the mask's tokens; InputError unless they are one run."""
  selected = np.nonzero(mask)[0]
  start, end = int(selected[0]), int(selected[-1]) + 1
  if len(selected) != end - start:
    raise InputError(
      "With a 'foil', 'target_mask' must select one contiguous span of tokens (the"
      f" output replaced by the foil); it selects {len(selected)} tokens between"
      f" {start} and {end - 1} with gaps."
    )
  return start, end


def validate_mask(mask: object, num_tokens: int) -> np.ndarray:
  """A `target_mask` as a request sent it (0/1 numbers, one per token), checked."""
  try:
    arr = np.asarray(mask, dtype=np.float32)
  except (TypeError, ValueError) as e:
    raise InputError(f"Field 'target_mask' must be a list of 0/1 numbers: {e}") from e
  if arr.ndim != 1:
    raise InputError(f"Field 'target_mask' must be one-dimensional, got shape {arr.shape}.")
  if arr.shape[0] != num_tokens:
    raise InputError(
      f"Field 'target_mask' has {arr.shape[0]} entries but prompt + target"
      f" tokenize to {num_tokens} tokens (BOS included); it needs one entry per"
      " token, as returned by the tokenizer model."
    )
  if not np.all((arr == 0) | (arr == 1)):
    raise InputError("Field 'target_mask' may only contain 0 and 1.")
  if arr[0]:
    arr = arr.copy()
    arr[0] = 0.0  # BOS is never predicted, so it cannot be a target.
  if not arr.any():
    raise InputError(
      "Field 'target_mask' selects no target token (position 0, the BOS"
      " token, cannot be a target): select at least one token to explain."
    )
  return arr


def whole_number(
  value, field: str, low: int, high: int, *, what: str = "", default: int | None = None
) -> int:
  """`value` as an int in [low, high]; JSON clients may send 32.0 for 32."""
  if isinstance(value, float) and value.is_integer():
    value = int(value)
  if (
    isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high
  ):
    what = f" {what}" if what else ""
    default_text = "" if default is None else f" (default {default})"
    raise InputError(
      f"Field {field!r} must be a whole number{what} between {low} and {high},"
      f" got {value!r}{default_text}."
    )
  return int(value)


def one_of(value, field: str, allowed: Sequence[str], note: str = "") -> str:
  if not isinstance(value, str) or value not in allowed:
    raise InputError(f"Unknown {field} {value!r}; allowed values: {', '.join(allowed)}{note}.")
  return value
