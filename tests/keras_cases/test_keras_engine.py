"""The Keras model group on one runtime (see conftest.py), on a tiny Gemma 3 preset."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops

from lit_seqsal import contract, models
from lit_seqsal.engine.encoding import encode_example
from lit_seqsal.models import keras_backend, keras_engine, lit_models
from lit_seqsal.salience import attribution, methods
from tests import salience_checks
from tests.helpers import lit_example, post, serve_lit
from tests.keras_cases import tiny_keras
from tests.keras_cases.conftest import RUNTIME
from tests.salience_checks import PROMPT, TARGET


def _objective(engine, ids, mask):
  """Forward only: summed log-probability of the masked tokens, float64."""
  positions = np.nonzero(mask)[0]
  used = int(positions.max())

  def f(embs: np.ndarray) -> float:
    lp = engine.target_logprobs(
      ops.convert_to_tensor(embs[None, :used].astype(np.float32)),
      ops.convert_to_tensor(np.asarray(ids[:used], np.int32)[None]),
      ops.convert_to_tensor(np.ones((1, used), bool)),
      ops.convert_to_tensor(np.asarray(ids, np.int32)[None, positions]),
      ops.convert_to_tensor(positions.astype(np.int32)),
    )
    return float(np.asarray(ops.convert_to_numpy(lp), np.float64).sum())

  return f


def _embeddings(engine, ids) -> np.ndarray:
  return engine.embed(np.asarray([ids], np.int32))[0].astype(np.float64)


def test_group_follows_contract(keras_group):
  assert set(keras_group) == {"tk", "_tk_salience", "_tk_tokenizer"}
  assert keras_group["tk"].input_spec().keys() == contract.GENERATION_INPUT_SPEC.keys()
  assert (
    keras_group["_tk_salience"].output_spec().keys()
    == contract.salience_output_spec(methods.REGISTRY.values()).keys()
  )
  assert keras_group["tk"].output_spec().keys() == contract.GENERATION_OUTPUT_SPEC.keys()
  ex = {"prompt": "Taste-likes: Cheese\n\nAnalysis: it", "target": " has onions"}
  tokens = keras_group["_tk_tokenizer"].predict([ex])[0]["tokens"]
  assert tokens[0] == "<bos>"
  assert "\n\n" in tokens and any(t.startswith("▁") for t in tokens)
  # Token strings spell the text back: '▁' is a space.
  assert "".join(tokens[1:]).replace("▁", " ") == ex["prompt"] + ex["target"]
  sal = keras_group["_tk_salience"].predict([ex])[0]
  assert sal["tokens"] == tokens
  for method in methods.gradient_names():
    assert sal[method].shape == (len(tokens),) and sal[method].dtype == np.float32


def test_target_logprobs_match_keras_hub_forward(engine):
  """Our forward (decoder from embeddings, LM head at target positions only)
  against keras-hub's own full forward pass of the CausalLM."""
  ids = engine.encode(PROMPT + TARGET)
  n = len(ids)
  logits = engine.lm(
    {
      "token_ids": ops.convert_to_tensor(np.asarray([ids], np.int32)),
      "padding_mask": ops.convert_to_tensor(np.ones((1, n), bool)),
    }
  )
  logits = np.asarray(ops.convert_to_numpy(logits), np.float64)[0]
  ref = (
    logits
    - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True))
    - logits.max(-1, keepdims=True)
  )
  positions = np.arange(n - 12, n)
  ours = engine.target_logprobs(
    ops.convert_to_tensor(_embeddings(engine, ids)[None].astype(np.float32)),
    ops.convert_to_tensor(np.asarray([ids], np.int32)),
    ops.convert_to_tensor(np.ones((1, n), bool)),
    ops.convert_to_tensor(np.asarray(ids, np.int32)[None, positions]),
    ops.convert_to_tensor(positions.astype(np.int32)),
  )
  want = ref[positions - 1, np.asarray(ids)[positions]]
  np.testing.assert_allclose(np.asarray(ops.convert_to_numpy(ours))[0], want, rtol=1e-5, atol=1e-4)


def test_gradients_match_finite_differences(keras_group, engine):
  """grad_l2 and grad_dot_input against central differences of the forward pass.

  Gemma's RMSNorm computes in float32 whatever the weights, so this runs in
  float32 with a step that keeps rounding error well below the tolerance.
  """
  ex = {"prompt": PROMPT, "target": TARGET}
  sal_model = keras_group["_tk_salience"]
  ids, mask = salience_checks.default_mask(sal_model, ex)
  sal = sal_model.predict([ex])[0]
  f = _objective(engine, ids, mask)
  embs = _embeddings(engine, ids)
  eps = 1e-2
  top = np.argsort(sal["grad_l2"])[-4:]  # the most salient tokens
  for t in top:
    grad = np.zeros(embs.shape[1])
    for h in range(embs.shape[1]):
      plus, minus = embs.copy(), embs.copy()
      plus[t, h] += eps
      minus[t, h] -= eps
      grad[h] = (f(plus) - f(minus)) / (2 * eps)
    scale = sal["grad_l2"].max()
    assert abs(np.linalg.norm(grad) - sal["grad_l2"][t]) < 2e-2 * scale, t
    assert (
      abs(grad @ embs[t] - sal["grad_dot_input"][t]) < 2e-2 * np.abs(sal["grad_dot_input"]).max()
    ), t


def test_target_mask_semantics(keras_group):
  salience_checks.check_target_mask_semantics(keras_group["_tk_salience"])


def test_padding_invariance(engine):
  salience_checks.check_padding_invariance(
    lambda: lit_models.SalienceModel(engine), rtol=1e-4, atol=1e-5
  )


def test_batched_masks_equal_one_at_a_time(engine):
  salience_checks.check_batched_masks(
    lambda: lit_models.SalienceModel(engine), rtol=1e-4, atol=1e-5
  )


def test_cache_returns_same_scores(keras_group):
  salience_checks.check_cache(keras_group["_tk_salience"])


def test_batched_generation_equals_one_at_a_time(keras_group, engine):
  gen = keras_group["tk"]
  prompts = [
    {"prompt": "Taste-likes: Cheese\nAnalysis:"},
    {"prompt": PROMPT},
    {"prompt": "Headline:"},
  ]
  together = [o["response"] for o in gen.predict(prompts)]
  alone = [gen.predict([p])[0]["response"] for p in prompts]
  assert together == alone
  for text in together:
    assert 0 < len(engine.encode(text)) - 1 <= engine.max_new_tokens
  out = gen.predict(prompts[:1])[0]
  assert out["prompt_embeddings"].shape == (engine.backbone.hidden_dim,)


def test_sampler_is_configurable(tiny_keras_dir, monkeypatch):
  group = models.load_model_group(
    "s",
    tiny_keras_dir,
    dl_framework="kerasnlp",
    dl_runtime=RUNTIME,
    max_new_tokens=6,
    sampler="random",
  )
  assert group["s"].engine.sampler == "random"
  engine = group["s"].engine
  # keras-hub samples with the sampler the engine compiled (the tiny model may be
  # too peaked for draws to differ, so the sampler itself is checked).
  assert type(engine.lm.sampler).__name__ == "RandomSampler"
  # Random draws may end inside a character, and its text then re-encodes to more
  # tokens than were drawn: the drawn ids themselves are counted.
  drawn = []
  generate_ids = engine._generate_ids

  def recording(*args, **kwargs):
    out = generate_ids(*args, **kwargs)
    drawn.extend(list(ids) for ids in out)
    return out

  monkeypatch.setattr(engine, "_generate_ids", recording)
  response = group["s"].predict([{"prompt": "Headline:"}])[0]["response"]
  assert response and len(drawn) == 1 and 1 <= len(drawn[0]) <= 6
  with pytest.raises(ValueError, match=r"Unknown sampler 'nucleus'.*greedy"):
    models.load_model_group(
      "s", tiny_keras_dir, dl_framework="kerasnlp", dl_runtime=RUNTIME, sampler="nucleus"
    )


def test_bfloat16_close_to_float32(tiny_keras_dir, keras_group):
  ex = {"prompt": PROMPT, "target": TARGET}
  f32 = keras_group["_tk_salience"].predict([ex])[0]
  bf16_group = models.load_model_group(
    "b", tiny_keras_dir, dl_framework="kerasnlp", dl_runtime=RUNTIME, precision="bfloat16"
  )
  assert bf16_group["b"].engine.precision == "bfloat16"
  bf16 = bf16_group["_b_salience"].predict([ex])[0]
  assert bf16["grad_l2"].dtype == np.float32
  cos = (
    f32["grad_l2"]
    @ bf16["grad_l2"]
    / np.linalg.norm(f32["grad_l2"])
    / np.linalg.norm(bf16["grad_l2"])
  )
  assert cos > 0.98
  assert bf16_group["b"].predict([{"prompt": "Headline:"}])[0]["response"] is not None


def test_other_runtime_in_same_process_fails_clearly(tiny_keras_dir):
  other = next(r for r in ("tensorflow", "torch") if r != RUNTIME)
  with pytest.raises(
    keras_backend.RuntimeMismatchError,
    match=f"already running on the '{RUNTIME}' backend.*dl_runtime='{other}'",
  ):
    models.load_model_group("o", tiny_keras_dir, dl_framework="kerasnlp", dl_runtime=other)
  with pytest.raises(ValueError, match="Unknown dl_runtime 'theano'"):
    keras_backend.select("theano")


def test_bad_models_give_clear_errors(tmp_path):
  load = lambda path: models.load_model_group(  # noqa: E731
    "x", path, dl_framework="kerasnlp", dl_runtime=RUNTIME
  )
  with pytest.raises(ValueError, match=r"Could not load model 'no_such_preset_en'.*preset"):
    load("no_such_preset_en")
  classifier = tiny_keras.build_tiny_classifier(tmp_path / "classifier")
  with pytest.raises(ValueError, match=r"Could not load a Keras causal LM.*BertBackbone"):
    load(str(classifier))
  gpt2 = tiny_keras.build_tiny_gpt2(tmp_path / "gpt2")
  with pytest.raises(ValueError, match=r"GPT2Backbone is not supported.*transformers"):
    load(str(gpt2))
  with pytest.raises(FileNotFoundError, match="does not exist"):
    load(str(tmp_path / "missing"))


def test_served_through_lit(keras_group):
  srv = serve_lit(dict(keras_group))
  try:
    example = lit_example(PROMPT, TARGET)
    preds = post(
      srv.url,
      "/get_preds",
      {"inputs": [example]},
      model="_tk_salience",
      dataset_name="sample_prompts",
    )
    direct = keras_group["_tk_salience"].predict([example["data"]])[0]
    np.testing.assert_allclose(preds[0]["grad_l2"], direct["grad_l2"], rtol=1e-6)
    info = post(srv.url, "/get_info")
    assert {"tk", "_tk_salience", "_tk_tokenizer"} <= set(info["models"])
  finally:
    srv.close()


def test_keras_engine_refuses_a_model_without_preprocessor(engine):
  class NoPre:
    backbone = engine.backbone
    preprocessor = None

  with pytest.raises(ValueError, match="no preprocessor"):
    keras_engine.KerasEngine(NoPre())


# -- the other salience methods: the same code as for Transformers -------------


def _prepared(keras_group):
  encoded = encode_example(keras_group["_tk_salience"].engine, {"prompt": PROMPT, "target": TARGET})
  return list(encoded.ids), encoded.mask


def test_integrated_gradients_completeness(keras_group, engine):
  ids, mask = _prepared(keras_group)
  (ig,) = attribution.integrated_gradients(engine, [(ids, mask[None])])
  f = _objective(engine, ids, mask)
  embs = _embeddings(engine, ids)
  base = embs.copy()
  first = int(mask.nonzero()[0][0])
  base[1:first] *= attribution.BASELINE_SCALE
  change = f(embs) - f(base)
  assert abs(change) > 0.1
  assert abs(ig.scores[0].sum() - change) <= 0.05 * abs(change)


def test_occlusion_matches_a_direct_loop(keras_group, engine):
  ids, mask = _prepared(keras_group)
  ((occ,),) = attribution.occlusion(engine, [(ids, mask[None])], "words")
  full = _objective(engine, ids, mask)(_embeddings(engine, ids))
  assert len(occ.segments) > 2
  for (a, b), score in zip(occ.segments, occ.segment_scores):
    kept = ids[:a] + ids[b:]
    kept_mask = np.concatenate([mask[:a], mask[b:]])
    deleted = _objective(engine, kept, kept_mask)(_embeddings(engine, kept))
    assert score == pytest.approx(full - deleted, abs=1e-3)


def test_salience_map_rows_equal_single_masks(keras_group, engine):
  ids, mask = _prepared(keras_group)
  first = int(mask.nonzero()[0][0])
  smap = attribution.salience_map(engine, ids, first, methods.gradient_reductions(), chunk_size=2)
  sal = keras_group["_tk_salience"]
  for i in (0, len(ids) - first - 1):
    one_hot = np.zeros(len(ids))
    one_hot[first + i] = 1
    (single,) = sal.predict([{"prompt": PROMPT, "target": TARGET, "target_mask": one_hot}])
    for method in methods.gradient_names():
      np.testing.assert_allclose(
        smap[method][i], single[method], rtol=1e-4, atol=1e-5 * np.abs(smap[method]).max()
      )


def test_all_spans_occlusion_recomputes_rows_and_equals_per_span(keras_group, engine):
  """The Keras engine has no prefix to continue from (the base class's path:
  every edited row runs whole through `objectives`): token log-probabilities
  equal the engine's own forward pass, and all-spans occlusion equals per-span
  occlusion of each output line."""
  from lit_seqsal.salience import occlusion, segmentation

  ids, mask = _prepared(keras_group)
  first = int(mask.nonzero()[0][0])
  prefix = engine.run_prefix(ids, np.arange(first, len(ids)))
  assert prefix.state is None
  row = ids[:3] + ids[5:]
  positions = np.arange(first - 2, len(row))
  (got,) = engine.token_logprobs([row], [positions], prefix=prefix)
  for t, value in zip(positions, got):
    one = np.zeros(len(row))
    one[t] = 1
    assert value == pytest.approx(_objective(engine, row, one)(_embeddings(engine, row)), abs=1e-4)
  tokens = engine.token_strings(ids)
  masks = []
  for a, b in segmentation.segment_tokens(tokens, "lines", first, len(ids)):
    m = np.zeros(len(ids), np.float32)
    m[a:b] = 1
    masks.append(m)
  (together,) = occlusion.all_spans(engine, [(ids, np.stack(masks))], "words", outputs_from=[first])
  for m, result in zip(masks, together):
    ((want,),) = attribution.occlusion(engine, [(ids, m[None])], "words")
    assert result.segments == want.segments
    np.testing.assert_allclose(result.segment_scores, want.segment_scores, atol=1e-3)
