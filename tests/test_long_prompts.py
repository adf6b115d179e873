"""Long prompts in bounded memory: activation checkpointing above a size gives
the same scores as the plain path; --sequence_length=auto follows the model's
context window within what a salience pass fits in memory."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import transformers

from lit_seqsal import inputs, models
from lit_seqsal.engine import lengths
from lit_seqsal.models import lit_models, transformers_engine

pytestmark = [pytest.mark.slow]


def test_4096_tokens_same_scores_with_and_without_recomputing(tiny_model_dir):
  tok = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
  model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir)
  model.config.max_position_embeddings = 8192
  engine = transformers_engine.TransformersEngine(model, tok, max_length=8192, batch_size=1)
  prompt = "Taste-likes: Cheese\nTaste-dislikes: onions\nSuggestion: Onion soup\n" * 400
  ids = engine.encode(prompt)[:4090]
  text = engine.decode(ids[1:])
  ex = {"prompt": text, "target": " Avoid it."}
  n = len(engine.encode(text + ex["target"]))
  assert 4090 <= n <= 4200
  mask = np.zeros(n, np.float32)
  mask[[n - 3, n - 200, n - 2000]] = 1  # near and far targets: long-range gradients
  inputs = [ex, ex | {"target_mask": mask.tolist()}]
  calls = []
  original = engine._recomputing_layers
  engine._recomputing_layers = lambda: (calls.append(1), original())[1]

  engine.checkpoint_above = 10**9
  plain = lit_models.SalienceModel(engine).predict(inputs)
  assert calls == []
  engine.checkpoint_above = 1024
  recomputed = lit_models.SalienceModel(engine).predict(inputs)
  assert calls  # the memory-saving path ran
  for a, b in zip(plain, recomputed):
    for method in ("grad_l2", "grad_dot_input"):
      scale = np.abs(a[method]).max()
      assert scale > 0 and np.abs(a[method][:100]).max() > 0  # the start of the prompt matters
      np.testing.assert_allclose(b[method], a[method], atol=1e-5 * scale)
  # Dropout and other training-mode behaviour stayed off.
  assert not any(m.training for m in engine.model.modules())


# -- --sequence_length=auto: the context window, within memory ------------------

SHAPE = lengths.ModelShape(
  layers=2, hidden=4, intermediate=8, heads=1, vocab=10, bytes_per_value=2, context_window=4096
)


def _by_hand(tokens: int) -> int:
  """SHAPE's estimate written out: 2 layers * (6*8 + 12*4) values per token, 2 * 1 head
  per token pair, and once the embedding (10 * 4) and 3 * 64 positions * 10 logits."""
  return 2 * (2 * 96 * tokens + 2 * tokens * tokens + 40 + 3 * 64 * 10)


def test_the_memory_estimate_of_a_salience_pass():
  for tokens in (1, 100, 3000):
    assert lengths.salience_pass_bytes(SHAPE, tokens) == _by_hand(tokens)
  # Above the checkpointing threshold only the layers' inputs (and one layer) are kept.
  checkpointed = dataclasses.replace(SHAPE, checkpoint_above=1000)
  per_token = (2 + 1) * 4 + 96
  assert lengths.salience_pass_bytes(checkpointed, 2000) == 2 * (
    per_token * 2000 + 2 * 2000 * 2000 + 40 + 1920
  )


def test_auto_length_is_the_context_window_within_what_memory_fits():
  # Plenty of memory: the context window.
  assert lengths.auto_length(SHAPE, 10**12, 32768).length == 4096
  # A ceiling below it (the option's maximum): the ceiling.
  assert lengths.auto_length(SHAPE, 10**12, 2048).length == 2048
  # Memory for 1,500 tokens at half of it (and not 1,501): 1,024, a multiple of 512.
  available = 2 * _by_hand(1500)
  assert _by_hand(1501) > available / 2
  auto = lengths.auto_length(SHAPE, available, 32768)
  assert auto.length == 1024 and auto.pass_bytes == _by_hand(1024)
  assert "1,024 tokens" in auto.explain() and "reads up to 4,096" in auto.explain()
  # Very little memory: still 512 tokens. Unknown memory: the window.
  assert lengths.auto_length(SHAPE, 1000, 32768).length == lengths.LENGTH_STEP
  assert lengths.auto_length(SHAPE, None, 32768).length == 4096
  # No window in the configuration: the fallback, within the ceiling.
  no_window = dataclasses.replace(SHAPE, context_window=None)
  assert lengths.auto_length(no_window, 10**12, 32768).length == lengths.FALLBACK_CONTEXT


def test_an_engine_without_a_length_reads_its_configuration(tiny_model_dir, monkeypatch):
  config = transformers.AutoConfig.from_pretrained(tiny_model_dir)
  monkeypatch.setattr(lengths, "host_available_bytes", lambda: 10**13)
  group = models.load_model_group("auto", tiny_model_dir)  # --sequence_length=auto
  engine = group["auto"].engine
  shape = engine.model_shape()
  assert (shape.layers, shape.hidden, shape.intermediate, shape.heads, shape.vocab) == (
    config.num_hidden_layers,
    config.hidden_size,
    config.intermediate_size,
    config.num_attention_heads,
    config.vocab_size,
  )
  assert shape.bytes_per_value == 4 and shape.context_window == config.max_position_embeddings
  assert engine.max_length == config.max_position_embeddings == engine.context_window
  assert engine.auto_length is not None
  # A longer window (8,192) than the memory allows: the longest multiple of 512 that fits.
  tok = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
  model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir)
  model.config.max_position_embeddings = 8192
  long = transformers_engine.TransformersEngine(model, tok, max_length=None)
  free = 4 * lengths.salience_pass_bytes(long.model_shape(), 3000)
  monkeypatch.setattr(lengths, "host_available_bytes", lambda: free)
  fits = lambda n: lengths.salience_pass_bytes(long.model_shape(), n) <= free / 2  # noqa: E731
  assert long.max_length % 512 == 0 and fits(long.max_length) and not fits(long.max_length + 512)
  assert 512 < long.max_length < 8192
  # A length that is set is kept as set.
  assert (
    models.load_model_group("set", tiny_model_dir, max_length=300)["set"].engine.max_length == 300
  )


def test_an_input_over_the_limit_says_the_limit_its_length_and_what_to_do():
  with pytest.raises(inputs.InputError) as err:
    inputs.check_length(3624, 1024, "Prompt + target", context_window=32768)
  message = str(err.value)
  assert "3,624 tokens long" in message and "maximum of 1,024 tokens" in message
  assert "--sequence_length=4096" in message and "reads up to 32,768" in message
  with pytest.raises(inputs.InputError, match="reads at most 2,048 tokens: shorten the input"):
    inputs.check_length(3000, 1024, "Prompt + target", context_window=2048)
  inputs.check_length(1024, 1024, "Prompt + target")  # at the limit: fine
