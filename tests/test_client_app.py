"""Our client (lit_seqsal/client) served at /, in Debian's chromium, and the routing around it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import BROWSER_DIR, post, require_browser_tools, serve_lit

pytestmark = pytest.mark.browser


def require_built_client():
  from lit_seqsal.serving import static_files

  if not static_files.client_is_built():
    pytest.fail(
      f"The client is not built in {static_files.CLIENT_BUILD_DIR}: run `make client` (`make test` does)."
    )


@pytest.fixture(scope="module")
def served(tiny_group):
  srv = serve_lit(dict(tiny_group))
  yield srv
  srv.close()


def _get(url: str) -> tuple[int, str, dict]:
  try:
    with urllib.request.urlopen(url, timeout=30) as resp:
      return resp.status, resp.read().decode(), dict(resp.headers)
  except urllib.error.HTTPError as e:
    return e.code, e.read().decode(), dict(e.headers)


def test_routes_our_client_lit_client_and_api(served):
  require_built_client()
  status, body, _ = _get(f"{served.url}/")
  assert status == 200 and "<seqsal-app>" in body
  status, body, _headers = _get(f"{served.url}/app.js")
  assert status == 200 and "seqsal-salience-pane" in body
  # LIT's client under /lit/, calling the same API relative to itself.
  status, body, _ = _get(f"{served.url}/lit/")
  assert status == 200 and "<lit-app>" in body
  assert "tiny" in post(served.url, "/lit/get_info")["models"]
  assert "tiny" in post(served.url, "/get_info")["models"]
  status, _, _ = _get(f"{served.url}/../../etc/passwd")
  assert status in (400, 404)


def test_lit_without_slash_redirects_keeping_the_query(tiny_group):
  from werkzeug.test import Client

  from lit_seqsal import datasets
  from lit_seqsal.serving import app as web_app
  from lit_seqsal.serving import layouts
  from lit_seqsal.serving import lit_server as server

  app = web_app.SalienceApp(
    **server.app_kwargs(dict(tiny_group), datasets.get_datasets(["sample_prompts"])),
    default_layout=layouts.LEFT_RIGHT,
  )
  resp = Client(app).get("/lit?models=tiny")
  assert resp.status_code == 301 and resp.headers["Location"] == "/lit/?models=tiny"


def test_missing_build_explains_how_to_build(tiny_group, tmp_path):
  srv = serve_lit(dict(tiny_group), seqsal_client_dir=str(tmp_path / "no_build"))
  try:
    status, body, _ = _get(f"{srv.url}/")
    assert status == 503
    assert "not built" in body and "make client" in body and 'href="lit/"' in body
    # The API and LIT's client keep working.
    assert "tiny" in post(srv.url, "/get_info")["models"]
    assert _get(f"{srv.url}/lit/")[0] == 200
  finally:
    srv.close()


def test_client_end_to_end_in_chromium(served, tmp_path):
  """Every feature of the LM Salience module, in a real browser (see app_e2e.mjs)."""
  require_browser_tools()
  require_built_client()
  result = subprocess.run(
    ["node", str(BROWSER_DIR / "app_e2e.mjs"), served.url, "tiny", str(tmp_path)],
    capture_output=True,
    text=True,
    timeout=600,
  )
  lines = result.stdout.strip().splitlines()
  assert lines, result.stderr[-4000:]
  checks = json.loads(lines[-1])["checks"]
  failed = [c for c in checks if not c["ok"]]
  assert not failed, json.dumps(failed, indent=1)[:6000]
  assert len(checks) >= 41
  assert result.returncode == 0
  out_dir = os.environ.get("LIT_SEQSAL_SCREENSHOT_DIR")
  if out_dir:
    for shot in tmp_path.glob("*.png"):
      shutil.copy(shot, Path(out_dir) / shot.name)


@pytest.fixture(scope="module")
def served_slow(tiny_model_dir):
  """A group of its own whose model batches take 0.15 s more: long enough to watch progress and cancel."""
  from lit_seqsal import models

  group = models.load_model_group("slow", tiny_model_dir, batch_size=2, max_length=256)
  engine = group["slow"].engine
  objectives = engine._objectives

  def slow_objectives(*args, **kwargs):
    time.sleep(0.15)
    return objectives(*args, **kwargs)

  engine._objectives = slow_objectives
  srv = serve_lit(dict(group))
  yield srv
  srv.close()


def _run_checks(
  script: str, url: str, group: str, tmp_path, minimum: int, timeout: int = 600
) -> dict:
  """Runs a check script (client_checks.mjs) and asserts every check passed; its JSON answer."""
  result = subprocess.run(
    ["node", str(BROWSER_DIR / script), url, group, str(tmp_path)],
    capture_output=True,
    text=True,
    timeout=timeout,
  )
  lines = result.stdout.strip().splitlines()
  assert lines, result.stderr[-4000:]
  answer = json.loads(lines[-1])
  failed = [c for c in answer["checks"] if not c["ok"]]
  assert not failed, json.dumps(failed, indent=1)[:6000]
  assert len(answer["checks"]) >= minimum, [c["name"] for c in answer["checks"]]
  assert result.returncode == 0
  out_dir = os.environ.get("LIT_SEQSAL_SCREENSHOT_DIR")
  if out_dir:
    for shot in tmp_path.glob("*.png"):
      shutil.copy(shot, Path(out_dir) / shot.name)
  return answer


def test_client_jobs_errors_and_user_text_in_chromium(served_slow, tmp_path):
  """Progress and Cancel of a job, chunked gradient requests, a server error, an XSS payload (app_hosted.mjs)."""
  require_browser_tools()
  require_built_client()
  _run_checks("app_hosted.mjs", served_slow.url, "slow", tmp_path, minimum=19)


def test_client_contrastive_in_chromium(served, tmp_path):
  """Why this and not that: the model's alternatives under "instead of", a picked or typed foil, the diverging
  scale, the legend and indicator of a contrastive view, both exports, compare, a costly method (app_contrastive.mjs)."""
  require_browser_tools()
  require_built_client()
  _run_checks("app_contrastive.mjs", served.url, "tiny", tmp_path, minimum=21)


@pytest.fixture(scope="module")
def served_chat(tiny_chat_model_dir):
  """The tiny model with a Gemma-style chat template."""
  from lit_seqsal import models

  srv = serve_lit(
    dict(models.load_model_group("chat", tiny_chat_model_dir, max_length=256, max_new_tokens=8))
  )
  yield srv
  srv.close()


def test_client_chat_template_turns_in_chromium(served_chat, tmp_path):
  """A conversation sent as its messages, template tokens greyed and out of the scale, Turns (app_turns.mjs)."""
  require_browser_tools()
  require_built_client()
  _run_checks("app_turns.mjs", served_chat.url, "chat", tmp_path, minimum=7)


def test_client_keyboard_accessibility_and_narrow_screens_in_chromium(served, tmp_path):
  """A keyboard-only walkthrough, edits that run as edited, axe-core on the main views, nothing wider
  than the viewport at 390 and 1440 px, and the smaller items (app_keyboard.mjs)."""
  require_browser_tools()
  require_built_client()
  _run_checks("app_keyboard.mjs", served.url, "tiny", tmp_path, minimum=34)


def test_client_first_colours_then_prefetch_in_chromium(served, tmp_path):
  """A click asks for its span alone; the rest is prefetched behind it, overtaken by a click, replaced by
  another granularity, ended by Stop; ordered by events in the page's network layer (app_prefetch.mjs)."""
  require_browser_tools()
  require_built_client()
  _run_checks("app_prefetch.mjs", served.url, "tiny", tmp_path, minimum=11)


def test_lit_client_shows_our_json_errors(served):
  """LIT's client at /lit/: a prompt over the length limit is a 400 whose message LIT shows (lit_client_error.mjs)."""
  require_browser_tools()
  result = subprocess.run(
    ["node", str(BROWSER_DIR / "lit_client_error.mjs"), served.url, "tiny"],
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert result.returncode == 0, result.stderr[-4000:] + result.stdout[-2000:]
  seen = json.loads(result.stdout.strip().splitlines()[-1])
  for answer in seen["answers"]:
    assert answer["status"] == 400 and answer["kind"] == "bad_request", seen
    assert "application/json" in answer["contentType"], seen
    assert "over this model's maximum" in answer["message"], seen
  # One of them (LIT keeps the latest per endpoint), as its message, not "Unknown error".
  assert any(seen["shown"].startswith(a["message"]) for a in seen["answers"]), seen
  assert "Unknown error" not in seen["shown"] and "Traceback" not in seen["shown"], seen
  # LIT's client rethrows a failed request's error after showing it: only those.
  assert all(any(a["message"] in e for a in seen["answers"]) for e in seen["pageErrors"]), seen


@pytest.fixture(scope="module")
def served_bundled(bundled_group):
  srv = serve_lit(dict(bundled_group))
  yield srv
  srv.close()


@pytest.mark.bundled
def test_walkthrough_in_our_client_on_the_bundled_model(served_bundled, tmp_path):
  """The issue's done-when: fewshot-mistake, generate, Recommendation sentence, compare with fewshot-fixed."""
  require_browser_tools()
  require_built_client()
  shot = tmp_path / "lm_salience_module.png"
  result = subprocess.run(
    ["node", str(BROWSER_DIR / "app_walkthrough.mjs"), served_bundled.url, "gemma", str(shot)],
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert result.returncode == 0, result.stderr[-4000:] + result.stdout[-2000:]
  seen = json.loads(result.stdout.strip().splitlines()[-1])
  assert "Recommendation" in seen["explained"] and "Recommendation" in seen["compared"]
  assert shot.exists() and shot.stat().st_size > 10_000
  out_dir = os.environ.get("LIT_SEQSAL_SCREENSHOT_DIR")
  if out_dir:
    shutil.copy(shot, Path(out_dir) / shot.name)


def _word_lcs(a: list[str], b: list[str]) -> int:
  """The length of a longest common subsequence of two word lists (plain dynamic programming)."""
  row = [0] * (len(b) + 1)
  for x in a:
    prev = 0
    for j, y in enumerate(b):
      prev, row[j + 1] = row[j + 1], prev + 1 if x == y else max(row[j + 1], row[j])
  return row[-1]


def _replay(url: str, request: dict) -> dict:
  """A request the page made (to get_preds or as a job), sent again to /get_preds."""
  query = urllib.parse.parse_qs(urllib.parse.urlsplit(request["url"]).query)
  params = {k: v[0] for k, v in query.items() if k in ("model", "requested_fields")}
  (answer,) = post(url, "/get_preds", json.loads(request["body"]), **params)
  return answer


@pytest.mark.bundled
def test_check_ranked_list_and_drop_in_our_client_on_the_bundled_model(served_bundled, tmp_path):
  """The ranked list, the check equal to the API's, drop and regenerate, on Gemma (app_checkable.mjs)."""
  require_browser_tools()
  require_built_client()
  answer = _run_checks("app_checkable.mjs", served_bundled.url, "gemma", tmp_path, 13, timeout=1500)
  seen = answer["seen"]
  (check_request,) = [r for r in seen["requests"] if '"check"' in r["body"]]
  (drop_request,) = [r for r in seen["requests"] if '"edits"' in r["body"]]

  # The check the page shows is the API's: the same input over LIT's /get_preds.
  record = _replay(served_bundled.url, check_request)["check"]
  assert record["verdict"] == seen["verdict"]
  assert len(seen["rows"]) == len(record["by_k"])
  for row, entry in zip(seen["rows"], record["by_k"]):
    assert int(row[0]) == entry["k"]
  last = record["by_k"][-1]
  # The sentence's numbers (check_view.ts: 2 decimals, or 2 significant digits below 0.01).
  sentence = seen["sentence"].replace("\u2212", "-")
  words = re.search(
    r"(?:from (\S+) to (\S+)|at (\S+)); removing \d+ random \w+: to (\S+) \(±(\S+)\)", sentence
  )
  assert words, sentence
  before, top, at, random_mean, random_spread = words.groups()
  shown = [float(before or at), float(top or at), float(random_mean), float(random_spread)]
  api = [
    record["prob"],
    last["top"]["prob"],
    last["random"]["prob_mean"],
    last["random"]["prob_std"],
  ]
  for s_value, a_value in zip(shown, api):
    assert abs(s_value - a_value) <= max(0.005, 0.05 * abs(a_value)), (shown, api, sentence)

  # Drop and regenerate: the edited prompt is the original without the top sentence,
  # the new generation is the API's for that edit, and the diff marks a minimal set of words.
  top = seen["topEntry"]
  assert (
    seen["editedPrompt"]
    == seen["prompt"][: top["at"]] + seen["prompt"][top["at"] + len(top["text"]) :]
  )
  regenerated = _replay(served_bundled.url, drop_request)
  assert regenerated["edited_prompt"] == seen["editedPrompt"]
  after = "".join(p["text"] for p in seen["after"])
  assert after == regenerated["response"]
  kept_before = [w for p in seen["before"] if p["kind"] == "same" for w in p["text"].split()]
  kept_after = [w for p in seen["after"] if p["kind"] == "same" for w in p["text"].split()]
  assert kept_before == kept_after
  assert len(kept_before) == _word_lcs(seen["original"].split(), after.split())
