"""The deletion check of an explanation: its numbers, its draws and its verdict.

Numbers are checked against the model run by hand (Hugging Face forward on the
sequence with the segments deleted, full logits, float64); draws against
numpy's generator with the documented seed; the verdict's thresholds on
constructed numbers and, on the bundled model, on a prompt where one segment
carries all the signal.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch
from lit_nlp.lib import serialize

from lit_seqsal import contract, errors, inputs, work
from lit_seqsal.engine.encoding import encode_example
from lit_seqsal.models import lit_models
from lit_seqsal.salience import check, methods, segmentation
from lit_seqsal.tokens import token_text
from lit_seqsal.work.limits import LOCAL
from tests.helpers import get, lit_example, post, serve_lit
from tests.tiny_models import transformers_engine_of

PROMPT = (
  "Taste-likes: cheese, tomato.\nTaste-dislikes: onions.\n\n"
  "Suggestion: Onion soup. It is hot.\nAnalysis:"
)
TARGET = " it has onions.\nRecommendation: Avoid it."
FOIL = " Try it."


def _span_logprob(model, ids, start, end) -> float:
  with torch.no_grad():
    logits = model(input_ids=torch.tensor([list(ids)]), use_cache=False).logits[0]
  lp = torch.log_softmax(logits.double(), -1)
  return float(sum(lp[t - 1, ids[t]] for t in range(start, end)))


def _entry(k, top, low, drops):
  excess, threshold, beats = check.versus_random(top, drops)
  return {
    "k": k,
    "top": {"drop": top},
    "lowest": {"drop": low},
    "excess": excess,
    "threshold": threshold,
    "beats_random": beats,
  }


def test_verdict_thresholds_on_constructed_numbers():
  quiet = [0.0, 0.1, -0.1, 0.05, 0.0, 0.02, -0.03, 0.01]
  # One segment carries the signal and the method finds it: every k beats random.
  clear = [_entry(k, 4.0, -0.5, quiet) for k in (1, 2, 3)]
  assert check.verdict(clear) == (check.SUPPORTED, check.MEANINGS[check.SUPPORTED])
  # The top segments hurt no more than random ones.
  flat = [_entry(k, 0.05, 0.0, quiet) for k in (1, 2, 3)]
  assert check.verdict(flat)[0] == check.NOT_SUPPORTED
  # The signal only at k = 3 (the method ranked it third).
  third = [_entry(1, 0.0, 0.0, quiet), _entry(2, 0.0, 0.0, quiet), _entry(3, 4.0, 0.0, quiet)]
  assert check.verdict(third)[0] == check.WEAK
  # Beating random but the lowest-ranked hurt more: not supported as an order.
  upside_down = [_entry(k, 4.0, 5.0, quiet) for k in (1, 2, 3)]
  assert check.verdict(upside_down)[0] == check.WEAK
  # The margin over random's mean: MIN_EXCESS_NATS, or 2 standard errors of
  # the draws' mean where that is larger.
  mean = float(np.mean(quiet))
  assert check.versus_random(mean + 0.26, quiet)[1:] == (check.MIN_EXCESS_NATS, True)
  assert check.versus_random(mean + 0.24, quiet)[2] is False
  noisy = [0.0, 8.0] * 4  # random draws that sometimes hit the signal: std 4
  excess, threshold, beats = check.versus_random(6.0, noisy)
  assert (excess, threshold, beats) == (pytest.approx(2.0), pytest.approx(8 / math.sqrt(8)), False)
  assert check.versus_random(7.0, noisy)[2] is True  # 3 > 2.83
  assert check.verdict([]) == (None, check.TOO_FEW)


def test_check_numbers_match_deleting_the_segments_by_hand(tiny_model_dir):
  engine = transformers_engine_of(tiny_model_dir, batch_size=4)
  sal = lit_models.SalienceModel(engine)
  ex = {"prompt": PROMPT, "target": TARGET, "check": "grad_l2", "check_granularity": "words"}
  (out,) = sal.predict([ex])
  record = out["check"]
  assert "grad_l2" in out  # the default methods still come back
  encoded = encode_example(engine, ex)
  ids, start, end = list(encoded.ids), encoded.num_prompt_tokens, len(encoded.ids)
  # The segments: words before the span (BOS never), from the segmentation rules.
  tokens = engine.token_strings(ids)
  words = segmentation.segment_tokens(tokens, "words", 1, end - 1)
  words = [(a, min(b, start)) for a, b in words if a < start]
  assert record["segments"] == len(words) > 5
  assert record["span"] == {
    "start": start,
    "end": end,
    "text": "".join(token_text(t) for t in tokens[start:end]),
  }
  full = _span_logprob(engine.model, ids, start, end)
  assert record["log_prob"] == pytest.approx(full, abs=1e-4)
  assert record["prob"] == pytest.approx(math.exp(full), rel=1e-4)
  scores = np.asarray(out["grad_l2"], dtype=np.float64)
  ranked = sorted(range(len(words)), key=lambda i: -scores[words[i][0] : words[i][1]].sum())
  rng = np.random.default_rng(check.SEED)

  def deleted(chosen):
    gone = {p for i in chosen for p in range(*words[i])}
    kept = [t for i, t in enumerate(ids) if i not in gone]
    return _span_logprob(engine.model, kept, start - len(gone), end - len(gone))

  assert [e["k"] for e in record["by_k"]] == [1, 2, 3]
  for entry in record["by_k"]:
    k = entry["k"]
    assert entry["top"]["segments"] == [list(words[i]) for i in ranked[:k]]
    assert entry["lowest"]["segments"] == [list(words[i]) for i in ranked[::-1][:k]]
    assert entry["top"]["log_prob"] == pytest.approx(deleted(ranked[:k]), abs=1e-4)
    assert entry["lowest"]["log_prob"] == pytest.approx(deleted(ranked[::-1][:k]), abs=1e-4)
    assert entry["top"]["drop"] == pytest.approx(record["log_prob"] - entry["top"]["log_prob"])
    draws = [sorted(rng.choice(len(words), size=k, replace=False).tolist()) for _ in range(8)]
    got = entry["random"]["draws"]
    assert [d["segments"] for d in got] == [[list(words[i]) for i in d] for d in draws]
    assert got[0]["log_prob"] == pytest.approx(deleted(draws[0]), abs=1e-4)
    log_probs = np.array([d["log_prob"] for d in got])
    assert entry["random"]["log_prob_mean"] == pytest.approx(log_probs.mean())
    assert entry["random"]["log_prob_std"] == pytest.approx(log_probs.std())
    assert entry["random"]["prob_mean"] == pytest.approx(np.exp(log_probs).mean())
    assert entry["random"]["drop_mean"] == pytest.approx(record["log_prob"] - log_probs.mean())
    assert entry["excess"] == pytest.approx(entry["top"]["drop"] - entry["random"]["drop_mean"])
  assert record["verdict"] in (check.SUPPORTED, check.WEAK, check.NOT_SUPPORTED)
  assert record["meaning"] == check.MEANINGS[record["verdict"]]


def test_check_is_reproducible_and_seeded(tiny_model_dir):
  engine = transformers_engine_of(tiny_model_dir, batch_size=4)
  ex = {"prompt": PROMPT, "target": TARGET, "check": "grad_dot_input"}
  (a,) = lit_models.SalienceModel(engine).predict([ex])
  (b,) = lit_models.SalienceModel(engine).predict([ex])
  assert a["check"] == b["check"] and a["check"]["seed"] == check.SEED
  assert a["check"]["signed"] is True and a["check"]["granularity"] == "sentences"
  encoded = encode_example(engine, ex)
  other = check.deletion_check(
    engine,
    encoded.row,
    np.asarray(a["grad_dot_input"]),
    "sentences",
    method="grad_dot_input",
    signed=True,
    seed=1,
  )
  draws = [[d["segments"] for d in e["random"]["draws"]] for e in a["check"]["by_k"]]
  assert [[d["segments"] for d in e["random"]["draws"]] for e in other["by_k"]] != draws
  assert [e["top"] for e in other["by_k"]] == [e["top"] for e in a["check"]["by_k"]]


def test_contrastive_check_explains_the_difference(tiny_model_dir):
  engine = transformers_engine_of(tiny_model_dir, batch_size=4)
  ex = {"prompt": PROMPT, "target": TARGET, "foil": FOIL, "check": "occlusion"}
  ex["occlusion_granularity"] = "words"
  (out,) = lit_models.SalienceModel(engine).predict([ex])
  record = out["check"]
  encoded = encode_example(engine, ex)
  ids, foil = list(encoded.ids), list(encoded.foil_ids)
  start, end = inputs.contiguous_span(encoded.mask)
  difference = _span_logprob(engine.model, ids, start, end) - _span_logprob(
    engine.model, ids[:start] + foil, start, start + len(foil)
  )
  assert record["contrastive"] and record["prob"] is None
  assert record["log_prob"] == pytest.approx(difference, abs=2e-4)
  top = record["by_k"][0]["top"]
  (a, b) = top["segments"][0]
  kept = ids[:a] + ids[b:]
  s = start - (b - a)
  by_hand = _span_logprob(engine.model, kept, s, s + end - start) - _span_logprob(
    engine.model, kept[:s] + foil, s, s + len(foil)
  )
  assert top["log_prob"] == pytest.approx(by_hand, abs=2e-4)
  assert top["prob"] is None and record["by_k"][0]["random"]["prob_mean"] is None


def test_check_errors_and_budget(tiny_model_dir):
  engine = transformers_engine_of(tiny_model_dir, batch_size=4)
  sal = lit_models.SalienceModel(engine)
  ex = {"prompt": PROMPT, "target": TARGET}
  with pytest.raises(inputs.InputError, match=r"'check'.*'lime'.*allowed values: grad_l2"):
    sal.predict([dict(ex, check="lime")])
  with pytest.raises(inputs.InputError, match="check_granularity 'clauses'"):
    sal.predict([dict(ex, check="grad_l2", check_granularity="clauses")])
  (plain,) = sal.predict([dict(ex, check="")])  # empty: no check
  assert "check" not in plain
  n = len(encode_example(engine, ex).ids)
  masks = [[0] * (n - k) + [1] * k for k in (1, 2)]
  asked = [dict(ex, check="grad_l2", target_mask=m) for m in masks]
  calls = []
  original = engine.run_prefix
  engine.run_prefix = lambda *a, **k: (calls.append(1), original(*a, **k))[1]
  with work.running(work.Work(LOCAL.replace(max_checks_per_request=1))):
    with pytest.raises(errors.TooLarge, match="max_checks_per_request"):
      sal.predict(asked)
    assert calls == []  # refused before any model work
    sal.predict(asked[:1])
    calls.clear()
    sal.predict(asked)  # the first is cached: one check to run
  assert len(calls) == 1


@pytest.mark.slow
@pytest.mark.bundled
def test_verdict_on_a_prompt_where_one_segment_carries_the_signal(bundled_group):
  """One line holds the answer (and the last one cues it): occlusion ranks
  those two first and is supported; a method that ranks at random, here with
  neither of them in its top 3, is not supported."""
  sal = bundled_group["_gemma_salience"]
  engine = sal.engine
  fillers = [
    "The weather was mild on Tuesday.",
    "Trains ran on time this morning.",
    "The library opened a new wing.",
    "A cat slept on the garden wall.",
    "The market sold fresh bread.",
    "Two boats left the harbour at noon.",
    "The museum closed early for repairs.",
  ]
  prompt = (
    "The secret code word is PLUM.\n"
    + "\n".join(fillers)
    + "\nQuestion: What is the secret code word?\nAnswer: The secret code word is"
  )
  ex = {
    "prompt": prompt,
    "target": " PLUM.",
    "check": "occlusion",
    "check_granularity": "lines",
    "occlusion_granularity": "lines",
  }
  (out,) = sal.predict([ex])
  record = out["check"]
  encoded = encode_example(engine, ex)
  tokens = engine.token_strings(encoded.ids)
  lines = segmentation.segment_tokens(tokens, "lines", 1, encoded.num_prompt_tokens)
  code_line = next(i for i, (a, b) in enumerate(lines) if "PLUM" in "".join(tokens[a:b]))
  cue = len(lines) - 1  # "Answer: The secret code word is"
  top_two = record["by_k"][1]["top"]["segments"]
  assert sorted(map(tuple, top_two)) == sorted([lines[code_line], lines[cue]])
  assert record["verdict"] == check.SUPPORTED, record["by_k"]
  signal = {code_line, cue}
  for seed in range(20):  # the first random ranking with neither line in its top 3
    scores = np.random.default_rng(seed).random(len(encoded.ids))
    order = check.rank([scores[a:b].sum() for a, b in lines], signed=False)
    if not signal & set(order[:3]):
      break
  assert not signal & set(order[:3])
  random_check = check.deletion_check(
    engine, encoded.row, scores, "lines", method="random", signed=False
  )
  assert random_check["verdict"] == check.NOT_SUPPORTED, random_check["by_k"]


def test_check_over_the_http_api_and_as_a_job(tiny_group):
  """LIT's /get_info carries the spec (LIT's own deserialiser reads it back),
  /get_preds returns the record as JSON, /seqsal/info describes the check, and
  a job runs it."""
  served = serve_lit(dict(tiny_group))
  try:
    info = post(served.url, "/get_info")
    spec = info["models"]["_tiny_salience"]["spec"]
    assert spec["output"]["check"]["__name__"] == "SalienceTargetInfo"  # contract.JsonRecord
    assert spec["input"]["check"]["__name__"] == "CategoryLabel"
    assert spec["input"]["check"]["vocab"] == list(methods.REGISTRY)
    assert spec["input"]["check_granularity"]["default"] == "sentences"
    parsed = serialize.from_json(json.dumps(spec))
    assert type(parsed["output"]["check"]) is contract.JsonRecord
    gen_spec = info["models"]["tiny"]["spec"]
    assert gen_spec["input"]["edits"]["__name__"] == "TextSegment"
    assert gen_spec["output"]["edit"]["__name__"] == "SalienceTargetInfo"
    assert gen_spec["output"]["edited_prompt"]["__name__"] == "TextSegment"

    ex = lit_example(PROMPT, TARGET, check="grad_l2", check_granularity="words")
    (pred,) = post(served.url, "/get_preds", {"inputs": [ex]}, model="_tiny_salience")
    (direct,) = lit_models.SalienceModel(tiny_group["tiny"].engine).predict([ex["data"]])
    assert pred["check"]["verdict"] == direct["check"]["verdict"]
    assert pred["check"]["log_prob"] == pytest.approx(direct["check"]["log_prob"])
    assert [e["top"]["segments"] for e in pred["check"]["by_k"]] == [
      e["top"]["segments"] for e in direct["check"]["by_k"]
    ]

    described = get(served.url, "/seqsal/info")["check"]
    assert described["field"] == "check" and described["ks"] == [1, 2, 3]
    assert described["draws"] == check.DRAWS and described["settings"][0]["name"] == (
      "check_granularity"
    )
    assert set(described["verdicts"]) == {check.SUPPORTED, check.WEAK, check.NOT_SUPPORTED}

    job_ex = lit_example(PROMPT, TARGET, check="grad_dot_input")
    job = post(served.url, "/seqsal/jobs", {"inputs": [job_ex]}, model="_tiny_salience")["job"]
    deadline = time.time() + 120
    while job["state"] not in ("done", "failed", "cancelled") and time.time() < deadline:
      time.sleep(0.1)
      job = get(served.url, f"/seqsal/jobs/{job['id']}")["job"]
    assert job["state"] == "done", job
    assert job["result"][0]["check"]["method"] == "grad_dot_input"
  finally:
    served.close()
