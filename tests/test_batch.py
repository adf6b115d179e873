"""The batch command (lit_seqsal/attribute.py, lit_seqsal/batch/) on the tiny model:
its output is the salience model's, example by example; it resumes after an
interruption (a real SIGKILL too) to the same file; bad input becomes per-example
errors; regions are aggregated as computed by hand."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lit_seqsal.batch import chunk as chunk_lib
from lit_seqsal.batch import config as config_lib
from lit_seqsal.batch import regions as regions_lib
from lit_seqsal.batch import report as report_lib
from lit_seqsal.batch import results as results_lib
from lit_seqsal.batch import run as run_lib
from lit_seqsal.batch import spans as spans_lib
from lit_seqsal.models import lit_models
from tests.batch_data import OPTIONS, template_examples, write_jsonl
from tests.client_code import run_client_script
from tests.helpers import REPO


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
  return write_jsonl(tmp_path_factory.mktemp("batch_data") / "menu.jsonl", template_examples())


@pytest.fixture(scope="module")
def groups(tiny_group):
  return {"tiny": lit_models.group_of(tiny_group["tiny"])}


def make_config(tiny_model_dir, dataset, out, **kw) -> config_lib.BatchConfig:
  kw.setdefault("options", OPTIONS)
  return config_lib.BatchConfig(
    models=(f"tiny:{tiny_model_dir}",), datasets=(f"menu:{dataset}",), out=str(out), **kw
  )


# -- the output is the salience model's -------------------------------------------------


def test_batch_output_equals_the_salience_model_example_by_example(
  groups, tiny_model_dir, dataset, tmp_path
):
  config = make_config(
    tiny_model_dir,
    dataset,
    tmp_path / "r.jsonl",
    span="^Recommendation:",
    methods=("grad_l2", "grad_dot_input", "occlusion"),
    settings=(("occlusion_granularity", "sentences"),),
  )
  result = run_lib.run(config, groups=groups, stream=io.StringIO())
  assert result.computed == 9 and not result.errors
  records = {r["id"]: r for r in results_lib.read_records(config.out)}
  assert len(records) == 9
  # A fresh salience model (its own cache) on each example alone, as the server would.
  engine = groups["tiny"].engine
  fresh = lit_models.SalienceModel(engine)
  for i, ex in enumerate(template_examples()):
    record = records[f"menu/{i}"]
    assert record["source"] == ex["source"] and record["prompt"] == ex["prompt"]
    tokens = record["tokens"]
    span = record["span"]
    assert span["text"].startswith("Recommendation:") and not span["text"].endswith("\n")
    assert "".join(t.replace("▁", " ") for t in tokens[span["start"] : span["end"]]) == span["text"]
    mask = [1 if span["start"] <= k < span["end"] else 0 for k in range(len(tokens))]
    alone = fresh.predict(
      [
        {
          "prompt": ex["prompt"],
          "target": ex["target"],
          "target_mask": mask,
          "salience_methods": ["grad_l2", "grad_dot_input", "occlusion"],
          "occlusion_granularity": "sentences",
        }
      ]
    )[0]
    assert alone["tokens"] == tokens
    for method in ("grad_l2", "grad_dot_input", "occlusion"):
      ours = np.asarray(record["salience"][method]["tokens"])
      np.testing.assert_allclose(ours, alone[method], rtol=1e-5, atol=1e-6)
      # Segment scores are the sums of their tokens' scores (as the client shows them).
      for seg, value in zip(record["segments"], record["salience"][method]["segments"]):
        assert value == pytest.approx(float(ours[seg["start"] : seg["end"]].sum()), abs=1e-6)
    # Segments cover the prompt (BOS left out) and the output, at the granularity.
    assert record["segments"][0]["start"] == 1 and record["segments"][-1]["end"] == len(tokens)
    assert record["granularity"] == "sentences" and record["signed"]["grad_dot_input"] is True


def test_a_foil_makes_the_run_contrastive(groups, tiny_model_dir, dataset, tmp_path):
  """--foil (or an example's own `foil`) explains each span against it, as the
  salience model does with that foil."""
  rows = template_examples(3)
  rows[1]["foil"] = " Skip it."  # its own foil wins over --foil
  data = write_jsonl(tmp_path / "foils.jsonl", rows)
  config = make_config(
    tiny_model_dir, data, tmp_path / "c.jsonl", span="^Recommendation:", foil=" Avoid."
  )
  result = run_lib.run(config, groups=groups, stream=io.StringIO())
  assert result.computed == 3 and not result.errors
  records = {r["id"]: r for r in results_lib.read_records(config.out)}
  fresh = lit_models.SalienceModel(groups["tiny"].engine)
  for i, ex in enumerate(rows):
    record = records[f"menu/{i}"]
    span = record["span"]
    mask = [1 if span["start"] <= k < span["end"] else 0 for k in range(len(record["tokens"]))]
    alone = fresh.predict(
      [
        {
          "prompt": ex["prompt"],
          "target": ex["target"],
          "target_mask": mask,
          "foil": ex.get("foil", " Avoid."),
        }
      ]
    )[0]
    np.testing.assert_allclose(
      record["salience"]["grad_l2"]["tokens"], alone["grad_l2"], rtol=1e-5, atol=1e-6
    )
    assert not np.asarray(record["salience"]["grad_l2"]["tokens"])[span["start"] :].any()


def test_explaining_the_generation_records_it(groups, tiny_model_dir, dataset, tmp_path):
  config = make_config(
    tiny_model_dir, dataset, tmp_path / "g.jsonl", explain="generation", max_examples=3
  )
  run_lib.run(config, groups=groups, stream=io.StringIO())
  expected = groups["tiny"].generation.predict(
    [{"prompt": ex["prompt"]} for ex in template_examples(3)]
  )
  records = {r["id"]: r for r in results_lib.read_records(config.out)}
  for i, gen in enumerate(expected):
    record = records[f"menu/{i}"]
    if not gen["response"]:
      assert record["error"]["message"].startswith("The model generated nothing")
      continue
    assert record["generation"] == gen["response"] and record["explain"] == "generation"
    assert record["span"]["text"] == gen["response"]  # no --span: the whole generation


# -- resuming -----------------------------------------------------------------------------


class Stop(Exception):
  pass


def test_interrupted_run_resumes_to_the_same_file(groups, tiny_model_dir, dataset, tmp_path):
  full = make_config(
    tiny_model_dir,
    dataset,
    tmp_path / "full.jsonl",
    span="^Recommendation:",
    regions=("blocks:^Suggestion:",),
  )
  run_lib.run(full, groups=groups, stream=io.StringIO())

  part = make_config(
    tiny_model_dir,
    dataset,
    tmp_path / "part.jsonl",
    span="^Recommendation:",
    regions=("blocks:^Suggestion:",),
  )
  chunks = []

  def stop_after_two(records):
    chunks.append(records)
    if len(chunks) == 2:
      raise Stop()  # as if killed after two batches

  with pytest.raises(Stop):
    run_lib.run(part, groups=groups, on_chunk=stop_after_two, stream=io.StringIO())
  assert len(results_lib.read_records(part.out)) == 6  # two chunks of 3, nothing else
  # A write cut short (power loss): a last line without its newline.
  with open(part.out, "a", encoding="utf-8") as f:
    f.write('{"id": "menu/8", "model": "tiny", "sal')
  resumed = run_lib.run(part, groups=groups, stream=io.StringIO())
  assert resumed.computed == 3
  assert Path(part.out).read_bytes() == Path(full.out).read_bytes()
  ids = [json.loads(line)["id"] for line in Path(part.out).read_text().splitlines()]
  assert len(ids) == len(set(ids)) == 9
  # Once more: nothing left to do, nothing written.
  again = run_lib.run(part, groups=groups, stream=io.StringIO())
  assert again.computed == 0 and Path(part.out).read_bytes() == Path(full.out).read_bytes()


def test_other_settings_on_the_same_file_are_refused(groups, tiny_model_dir, dataset, tmp_path):
  out = tmp_path / "r.jsonl"
  run_lib.run(
    make_config(tiny_model_dir, dataset, out, max_examples=2), groups=groups, stream=io.StringIO()
  )
  other = make_config(tiny_model_dir, dataset, out, max_examples=2, granularity="words")
  with pytest.raises(config_lib.BatchError, match=r"other inputs or settings.*--overwrite"):
    run_lib.run(other, groups=groups, stream=io.StringIO())
  redone = run_lib.run(
    make_config(tiny_model_dir, dataset, out, max_examples=2, granularity="words", overwrite=True),
    groups=groups,
    stream=io.StringIO(),
  )
  assert redone.computed == 2 and {r["granularity"] for r in redone.records} == {"words"}
  assert "tokens" not in redone.records[0]  # the run's summary records are light


@pytest.mark.slow
def test_command_killed_mid_run_resumes(tiny_model_dir, tmp_path):
  """The real command, SIGKILLed while it writes; the rerun completes the same file."""
  data = write_jsonl(tmp_path / "many.jsonl", template_examples(9) * 4)
  out = tmp_path / "killed.jsonl"
  command = [
    sys.executable,
    "-m",
    "lit_seqsal.attribute",
    f"--models=tiny:{tiny_model_dir}",
    f"--datasets=menu:{data}",
    f"--out={out}",
    "--batch_size=2",
    "--sequence_length=256",
    "--span=^Recommendation:",
    "--regions=blocks:^Suggestion:",
    # Slow enough per batch to be killed in the middle.
    "--methods=grad_l2,integrated_gradients",
    "--ig_steps=8",
  ]
  env = dict(os.environ, PYTHONPATH=str(REPO))
  proc = subprocess.Popen(
    command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
  )
  deadline = time.monotonic() + 240
  while time.monotonic() < deadline and proc.poll() is None:
    if out.exists() and out.read_text().count("\n") >= 4:
      proc.send_signal(signal.SIGKILL)
      break
    time.sleep(0.05)
  proc.wait(timeout=60)
  assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
  written = len(results_lib.read_records(str(out)))
  assert 4 <= written < 36
  done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert f"(+{written} done before)" in done.stderr  # the progress bar
  assert "ex/s" in done.stderr
  lines = out.read_text().splitlines()
  assert len(lines) == 36 and len({json.loads(line)["id"] for line in lines}) == 36
  assert "block 1" in done.stdout and "36 examples explained, 0 errors." in done.stdout
  assert (tmp_path / "killed.summary.json").exists() and (tmp_path / "killed.report.html").exists()
  # Other regions afterwards, from the file alone (no model is loaded).
  regroup = subprocess.run(
    [
      sys.executable,
      "-m",
      "lit_seqsal.attribute",
      f"--out={out}",
      "--report_only",
      "--regions=paragraphs",
      "--models=never:/no/such/model",
    ],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert regroup.returncode == 0, regroup.stderr[-3000:]
  assert "paragraph 1" in regroup.stdout and "block 1" not in regroup.stdout
  summary = json.loads((tmp_path / "killed.summary.json").read_text())
  assert summary["regions_spec"] == ["paragraphs"] and summary["examples"] == 36


# -- errors ------------------------------------------------------------------------------


def test_bad_input_is_recorded_per_example_and_summarised(groups, tiny_model_dir, tmp_path):
  good = template_examples(2)
  rows = [
    good[0],
    "{not json",
    {"prompt": "   ", "target": " x"},  # empty prompt
    {"prompt": "Suggestion: Tart\nAnalysis:"},  # no target to explain
    {"prompt": "Suggestion: " + "Onion soup " * 200, "target": " x"},  # over max_length
    {"prompt": good[1]["prompt"], "target": " it has cheese."},  # no Recommendation line
    good[1],
  ]
  data = write_jsonl(tmp_path / "bad.jsonl", rows)
  (tmp_path / "table.csv").write_text("prompt,target\n")
  config = config_lib.BatchConfig(
    models=(f"tiny:{tiny_model_dir}",),
    options=OPTIONS,
    out=str(tmp_path / "r.jsonl"),
    datasets=(
      f"bad:{data}",
      f"missing:{tmp_path / 'nope.jsonl'}",
      "justaname",
      f"csv:{tmp_path / 'table.csv'}",
    ),
    span="^Recommendation:",
    methods=("grad_l2", "lime"),
  )
  result = run_lib.run(config, groups=groups, stream=io.StringIO())
  by_id = {r["id"]: r for r in results_lib.read_records(config.out)}
  assert "error" not in by_id["bad/0"] and "error" not in by_id["bad/6"]
  assert by_id["bad/0"]["errors"][0]["method"] == "lime"  # known methods still computed
  assert set(by_id["bad/0"]["salience"]) == {"grad_l2"}
  expected = {
    "bad/1": ("DatasetLineError", "line 2: not valid JSON"),
    "bad/2": ("InputError", "Field 'prompt' is empty"),
    "bad/3": ("InputError", "no target to explain"),
    "bad/4": ("InputError", "over this model's maximum of 256 tokens"),
    "bad/5": ("SpanError", "matches no line of the output"),
    "missing/*": ("DatasetFileError", "does not exist"),
    "justaname/*": ("DatasetFileError", "Bad dataset entry"),
    "csv/*": ("DatasetFileError", "unsupported format"),
  }
  for example_id, (kind, message) in expected.items():
    error = by_id[example_id]["error"]
    assert error["kind"] == kind and message in error["message"], (example_id, error)
  summary = report_lib.summary(result.records)
  assert summary["examples"] == 2 and summary["errors"] == 8
  assert summary["errors_by_kind"]["InputError"]["count"] == 3
  assert summary["method_errors"] == {"lime": 2}
  text = report_lib.table(summary)
  assert "2 examples explained, 8 errors." in text and "unknown method 'lime'" in text

  # Resuming keeps example errors (unless --retry_errors) and retries unreadable datasets.
  again = run_lib.run(config, groups=groups, stream=io.StringIO())
  assert again.computed == 0
  lines = Path(config.out).read_text().splitlines()
  assert len(lines) == 10 and sum('"dataset_error"' in line for line in lines) == 3
  retried = run_lib.run(
    config.__class__(**{**config.__dict__, "retry_errors": True}),
    groups=groups,
    stream=io.StringIO(),
  )
  assert retried.computed == 5 and len(Path(config.out).read_text().splitlines()) == 10

  # --strict stops at the first error, and refuses unknown methods before any work.
  strict = config.__class__(
    **{
      **config.__dict__,
      "strict": True,
      "overwrite": True,
      "methods": ("grad_l2",),
      "datasets": (f"bad:{data}",),
    }
  )
  with pytest.raises(config_lib.BatchError, match="bad/"):
    run_lib.run(strict, groups=groups, stream=io.StringIO())
  with pytest.raises(config_lib.BatchError, match=r"Unknown method.*lime"):
    run_lib.run(config.__class__(**{**config.__dict__, "strict": True}), groups=groups)


def test_settings_are_checked_before_any_work(tmp_path):
  base = config_lib.BatchConfig(
    models=("m:bundled",), datasets=("sample_prompts",), out=str(tmp_path / "r.jsonl")
  )
  for change, message in [
    ({"explain": "prompt"}, "Unknown explain 'prompt'"),
    ({"span": "(unclosed"}, "--span .* is not a valid regular expression"),
    ({"granularity": "custom"}, "Unknown granularity 'custom'"),
    ({"regions": ("nonsense",)}, "is not one of: NAME=REGEX"),
    ({"regions": ("x=(",)}, "invalid regular expression"),
    ({"methods": ("integrated_gradients",), "settings": (("ig_steps", 0),)}, "'ig_steps'"),
    ({"out": ""}, "--out is required"),
  ]:
    with pytest.raises((ValueError, config_lib.BatchError), match=message):
      base.__class__(**{**base.__dict__, **change}).checked()


# -- spans and regions -------------------------------------------------------------------


def test_span_selection_picks_the_first_matching_line_without_its_newline():
  tokens = [
    "<bos>",
    "Q",
    ":",
    "\n",
    "▁Analysis",
    ":",
    "▁ok",
    "\n",
    "Recommendation",
    ":",
    "▁Avoid",
    ".",
    "\n",
    "Recommendation",
    ":",
    "▁again",
  ]
  selector = spans_lib.compile_selector("^Recommendation:")
  span = spans_lib.select_span(tokens, 4, selector)
  assert (span.start, span.end, span.text) == (8, 12, "Recommendation: Avoid.")
  assert span.mask(len(tokens))[8:13] == [1, 1, 1, 1, 0]
  whole = spans_lib.select_span(tokens, 4, None)
  assert (whole.start, whole.end) == (4, 16)
  with pytest.raises(spans_lib.SpanError, match="matches no sentence"):
    spans_lib.select_span(tokens, 4, spans_lib.compile_selector("^Verdict"), "sentences")
  # A whitespace-only selection is explained as it is (the client's explainedRange).
  assert spans_lib.explained_range(tokens, 3, 4) == (3, 4)


# The prompt "Intro.\n\nA: one\nB: two\n\nA: three\nB: four\nQ:" as tokens.
REGION_TOKENS = [
  "<bos>",
  "Intro",
  ".",
  "\n\n",
  "A",
  ":",
  "▁one",
  "\n",
  "B",
  ":",
  "▁two",
  "\n\n",
  "A",
  ":",
  "▁three",
  "\n",
  "B",
  ":",
  "▁four",
  "\n",
  "Q",
  ":",
  "▁out",
]
PROMPT_LENGTH = 22  # "▁out" is the output


def test_region_kinds_cover_the_expected_tokens():
  def regions(*specs):
    found = regions_lib.prompt_regions(REGION_TOKENS, PROMPT_LENGTH, regions_lib.parse_specs(specs))
    return {r.name: r.tokens for r in found}

  assert regions("paragraphs") == {
    "paragraph 1": [1, 2, 3],
    "paragraph 2": list(range(4, 12)),
    "paragraph 3": list(range(12, 22)),
    "(rest)": [],
  }
  assert regions("blocks:^A:") == {
    "preamble": [1, 2, 3],
    "block 1": list(range(4, 12)),
    "block 2": list(range(12, 22)),
    "(rest)": [],
  }
  assert regions("labels:A,B") == {
    "A #1": [4, 5, 6, 7],
    "B #1": [8, 9, 10, 11],
    "A #2": [12, 13, 14, 15],
    "B #2": [16, 17, 18, 19],
    "(rest)": [1, 2, 3, 20, 21],
  }
  # A regex region: every match; a token belongs by its non-space characters.
  assert regions("twos=t(wo|hree)") == {
    "twos": [10, 14],
    "(rest)": [i for i in range(1, 22) if i not in (10, 14)],
  }
  assert regions("lines")["line 3"] == [8, 9, 10, 11]


def test_region_shares_and_aggregate_against_a_hand_computation():
  specs = regions_lib.parse_specs(["labels:A,B"])

  def record(example_id, scores):
    rec = {
      "id": example_id,
      "model": "m",
      "tokens": REGION_TOKENS,
      "prompt_length": PROMPT_LENGTH,
      "salience": {"grad_l2": {"tokens": scores}},
    }
    rec["regions"] = regions_lib.example_regions(rec, specs)
    return rec

  n = len(REGION_TOKENS)
  # Example 1: all the signal on "B #2" (and some on the output, which does not count).
  only_b2 = [0.0] * n
  only_b2[18], only_b2[17], only_b2[22] = 3.0, 1.0, 50.0
  # Example 2: |scores| 1 on A #1 (4 tokens), -2 on B #2's "four", 2 on Intro:
  # total 4 + 2 + 2 = 8 -> A #1 0.5, B #2 0.25, (rest) 0.25.
  mixed = [0.0] * n
  for i in (4, 5, 6, 7):
    mixed[i] = 1.0
  mixed[18], mixed[1] = -2.0, 2.0
  records = [record("e1", only_b2), record("e2", mixed)]
  names = records[0]["regions"]["names"]
  assert names == ["A #1", "B #1", "A #2", "B #2", "(rest)"]
  assert records[0]["regions"]["shares"]["grad_l2"] == [0.0, 0.0, 0.0, 1.0, 0.0]
  assert records[1]["regions"]["shares"]["grad_l2"] == [0.5, 0.0, 0.0, 0.25, 0.25]
  assert [r["regions"]["top"]["grad_l2"] for r in records] == ["B #2", "A #1"]

  stats = {s.name: s for s in regions_lib.aggregate(records)["m"]["grad_l2"]["regions"]}
  assert stats["B #2"].mean == pytest.approx(0.625) and stats["B #2"].std == pytest.approx(0.375)
  assert stats["B #2"].top_fraction == 0.5 and stats["A #1"].top_fraction == 0.5
  assert stats["B #1"].mean == 0 and stats["B #1"].top_fraction == 0
  assert stats["B #2"].highest[0] == ("e1", 1.0) and stats["B #2"].lowest[0] == ("e2", 0.25)
  assert stats["(rest)"].mean == pytest.approx(0.125)


def test_regions_end_to_end_match_the_token_scores(groups, tiny_model_dir, dataset, tmp_path):
  config = make_config(
    tiny_model_dir,
    dataset,
    tmp_path / "r.jsonl",
    max_examples=4,
    regions=("blocks:^Suggestion:", "verdicts=^Recommendation:.*$"),
  )
  result = run_lib.run(config, groups=groups, stream=io.StringIO())
  assert len(result.records) == 4
  for record in results_lib.read_records(config.out):
    regions = record["regions"]
    assert regions["names"] == ["preamble", "block 1", "block 2", "verdicts", "(rest)"]
    scores = np.abs(np.asarray(record["salience"]["grad_l2"]["tokens"], dtype=np.float64))
    total = scores[1 : record["prompt_length"]].sum()
    for _, runs, share in zip(regions["names"], regions["tokens"], regions["shares"]["grad_l2"]):
      tokens = [i for a, b in runs for i in range(a, b)]
      assert share == pytest.approx(scores[tokens].sum() / total)
    verdict = "".join(
      record["tokens"][i].replace("▁", " ") for a, b in regions["tokens"][3] for i in range(a, b)
    )
    assert verdict == "Recommendation: Likely good."
  # Other regions later, from the file alone (--report_only): no model needed.
  regrouped = run_lib.finalize(config.__class__(**{**config.__dict__, "regions": ("paragraphs",)}))
  assert regrouped[0]["regions"]["names"][:3] == ["paragraph 1", "paragraph 2", "paragraph 3"]
  assert results_lib.read_records(config.out)[0]["regions"]["spec"] == ["paragraphs"]


def test_html_report_links_examples_and_escapes_text(groups, tiny_model_dir, tmp_path):
  rows = template_examples(3)
  rows[0]["source"] = "<script>alert(1)</script>"
  data = write_jsonl(tmp_path / "x.jsonl", rows)
  config = make_config(tiny_model_dir, data, tmp_path / "r.jsonl", regions=("blocks:^Suggestion:",))
  result = run_lib.run(config, groups=groups, stream=io.StringIO())
  summary = report_lib.summary(result.records)
  page = report_lib.html_report(
    result.records, summary, load=lambda keys: results_lib.records_by_key(config.out, keys)
  )
  assert page == report_lib.html_report(results_lib.read_records(config.out), summary)
  assert "<script>" not in page and "&lt;script&gt;" in page
  assert 'class="example"' in page
  assert page.count("<svg") == 2  # a chart per method
  anchors = {a.split('"')[0] for a in page.split('href="#')[1:]}
  assert anchors and all(f'id="{a}"' in page for a in anchors)


def test_report_colours_are_the_clients(tmp_path):
  """The HTML report colours segments exactly as the client's pane does (pane_view.ts)."""
  rng = np.random.default_rng(0)
  tokens = REGION_TOKENS + ["\n", "Recommendation", ":", "▁yes", ".", "\n", "▁more"]
  n = len(tokens)
  cases = []
  for signed in (False, True):
    scores = rng.normal(size=n) if signed else np.abs(rng.normal(size=n))
    record = {
      "tokens": tokens,
      "prompt_length": PROMPT_LENGTH,
      "span": {"start": 24, "end": 28},
      "granularity": "words",
      "salience": {"m": {"tokens": scores.tolist()}},
    }
    record["segments"] = chunk_lib._segments(tokens, PROMPT_LENGTH, "words")
    record["salience"]["m"]["segments"] = [
      float(sum(scores.tolist()[s["start"] : s["end"]])) for s in record["segments"]
    ]
    cases.append({"record": record, "ours": report_lib.example_view(record, "m")})
  script = (
    "import {paneSegments, paneView, chips, selectionCovering} from './src/pane_view.ts';\n"
    "import {readFileSync} from 'node:fs';\n"
    "const cases = JSON.parse(readFileSync(0, 'utf8'));\n"
    "console.log(JSON.stringify(cases.map(({record}) => {\n"
    "  const segs = paneSegments({tokens: record.tokens, promptLength: record.prompt_length}, 'words');\n"
    "  const sel = selectionCovering(segs.output, {start: record.span.start, end: record.span.end});\n"
    "  const view = paneView(segs, record.salience.m.tokens, sel, false);\n"
    "  const c = chips(view, true, 0.5);\n"
    "  return [...c.prompt, ...c.output].map((x) => [x.text, x.color, x.selected]);\n"
    "})));\n"
  )
  theirs_all = run_client_script(script, [{"record": c["record"]} for c in cases])
  for case, theirs in zip(cases, theirs_all):
    ours = [[c["text"], c["color"], c["selected"]] for c in case["ours"]["chips"]]
    assert ours == theirs


def test_ray_missing_says_how_to_install(monkeypatch, tmp_path):
  from lit_seqsal.batch import ray_run

  monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails
  with pytest.raises(config_lib.BatchError, match=r"pip install 'lit-seqsal\[ray\]'"):
    ray_run.executor({"num_workers": 1})
  # The command says so before any work (no results file, no model loaded); in a child
  # process, whose absl flags are its own.
  out = tmp_path / "r.jsonl"
  code = (
    "import sys; sys.modules['ray'] = None\n"
    "from absl import app\nfrom lit_seqsal import attribute\n"
    f"sys.argv = ['attribute', '--ray', '--out={out}']\napp.run(attribute.main)\n"
  )
  proc = subprocess.run(
    [sys.executable, "-c", code],
    cwd=REPO,
    capture_output=True,
    text=True,
    env=dict(os.environ, PYTHONPATH=str(REPO)),
    timeout=120,
  )
  assert proc.returncode == 1 and "pip install 'lit-seqsal[ray]'" in proc.stderr, proc.stderr[
    -2000:
  ]
  assert not out.exists()


# -- the deletion check ------------------------------------------------------------------


def test_check_per_example_and_its_aggregate(groups, tiny_model_dir, dataset, tmp_path):
  """--check writes the salience model's check record in every record (the
  example asked alone, a fresh model), and the summary, the table and the HTML
  report aggregate them."""
  config = make_config(
    tiny_model_dir,
    dataset,
    tmp_path / "c.jsonl",
    span="^Recommendation:",
    check="grad_l2",
    granularity="lines",
  )
  result = run_lib.run(config, groups=groups, stream=io.StringIO())
  assert result.computed == 9 and not result.errors
  records = results_lib.read_records(config.out)
  by_id = {r["id"]: r for r in records}
  fresh = lit_models.SalienceModel(groups["tiny"].engine)
  for i, ex in enumerate(template_examples()):
    record = by_id[f"menu/{i}"]
    span = record["span"]
    mask = [1 if span["start"] <= k < span["end"] else 0 for k in range(len(record["tokens"]))]
    (alone,) = fresh.predict(
      [dict(ex, target_mask=mask, check="grad_l2", check_granularity="lines")]
    )
    got, want = record["check"], alone["check"]
    assert got["verdict"] == want["verdict"] and got["granularity"] == "lines"
    assert got["log_prob"] == pytest.approx(want["log_prob"], abs=1e-4)
    assert [e["top"]["segments"] for e in got["by_k"]] == [
      e["top"]["segments"] for e in want["by_k"]
    ]
  summary = report_lib.summary(result.records)
  (entry,) = summary["checks"]["tiny"]
  assert entry["method"] == "grad_l2" and entry["examples"] == 9
  verdicts = [r["check"]["verdict"] for r in records]
  assert entry["verdicts"] == {
    "supported": verdicts.count("supported"),
    "weak": verdicts.count("weak"),
    "not supported": verdicts.count("not supported"),
    "too few segments": verdicts.count(None),
  }
  k1 = [next(e for e in r["check"]["by_k"] if e["k"] == 1) for r in records]
  assert entry["by_k"][0]["k"] == 1
  assert entry["by_k"][0]["top_drop"] == pytest.approx(np.mean([e["top"]["drop"] for e in k1]))
  assert entry["by_k"][0]["random_drop"] == pytest.approx(
    np.mean([e["random"]["drop_mean"] for e in k1])
  )
  # The light records the reports read keep the numbers, not every draw.
  assert "draws" not in result.records[0]["check"]["by_k"][0]["random"]
  text = report_lib.table(summary)
  assert "tiny · check of grad_l2 at lines, 9 examples" in text
  html = report_lib.html_report(result.records, summary)
  assert "deletion check of grad_l2" in html and "beats random" in html
  # Another --check is another setting: the file is refused.
  with pytest.raises(config_lib.BatchError, match="other inputs or settings"):
    run_lib.run(
      make_config(
        tiny_model_dir,
        dataset,
        tmp_path / "c.jsonl",
        span="^Recommendation:",
        check="grad_dot_input",
        granularity="lines",
      ),
      groups=groups,
      stream=io.StringIO(),
    )
  with pytest.raises(config_lib.BatchError, match="Unknown method 'lime' in --check"):
    make_config(tiny_model_dir, dataset, tmp_path / "x.jsonl", check="lime").checked()
