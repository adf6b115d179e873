"""Salience arithmetic against independent computations, on a tiny LM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lit_seqsal.models import lit_models
from tests import salience_checks
from tests.salience_checks import PROMPT, TARGET
from tests.tiny_models import transformers_engine_of


def _target_loglik(model, embs: torch.Tensor, ids: list[int], mask: np.ndarray) -> torch.Tensor:
  """Reference: full logits at every position, plain log_softmax, masked sum."""
  logits = model(inputs_embeds=embs[None], use_cache=False).logits[0]
  logprobs = torch.log_softmax(logits[:-1], dim=-1)
  token_lp = logprobs[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
  return (token_lp * torch.tensor(mask[1:], dtype=token_lp.dtype)).sum()


@pytest.mark.slow
def test_matches_finite_differences(tiny_gpt2_dir):
  engine = transformers_engine_of(tiny_gpt2_dir, precision="float64")
  sal = lit_models.SalienceModel(engine)
  ex = {"prompt": PROMPT, "target": TARGET}
  out = sal.predict([ex])[0]
  ids, mask = salience_checks.default_mask(sal, ex)
  model = engine.model
  with torch.no_grad():
    embs = model.get_input_embeddings()(torch.tensor(ids)).double()

    def f(e):
      return _target_loglik(model, e, ids, mask).item()

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
  engine = transformers_engine_of(tiny_model_dir)
  sal = lit_models.SalienceModel(engine)
  ex = {"prompt": PROMPT, "target": TARGET}
  ids, mask = salience_checks.default_mask(sal, ex)
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
    out["grad_dot_input"], (grad * embs).sum(-1).detach().numpy(), atol=1e-5 * scale
  )


def test_target_mask_semantics(tiny_group):
  salience_checks.check_target_mask_semantics(tiny_group["_tiny_salience"])


def test_padding_invariance(tiny_model_dir):
  engine = transformers_engine_of(tiny_model_dir, batch_size=3)
  salience_checks.check_padding_invariance(lambda: lit_models.SalienceModel(engine))


@pytest.mark.parametrize("backward_mode", ["loop", "vmap"])
def test_batched_masks_equal_one_at_a_time(tiny_model_dir, backward_mode):
  engine = transformers_engine_of(tiny_model_dir, batch_size=2, backward_mode=backward_mode)
  salience_checks.check_batched_masks(lambda: lit_models.SalienceModel(engine))


def test_cache_returns_same_scores(tiny_group):
  salience_checks.check_cache(tiny_group["_tiny_salience"])


def test_bfloat16_close_to_float32(tiny_model_dir):
  ex = {"prompt": PROMPT, "target": TARGET}
  f32 = lit_models.SalienceModel(transformers_engine_of(tiny_model_dir)).predict([ex])[0]
  bf16 = lit_models.SalienceModel(
    transformers_engine_of(tiny_model_dir, precision="bfloat16")
  ).predict([ex])[0]
  assert bf16["grad_l2"].dtype == np.float32
  scale = f32["grad_l2"].max()
  assert np.abs(bf16["grad_l2"] - f32["grad_l2"]).max() < 0.1 * scale
