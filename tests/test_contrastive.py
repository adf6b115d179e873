"""Contrastive salience ("why this and not that") and the model's alternatives,
against independent computations on tiny models: the Hugging Face model run
directly on inputs_embeds with full logits, context + span and context + foil
sharing one context-embedding tensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from lit_seqsal import inputs
from lit_seqsal.engine.encoding import encode_example
from lit_seqsal.models import lit_models, transformers_engine
from lit_seqsal.salience import attribution, segmentation

PROMPT = (
  "Taste-likes: Cheese\nTaste-dislikes: Can't eat eggs\nSuggestion: Quiche Lorraine\n"
  "Analysis: it has eggs in it.\nRecommendation:"
)
TARGET = " You have to try it."
FOIL = " Avoid."


def _engine(model_dir, precision="float32", **kw):
  tok = transformers.AutoTokenizer.from_pretrained(model_dir)
  model = transformers.AutoModelForCausalLM.from_pretrained(model_dir)
  return transformers_engine.TransformersEngine(model, tok, precision=precision, **kw)


def _reference(engine, ids, span, foil_ids, context_embs=None):
  """log P(span | context) - log P(foil | context), computed directly; returns the
  difference and its gradient with respect to the shared context embeddings."""
  model = engine.model
  emb = model.get_input_embeddings()
  start, end = span
  ctx = (
    (emb(torch.tensor(ids[:start])).detach() if context_embs is None else context_embs)
    .clone()
    .requires_grad_(True)
  )

  def loglik(continuation):
    seq = list(ids[:start]) + list(continuation)
    embs = torch.cat([ctx, emb(torch.tensor(list(continuation))).detach().to(ctx.dtype)])
    logits = model(inputs_embeds=embs[None], use_cache=False).logits[0]
    lp = torch.log_softmax(logits[:-1].double(), -1)[
      torch.arange(len(seq) - 1), torch.tensor(seq[1:])
    ]
    return lp[start - 1 :].sum()

  diff = loglik(ids[start:end]) - loglik(foil_ids)
  (grad,) = torch.autograd.grad(diff, ctx)
  return float(diff.detach()), grad.double(), ctx.detach().double()


def _contrastive_example(engine):
  encoded = encode_example(engine, {"prompt": PROMPT, "target": TARGET, "foil": FOIL})
  span = inputs.contiguous_span(encoded.mask)
  return encoded, span


@pytest.mark.parametrize("arch", ["gemma3", "gpt2"])
def test_gradient_methods_match_the_direct_difference(arch, tiny_model_dir, tiny_gpt2_dir):
  engine = _engine(tiny_model_dir if arch == "gemma3" else tiny_gpt2_dir)
  sal = lit_models.SalienceModel(engine)
  encoded, (start, end) = _contrastive_example(engine)
  (out,) = sal.predict([{"prompt": PROMPT, "target": TARGET, "foil": FOIL}])
  _, grad, ctx = _reference(engine, list(encoded.ids), (start, end), list(encoded.foil_ids))
  want_l2 = grad.norm(dim=-1).numpy()
  want_dot = (grad * ctx).sum(-1).numpy()
  scale = np.abs(want_l2).max()
  assert scale > 0
  np.testing.assert_allclose(out["grad_l2"][:start], want_l2, atol=1e-4 * scale)
  np.testing.assert_allclose(
    out["grad_dot_input"][:start], want_dot, atol=1e-4 * np.abs(want_dot).max()
  )
  # The span and everything after it get 0.
  assert not out["grad_l2"][start:].any() and not out["grad_dot_input"][start:].any()
  # Contrastive differs from plain salience of the same span.
  (plain,) = sal.predict([{"prompt": PROMPT, "target": TARGET}])
  assert np.abs(plain["grad_l2"][:start] - out["grad_l2"][:start]).max() > 1e-3 * scale


def test_shared_context_runs_once_and_equals_two_rows(tiny_model_dir):
  """The engine's shared-prefix path (context once, two continuations from its
  cache) gives the same objectives and summed gradients as two full rows."""
  from lit_seqsal.engine import batching
  from lit_seqsal.salience import contrastive

  engine = _engine(tiny_model_dir)
  encoded, (start, _) = _contrastive_example(engine)
  plain, _ = contrastive.expand([encoded.row])
  batch = batching.pack(plain, engine.pad_id)
  embs = engine.embed(batch.ids[:, : batch.used])
  two_rows = engine.objectives(embs, batch, gradients=True, alternatives=3)
  batch.shared_prefix = start
  shared = engine.objectives(embs, batch, gradients=True, alternatives=3)
  np.testing.assert_allclose(shared.values, two_rows.values, rtol=1e-5, atol=1e-6)
  summed = two_rows.grads.sum(1)[:, :start]
  np.testing.assert_allclose(
    shared.grads.sum(1)[:, :start], summed, atol=1e-5 * np.abs(summed).max()
  )
  np.testing.assert_array_equal(shared.top_ids, two_rows.top_ids)


def test_occlusion_matches_a_direct_loop(tiny_model_dir):
  engine = _engine(tiny_model_dir, batch_size=3)
  encoded, (start, end) = _contrastive_example(engine)
  ids, foil = list(encoded.ids), list(encoded.foil_ids)
  ((occ,),) = attribution.occlusion(engine, [encoded.row], "words")
  full, _, _ = _reference(engine, ids, (start, end), foil)
  assert occ.log_likelihood == pytest.approx(full, abs=1e-4)
  expected = segmentation.segment_tokens(engine.token_strings(ids), "words", 1, start)
  assert occ.segments == expected and len(expected) > 3
  for (a, b), score in zip(occ.segments, occ.segment_scores):
    kept = ids[:a] + ids[b:]
    deleted, _, _ = _reference(engine, kept, (start - (b - a), end - (b - a)), foil)
    assert score == pytest.approx(full - deleted, abs=2e-4)
  assert not occ.scores[start:].any()


def test_integrated_gradients_complete_on_the_difference(tiny_model_dir):
  engine = _engine(tiny_model_dir, batch_size=4)
  encoded, (start, end) = _contrastive_example(engine)
  (ig,) = attribution.integrated_gradients(engine, [encoded.row], steps=64)
  ids, foil = list(encoded.ids), list(encoded.foil_ids)
  ctx = engine.model.get_input_embeddings()(torch.tensor(ids[:start])).detach()
  base = ctx.clone()
  base[1:] *= attribution.BASELINE_SCALE
  at_input, _, _ = _reference(engine, ids, (start, end), foil, ctx)
  at_baseline, _, _ = _reference(engine, ids, (start, end), foil, base)
  change = at_input - at_baseline
  assert abs(change) > 0.1
  np.testing.assert_allclose(
    ig.log_likelihood[0] - ig.baseline_log_likelihood[0], change, rtol=1e-4
  )
  assert abs(ig.scores[0].sum() - change) <= 0.05 * abs(change)
  assert not ig.scores[0, start:].any() and ig.scores[0, 0] == 0


def test_alternatives_are_the_top_of_a_full_softmax(tiny_model_dir):
  engine = _engine(tiny_model_dir)
  sal = lit_models.SalienceModel(engine)
  encoded = encode_example(engine, {"prompt": PROMPT, "target": TARGET})
  (out,) = sal.predict([{"prompt": PROMPT, "target": TARGET}])
  first = int(np.nonzero(encoded.mask)[0][0])
  with torch.no_grad():
    logits = engine.model(input_ids=torch.tensor([list(encoded.ids)]), use_cache=False).logits[0]
  probs = torch.softmax(logits[first - 1].double(), -1)
  top = torch.topk(probs, 5)
  assert [t for t, _ in out["alternatives"]] == [
    engine.token_strings([i])[0] for i in top.indices.tolist()
  ]
  np.testing.assert_allclose([p for _, p in out["alternatives"]], top.values.numpy(), rtol=1e-4)
  # The same with a foil: alternatives at the span's first token.
  (con,) = sal.predict([{"prompt": PROMPT, "target": TARGET, "foil": FOIL}])
  assert [t for t, _ in con["alternatives"]] == [t for t, _ in out["alternatives"]]
  np.testing.assert_allclose(
    [p for _, p in con["alternatives"]], [p for _, p in out["alternatives"]], rtol=1e-5
  )


def test_cached_per_foil_and_clear_errors(tiny_model_dir):
  engine = _engine(tiny_model_dir, max_length=256)
  sal = lit_models.SalienceModel(engine)
  ex = {"prompt": PROMPT, "target": TARGET, "foil": FOIL}
  calls = []
  original = engine.objectives
  engine.objectives = lambda *a, **k: (calls.append(1), original(*a, **k))[1]
  (first,) = sal.predict([ex])
  calls.clear()
  (again,) = sal.predict([ex])
  assert calls == [] and np.array_equal(first["grad_l2"], again["grad_l2"])
  (other,) = sal.predict([dict(ex, foil=" Skip it.")])
  assert calls and not np.array_equal(first["grad_l2"], other["grad_l2"])
  # A foil without a leading space is the same foil (the span starts a word).
  calls.clear()
  (spaced,) = sal.predict([dict(ex, foil="Avoid.")])
  assert calls == [] and np.array_equal(first["grad_l2"], spaced["grad_l2"])
  n = len(encode_example(engine, ex).ids)
  gappy = [0] * n
  gappy[n - 4] = gappy[n - 2] = 1
  for bad, message in [
    (dict(ex, foil=""), "'foil' is empty"),
    (dict(ex, foil=5), "'foil' must be a text"),
    (dict(ex, target_mask=gappy), "one contiguous span"),
    (dict(ex, foil=" no" * 300), "context plus the foil.*maximum"),
  ]:
    with pytest.raises(inputs.InputError, match=message):
      sal.predict([bad])


def test_every_method_runs_contrastive_through_the_salience_model(tiny_model_dir):
  engine = _engine(tiny_model_dir, batch_size=4)
  sal = lit_models.SalienceModel(engine)
  ex = {
    "prompt": PROMPT,
    "target": TARGET,
    "foil": FOIL,
    "salience_methods": ["integrated_gradients", "occlusion"],
    "ig_steps": 16,
    "occlusion_granularity": "lines",
  }
  (out,) = sal.predict([ex])
  encoded, (start, _) = _contrastive_example(engine)
  (ig,) = attribution.integrated_gradients(engine, [encoded.row], steps=16)
  ((occ,),) = attribution.occlusion(engine, [encoded.row], "lines")
  np.testing.assert_allclose(out["integrated_gradients"], ig.scores[0], rtol=1e-5, atol=1e-7)
  # The field is all-spans occlusion (salience/occlusion.py): the same deletions
  # computed another way (cached prefixes), so equal to float32 rounding of the
  # two rows' log-likelihood sums (each about 100 nats here, x 1e-7 x a few).
  np.testing.assert_allclose(out["occlusion"], occ.scores, atol=1e-4)
  assert out["occlusion"][:start].any() and not out["occlusion"][start:].any()
