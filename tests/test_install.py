"""The base install (no extras) serves Transformers models without TensorFlow,
Keras or keras-hub, and says which extra to install when Keras is asked for.

Builds a fresh virtual environment (torch first, as the README's set-up does,
then `pip install -e .`): a few minutes, most of it pip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.helpers import REPO, free_port

pytestmark = [pytest.mark.install, pytest.mark.slow]


def _run(cmd, **kw):
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, **kw)
  assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
  return proc


@pytest.fixture(scope="module")
def base_python(tmp_path_factory) -> str:
  venv = tmp_path_factory.mktemp("base") / "venv"
  _run([sys.executable, "-m", "venv", str(venv)])
  python = str(venv / "bin" / "python")
  torch_version = _run([sys.executable, "-c", "import torch; print(torch.__version__)"]).stdout
  # torch first and pinned to the one installed here (the README's set-up does
  # the same), then the package with no extras, and what the tests import.
  _run([python, "-m", "pip", "install", "-q", f"torch=={torch_version.strip().split('+')[0]}"])
  _run([python, "-m", "pip", "install", "-q", "-e", str(REPO), "pytest", "tokenizers"])
  return python


def test_base_install_has_no_keras_and_runs_the_transformers_tests(base_python):
  found = _run(
    [
      base_python,
      "-c",
      "import importlib.util as u; print([m for m in"
      " ('tensorflow', 'keras', 'keras_hub', 'jax') if u.find_spec(m)])",
    ]
  ).stdout
  assert found.strip() == "[]"
  proc = _run(
    [
      base_python,
      "-m",
      "pytest",
      "-q",
      "-p",
      "no:cacheprovider",
      "tests/test_salience.py",
      "tests/test_contrastive.py",
    ],
    cwd=REPO,
  )
  assert " passed" in proc.stdout.splitlines()[-1]


def test_base_install_serves_the_demo_and_names_the_keras_extra(base_python, tiny_model_dir):
  port = free_port()
  proc = subprocess.Popen(
    [
      base_python,
      "-m",
      "lit_seqsal.demos.lm_salience",
      f"--port={port}",
      f"--models=tiny:{tiny_model_dir}",
      "--sequence_length=128",
    ],
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
    cwd=REPO,
  )
  try:
    deadline = time.time() + 180
    while True:
      assert proc.poll() is None, proc.stdout.read()[-3000:]
      try:
        with urllib.request.urlopen(
          urllib.request.Request(f"http://127.0.0.1:{port}/get_info", data=b"{}"), timeout=10
        ) as resp:
          assert "_tiny_salience" in json.loads(resp.read())["models"]
          break
      except OSError:
        assert time.time() < deadline, "the demo did not start"
        time.sleep(1)
  finally:
    proc.terminate()
    proc.wait(timeout=30)
  keras = subprocess.run(
    [
      base_python,
      "-m",
      "lit_seqsal.demos.lm_salience",
      f"--models=t:{tiny_model_dir}",
      "--dl_framework=kerasnlp",
    ],
    capture_output=True,
    text=True,
    timeout=300,
    cwd=REPO,
  )
  assert keras.returncode != 0 and "pip install 'lit-seqsal[keras]'" in keras.stderr
  widget = subprocess.run(
    [
      base_python,
      "-c",
      "from lit_seqsal import notebook;"
      f"w = notebook.make_notebook_widget([], ['t:{tiny_model_dir}'], max_length=64);"
      "print(type(w.models['t'].wrapped).__name__ if hasattr(w.models['t'], 'wrapped') else"
      " type(w.models['t']).__name__); w.stop()",
    ],
    capture_output=True,
    text=True,
    timeout=300,
    cwd=REPO,
    env=dict(os.environ),
  )
  assert widget.returncode == 0, widget.stderr[-3000:]
  assert "loads the models with transformers" in widget.stdout
