"""Runs tests/keras_cases once per Keras runtime, each in a fresh process.

Keras picks its backend once per process, so one pytest process cannot test
TensorFlow, PyTorch and JAX; the parent run delegates to a child per runtime.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from lit_seqsal.models import keras_backend
from tests.helpers import REPO


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize("runtime", keras_backend.KERAS_RUNTIMES)
def test_keras_cases_on_runtime(runtime, request):
  if runtime == "jax" and importlib.util.find_spec("jax") is None:
    pytest.skip("JAX is not installed (pip install 'lit-seqsal[jax]').")
  env = dict(os.environ, LIT_SEQSAL_TEST_KERAS_RUNTIME=runtime)
  env.pop("KERAS_BACKEND", None)
  # A run that leaves slow tests out leaves out the slow Keras cases too (every
  # family on every runtime: tests/keras_cases/test_families.py).
  tier = ["-m", "not slow"] if "not slow" in (request.config.getoption("markexpr") or "") else []
  proc = subprocess.run(
    [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tier, "tests/keras_cases"],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=1200,
  )
  summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
  print(f"[{runtime}] {summary}")
  assert proc.returncode == 0, (
    f"Keras tests on {runtime} failed:\n{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}"
  )
  assert " passed" in summary and "skipped" not in summary, summary


def test_keras_is_not_imported_by_the_transformers_path(tiny_model_dir):
  """Loading a transformers group must leave the Keras runtime choice open."""
  code = (
    "import sys; from lit_seqsal import models;"
    f"models.load_model_group('t', {tiny_model_dir!r}, max_length=64);"
    "print('keras' in sys.modules, 'tensorflow' in sys.modules)"
  )
  out = subprocess.run(
    [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
  )
  assert out.returncode == 0, out.stderr[-3000:]
  # The last line is ours; set-up messages (device, precision) come before it.
  assert out.stdout.strip().splitlines()[-1].split() == ["False", "False"]
