"""The batch results in the server (--results, /seqsal/results) and in our client's
dataset view (Debian's chromium): the region chart, an example opened with the
same colours as the live module."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lit_seqsal.batch import config as config_lib
from lit_seqsal.batch import report as report_lib
from lit_seqsal.batch import results as results_lib
from lit_seqsal.batch import run as run_lib
from lit_seqsal.models import lit_models
from tests.batch_data import OPTIONS, template_examples, write_jsonl
from tests.helpers import BROWSER_DIR, require_browser_tools, serve_lit


def _get(url: str):
  try:
    with urllib.request.urlopen(url, timeout=30) as resp:
      return resp.status, resp.read().decode(), dict(resp.headers)
  except urllib.error.HTTPError as e:
    return e.code, e.read().decode(), dict(e.headers)


@pytest.fixture(scope="module")
def results(tiny_group, tiny_model_dir, tmp_path_factory):
  """A results file with 4 examples and an error, and another with paragraph regions."""
  tmp = tmp_path_factory.mktemp("client_results")
  groups = {"tiny": lit_models.group_of(tiny_group["tiny"])}
  rows = template_examples(4) + [{"prompt": "Suggestion: Tart\nAnalysis:", "target": " ok."}]
  data = write_jsonl(tmp / "menu.jsonl", rows)
  config = config_lib.BatchConfig(
    models=(f"tiny:{tiny_model_dir}",),
    datasets=(f"menu:{data}",),
    out=str(tmp / "results.jsonl"),
    options=OPTIONS,
    span="^Recommendation:",
    regions=("blocks:^Suggestion:",),
  )
  run_lib.run(config, groups=groups, stream=io.StringIO())
  other = config_lib.BatchConfig(
    **{
      **config.__dict__,
      "out": str(tmp / "other.jsonl"),
      "max_examples": 2,
      "regions": ("paragraphs",),
    }
  )
  run_lib.run(other, groups=groups, stream=io.StringIO())
  return config.out, other.out


@pytest.fixture(scope="module")
def served(tiny_group, results):
  srv = serve_lit(dict(tiny_group), results_path=results[0])
  yield srv
  srv.close()


def test_server_serves_its_results_file(served, results, tiny_group, tmp_path):
  status, body, headers = _get(f"{served.url}/seqsal/results")
  assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
  assert body == Path(results[0]).read_text()
  info = json.loads(_get(f"{served.url}/seqsal/info")[1])
  assert info["results"] is True
  # A run still writing: the cut-off last line is not served.
  with open(results[0], "a", encoding="utf-8") as f:
    f.write('{"id": "menu/9", "mod')
  try:
    assert _get(f"{served.url}/seqsal/results")[1] == body
  finally:
    results_lib.repair(results[0])
  # Without --results: a JSON 404 that says how to get one, and no server path.
  plain = serve_lit(dict(tiny_group))
  try:
    status, body, _ = _get(f"{plain.url}/seqsal/results")
    assert status == 404 and "--results" in json.loads(body)["error"]["message"]
  finally:
    plain.close()


@pytest.mark.browser
def test_dataset_view_in_chromium(served, results, tmp_path):
  """The dataset view loads the results, shows the chart, opens an example (same colours)."""
  require_browser_tools()
  from lit_seqsal.serving import static_files

  if not static_files.client_is_built():
    pytest.fail(f"The client is not built in {static_files.CLIENT_BUILD_DIR}: run `make client`.")
  proc = subprocess.run(
    ["node", str(BROWSER_DIR / "dataset_view.mjs"), served.url, results[1], str(tmp_path)],
    capture_output=True,
    text=True,
    timeout=300,
  )
  lines = proc.stdout.strip().splitlines()
  assert lines, proc.stderr[-4000:]
  seen = json.loads(lines[-1])
  failed = [c for c in seen["checks"] if not c["ok"]]
  assert not failed, json.dumps(failed, indent=1)[:4000]
  assert proc.returncode == 0
  # The chips have the colours the live module would give (report.example_view is the
  # client's pane_view in Python, tested against it in test_batch.py).
  records = results_lib.read_records(results[0])
  block1 = [r for r in records if "error" not in r]
  first = max(block1, key=lambda r: r["regions"]["shares"]["grad_l2"][1])
  view = report_lib.example_view(first, "grad_l2")
  assert [[c["text"], c["color"]] for c in view["chips"]] == seen["chips"]
  out_dir = os.environ.get("LIT_SEQSAL_SCREENSHOT_DIR")
  if out_dir:
    shutil.copy(tmp_path / "dataset_view.png", Path(out_dir) / "dataset_view.png")
