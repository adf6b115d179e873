"""Salience map, integrated gradients and occlusion against independent computations.

References here use the Hugging Face model directly (full logits, one sequence
at a time, plain log_softmax), not our engine's packing or primitives.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lit_seqsal import datasets, inputs
from lit_seqsal.engine.encoding import encode_example
from lit_seqsal.models import lit_models
from lit_seqsal.salience import attribution, methods, segmentation
from tests.client_code import assert_client_segments_alike
from tests.salience_checks import PROMPT, TARGET
from tests.tiny_models import transformers_engine_of

REDUCTIONS = methods.gradient_reductions()


def _example(engine, prompt=PROMPT, target=TARGET):
  encoded = encode_example(engine, {"prompt": prompt, "target": target})
  return list(encoded.ids), encoded.mask


def _loglik(model, ids, mask, embs=None) -> float:
  """Reference target log-likelihood: full logits, one sequence, no batching."""
  with torch.no_grad():
    if embs is None:
      logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
    else:
      logits = model(inputs_embeds=embs[None], use_cache=False).logits[0]
    lp = torch.log_softmax(logits[:-1].double(), -1)[
      torch.arange(len(ids) - 1), torch.tensor(ids[1:])
    ]
  return float((lp * torch.tensor(mask[1:], dtype=lp.dtype)).sum())


# -- integrated gradients ----------------------------------------------------


@pytest.mark.parametrize("arch", ["gpt2", "gemma3"])
def test_integrated_gradients_completeness_at_defaults(arch, tiny_gpt2_dir, tiny_model_dir):
  engine = transformers_engine_of(tiny_gpt2_dir if arch == "gpt2" else tiny_model_dir, batch_size=5)
  ids, mask = _example(engine)
  (result,) = attribution.integrated_gradients(engine, [(ids, mask[None])])
  # Independent endpoints: the input's log-likelihood and the baseline's.
  embs = engine.model.get_input_embeddings()(torch.tensor(ids)).detach()
  first = int(mask.nonzero()[0][0])
  base = embs.clone()
  base[1:first] *= attribution.BASELINE_SCALE
  change = _loglik(engine.model, ids, mask, embs) - _loglik(engine.model, ids, mask, base)
  assert abs(change) > 0.5  # the check is not vacuous
  np.testing.assert_allclose(
    result.log_likelihood[0] - result.baseline_log_likelihood[0], change, rtol=1e-4
  )
  total = result.scores[0].sum()
  assert abs(total - change) <= 0.05 * abs(change), (total, change)
  # Only the context (after BOS, before the target) is attributed.
  assert result.scores[0, 0] == 0 and not result.scores[0, first:].any()
  assert np.count_nonzero(result.scores[0, 1:first]) == first - 1


@pytest.mark.slow
def test_integrated_gradients_match_a_riemann_sum_of_reference_gradients(tiny_gpt2_dir):
  """Our Gauss-Legendre IG vs. a fine midpoint rule over plain autograd gradients."""
  engine = transformers_engine_of(tiny_gpt2_dir, precision="float64", batch_size=4)
  ids, mask = _example(engine)
  (ours,) = attribution.integrated_gradients(engine, [(ids, mask[None])], steps=64)
  model = engine.model
  embs = model.get_input_embeddings()(torch.tensor(ids)).detach().double()
  first = int(mask.nonzero()[0][0])
  base = embs.clone()
  base[1:first] *= attribution.BASELINE_SCALE
  total = torch.zeros_like(embs)
  n = 400
  for k in range(n):
    point = (base + (k + 0.5) / n * (embs - base)).requires_grad_(True)
    logits = model(inputs_embeds=point[None], use_cache=False).logits[0]
    lp = torch.log_softmax(logits[:-1], -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    (grad,) = torch.autograd.grad((lp * torch.tensor(mask[1:], dtype=lp.dtype)).sum(), point)
    total += grad / n
  reference = (total * (embs - base)).sum(-1).numpy()
  np.testing.assert_allclose(ours.scores[0], reference, atol=2e-3 * np.abs(reference).max())
  # Both satisfy completeness to the quadrature error.
  assert abs(ours.completeness_gap[0]) < 1e-3 * abs(
    ours.log_likelihood[0] - ours.baseline_log_likelihood[0]
  )


def test_integrated_gradients_rows_and_masks_are_independent(tiny_model_dir):
  engine = transformers_engine_of(tiny_model_dir, batch_size=3)
  ids_a, mask_a = _example(engine)
  ids_b, mask_b = _example(engine, prompt="Suggestion: Fish tacos\nAnalysis:", target=" no onions.")
  half = mask_a.copy()
  half[int(mask_a.nonzero()[0][-1])] = 0
  together = attribution.integrated_gradients(
    engine, [(ids_a, np.stack([mask_a, half])), (ids_b, mask_b[None])], steps=6
  )
  alone_a = attribution.integrated_gradients(engine, [(ids_a, half[None])], steps=6)[0]
  alone_b = attribution.integrated_gradients(engine, [(ids_b, mask_b[None])], steps=6)[0]
  np.testing.assert_allclose(together[0].scores[1], alone_a.scores[0], rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(together[1].scores[0], alone_b.scores[0], rtol=1e-4, atol=1e-6)


# -- occlusion ---------------------------------------------------------------


@pytest.mark.parametrize("granularity", ["words", "sentences", "lines", "paragraphs"])
def test_occlusion_matches_a_direct_loop(tiny_model_dir, granularity):
  engine = transformers_engine_of(tiny_model_dir, batch_size=3)
  prompt = (
    "Taste-likes: cheese, tomato.\nTaste-dislikes: onions.\n\n"
    "Suggestion: Onion soup. It is hot.\nAnalysis:"
  )
  ids, mask = _example(engine, prompt=prompt, target=" it has onions.")
  ((occ,),) = attribution.occlusion(engine, [(ids, mask[None])], granularity)
  full = _loglik(engine.model, ids, mask)
  assert occ.log_likelihood == pytest.approx(full, abs=1e-4)
  tokens = engine.token_strings(ids)
  first, last = int(mask.nonzero()[0][0]), int(mask.nonzero()[0][-1])
  # Every segment of the context, cut where the target starts.
  expected = segmentation.segment_tokens(tokens, granularity, 1, first)
  assert occ.segments == expected
  assert len(expected) > 1
  for (a, b), score in zip(occ.segments, occ.segment_scores):
    kept = [t for i, t in enumerate(ids) if not a <= i < b]
    kept_mask = np.array([m for i, m in enumerate(mask) if not a <= i < b])
    assert score == pytest.approx(full - _loglik(engine.model, kept, kept_mask), abs=2e-4)
    np.testing.assert_allclose(occ.scores[a:b].sum(), score, rtol=1e-5, atol=1e-6)
  assert occ.scores[0] == 0 and not occ.scores[last:].any()


def test_occlusion_never_deletes_targets_or_bos(tiny_model_dir):
  engine = transformers_engine_of(tiny_model_dir, batch_size=4)
  ids, _ = _example(engine)
  mask = np.zeros(len(ids), dtype=np.float32)
  mask[[3, 6]] = 1.0  # targets inside the prompt, with context between them
  ((occ,),) = attribution.occlusion(engine, [(ids, mask[None])], "tokens")
  deleted = {i for a, b in occ.segments for i in range(a, b)}
  assert deleted == {1, 2, 4, 5}
  assert not occ.scores[[0, 3, 6]].any()


# -- salience map ------------------------------------------------------------


def test_salience_map_chunked_equals_unchunked_and_single_masks(tiny_model_dir):
  engine = transformers_engine_of(tiny_model_dir, batch_size=2)
  ids, mask = _example(engine)
  first = int(mask.nonzero()[0][0])
  seen = []
  whole = attribution.salience_map(engine, ids, first, REDUCTIONS, chunk_size=len(ids))
  chunked = attribution.salience_map(
    engine,
    ids,
    first,
    REDUCTIONS,
    chunk_size=2,
    progress=lambda done, total: seen.append((done, total)),
  )
  outputs = len(ids) - first
  assert seen[-1] == (outputs, outputs) and len(seen) == -(-outputs // 2)
  sal = lit_models.SalienceModel(engine)
  for method in methods.gradient_names():
    assert whole[method].shape == (outputs, len(ids))
    # float32: chunks stop the model at different lengths, so sums differ in
    # their last bits.
    tol = dict(rtol=1e-4, atol=1e-5 * np.abs(whole[method]).max())
    np.testing.assert_allclose(chunked[method], whole[method], **tol)
    for i in (0, outputs - 1):
      one_hot = np.zeros(len(ids))
      one_hot[first + i] = 1
      (single,) = sal.predict([{"prompt": PROMPT, "target": TARGET, "target_mask": one_hot}])
      np.testing.assert_allclose(whole[method][i], single[method], **tol)
    # Causality: row i only has earlier tokens.
    for i in range(outputs):
      assert not whole[method][i, first + i :].any()


def test_bad_settings_are_clear_errors(tiny_model_dir):
  engine = transformers_engine_of(tiny_model_dir)
  ids, mask = _example(engine)
  with pytest.raises(
    inputs.InputError, match="granularity 'clauses'; allowed values: tokens, words"
  ):
    attribution.occlusion(engine, [(ids, mask[None])], "clauses")
  with pytest.raises(inputs.InputError, match=r"steps.*between 1 and 512, got 0"):
    attribution.integrated_gradients(engine, [(ids, mask[None])], steps=0)
  with pytest.raises(inputs.InputError, match="chunk_size must be a whole number"):
    attribution.salience_map(engine, ids, 3, REDUCTIONS, chunk_size=0)
  with pytest.raises(inputs.InputError, match="output to explain is empty"):
    attribution.salience_map(engine, ids, len(ids), REDUCTIONS)


# -- the same methods through the salience model -----------------------------


def test_salience_model_computes_on_request_methods_only_when_asked(tiny_model_dir):
  engine = transformers_engine_of(tiny_model_dir, batch_size=4)
  sal = lit_models.SalienceModel(engine)
  ex = {"prompt": PROMPT, "target": TARGET}
  (default,) = sal.predict([ex])
  # With the gradient methods come the model's alternatives at the span's start.
  assert set(default) == {"tokens", "alternatives", *methods.gradient_names()}

  calls = []
  original = engine.objectives
  engine.objectives = lambda *a, **k: (calls.append(k["gradients"]), original(*a, **k))[1]
  asked = dict(
    ex,
    salience_methods=["integrated_gradients", "occlusion"],
    ig_steps=4,
    occlusion_granularity="words",
  )
  (out,) = sal.predict([asked])
  assert set(out) == {"tokens", "integrated_gradients", "occlusion"}
  encoded = encode_example(engine, ex)
  ids, mask = encoded.ids, encoded.mask
  (ig,) = attribution.integrated_gradients(engine, [(list(ids), mask[None])], steps=4)
  ((occ,),) = attribution.occlusion(engine, [(list(ids), mask[None])], "words")
  np.testing.assert_allclose(out["integrated_gradients"], ig.scores[0], rtol=1e-5, atol=1e-7)
  # The field is all-spans occlusion (salience/occlusion.py): the same deletions
  # computed another way (cached prefixes), so equal to float32 rounding of
  # log-likelihood sums (|LL| x 1e-7 x a few).
  np.testing.assert_allclose(
    out["occlusion"], occ.scores, atol=1e-6 * max(1.0, abs(occ.log_likelihood))
  )
  calls.clear()
  sal.predict([asked])  # cached per method and setting
  assert calls == []
  sal.predict([dict(asked, ig_steps=5, salience_methods=["integrated_gradients"])])
  assert calls and True in calls  # another setting is another computation

  for bad, message in [
    (dict(ex, salience_methods=["lime"]), "unknown method.*'lime'.*allowed values: grad_l2"),
    (
      dict(ex, salience_methods=["occlusion"], occlusion_granularity="custom"),
      "occlusion_granularity 'custom'",
    ),
    (dict(ex, salience_methods=["integrated_gradients"], ig_steps=0), "'ig_steps'.*got 0"),
  ]:
    with pytest.raises(inputs.InputError, match=message):
      sal.predict([bad])


# -- segmentation: the same rules as the client --------------------------------


def test_segmentation_matches_the_client(tiny_model_dir):
  engine = transformers_engine_of(tiny_model_dir)
  token_lists = [
    engine.token_strings(engine.encode(ex["prompt"] + ex["target"]))
    for ex in datasets.read_examples(datasets.sample_prompts_path())
  ]
  assert_client_segments_alike(token_lists)
