"""Parity on the same weights: Keras on TensorFlow, Keras on PyTorch and
Transformers on PyTorch, on the bundled Gemma 3 270M.

Each Keras runtime runs in its own process (Keras picks its backend once per
process); Transformers runs in this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lit_seqsal.salience import methods
from tests import parity_probe
from tests.helpers import REPO

pytestmark = [pytest.mark.bundled, pytest.mark.keras, pytest.mark.slow]
KERAS_RUNTIMES = ("tensorflow", "torch")


@pytest.fixture(scope="module")
def reference():
  return parity_probe.run("transformers", "torch")


@pytest.fixture(scope="module")
def keras_results(tmp_path_factory):
  results = {}
  for runtime in KERAS_RUNTIMES:
    out = tmp_path_factory.mktemp("parity") / f"{runtime}.npz"
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    proc = subprocess.run(
      [sys.executable, "-m", "tests.parity_probe", "kerasnlp", runtime, str(out)],
      cwd=REPO,
      env=env,
      capture_output=True,
      text=True,
      timeout=1200,
    )
    assert proc.returncode == 0, f"Keras on {runtime} failed:\n{proc.stderr[-6000:]}"
    results[runtime] = dict(np.load(out))
  return results


@pytest.mark.parametrize("runtime", KERAS_RUNTIMES)
def test_same_tokens_and_greedy_continuation(reference, keras_results, runtime):
  got = keras_results[runtime]
  assert json.loads(str(got["tokens"])) == json.loads(reference["tokens"])
  generations = json.loads(str(got["generations"]))
  assert generations == json.loads(reference["generations"])
  assert all(g.strip() for g in generations)


@pytest.mark.parametrize("runtime", KERAS_RUNTIMES)
def test_same_salience_to_1e_3_of_the_largest_score(reference, keras_results, runtime):
  got = keras_results[runtime]
  worst = 0.0
  for key, want in reference.items():
    if not key.startswith(methods.gradient_names()):
      continue
    scale = np.abs(want).max()
    assert scale > 0, key
    err = np.abs(got[key] - want).max() / scale
    worst = max(worst, err)
    assert err < 1e-3, f"{key}: max |diff| is {err:.2e} of the largest score"
  print(f"Keras on {runtime}: worst difference {worst:.1e} of the largest score")
