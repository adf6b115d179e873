"""The contract between our model groups and LIT: field names, model names, specs.

Each loaded LM becomes a group of three LIT models (docs/architecture.md, "The
model group"): `NAME` (generation), `_NAME_salience` and `_NAME_tokenizer`.
Every framework produces the same groups with these names and specs. The
salience model's method fields and their settings come from the method
registry (lit_seqsal/salience/methods.py), passed in by the salience model.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any

from lit_nlp.api import types as lit_types


class FieldNames(types.SimpleNamespace):
  PROMPT = "prompt"
  TARGET = "target"
  RESPONSE = "response"
  PROMPT_EMBEDDINGS = "prompt_embeddings"
  RESPONSE_EMBEDDINGS = "response_embeddings"
  TOKENS = "tokens"
  TARGET_MASK = "target_mask"
  # Contrastive salience: the text the explained span is contrasted with.
  FOIL = "foil"
  # The model's top next tokens at the explained span's first token.
  ALTERNATIVES = "alternatives"
  # Per token "<turn>:<role>" when a chat template wrapped the prompt.
  TOKEN_TURNS = "token_turns"
  # Optional example fields: texts that end the generation; a whole conversation.
  STOP = "stop"
  MESSAGES = "messages"
  # Optional: the most tokens this example's generation may have (within --max_new_tokens).
  MAX_NEW_TOKENS = "max_new_tokens"
  # Salience methods (output fields of `_NAME_salience`; see the registry).
  GRAD_L2 = "grad_l2"
  GRAD_DOT_INPUT = "grad_dot_input"
  INTEGRATED_GRADIENTS = "integrated_gradients"
  OCCLUSION = "occlusion"
  # Optional request fields of `_NAME_salience`: which methods, their settings.
  SALIENCE_METHODS = "salience_methods"
  OCCLUSION_GRANULARITY = "occlusion_granularity"
  IG_STEPS = "ig_steps"
  # The deletion check of an explanation: input (a method name) and output (its
  # record) of `_NAME_salience`, and the granularity it ranks segments at.
  CHECK = "check"
  CHECK_GRANULARITY = "check_granularity"
  # Drop it and regenerate: the generation model's input `edits` (token ranges of
  # the prompt to remove or replace) and outputs `edited_prompt` and `edit`.
  EDITS = "edits"
  EDITED_PROMPT = "edited_prompt"
  EDIT = "edit"


# LIT has no type for an output that is a JSON object of our own (the deletion
# check's record, an edit's record). Its base `LitType` in a salience model's
# output spec stops LIT's own Sequence Salience module from asking for salience
# (tests/test_browser_lit_client.py found it); `SalienceTargetInfo`, whose values
# are JSON objects in LIT's own use (interpreter configs), leaves its client
# working, and no LIT module shows it among a model's outputs.
JsonRecord = lit_types.SalienceTargetInfo


def salience_model_name(name: str) -> str:
  return f"_{name}_salience"


def tokenizer_model_name(name: str) -> str:
  return f"_{name}_tokenizer"


INPUT_SPEC: lit_types.Spec = {
  FieldNames.PROMPT: lit_types.TextSegment(),
  FieldNames.TARGET: lit_types.TextSegment(required=False),
  # A whole conversation (JSON role/content pairs) for models with a chat
  # template; the prompt is its plain rendering for models without one.
  FieldNames.MESSAGES: lit_types.TextSegment(required=False),
}

GENERATION_INPUT_SPEC: lit_types.Spec = INPUT_SPEC | {
  # Texts that end this example's generation (beside --stop_sequences).
  FieldNames.STOP: lit_types.SparseMultilabel(required=False),
  # At most this many generated tokens (at most the server's --max_new_tokens).
  FieldNames.MAX_NEW_TOKENS: lit_types.Integer(required=False, min_val=1, max_val=4096, default=0),
  # Drop it and regenerate: ranges of the prompt's tokens to remove or replace
  # (its JSON text, like `messages`, or the list itself; docs/reference.md).
  FieldNames.EDITS: lit_types.TextSegment(required=False),
}

GENERATION_OUTPUT_SPEC: lit_types.Spec = {
  FieldNames.RESPONSE: lit_types.GeneratedText(parent=FieldNames.TARGET),
  FieldNames.PROMPT_EMBEDDINGS: lit_types.Embeddings(required=False),
  FieldNames.RESPONSE_EMBEDDINGS: lit_types.Embeddings(required=False),
  # With `edits`: the prompt the generation ran on, and what was changed (a
  # JSON object, docs/reference.md) for the edited example to keep.
  FieldNames.EDITED_PROMPT: lit_types.TextSegment(required=False),
  FieldNames.EDIT: JsonRecord(required=False),
}

TOKENIZER_OUTPUT_SPEC: lit_types.Spec = {
  FieldNames.TOKENS: lit_types.Tokens(parent=""),
  # Present when a chat template wrapped the prompt: "<turn>:<role>" per token,
  # role "template" for the template's own tokens (role markers, delimiters).
  FieldNames.TOKEN_TURNS: lit_types.SequenceTags(align=FieldNames.TOKENS, required=False),
}


def salience_input_spec(
  methods: Iterable[Any], check_settings: Iterable[Any] = ()
) -> lit_types.Spec:
  """Prompt and target, the mask of tokens to explain, which methods and their
  settings, and the deletion check (a method's name and `check_settings`)."""
  methods = list(methods)
  spec = INPUT_SPEC | {
    FieldNames.TARGET_MASK: lit_types.TokenScores(align="", required=False),
    # Contrastive salience: explain the span against this text instead of it.
    FieldNames.FOIL: lit_types.TextSegment(required=False),
    FieldNames.SALIENCE_METHODS: lit_types.SparseMultilabel(
      vocab=[m.name for m in methods], required=False
    ),
  }
  for method in methods:
    for setting in method.settings:
      spec[setting.name] = setting.lit_type()
  spec[FieldNames.CHECK] = lit_types.CategoryLabel(vocab=[m.name for m in methods], required=False)
  for setting in check_settings:
    spec[setting.name] = setting.lit_type()
  return spec


def salience_output_spec(methods: Iterable[Any]) -> lit_types.Spec:
  """Tokens and one TokenScores field per method. Costly methods' fields are not
  `required`: that is how a client tells them apart (computed when asked)."""
  return (
    TOKENIZER_OUTPUT_SPEC
    | {
      m.name: lit_types.TokenScores(align=FieldNames.TOKENS, required=not m.on_request)
      for m in methods
    }
    | {
      # With the gradient methods: the model's top next tokens, with their
      # probabilities, at the first token of the explained span.
      FieldNames.ALTERNATIVES: lit_types.TopTokens(required=False),
      # With a `check` input: the deletion check's record, a JSON object
      # (docs/reference.md; its type: JsonRecord above).
      FieldNames.CHECK: JsonRecord(required=False),
    }
  )
