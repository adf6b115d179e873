"""Keras (keras-hub, formerly KerasNLP) engine for the LIT model group.

Runs on TensorFlow, PyTorch or JAX: the forward pass uses keras.ops only; the
gradient with respect to the input embeddings is taken with each backend's own
autodiff (a persistent GradientTape, torch.autograd, jax.vjp), one backward pass
per target mask over one forward pass.

Import this module only after keras_backend.select() has fixed the runtime.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import keras_hub
import numpy as np
from keras import ops

from lit_seqsal import contract
from lit_seqsal.models.lit_wrappers import Generation, LMEngine

PRECISIONS = ("float32", "bfloat16")
# Backbones whose forward pass we can run from input embeddings: token embedding
# scaled by sqrt(hidden_dim), decoder blocks taking `padding_mask`, final norm,
# tied reverse embedding (with the optional final logit soft-cap inside it).
GEMMA_FAMILY = ("GemmaBackbone", "Gemma3Backbone")
SAMPLERS = ("greedy", "top_k", "top_p", "random", "beam", "contrastive")
# keras-hub samples every row of a batch from the shortest prompt's end on:
# prompts whose lengths differ by this much or more run in separate calls.
GENERATE_GROUP_SPREAD = 32
# On TensorFlow and JAX keras-hub compiles its sampling loop once per input
# shape (7 s for the bundled model); rounding widths up to a multiple of this
# lets prompts of similar length share one compiled loop, for a few extra
# sampling steps. PyTorch runs eagerly, so it gets exact widths.
COMPILED_WIDTH_BUCKET = 16


def _to_list(tensor) -> list[int]:
  return [int(t) for t in np.asarray(ops.convert_to_numpy(tensor)).reshape(-1)]


class KerasEngine(LMEngine):
  """A keras-hub Gemma-family CausalLM, with salience from embedding gradients."""

  def __init__(
      self,
      causal_lm: keras_hub.models.CausalLM,
      *,
      batch_size: int = 4,
      max_length: int = 512,
      max_new_tokens: int = 64,
      sampler: str | keras_hub.samplers.Sampler = "greedy",
  ):
    super().__init__(batch_size=batch_size, max_length=max_length, max_new_tokens=max_new_tokens)
    backbone_name = type(causal_lm.backbone).__name__
    if backbone_name not in GEMMA_FAMILY:
      raise ValueError(
          f"{type(causal_lm).__name__} with a {backbone_name} is not supported by"
          f" the Keras engine yet; supported backbones: {', '.join(GEMMA_FAMILY)}."
          " Load the model's Hugging Face checkpoint with"
          " --dl_framework=transformers instead."
      )
    if causal_lm.preprocessor is None:
      raise ValueError("The Keras CausalLM has no preprocessor (tokenizer) attached.")
    self.lm = causal_lm
    # Gradients are only ever taken with respect to input embeddings.
    self.lm.trainable = False
    self.backbone = causal_lm.backbone
    self.tokenizer = causal_lm.preprocessor.tokenizer
    self.backend = keras.backend.backend()
    self.precision = keras.backend.standardize_dtype(self.backbone.compute_dtype)
    self.pad_id = int(self.tokenizer.pad_token_id)
    self.bos_id = int(self.tokenizer.start_token_id)
    self._stop_ids = [int(self.tokenizer.end_token_id)]
    end_of_turn = self.tokenizer.token_to_id("<end_of_turn>") if "<end_of_turn>" in \
        self.tokenizer.get_vocabulary() else None
    if end_of_turn is not None:
      self._stop_ids.append(int(end_of_turn))
    self.set_sampler(sampler)

  def set_sampler(self, sampler: str | keras_hub.samplers.Sampler) -> None:
    """Greedy by default; any keras-hub sampler (name or instance) otherwise."""
    if isinstance(sampler, str) and sampler not in SAMPLERS:
      raise ValueError(f"Unknown sampler {sampler!r}; allowed values: {', '.join(SAMPLERS)}.")
    self.lm.compile(sampler=sampler)  # also drops the compiled generate function
    self.sampler = sampler

  # -- tokens ---------------------------------------------------------------

  def encode(self, text: str) -> list[int]:
    return [self.bos_id] + _to_list(self.tokenizer.tokenize(text))

  def token_strings(self, ids: Sequence[int]) -> list[str]:
    return [contract.display_piece(self.tokenizer.id_to_token(int(i))) for i in ids]

  def _embed(self, ids):
    """Input embeddings as the decoder blocks see them (Gemma scales them)."""
    embs = self.backbone.token_embedding(ids)
    return embs * ops.cast(ops.sqrt(self.backbone.hidden_dim), embs.dtype)

  # -- generation -----------------------------------------------------------

  def generate(self, prompt_ids: Sequence[Sequence[int]]) -> list[Generation]:
    encoded = [list(ids) for ids in prompt_ids]
    order = sorted(range(len(encoded)), key=lambda b: len(encoded[b]))
    groups: list[list[int]] = []
    for b in order:
      if groups and len(encoded[b]) - len(encoded[groups[-1][0]]) < GENERATE_GROUP_SPREAD:
        groups[-1].append(b)
      else:
        groups.append([b])
    results: list[Generation | None] = [None] * len(encoded)
    for rows in groups:
      for b, g in zip(rows, self._generate_rows([encoded[b] for b in rows])):
        results[b] = g
    return results

  def _bucket(self, num_tokens: int) -> int:
    step = 1 if self.backend == "torch" else COMPILED_WIDTH_BUCKET
    return -(-num_tokens // step) * step

  def _generate_rows(self, encoded: list[list[int]]) -> list[Generation]:
    longest = max(len(e) for e in encoded)
    width = min(self._bucket(longest) + self.max_new_tokens, self.max_length)
    # Where the loop is compiled, batch sizes rounded up to a power of two
    # (repeating the last prompt) also bound how many shapes get compiled.
    rows = len(encoded) if self.backend == "torch" else 1 << (len(encoded) - 1).bit_length()
    token_ids = np.full((rows, width), self.pad_id, dtype=np.int32)
    padding_mask = np.zeros((rows, width), dtype=bool)
    for b in range(rows):
      ids = encoded[min(b, len(encoded) - 1)]
      # keras-hub generates into the padded positions after each prompt.
      token_ids[b, :len(ids)] = ids
      padding_mask[b, :len(ids)] = True
    generate_fn = self.lm.make_generate_function()
    out = generate_fn(
        {"token_ids": ops.convert_to_tensor(token_ids),
         "padding_mask": ops.convert_to_tensor(padding_mask)},
        stop_token_ids=self._stop_ids,
    )
    out_ids = np.asarray(ops.convert_to_numpy(out["token_ids"]))
    results = []
    for b, ids in enumerate(encoded):
      gen = out_ids[b, len(ids):len(ids) + self.max_new_tokens].tolist()
      cut = next((k for k, t in enumerate(gen) if t in self._stop_ids or t == self.pad_id),
                 len(gen))
      gen = gen[:cut]
      text = self.tokenizer.detokenize(np.asarray(gen, dtype=np.int32)) if gen else ""
      if not isinstance(text, str):
        text = ops.convert_to_numpy(text).item()
        text = text.decode("utf-8") if isinstance(text, bytes) else str(text)
      prompt_emb = self._mean_embedding(ids)
      resp_emb = self._mean_embedding(gen) if gen else np.zeros_like(prompt_emb)
      results.append(Generation(text, prompt_emb, resp_emb))
    return results

  def _mean_embedding(self, ids: Sequence[int]) -> np.ndarray:
    return self.embed(np.asarray(ids)).mean(0)

  # -- salience -------------------------------------------------------------

  def target_logprobs(self, embs, padding_mask, labels, positions):
    """Log-probabilities of `labels` at token `positions`, <float32>[B, K].

    The decoder runs on `embs`; the final norm and the LM head (reverse
    embedding over the whole vocabulary) only at positions - 1, which predict
    the tokens at `positions`.
    """
    x = embs
    for layer in self.backbone.transformer_layers:
      x = layer(x, padding_mask=padding_mask)
    x = ops.take(x, positions - 1, axis=1)  # [B, K, H]
    x = self.backbone.layer_norm(x)
    logits = self.backbone.token_embedding(x, reverse=True)
    logprobs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    return ops.squeeze(ops.take_along_axis(logprobs, labels[..., None], axis=-1), -1)

  def embed(self, ids: np.ndarray) -> np.ndarray:
    embs = self._embed(ops.convert_to_tensor(np.asarray(ids, dtype=np.int32)))
    return np.asarray(ops.convert_to_numpy(ops.cast(embs, "float32")))

  def objectives(self, embs, batch, *, gradients):
    used = embs.shape[1]
    padding_mask = ops.convert_to_tensor(batch.attention[:, :used].astype(bool))
    positions = ops.convert_to_tensor(batch.positions.astype(np.int32))
    labels = ops.convert_to_tensor(batch.labels.astype(np.int32))
    weights = ops.convert_to_tensor(batch.weights)

    def objectives(embs):  # [B, M]: summed target log-probability per mask
      token_lp = self.target_logprobs(embs, padding_mask, labels, positions)
      return ops.einsum("bk,bmk->bm", token_lp, weights)

    # float32 numpy holds bfloat16 values exactly, so this round trip is lossless.
    embs = ops.convert_to_tensor(embs, dtype=self.backbone.compute_dtype)
    if not gradients:
      return _numpy(objectives(embs)), None
    return _values_and_gradients(self.backend, objectives, embs, batch.num_masks)


def _numpy(tensor) -> np.ndarray:
  return np.asarray(ops.convert_to_numpy(ops.cast(tensor, "float32")))


def _values_and_gradients(backend: str, fn, embs, num_masks: int):
  """fn(embs) <float32>[B, M], and d fn(embs)[:, m].sum() / d embs for every m:
  <float32>[M, B, T, H].

  One forward pass; the backward pass is repeated per mask over the kept graph.
  Rows of a batch are independent, so summing over rows gives each its own.
  """
  if backend == "tensorflow":
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    embs = tf.convert_to_tensor(embs)
    with tf.GradientTape(persistent=num_masks > 1, watch_accessed_variables=False) as tape:
      tape.watch(embs)
      out = fn(embs)
      per_mask = [tf.reduce_sum(out[:, m]) for m in range(num_masks)]
    grads = [tape.gradient(o, embs) for o in per_mask]
    del tape
    return _numpy(out), np.stack([tf.cast(g, tf.float32).numpy() for g in grads])
  if backend == "torch":
    import torch  # pylint: disable=g-import-not-at-top

    embs = embs.detach().requires_grad_(True)
    with torch.enable_grad():
      out = fn(embs)
      grads = [
          torch.autograd.grad(out[:, m].sum(), embs, retain_graph=m < num_masks - 1)[0]
          for m in range(num_masks)
      ]
    return _numpy(out.detach()), np.stack([g.float().cpu().numpy() for g in grads])
  if backend == "jax":
    import jax  # pylint: disable=g-import-not-at-top
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

    out, vjp = jax.vjp(fn, embs)
    grads = []
    for m in range(num_masks):
      cotangent = jnp.zeros_like(out).at[:, m].set(1.0)
      grads.append(np.asarray(vjp(cotangent)[0], dtype=np.float32))
    return _numpy(out), np.stack(grads)
  raise ValueError(f"Keras backend {backend!r} is not supported for salience.")


def load_causal_lm(path: str, precision: str, source: str):
  """keras-hub CausalLM from a preset name, Keras preset dir or HF directory."""
  from lit_seqsal.models import loading  # pylint: disable=g-import-not-at-top

  if precision not in PRECISIONS:
    raise ValueError(f"Unknown precision {precision!r}; allowed values: {', '.join(PRECISIONS)}.")
  try:
    return keras_hub.models.CausalLM.from_preset(path, dtype=precision)
  except Exception as e:  # keras-hub raises many types; all mean "cannot load"
    if os.path.isdir(path):
      raise ValueError(
          f"Could not load a Keras causal LM from {path!r} (from {source!r}):"
          f" {type(e).__name__}: {e}. Expected a keras-hub CausalLM preset"
          " directory (a Gemma-family task saved with save_to_preset) or a"
          " Hugging Face model directory that keras-hub can convert."
      ) from e
    raise loading.preset_error(source, e) from e


def load_engine(
    model_name_or_path: str,
    *,
    precision: str = "float32",
    **engine_kwargs,
) -> KerasEngine:
  """Loads a keras-hub CausalLM from a preset, directory, archive or 'bundled'."""
  from lit_seqsal.models import loading  # pylint: disable=g-import-not-at-top

  path = loading.resolve_model_path(model_name_or_path)
  causal_lm = load_causal_lm(path, precision, model_name_or_path)
  return KerasEngine(causal_lm, **engine_kwargs)
