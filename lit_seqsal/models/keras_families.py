"""How each keras-hub causal LM family runs from input embeddings: one entry per family.

The Keras engine (lit_seqsal/models/keras_engine.py) runs every family the same
way: the input embeddings the decoder consumes, the decoder blocks on them, and
the LM head (final norm, reverse embedding, final soft-cap) at chosen
positions only. A `Family` says what differs: whether the token embeddings are
scaled (Gemma multiplies them by sqrt(hidden_dim), as Hugging Face's scaled
embedding modules do, so the gradients of both frameworks are taken with
respect to the same scaled embeddings), how the decoder blocks take the padding
mask, extra per-token inputs (Gemma 4's per-layer embeddings, looked up from the
token ids and never differentiated), the plain causal LM task of the family
and its chat format. Adding a family whose backbone has this shape is adding
one entry to FAMILIES.

Import this module only after keras_backend.select() has fixed the runtime.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keras import ops

from lit_seqsal import chat
from lit_seqsal.errors import SetupError


def _instruct(name: str) -> bool:
  """Instruction-tuned preset names: gemma2_instruct_2b_en, gemma-3-1b-it."""
  return "instruct" in name or bool(re.search(r"(^|[_-])it($|[_-])", name))


@dataclass(frozen=True)
class Family:
  """What the Keras engine needs to know of one keras-hub causal LM family."""

  name: str
  backbones: tuple[str, ...]  # backbone class names (their subclasses match too)
  causal_lm: str  # the family's plain causal LM task (keras_hub.models.<causal_lm>)
  # Where gradients are taken (docs/architecture.md, "Families"): the embeddings
  # the first decoder block consumes.
  scaled_embeddings: bool  # token embeddings x sqrt(hidden_dim) (Gemma families)
  mask_keyword: str = "decoder_padding_mask"  # how a decoder block takes the mask
  chat_format: chat.TurnFormat | None = None
  instruction_tuned: Callable[[str], bool] = _instruct  # from a preset or directory name
  # The decoder from input embeddings when the blocks need more than the mask:
  # (backbone, embs, ids, padding_mask) -> hidden states.
  decoder: Callable | None = None

  def embed(self, backbone, ids):
    """Input embeddings as the first decoder block consumes them."""
    embs = backbone.token_embedding(ids)
    if self.scaled_embeddings:
      embs = embs * ops.cast(ops.sqrt(backbone.hidden_dim), embs.dtype)
    return embs

  def decode(self, backbone, embs, ids, padding_mask):
    """The decoder blocks on `embs` (the final norm is the LM head's)."""
    if self.decoder is not None:
      return self.decoder(backbone, embs, ids, padding_mask)
    x = embs
    for layer in backbone.transformer_layers:
      x = layer(x, **{self.mask_keyword: padding_mask})
    return x

  def lm_head(self, causal_lm, x):
    """Logits from hidden states: final norm, reverse embedding (with its
    optional soft-cap), and the task's own final soft-cap if it has one (Gemma 4)."""
    backbone = causal_lm.backbone
    logits = backbone.token_embedding(backbone.layer_norm(x), reverse=True)
    cap = getattr(causal_lm, "final_logit_cap", None)
    if cap is not None:
      logits = ops.tanh(logits / cap) * cap
    return logits


def _gemma4_decoder(backbone, embs, ids, padding_mask):
  """Gemma 4's decoder from scaled input embeddings, as Gemma4Backbone runs it:
  per-layer inputs mix a projection of the embeddings (differentiated) with a
  per-layer token embedding looked up from the ids (not); the last layers may
  share keys and values with an earlier one."""
  per_layer = backbone.hidden_size_per_layer_input
  token_part: Any = embs
  projected: Any = embs
  if per_layer:
    token_part = ops.multiply(
      ops.cast(backbone.per_layer_token_embedding(ids), embs.dtype),
      ops.cast(float(per_layer) ** 0.5, embs.dtype),
    )
    projected = ops.multiply(
      backbone.per_layer_model_projection(embs),
      ops.cast(float(backbone.hidden_dim) ** -0.5, embs.dtype),
    )
  x, shared = embs, {}
  for i, layer in enumerate(backbone.transformer_layers):
    layer_input = None
    if per_layer:
      block = slice(i * per_layer, (i + 1) * per_layer)
      layer_input = (
        backbone.per_layer_projection_norm(projected[:, :, block]) + token_part[:, :, block]
      ) * ops.cast(2.0**-0.5, embs.dtype)
    shared_kv = None
    if getattr(layer, "is_kv_shared_layer", False) and layer.kv_shared_layer_index is not None:
      shared_kv = shared.get(layer.kv_shared_layer_index)
    x, shared[i] = layer(
      x, padding_mask=padding_mask, per_layer_input=layer_input, shared_kv=shared_kv
    )
  return x


FAMILIES = (
  Family(
    "Gemma, Gemma 2",
    ("GemmaBackbone",),
    "GemmaCausalLM",
    scaled_embeddings=True,
    mask_keyword="padding_mask",
    chat_format=chat.GEMMA,
  ),
  Family(
    "Gemma 3",
    ("Gemma3Backbone",),
    "Gemma3CausalLM",
    scaled_embeddings=True,
    mask_keyword="padding_mask",
    chat_format=chat.GEMMA,
  ),
  Family(
    "Gemma 4",
    ("Gemma4Backbone",),
    "Gemma4CausalLM",
    scaled_embeddings=True,
    chat_format=chat.GEMMA4,
    decoder=_gemma4_decoder,
  ),
  Family("Llama 2", ("LlamaBackbone",), "LlamaCausalLM", scaled_embeddings=False),
  Family(
    "Llama 3",
    ("Llama3Backbone",),
    "Llama3CausalLM",
    scaled_embeddings=False,
    chat_format=chat.LLAMA3,
  ),
  Family(
    "Mistral",
    ("MistralBackbone",),
    "MistralCausalLM",
    scaled_embeddings=False,
    chat_format=chat.MISTRAL,
    instruction_tuned=lambda name: _instruct(name) or name.startswith("magistral"),
  ),
  Family(
    "Qwen 2", ("QwenBackbone",), "QwenCausalLM", scaled_embeddings=False, chat_format=chat.CHATML
  ),
  Family(
    "Qwen 3",
    ("Qwen3Backbone",),
    "Qwen3CausalLM",
    scaled_embeddings=False,
    chat_format=chat.CHATML,
    # Qwen 3's presets are its post-trained chat models (its base models end in -base).
    instruction_tuned=lambda name: "base" not in name and "embedding" not in name,
  ),
  Family(
    "Phi-3", ("Phi3Backbone",), "Phi3CausalLM", scaled_embeddings=False, chat_format=chat.PHI3
  ),
)
_BY_BACKBONE = {name: family for family in FAMILIES for name in family.backbones}


def supported_backbones() -> tuple[str, ...]:
  return tuple(_BY_BACKBONE)


def family_of_class(backbone_class: type) -> Family | None:
  """The family of a backbone class (or of the nearest base class we know)."""
  for cls in backbone_class.__mro__:
    if cls.__name__ in _BY_BACKBONE:
      return _BY_BACKBONE[cls.__name__]
  return None


def family_of(causal_lm) -> Family:
  """The family of a loaded causal LM; a clear error for one we cannot run."""
  family = family_of_class(type(causal_lm.backbone))
  if family is None:
    raise SetupError(
      f"{type(causal_lm).__name__} with a {type(causal_lm.backbone).__name__} is not"
      f" supported by the Keras engine yet; supported backbones:"
      f" {', '.join(supported_backbones())}. Load the model's Hugging Face checkpoint"
      " with --dl_framework=transformers instead."
    )
  return family
