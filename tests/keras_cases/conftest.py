"""Keras tests run once per runtime, each in its own process.

Keras fixes its backend at import, so tests/test_keras_runtimes.py starts
`pytest tests/keras_cases` in a child process per runtime with
LIT_SEQSAL_TEST_KERAS_RUNTIME set; run them by hand the same way, for example
`LIT_SEQSAL_TEST_KERAS_RUNTIME=torch pytest tests/keras_cases`.
"""

from __future__ import annotations

import os

import pytest

from lit_seqsal.models import keras_backend

RUNTIME = os.environ.get("LIT_SEQSAL_TEST_KERAS_RUNTIME", "tensorflow")
keras_backend.select(RUNTIME)  # before anything below imports keras

from tests.keras_cases import tiny_keras  # noqa: E402


@pytest.fixture(scope="session")
def runtime() -> str:
  return RUNTIME


@pytest.fixture(scope="session")
def tiny_keras_dir(tmp_path_factory) -> str:
  return str(tiny_keras.build_tiny_gemma3(tmp_path_factory.mktemp("tiny_keras")))


@pytest.fixture(scope="session")
def keras_group(tiny_keras_dir):
  from lit_seqsal import models

  return models.load_model_group(
    "tk",
    tiny_keras_dir,
    dl_framework="kerasnlp",
    dl_runtime=RUNTIME,
    batch_size=3,
    max_length=256,
    max_new_tokens=12,
  )


@pytest.fixture(scope="session")
def engine(keras_group):
  return keras_group["tk"].engine
