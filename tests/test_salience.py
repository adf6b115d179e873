"""Salience arithmetic against independent computations, on a tiny LM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from lit_seqsal.models import lit_wrappers, transformers_lm

PROMPT = "Taste-likes: Cheese\nTaste-dislikes: Can't eat eggs\nSuggestion: Quiche Lorraine\nAnalysis:"
TARGET = " it has eggs in it.\nRecommendation: Avoid."


def _engine(model_dir, precision="float32", **kw):
  tok = transformers.AutoTokenizer.from_pretrained(model_dir)
  model = transformers.AutoModelForCausalLM.from_pretrained(model_dir)
  return transformers_lm.TransformersEngine(model, tok, precision=precision, **kw)


def _target_loglik(model, embs: torch.Tensor, ids: list[int], mask: np.ndarray) -> torch.Tensor:
  """Reference: full logits at every position, plain log_softmax, masked sum."""
  logits = model(inputs_embeds=embs[None], use_cache=False).logits[0]
  logprobs = torch.log_softmax(logits[:-1], dim=-1)
  token_lp = logprobs[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
  return (token_lp * torch.tensor(mask[1:], dtype=token_lp.dtype)).sum()


def _default_mask(group_model, ex):
  ids, n_prompt = group_model._ids_of(ex, 0)
  mask = np.zeros(len(ids), np.float32)
  mask[n_prompt:] = 1
  return ids, mask


def test_matches_finite_differences(tiny_gpt2_dir):
  engine = _engine(tiny_gpt2_dir, precision="float64")
  sal = lit_wrappers.SalienceModel(engine)
  ex = {"prompt": PROMPT, "target": TARGET}
  out = sal.predict([ex])[0]
  ids, mask = _default_mask(sal, ex)
  model = engine.model
  with torch.no_grad():
    embs = model.get_input_embeddings()(torch.tensor(ids)).double()
    f = lambda e: _target_loglik(model, e, ids, mask).item()
    eps = 1e-5
    grad = torch.zeros_like(embs)
    for t in range(len(ids)):
      for h in range(embs.shape[1]):
        d = torch.zeros_like(embs)
        d[t, h] = eps
        grad[t, h] = (f(embs + d) - f(embs - d)) / (2 * eps)
  fd_l2 = grad.norm(dim=-1).numpy()
  fd_dot = (grad * embs).sum(-1).numpy()
  assert np.abs(fd_l2).max() > 1e-3  # the check is not vacuous
  np.testing.assert_allclose(out["grad_l2"], fd_l2, rtol=1e-6, atol=1e-8)
  np.testing.assert_allclose(out["grad_dot_input"], fd_dot, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("where", ["target", "middle"])
def test_matches_full_logits_reference(tiny_model_dir, where):
  engine = _engine(tiny_model_dir)
  sal = lit_wrappers.SalienceModel(engine)
  ex = {"prompt": PROMPT, "target": TARGET}
  ids, mask = _default_mask(sal, ex)
  if where == "middle":  # a span in the prompt: later tokens are skipped by the engine
    mask = np.zeros(len(ids), np.float32)
    mask[8:12] = 1
    ex = ex | {"target_mask": mask.tolist()}
  out = sal.predict([ex])[0]
  model = engine.model
  embs = model.get_input_embeddings()(torch.tensor(ids)).detach().requires_grad_(True)
  (grad,) = torch.autograd.grad(_target_loglik(model, embs, ids, mask), embs)
  scale = np.abs(out["grad_l2"]).max()
  np.testing.assert_allclose(out["grad_l2"], grad.norm(dim=-1).numpy(), atol=1e-5 * scale)
  np.testing.assert_allclose(
      out["grad_dot_input"], (grad * embs).sum(-1).detach().numpy(), atol=1e-5 * scale)


def test_target_mask_semantics(tiny_group):
  sal = tiny_group["_tiny_salience"]
  ex = {"prompt": PROMPT, "target": TARGET}
  ids, default_mask = _default_mask(sal, ex)
  n = len(ids)
  implicit = sal.predict([ex])[0]
  explicit = sal.predict([ex | {"target_mask": default_mask.tolist()}])[0]
  np.testing.assert_array_equal(implicit["grad_l2"], explicit["grad_l2"])
  # Position 0 (BOS) is never a target, so setting it changes nothing.
  with_bos = default_mask.copy()
  with_bos[0] = 1
  np.testing.assert_array_equal(
      sal.predict([ex | {"target_mask": with_bos.tolist()}])[0]["grad_l2"], implicit["grad_l2"])

  # A single target token k depends only on tokens before it (causality).
  k = n - 3
  single = np.zeros(n)
  single[k] = 1
  one = sal.predict([ex | {"target_mask": single.tolist()}])[0]
  assert np.all(one["grad_l2"][k:] == 0)
  assert np.all(one["grad_l2"][:k] > 0)

  # The explained quantity is a sum of log-probabilities: gradients add up.
  a = np.zeros(n); a[n - 6:n - 3] = 1
  b = np.zeros(n); b[n - 3:] = 1
  ga = sal.predict([ex | {"target_mask": a.tolist()}])[0]["grad_dot_input"]
  gb = sal.predict([ex | {"target_mask": b.tolist()}])[0]["grad_dot_input"]
  gab = sal.predict([ex | {"target_mask": (a + b).tolist()}])[0]["grad_dot_input"]
  np.testing.assert_allclose(gab, ga + gb, rtol=1e-4, atol=1e-6)
  # Targets may be prompt tokens too (explain part of the prompt).
  prompt_only = np.zeros(n); prompt_only[3:6] = 1
  assert sal.predict([ex | {"target_mask": prompt_only.tolist()}])[0]["grad_l2"][:5].sum() > 0


def test_padding_invariance(tiny_model_dir):
  engine = _engine(tiny_model_dir, batch_size=3)
  alone = lit_wrappers.SalienceModel(engine).predict([{"prompt": PROMPT, "target": TARGET}])[0]
  batch = [
      {"prompt": "Short", "target": " one."},
      {"prompt": PROMPT, "target": TARGET},
      {"prompt": PROMPT * 3, "target": TARGET + TARGET},
  ]
  inside = lit_wrappers.SalienceModel(engine).predict(batch)[1]
  assert inside["tokens"] == alone["tokens"]
  for key in ("grad_l2", "grad_dot_input"):
    np.testing.assert_allclose(inside[key], alone[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backward_mode", ["loop", "vmap"])
def test_batched_masks_equal_one_at_a_time(tiny_model_dir, backward_mode):
  engine = _engine(tiny_model_dir, batch_size=2, backward_mode=backward_mode)
  ex = {"prompt": PROMPT, "target": TARGET}
  ids, _ = _default_mask(lit_wrappers.SalienceModel(engine), ex)
  n = len(ids)
  masks = []
  for start in range(n - 10, n, 2):
    m = np.zeros(n); m[start:start + 2] = 1
    masks.append(m.tolist())
  other = {"prompt": "Headline:", "target": " Storm halts ferries"}
  batched_inputs = [ex | {"target_mask": m} for m in masks] + [other]
  batched = lit_wrappers.SalienceModel(engine).predict(batched_inputs)
  for m, got in zip(masks, batched):
    fresh = lit_wrappers.SalienceModel(engine)  # no cache shared
    want = fresh.predict([ex | {"target_mask": m}])[0]
    for key in ("grad_l2", "grad_dot_input"):
      np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6)
  want_other = lit_wrappers.SalienceModel(engine).predict([other])[0]
  np.testing.assert_allclose(batched[-1]["grad_l2"], want_other["grad_l2"], rtol=1e-5, atol=1e-6)


def test_cache_returns_same_scores(tiny_group):
  sal = tiny_group["_tiny_salience"]
  ex = {"prompt": PROMPT + " cached", "target": TARGET}
  first = sal.predict([ex])[0]
  before = len(sal._cache)
  second = sal.predict([ex])[0]
  assert len(sal._cache) == before
  np.testing.assert_array_equal(first["grad_l2"], second["grad_l2"])


def test_bfloat16_close_to_float32(tiny_model_dir):
  ex = {"prompt": PROMPT, "target": TARGET}
  f32 = lit_wrappers.SalienceModel(_engine(tiny_model_dir)).predict([ex])[0]
  bf16 = lit_wrappers.SalienceModel(_engine(tiny_model_dir, precision="bfloat16")).predict([ex])[0]
  assert bf16["grad_l2"].dtype == np.float32
  scale = f32["grad_l2"].max()
  assert np.abs(bf16["grad_l2"] - f32["grad_l2"]).max() < 0.1 * scale
