"""Shared fixtures: tiny causal LMs built here, and the bundled Gemma."""

from __future__ import annotations

import os
import socket
import threading

import pytest

# Keep model conversions of the test run out of the user's cache only if asked;
# by default reuse the normal cache so the bundled model converts once per machine.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests import tiny_models  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
  """A tiny Gemma-3-architecture LM with a tokenizer trained here, saved as HF dir."""
  return str(tiny_models.build_tiny_hf_model(tmp_path_factory.mktemp("tiny_lm")))


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> str:
  return str(tiny_models.build_tiny_hf_model(tmp_path_factory.mktemp("tiny_gpt2"), arch="gpt2"))


@pytest.fixture(scope="session")
def tiny_group(tiny_model_dir):
  from lit_seqsal import models
  return models.load_model_group("tiny", tiny_model_dir, batch_size=3, max_length=256)


@pytest.fixture(scope="session")
def bundled_group():
  from lit_seqsal import models
  return models.load_model_group("gemma", "bundled", batch_size=2, max_length=1024)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class ServedApp:
  """A LIT app served by werkzeug on a free localhost port, in a thread."""

  def __init__(self, lit_app):
    from werkzeug import serving
    self.port = free_port()
    self.url = f"http://127.0.0.1:{self.port}"
    self._server = serving.make_server("127.0.0.1", self.port, lit_app, threaded=True)
    self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
    self._thread.start()

  def close(self):
    self._server.shutdown()


def serve_lit(models_map, datasets_config=("sample_prompts",)) -> ServedApp:
  from lit_nlp import app as lit_app_lib
  from lit_seqsal import datasets, layouts, server
  lit_app = lit_app_lib.LitApp(
      **server.app_kwargs(models_map, datasets.get_datasets(list(datasets_config))),
      default_layout=layouts.LEFT_RIGHT,
      development_demo=True,
      client_root=server.LIT_CLIENT_ROOT,
  )
  return ServedApp(lit_app)
