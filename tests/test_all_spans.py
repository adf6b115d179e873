"""All-spans occlusion and the engine primitive under it, against independent computations.

References are the Hugging Face model run directly on each edited sequence
(full logits, one sequence at a time, float64 log-softmax) and today's
per-span occlusion (`attribution.occlusion`: every deletion of every span run
as its own full row).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lit_seqsal.engine.base import LMEngine
from lit_seqsal.engine.encoding import encode_example
from lit_seqsal.models import lit_models
from lit_seqsal.salience import attribution, occlusion, segmentation
from tests.tiny_models import transformers_engine_of

PROMPT = (
  "Taste-likes: cheese, tomato.\nTaste-dislikes: onions.\n\n"
  "Suggestion: Onion soup. It is hot.\nAnalysis:"
)
TARGET = " it has onions. You will not like it.\nRecommendation: Avoid it."
FOIL = " Try it."


def _reference_logprobs(model, ids, positions) -> np.ndarray:
  """log P(ids[t] | ids[:t]) at `positions`: full logits, one sequence, float64."""
  with torch.no_grad():
    logits = model(input_ids=torch.tensor([list(ids)]), use_cache=False).logits[0]
  lp = torch.log_softmax(logits.double(), -1)
  return lp[torch.tensor(positions) - 1, torch.tensor(list(ids))[torch.tensor(positions)]].numpy()


def _without(ids, deletion):
  return [t for i, t in enumerate(ids) if i not in set(deletion)]


def _shifted(positions, deletion):
  """Positions after deletion[0] that survive it, in the shortened sequence."""
  return np.array(
    [
      t - sum(1 for d in deletion if d < t)
      for t in positions
      if t > deletion[0] and t not in deletion
    ]
  )


@pytest.mark.parametrize("arch", ["gemma3", "gpt2"])
def test_token_logprobs_from_a_cached_prefix_equal_a_full_recompute(
  arch, tiny_model_dir, tiny_gpt2_dir
):
  """The cached-prefix path, the same rows run whole, the base class's path
  through `objectives`, and the model's own full logits agree; the cached path
  really runs only the tokens after the shared prefix (the tiny Gemma's
  sliding window of 8 is shorter than the rows, so windowed layers continuing
  from the cache are exercised)."""
  engine = transformers_engine_of(
    tiny_model_dir if arch == "gemma3" else tiny_gpt2_dir, batch_size=3
  )
  encoded = encode_example(engine, {"prompt": PROMPT, "target": TARGET})
  ids, n = list(encoded.ids), len(encoded.ids)
  scored = np.arange(encoded.num_prompt_tokens, n)
  deletions = [(9, 10, 11, 12), (15, 16), (20,), (3, 30)]
  rows = [_without(ids, d) for d in deletions]
  positions = [_shifted(scored, d) for d in deletions]

  prefix = engine.run_prefix(ids, scored)
  np.testing.assert_allclose(
    prefix.logprobs, _reference_logprobs(engine.model, ids, scored), atol=1e-5
  )
  seen = []
  original = engine.model.forward

  def recording(*args, **kwargs):
    seen.append((kwargs["input_ids"].shape[1], kwargs.get("cache") is not None))
    return original(*args, **kwargs)

  engine.model.forward = recording
  try:
    cached = engine.token_logprobs(rows[:3], positions[:3], prefix=prefix)
    whole = engine.token_logprobs(rows[:3], positions[:3])
  finally:
    engine.model.forward = original
  # The first call continued from the cache after the 9 tokens the rows share
  # with the sequence (the first deletion starts at token 9); the second ran
  # the rows whole (up to their last needed token).
  last = max(int(p.max()) for p in positions[:3])
  assert seen == [(last - 9, True), (last, False)]
  fallback = LMEngine._token_logprobs(engine, rows, positions, None)
  mixed = engine.token_logprobs(rows, positions, prefix=prefix)  # one row shares 3 tokens
  for b, (row, pos) in enumerate(zip(rows, positions)):
    reference = _reference_logprobs(engine.model, row, pos)
    if b < 3:
      np.testing.assert_allclose(cached[b], whole[b], atol=1e-5)
      np.testing.assert_allclose(cached[b], reference, atol=1e-5)
    np.testing.assert_allclose(mixed[b], reference, atol=1e-5)
    np.testing.assert_allclose(fallback[b], reference, atol=1e-5)


def _masks_of_output(tokens, num_prompt, granularity):
  """One mask per output segment (as the client prefetches), plus a span that
  starts inside the output's first segment."""
  n = len(tokens)
  masks = []
  for a, b in segmentation.segment_tokens(tokens, granularity, num_prompt, n):
    m = np.zeros(n, np.float32)
    m[a:b] = 1
    masks.append(m)
  inside = np.zeros(n, np.float32)
  inside[num_prompt + 2 : num_prompt + 4] = 1
  return np.stack(masks + [inside])


@pytest.mark.parametrize("granularity", ["tokens", "words", "sentences", "lines"])
def test_all_spans_equal_per_span_occlusion_of_every_span(tiny_model_dir, granularity):
  engine = transformers_engine_of(tiny_model_dir, batch_size=4)
  encoded = encode_example(engine, {"prompt": PROMPT, "target": TARGET})
  ids, num_prompt = list(encoded.ids), encoded.num_prompt_tokens
  masks = _masks_of_output(engine.token_strings(ids), num_prompt, granularity)
  assert len(masks) > 2
  (together,) = occlusion.all_spans(engine, [(ids, masks)], granularity, outputs_from=[num_prompt])
  for mask, got in zip(masks, together):
    ((want,),) = attribution.occlusion(engine, [(ids, mask[None])], granularity)
    assert got.segments == want.segments
    assert got.log_likelihood == pytest.approx(want.log_likelihood, abs=2e-4)
    np.testing.assert_allclose(got.segment_scores, want.segment_scores, atol=2e-4)
    np.testing.assert_allclose(got.scores, want.scores, atol=2e-4)


def test_a_deleted_output_segment_changes_only_later_spans(tiny_model_dir):
  """The last output sentence's score for deleting the first output sentence,
  against the model run by hand on the sequence without it; earlier spans
  never list a deletion after their start."""
  engine = transformers_engine_of(tiny_model_dir, batch_size=4)
  encoded = encode_example(engine, {"prompt": PROMPT, "target": TARGET})
  ids, num_prompt = list(encoded.ids), encoded.num_prompt_tokens
  tokens = engine.token_strings(ids)
  sentences = segmentation.segment_tokens(tokens, "sentences", num_prompt, len(ids))
  assert len(sentences) >= 3
  masks = _masks_of_output(tokens, num_prompt, "sentences")
  results = occlusion.all_spans(engine, [(ids, masks)], "sentences", outputs_from=[num_prompt])[0]
  (a0, _), (a_last, b_last) = sentences[0], sentences[-1]
  last = results[len(sentences) - 1]
  # The whole sequence's sentence that holds the output's first tokens (it
  # may start in the prompt: "Analysis:" ends no sentence).
  k = next(i for i, (a, b) in enumerate(last.segments) if a <= a0 < b)
  start, end = last.segments[k]
  assert end > a0 >= start and end <= a_last
  kept = _without(ids, range(start, end))
  span = np.arange(a_last, b_last)
  direct = (
    _reference_logprobs(engine.model, ids, span).sum()
    - _reference_logprobs(engine.model, kept, span - (end - start)).sum()
  )
  assert last.segment_scores[k] == pytest.approx(direct, abs=2e-4)
  assert abs(direct) > 1e-3
  for (a, _), result in zip(sentences, results):
    assert all(end <= a for _, end in result.segments)


def test_contrastive_all_spans_equal_per_span_occlusion(tiny_model_dir):
  engine = transformers_engine_of(tiny_model_dir, batch_size=3)
  encoded = encode_example(engine, {"prompt": PROMPT, "target": TARGET, "foil": FOIL})
  ((got,),) = occlusion.all_spans(engine, [encoded.row], "words")
  ((want,),) = attribution.occlusion(engine, [encoded.row], "words")
  assert got.segments == want.segments and len(got.segments) > 5
  # Each row's log-likelihood is about 100 nats; the difference is float32-rounded.
  np.testing.assert_allclose(got.segment_scores, want.segment_scores, atol=1e-4)
  assert got.log_likelihood == pytest.approx(want.log_likelihood, abs=1e-4)


def test_inputs_sharing_an_output_share_one_set_of_deletions(tiny_model_dir):
  """Through the salience model: every output segment in one request runs the
  canonical deletions once; each input's scores equal that input asked alone
  (a fresh model each time), to the last bit; a later request for another
  span of the same input does no model work."""
  engine = transformers_engine_of(tiny_model_dir, batch_size=4)
  encoded = encode_example(engine, {"prompt": PROMPT, "target": TARGET})
  ids, num_prompt = list(encoded.ids), encoded.num_prompt_tokens
  tokens = engine.token_strings(ids)
  masks = _masks_of_output(tokens, num_prompt, "sentences")[:-1]  # segment-aligned spans
  asked = [
    {
      "prompt": PROMPT,
      "target": TARGET,
      "target_mask": m.tolist(),
      "salience_methods": ["occlusion"],
      "occlusion_granularity": "sentences",
    }
    for m in masks
  ]
  rows_run = []
  original = engine.token_logprobs

  def counting(rows, positions, **kw):
    rows_run.append(len(rows))
    return original(rows, positions, **kw)

  engine.token_logprobs = counting
  together = lit_models.SalienceModel(engine).predict(asked)
  # The whole sequence's sentences, and the first output sentence's cut at the
  # prompt's end (the prompt's last sentence runs into the output): each once.
  needed = set(occlusion.canonical_deletions(tokens, "sentences"))
  for m in masks:
    needed |= {tuple(p) for p in attribution.occlusion_segments(tokens, m, "sentences")}
  assert sum(rows_run) == len(needed) < len(masks) * len(needed)
  for ex, got in zip(asked, together):
    (alone,) = lit_models.SalienceModel(engine).predict([ex])
    np.testing.assert_array_equal(got["occlusion"], alone["occlusion"])
  model = lit_models.SalienceModel(engine)
  model.predict(asked[-1:])
  rows_run.clear()
  prefixes = []
  original_prefix = engine.run_prefix
  engine.run_prefix = lambda *a, **k: (prefixes.append(1), original_prefix(*a, **k))[1]
  (second,) = model.predict(asked[1:2])  # its deletions are all canonical: no model work
  assert rows_run == [] and prefixes == []
  np.testing.assert_array_equal(second["occlusion"], together[1]["occlusion"])
  (first,) = model.predict(asked[:1])  # one more deletion (cut at the prompt's end)
  assert rows_run == [1] and prefixes == [1]
  np.testing.assert_array_equal(first["occlusion"], together[0]["occlusion"])


@pytest.mark.bundled
def test_all_spans_equal_per_span_occlusion_on_the_bundled_model(bundled_group):
  """On Gemma 3 270M (the cached-prefix path of a real model), fewshot-mistake
  with a two-sentence answer: every output sentence's all-spans occlusion, plain
  and against a foil, equals its own per-span occlusion."""
  from lit_seqsal import datasets

  engine = bundled_group["_gemma_salience"].engine
  (menu,) = [
    e
    for e in datasets.read_examples(datasets.sample_prompts_path())
    if e["source"] == "fewshot-mistake"
  ]
  target = " it has cheese in it, which you don't like.\nRecommendation: Avoid."
  encoded = encode_example(engine, {"prompt": menu["prompt"], "target": target})
  ids, num_prompt = list(encoded.ids), encoded.num_prompt_tokens
  masks = _masks_of_output(engine.token_strings(ids), num_prompt, "sentences")
  (together,) = occlusion.all_spans(engine, [(ids, masks)], "sentences", outputs_from=[num_prompt])
  for mask, got in zip(masks, together):
    ((want,),) = attribution.occlusion(engine, [(ids, mask[None])], "sentences")
    assert got.segments == want.segments
    scale = np.abs(want.segment_scores).max()
    np.testing.assert_allclose(got.segment_scores, want.segment_scores, atol=1e-5 * max(scale, 1))
  encoded = encode_example(
    engine, {"prompt": menu["prompt"], "target": " Avoid.", "foil": " Try it."}
  )
  ((got,),) = occlusion.all_spans(engine, [encoded.row], "sentences")
  ((want,),) = attribution.occlusion(engine, [encoded.row], "sentences")
  assert got.segments == want.segments and len(got.segments) > 10
  np.testing.assert_allclose(got.segment_scores, want.segment_scores, atol=1e-4)
