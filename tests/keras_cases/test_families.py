"""Every family the Keras engine runs, on this process's runtime (conftest.py):
tiny random models (tests/families.py; keras-hub converts the Hugging Face
directories, Phi-3 is built in Keras), checked against the CausalLM's own
forward pass on token ids with full logits, differentiated in the runtime, and
against Transformers on the same weights; generation stops at stop sequences;
the chat format's token ids equal the Hugging Face template's.

Slow: each family is one model to build, convert and (on TensorFlow and JAX)
compile. The fast tier keeps the Gemma 3 preset of test_keras_engine.py.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from keras import ops

from lit_seqsal import models
from lit_seqsal.engine.encoding import encode_example
from tests import families
from tests.keras_cases import tiny_keras
from tests.keras_cases.conftest import RUNTIME

pytestmark = [pytest.mark.slow, pytest.mark.keras]
CASES = [c for c in families.CASES if c.keras]
PROMPT = "Taste-likes: 奶酪 (cheese)\nTaste-dislikes: eggs 🥚\nSuggestion: Quiche\nAnalysis:"
TARGET = " it has eggs. 不要吃！\nRecommendation: Avoid."


@pytest.fixture(scope="module")
def family_dir(tmp_path_factory):
  @functools.cache
  def get(key: str) -> str:
    out = tmp_path_factory.mktemp(key)
    if families.BY_KEY[key].keras == "native":
      return str(tiny_keras.build_tiny_phi3(out))
    return str(families.build_hf(key, out))

  return get


@pytest.fixture(scope="module")
def keras_group(family_dir):
  @functools.cache
  def get(key: str) -> dict:
    return models.get_models(
      [f"{key}:{family_dir(key)}"],
      dl_framework="kerasnlp",
      dl_runtime=RUNTIME,
      batch_size=2,
      max_length=256,
      max_new_tokens=12,
    )

  return get


def _gradient(objective, shape):
  """d objective / d delta at delta = 0, in this runtime's own autodiff."""
  if RUNTIME == "tensorflow":
    import tensorflow as tf

    delta = tf.zeros(shape)
    with tf.GradientTape() as tape:
      tape.watch(delta)
      value = objective(delta)
    return np.asarray(tape.gradient(value, delta))
  if RUNTIME == "torch":
    import torch

    delta = torch.zeros(shape, requires_grad=True)
    objective(delta).backward()
    return delta.grad.numpy()
  import jax
  import jax.numpy as jnp

  return np.asarray(jax.grad(objective)(jnp.zeros(shape)))


def _reference(engine, ids, mask):
  """grad_l2 and grad_dot_input from the CausalLM's own call on token ids (full
  logits): the gradient with respect to a zero added to its token embedding
  layer's output, divided by the family's embedding scale (Gemma: sqrt(hidden))."""
  lm = engine.lm
  layer = lm.backbone.token_embedding
  n, hidden = len(ids), lm.backbone.hidden_dim
  positions = np.nonzero(mask)[0]
  labels = np.asarray(ids)[positions]
  inputs = {"token_ids": np.asarray([ids], np.int32), "padding_mask": np.ones((1, n), np.int32)}
  if "position_ids" in lm.input:
    inputs["position_ids"] = np.arange(n, dtype=np.int32)[None]
  original = layer.call

  def objective(delta):
    def call(x, reverse=False, **kwargs):
      out = original(x, reverse=reverse, **kwargs)
      return out if reverse else out + ops.cast(delta, out.dtype)

    layer.call = call
    try:
      logits = lm({k: ops.convert_to_tensor(v) for k, v in inputs.items()})
    finally:
      layer.call = original
    logprobs = ops.log_softmax(ops.cast(logits[0], "float32"), axis=-1)
    picked = ops.take(logprobs, ops.convert_to_tensor(positions - 1), axis=0)
    return ops.sum(ops.take_along_axis(picked, ops.convert_to_tensor(labels[:, None]), axis=-1))

  grad = _gradient(objective, (1, n, hidden))[0].astype(np.float64)
  if engine.family.scaled_embeddings:
    grad = grad / np.sqrt(hidden)
  embs = engine.embed(np.asarray([ids]))[0].astype(np.float64)
  return np.linalg.norm(grad, axis=-1), (grad * embs).sum(-1)


@pytest.mark.parametrize("key", [c.key for c in CASES])
def test_salience_matches_the_causal_lms_own_forward(key, keras_group):
  sal = keras_group(key)[f"_{key}_salience"]
  engine = sal.engine
  ex = {"prompt": PROMPT, "target": TARGET}
  encoded = encode_example(engine, ex)
  (out,) = sal.predict([ex])
  want_l2, want_dot = _reference(engine, list(encoded.ids), encoded.mask)
  for got, want in ((out["grad_l2"], want_l2), (out["grad_dot_input"], want_dot)):
    assert np.abs(want).max() > 0
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())
  assert engine.compiled is (RUNTIME in ("tensorflow", "jax"))
  # Token strings spell the text.
  tokens = engine.token_strings(encoded.ids)
  start = 1 if engine.bos_id is not None and encoded.ids[0] == engine.bos_id else 0
  text = "".join(tokens[start : encoded.num_prompt_tokens]).replace("▁", " ")
  assert PROMPT in text


@pytest.mark.parametrize("key", [c.key for c in CASES if c.keras == "hf"])
def test_same_scores_as_transformers_on_the_same_weights(key, keras_group, family_dir):
  hf = models.get_models([f"t:{family_dir(key)}"], dl_framework="transformers", max_length=256)
  ex = {"prompt": PROMPT, "target": TARGET}
  ours = keras_group(key)[f"_{key}_salience"].predict([ex])[0]
  theirs = hf["_t_salience"].predict([ex])[0]
  assert ours["tokens"] == theirs["tokens"]
  for method in ("grad_l2", "grad_dot_input"):
    scale = np.abs(theirs[method]).max()
    np.testing.assert_allclose(ours[method], theirs[method], rtol=0, atol=1e-3 * scale)


@pytest.mark.parametrize("key", [c.key for c in CASES])
def test_generation_stops_at_stop_sequences(key, keras_group):
  gen = keras_group(key)[key]
  families.assert_generation_stops(gen)


@pytest.mark.parametrize("key", [c.key for c in CASES if c.chat])
def test_chat_format_is_the_templates(key, keras_group, family_dir):
  """The family's turn format against the Hugging Face chat template written
  like the family's own (tests/families.py), tokenized by transformers."""
  import transformers

  engine = keras_group(key)[key].engine
  assert engine.uses_chat_template
  path = family_dir(key)
  if families.BY_KEY[key].keras == "native":
    from pathlib import Path

    tokenizer = families.sentencepiece_tokenizer(
      Path(path) / "hf_tokenizer",
      (Path(path) / "tokenizer.model").read_bytes(),
      "LlamaTokenizer",
      bos_token="<s>",
      eos_token="<|endoftext|>",
    )
    tokenizer.add_special_tokens(
      {"additional_special_tokens": ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]}
    )
    tokenizer.chat_template = families.PHI3_TEMPLATE
  else:
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
  families.assert_chat_matches(engine, tokenizer)
