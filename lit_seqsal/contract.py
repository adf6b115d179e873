"""The contract between our model groups and LIT (see DESIGN.md).

Every framework (Transformers today, Keras next) produces the same three LIT
models per loaded LM, with these field names and specs. The checks on inputs live
here too, so every framework rejects bad input with the same messages.
"""

from __future__ import annotations

import re
import types
from collections.abc import Sequence

import numpy as np
from lit_nlp.api import types as lit_types


class FieldNames(types.SimpleNamespace):
  PROMPT = "prompt"
  TARGET = "target"
  RESPONSE = "response"
  PROMPT_EMBEDDINGS = "prompt_embeddings"
  RESPONSE_EMBEDDINGS = "response_embeddings"
  TOKENS = "tokens"
  TARGET_MASK = "target_mask"
  GRAD_L2 = "grad_l2"
  GRAD_DOT_INPUT = "grad_dot_input"
  INTEGRATED_GRADIENTS = "integrated_gradients"
  OCCLUSION = "occlusion"
  # Optional request fields of `_NAME_salience` (see SALIENCE_INPUT_SPEC).
  SALIENCE_METHODS = "salience_methods"
  OCCLUSION_GRANULARITY = "occlusion_granularity"
  IG_STEPS = "ig_steps"


# Gradient methods: one forward and one backward pass per mask, computed
# together; what `_NAME_salience` returns unless asked for other methods.
GRADIENT_METHODS = (FieldNames.GRAD_L2, FieldNames.GRAD_DOT_INPUT)
# Methods that cost many passes per mask: computed only when an input lists
# them in `salience_methods`. Their output fields are not `required`, which is
# how a client tells them apart from the gradient methods.
ON_REQUEST_METHODS = (FieldNames.INTEGRATED_GRADIENTS, FieldNames.OCCLUSION)
SALIENCE_METHODS = GRADIENT_METHODS + ON_REQUEST_METHODS

# Units occlusion deletes (the client's granularities, less custom patterns).
OCCLUSION_GRANULARITIES = ("tokens", "words", "sentences", "lines", "paragraphs")
DEFAULT_OCCLUSION_GRANULARITY = "sentences"
# Integrated-gradients integration points (see components/attribution.py). On
# the sample prompts with the bundled model, 32 points left completeness gaps
# up to 20% on short prompts, 64 under 5%, 128 under 0.5%
# (bench/bench_faithfulness.py prints the gaps at this default).
DEFAULT_IG_STEPS = 64
MAX_IG_STEPS = 512

INPUT_SPEC: lit_types.Spec = {
    FieldNames.PROMPT: lit_types.TextSegment(),
    FieldNames.TARGET: lit_types.TextSegment(required=False),
}

SALIENCE_INPUT_SPEC: lit_types.Spec = INPUT_SPEC | {
    FieldNames.TARGET_MASK: lit_types.TokenScores(align="", required=False),
    FieldNames.SALIENCE_METHODS: lit_types.SparseMultilabel(
        vocab=list(SALIENCE_METHODS), required=False),
    FieldNames.OCCLUSION_GRANULARITY: lit_types.CategoryLabel(
        vocab=list(OCCLUSION_GRANULARITIES), required=False),
    FieldNames.IG_STEPS: lit_types.Integer(
        default=DEFAULT_IG_STEPS, min_val=1, max_val=MAX_IG_STEPS, required=False),
}

GENERATION_OUTPUT_SPEC: lit_types.Spec = {
    FieldNames.RESPONSE: lit_types.GeneratedText(parent=FieldNames.TARGET),
    FieldNames.PROMPT_EMBEDDINGS: lit_types.Embeddings(required=False),
    FieldNames.RESPONSE_EMBEDDINGS: lit_types.Embeddings(required=False),
}

TOKENIZER_OUTPUT_SPEC: lit_types.Spec = {
    FieldNames.TOKENS: lit_types.Tokens(parent=""),
}

SALIENCE_OUTPUT_SPEC: lit_types.Spec = TOKENIZER_OUTPUT_SPEC | {
    FieldNames.GRAD_L2: lit_types.TokenScores(align=FieldNames.TOKENS),
    FieldNames.GRAD_DOT_INPUT: lit_types.TokenScores(align=FieldNames.TOKENS),
    FieldNames.INTEGRATED_GRADIENTS: lit_types.TokenScores(
        align=FieldNames.TOKENS, required=False),
    FieldNames.OCCLUSION: lit_types.TokenScores(align=FieldNames.TOKENS, required=False),
}


_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def display_piece(piece: str) -> str:
  """A SentencePiece piece as shown to users: byte-fallback pieces such as
  `<0x0A>` become the character they encode, so newlines stay newlines."""
  return _BYTE_PIECE.sub(lambda m: chr(int(m.group(1), 16)), piece)


def salience_model_name(name: str) -> str:
  return f"_{name}_salience"


def tokenizer_model_name(name: str) -> str:
  return f"_{name}_tokenizer"


class InputError(ValueError):
  """An example a model cannot process; the message says which field and why."""


def prompt_of(example: dict, *, index: int | None = None) -> str:
  prompt = example.get(FieldNames.PROMPT)
  where = "" if index is None else f" (example {index})"
  if not isinstance(prompt, str):
    raise InputError(f"Field 'prompt'{where} is required and must be a string.")
  if not prompt.strip():
    raise InputError(f"Field 'prompt'{where} is empty: write a prompt to run the model on.")
  return prompt


def target_of(example: dict) -> str:
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


def target_mask_for(
    example: dict, num_tokens: int, num_prompt_tokens: int
) -> np.ndarray:
  """The 0/1 mask of tokens to explain, as float32 of length num_tokens.

  Without a `target_mask`, every token of the target is explained. Position 0
  (BOS) is never a target: nothing predicts it.
  """
  mask = example.get(FieldNames.TARGET_MASK)
  if mask is None or (hasattr(mask, "__len__") and len(mask) == 0):
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


def requested_methods(example: dict) -> tuple[str, ...]:
  """The salience methods an input asks for (default: the gradient methods)."""
  methods = example.get(FieldNames.SALIENCE_METHODS)
  if methods is None or (hasattr(methods, "__len__") and len(methods) == 0):
    return GRADIENT_METHODS
  if isinstance(methods, str):
    methods = [m.strip() for m in methods.split(",")]
  unknown = [m for m in methods if m not in SALIENCE_METHODS]
  if unknown:
    raise InputError(
        f"Field 'salience_methods' names unknown method(s) {', '.join(map(repr, unknown))};"
        f" allowed values: {', '.join(SALIENCE_METHODS)}.")
  return tuple(dict.fromkeys(methods))


def check_granularity(granularity, field: str = FieldNames.OCCLUSION_GRANULARITY) -> str:
  if granularity not in OCCLUSION_GRANULARITIES:
    raise InputError(
        f"Unknown {field} {granularity!r}; allowed values:"
        f" {', '.join(OCCLUSION_GRANULARITIES)} (custom patterns are client-side only).")
  return granularity


def check_steps(steps, field: str = FieldNames.IG_STEPS) -> int:
  if isinstance(steps, float) and steps.is_integer():
    steps = int(steps)  # JSON clients may send 32.0
  if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) \
      or not 1 <= steps <= MAX_IG_STEPS:
    raise InputError(
        f"Field {field!r} must be a whole number of integration steps between 1"
        f" and {MAX_IG_STEPS}, got {steps!r} (default {DEFAULT_IG_STEPS}).")
  return int(steps)


def validate_mask(mask: Sequence[float], num_tokens: int) -> np.ndarray:
  try:
    arr = np.asarray(mask, dtype=np.float32)
  except (TypeError, ValueError) as e:
    raise InputError(f"Field 'target_mask' must be a list of 0/1 numbers: {e}") from e
  if arr.ndim != 1:
    raise InputError(
        f"Field 'target_mask' must be one-dimensional, got shape {arr.shape}."
    )
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
