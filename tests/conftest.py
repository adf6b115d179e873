"""Shared fixtures: tiny causal LMs built here, and the bundled Gemma."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Keep model conversions of the test run out of the user's cache only if asked;
# by default reuse the normal cache so the bundled model converts once per machine.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests import tiny_models

# Keras cases run in a child process per runtime (tests/test_keras_runtimes.py);
# they are collected here only when that child (or a developer) names a runtime.
collect_ignore = [] if os.environ.get("LIT_SEQSAL_TEST_KERAS_RUNTIME") else ["keras_cases"]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
  """A tiny Gemma-3-architecture LM with a tokenizer trained here, saved as HF dir."""
  return str(tiny_models.build_tiny_hf_model(tmp_path_factory.mktemp("tiny_lm")))


@pytest.fixture(scope="session")
def tiny_chat_model_dir(tiny_model_dir, tmp_path_factory) -> str:
  """The tiny model with a Gemma-style chat template (tiny_models.CHAT_TEMPLATE)."""
  return str(tiny_models.build_tiny_chat_model(tiny_model_dir, tmp_path_factory.mktemp("chat")))


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> str:
  return str(tiny_models.build_tiny_hf_model(tmp_path_factory.mktemp("tiny_gpt2"), arch="gpt2"))


@pytest.fixture(scope="session")
def tiny_group(tiny_model_dir):
  from lit_seqsal import models

  return models.load_model_group("tiny", tiny_model_dir, batch_size=3, max_length=256)


@pytest.fixture(scope="session")
def tiny_keras_preset(tmp_path_factory) -> Path:
  """A tiny Gemma 3 keras-hub preset (see tests/keras_cases/tiny_keras.py).

  Built in a child process: this pytest process never imports Keras."""
  out = tmp_path_factory.mktemp("tiny_keras") / "preset"
  code = (
    "from lit_seqsal.models import keras_backend; keras_backend.select('tensorflow');"
    "from pathlib import Path; from tests.keras_cases import tiny_keras;"
    f"tiny_keras.build_tiny_gemma3(Path({str(out)!r}))"
  )
  proc = subprocess.run(
    [sys.executable, "-c", code],
    cwd=Path(__file__).resolve().parent.parent,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  return out


@pytest.fixture(scope="session")
def bundled_group():
  from lit_seqsal import models

  return models.load_model_group("gemma", "bundled", batch_size=2, max_length=1024)
