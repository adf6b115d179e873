"""LIT's own prebuilt client, in Debian's headless chromium, against our server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import BROWSER_DIR, require_browser_tools, serve_lit

pytestmark = [pytest.mark.browser, pytest.mark.bundled]


@pytest.fixture(scope="module")
def served_bundled(bundled_group):
  srv = serve_lit(dict(bundled_group))
  yield srv
  srv.close()


def test_sequence_salience_in_lit_client(served_bundled, tmp_path):
  require_browser_tools()
  shot = tmp_path / "lit_client_salience.png"
  result = subprocess.run(
    [
      "node",
      str(BROWSER_DIR / "lit_client_salience.mjs"),
      served_bundled.url,
      "gemma",
      "fewshot-mistake",
      str(shot),
    ],
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert result.returncode == 0, result.stderr[-4000:] + result.stdout[-2000:]
  seen = json.loads(result.stdout.strip().splitlines()[-1])
  assert seen["nonzero"] > 5
  assert shot.exists() and shot.stat().st_size > 10_000
  out_dir = os.environ.get("LIT_SEQSAL_SCREENSHOT_DIR")
  if out_dir:
    shutil.copy(shot, Path(out_dir) / shot.name)
