"""Our interpreters through LIT's /get_interpretations on a running server."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from lit_seqsal.components import interpreters
from lit_seqsal.salience import methods
from tests.helpers import lit_example, post, post_error, serve_lit

PROMPT = "Suggestion: Onion soup\nAnalysis:"
TARGET = " it has onions. Avoid."


@pytest.fixture(scope="module")
def served(tiny_group):
  srv = serve_lit(dict(tiny_group))
  yield srv
  srv.close()


def _interpret(served, interpreter, inputs, config=None, model="tiny"):
  return post(
    served.url,
    "/get_interpretations",
    {"inputs": inputs, "config": config or {}},
    model=model,
    dataset_name="sample_prompts",
    interpreter=interpreter,
  )


def test_interpreters_are_listed_for_every_model_of_the_group(served):
  info = post(served.url, "/get_info")
  ours = {interpreters.SALIENCE_MAP, interpreters.INTEGRATED_GRADIENTS, interpreters.OCCLUSION}
  for model in ("tiny", "_tiny_salience"):
    assert ours <= set(info["models"][model]["interpreters"])
  # LIT's legacy module reads the map's methods from this meta spec.
  meta = info["interpreters"][interpreters.SALIENCE_MAP]["metaSpec"]
  assert {k: v["__name__"] for k, v in meta.items()} == {
    "grad_l2": "SequenceSalience",
    "grad_dot_input": "SequenceSalience",
  }
  # The three-panel layout has a tab for it.
  modules = str(info["layouts"]["three_panel"])
  assert "legacy-sequence-salience-module" in modules
  # The on-request methods are TokenScores of the salience model, not required.
  out = info["models"]["_tiny_salience"]["spec"]["output"]
  for method in methods.on_request_names():
    assert out[method]["__name__"] == "TokenScores" and out[method]["required"] is False


def test_salience_map_as_lit_legacy_module_asks_for_it(served):
  # LIT's legacy module: the generation model, config target_text = [text].
  (result,) = _interpret(
    served, interpreters.SALIENCE_MAP, [lit_example(PROMPT, "")], {"target_text": [TARGET]}
  )
  tokens = post(
    served.url,
    "/get_preds",
    {"inputs": [lit_example(PROMPT, TARGET)]},
    model="_tiny_tokenizer",
    dataset_name="sample_prompts",
  )[0]["tokens"]
  for method in methods.gradient_names():
    smap = result[method]
    assert smap["tokens_in"] + smap["tokens_out"] == tokens
    salience = np.asarray(smap["salience"])
    n_in, n_out = len(smap["tokens_in"]), len(smap["tokens_out"])
    assert salience.shape == (n_out, n_in + n_out)
    # Row i equals the salience model's answer for a mask on that token alone.
    for i in (0, n_out - 1):
      mask = [0] * len(tokens)
      mask[n_in + i] = 1
      (single,) = post(
        served.url,
        "/get_preds",
        {"inputs": [lit_example(PROMPT, TARGET, target_mask=mask)]},
        model="_tiny_salience",
        dataset_name="sample_prompts",
      )
      np.testing.assert_allclose(
        salience[i], single[method], rtol=1e-4, atol=1e-5 * np.abs(salience).max()
      )


def test_salience_map_of_the_models_generation(served):
  # No target anywhere: the map explains what the model generates.
  (generated,) = post(
    served.url,
    "/get_preds",
    {"inputs": [lit_example(PROMPT, "")]},
    model="tiny",
    dataset_name="sample_prompts",
  )
  (result,) = _interpret(
    served, interpreters.SALIENCE_MAP, [lit_example(PROMPT, "")], {"chunk_size": 3}
  )
  smap = result["grad_l2"]
  assert "".join(smap["tokens_out"]).replace("▁", " ").strip() == generated["response"].strip()


def test_integrated_gradients_interpreter_is_complete(served):
  (result,) = _interpret(served, interpreters.INTEGRATED_GRADIENTS, [lit_example(PROMPT, TARGET)])
  scores = result["integrated_gradients"]
  assert len(scores["tokens"]) == len(scores["salience"])
  change = result["log_likelihood_change"]
  assert abs(change) > 0.1
  assert sum(scores["salience"]) == pytest.approx(result["attribution_sum"], rel=1e-5)
  assert abs(result["attribution_sum"] - change) <= 0.05 * abs(change)


def test_occlusion_interpreter_and_the_salience_field_agree(served):
  (result,) = _interpret(
    served, interpreters.OCCLUSION, [lit_example(PROMPT, TARGET)], {"granularity": "words"}
  )
  segments = result["segments"]
  assert [s["text"] for s in segments][:2] == ["Suggestion:", " Onion"]
  scores = np.asarray(result["occlusion"]["salience"])
  for s in segments:
    assert scores[s["start"] : s["end"]].sum() == pytest.approx(s["score"], abs=1e-5)
  (pred,) = post(
    served.url,
    "/get_preds",
    {
      "inputs": [
        lit_example(PROMPT, TARGET, salience_methods=["occlusion"], occlusion_granularity="words")
      ]
    },
    model="_tiny_salience",
    dataset_name="sample_prompts",
  )
  np.testing.assert_allclose(pred["occlusion"], scores, rtol=1e-5, atol=1e-6)


def test_bad_configs_are_clear_errors_and_the_server_keeps_serving(served):
  ex = [lit_example(PROMPT, TARGET)]
  msg = post_error(
    served.url,
    "/get_interpretations",
    {"inputs": ex, "config": {"granularity": "clauses"}},
    model="tiny",
    dataset_name="sample_prompts",
    interpreter=interpreters.OCCLUSION,
  )
  assert "Unknown granularity 'clauses'; allowed values: tokens, words, sentences" in msg
  msg = post_error(
    served.url,
    "/get_interpretations",
    {"inputs": ex, "config": {"ig_steps": 0}},
    model="tiny",
    dataset_name="sample_prompts",
    interpreter=interpreters.INTEGRATED_GRADIENTS,
  )
  assert "between 1 and 512, got 0" in msg
  msg = post_error(
    served.url,
    "/get_interpretations",
    {"inputs": [lit_example(PROMPT, "")], "config": {"target_text": [""]}},
    model="tiny",
    dataset_name="sample_prompts",
    interpreter=interpreters.SALIENCE_MAP,
  )
  assert "output to explain is empty" in msg
  msg = post_error(
    served.url,
    "/get_preds",
    {"inputs": [lit_example(PROMPT, TARGET, salience_methods=["shap"])]},
    model="_tiny_salience",
    dataset_name="sample_prompts",
  )
  assert "unknown method(s) 'shap'" in msg
  (ok,) = _interpret(served, interpreters.OCCLUSION, ex, {"granularity": "lines"})
  assert ok["segments"]


@pytest.mark.browser
def test_lit_legacy_module_draws_the_map(served):
  """LIT's own client: the Salience map tab (three_panel) shows our map."""
  from tests.helpers import BROWSER_DIR, require_browser_tools

  require_browser_tools()
  result = subprocess.run(
    ["node", str(BROWSER_DIR / "lit_legacy_map.mjs"), served.url, "tiny", "headline-generation"],
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert result.returncode == 0, result.stderr[-4000:] + result.stdout[-2000:]
  seen = json.loads(result.stdout.strip().splitlines()[-1])
  assert seen["targetTokens"] > 1 and seen["nonzero"] >= seen["sourceTokens"] / 2
  # The tiny model's 256-token limit makes LIT's metrics over the whole
  # dataset fail for the long few-shot prompts; nothing else may.
  assert [e for e in seen["pageErrors"] if "over this model's maximum" not in e] == []
  # LIT's page loads its fonts from our server, not Google's: nothing leaves the
  # server, and its icons are drawn as icons (one glyph), not as their names.
  assert seen["offOrigin"] == []
  icons = seen["icons"]
  assert icons["loaded"] and icons["count"] >= 3, icons
  assert icons["widest"]["width"] <= 1.5 * icons["widest"]["fontSize"], icons
