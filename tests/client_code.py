"""Runs a snippet of the client's TypeScript (lit_seqsal/client/src) in node,
for tests that compare Python with the client's own code on the same data."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

CLIENT_DIR = Path(__file__).resolve().parents[1] / "lit_seqsal" / "client"


def run_client_script(script: str, data) -> object:
  """Bundles `script` (TypeScript importing './src/...') with esbuild, runs it in
  node with `data` as JSON on stdin, and returns what it prints as JSON.
  Skips the test where the client's dependencies are not installed."""
  esbuild = CLIENT_DIR / "node_modules" / ".bin" / "esbuild"
  if not esbuild.exists() or shutil.which("node") is None:
    pytest.skip("client dependencies not installed (make client)")
  bundle = subprocess.run(
    [
      str(esbuild),
      "--bundle",
      "--platform=node",
      "--format=esm",
      "--loader=ts",
      "--sourcefile=check.ts",
      "--log-level=warning",
    ],
    input=script,
    cwd=CLIENT_DIR,
    capture_output=True,
    text=True,
    check=True,
  ).stdout
  run = subprocess.run(
    ["node", "--input-type=module", "-e", bundle],
    input=json.dumps(data),
    capture_output=True,
    text=True,
    check=True,
  )
  return json.loads(run.stdout)


def assert_client_segments_alike(token_lists) -> None:
  """The client's segmentation (segments.ts) of each token list equals the
  server's (lit_seqsal/salience/segmentation.py) at every granularity."""
  from lit_seqsal.salience import segmentation

  script = (
    "import {segmentTokens} from './src/segments.ts';\n"
    "import {readFileSync} from 'node:fs';\n"
    "const lists = JSON.parse(readFileSync(0, 'utf8'));\n"
    f"const g = {json.dumps(list(segmentation.GRANULARITIES))};\n"
    "console.log(JSON.stringify(lists.map((t) => Object.fromEntries(g.map((k) =>"
    " [k, segmentTokens(t, k).map((s) => [s.start, s.end])])))));\n"
  )
  client = run_client_script(script, token_lists)
  for tokens, theirs in zip(token_lists, client, strict=True):
    for granularity in segmentation.GRANULARITIES:
      ours = [list(s) for s in segmentation.segment_tokens(tokens, granularity)]
      assert ours == theirs[granularity], (granularity, tokens)
