"""Long prompts in bounded memory: activation checkpointing above a size gives
the same scores as the plain path."""

from __future__ import annotations

import numpy as np
import pytest
import transformers

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
