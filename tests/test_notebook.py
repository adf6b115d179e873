"""The walkthrough notebook, executed cell by cell in a real Jupyter kernel.

The kernel runs the notebook on a tiny Keras preset on TensorFlow (the notebook
reads LIT_SEQSAL_NOTEBOOK_MODELS); between cells the test talks to the widget's
server and opens the pages that render(data=...) points at in chromium.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.parse
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lit_seqsal import datasets
from tests.helpers import BROWSER_DIR, REPO, post, require_browser_tools

pytestmark = [pytest.mark.browser, pytest.mark.slow]
NOTEBOOK = REPO / "demos" / "notebooks" / "lm_salience_walkthrough.ipynb"


def _outputs_text(cell) -> str:
  parts = []
  for out in cell.get("outputs", []):
    if out.get("output_type") == "stream":
      parts.append(out["text"])
    elif "data" in out:
      parts.extend(str(v) for v in out["data"].values())
    elif out.get("output_type") == "error":
      parts.append("\n".join(out.get("traceback", [])))
  return "\n".join(parts)


def _rendered_url(cell) -> str:
  """The URL LIT's notebook HTML would load in its iframe."""
  html = _outputs_text(cell)
  port = re.search(r"const port = (\d+);", html)
  params = re.search(r"const urlStr = \"/\" \+ '([^']*)'", html)
  assert port and params, html[:2000]
  return f"http://localhost:{port.group(1)}/{params.group(1)}"


def _check_page_shows(url: str, prompt: str, tmp_path: Path) -> None:
  prompt_file = tmp_path / "prompt.txt"
  prompt_file.write_text(prompt)
  shot = tmp_path / "notebook_render.png"
  proc = subprocess.run(
    ["node", str(BROWSER_DIR / "app_url_example.mjs"), url, str(prompt_file), str(shot)],
    capture_output=True,
    text=True,
    timeout=180,
  )
  assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-1000:]
  assert json.loads(proc.stdout.strip().splitlines()[-1])["found"]


def test_walkthrough_notebook_runs_in_a_kernel(tiny_keras_preset, tmp_path, monkeypatch):
  require_browser_tools()
  monkeypatch.setenv("LIT_SEQSAL_NOTEBOOK_MODELS", f"tiny:{tiny_keras_preset}")
  monkeypatch.delenv("KERAS_BACKEND", raising=False)
  menu = {e["source"]: e["prompt"] for e in datasets.read_examples(datasets.sample_prompts_path())}
  nb = nbformat.read(NOTEBOOK, as_version=4)
  client = NotebookClient(
    nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
  )
  base_url = None
  rendered = []
  with client.setup_kernel():
    for index, cell in enumerate(nb.cells):
      if cell.cell_type != "code":
        continue
      client.execute_cell(cell, index)
      text = _outputs_text(cell)
      if "make_notebook_widget(" in cell.source:
        base_url = re.search(r"LIT is serving on (http://\S+/)", text).group(1)
        info = post(base_url.rstrip("/"), "/get_info")
        assert {"tiny", "_tiny_salience", "_tiny_tokenizer"} <= set(info["models"])
        assert "sample_prompts" in info["datasets"]
        # The widget offers our interpreters (salience map, IG, occlusion).
        assert {"sequence_salience", "LM Integrated Gradients", "LM Segment Occlusion"} <= set(
          info["models"]["tiny"]["interpreters"]
        )
      if "render(data=" in cell.source:
        url = _rendered_url(cell)
        query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
        rendered.append(query["data0_prompt"][0])
        if len(rendered) == 1:  # one browser check keeps the test short
          _check_page_shows(url, query["data0_prompt"][0], tmp_path)
      if cell.source.strip() == "lit_widget.stop()":
        port = urllib.parse.urlparse(base_url).port
        with pytest.raises(ConnectionRefusedError):  # nothing serves there now
          socket.create_connection(("localhost", port), timeout=5).close()
        with socket.socket() as s:
          # The port can be bound again (TIME_WAIT leftovers aside, as any server).
          s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
          s.bind(("localhost", port))
  assert rendered == [menu["fewshot-mistake"], menu["fewshot-fixed"], menu["fewshot-constitution"]]
