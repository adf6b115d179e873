"""Shared fixtures: tiny causal LMs built here, and the bundled Gemma."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
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


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class ServedApp:
  """A LIT app served by werkzeug on a free localhost port, in a thread."""

  def __init__(self, lit_app):
    from werkzeug import serving

    self.app = lit_app
    self.port = free_port()
    self.url = f"http://127.0.0.1:{self.port}"
    self._server = serving.make_server("127.0.0.1", self.port, lit_app, threaded=True)
    self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
    self._thread.start()

  def close(self):
    self._server.shutdown()


def serve_lit(models_map, datasets_config=("sample_prompts",), **app_kw) -> ServedApp:
  """Our app (our client at /, LIT's at /lit/) on the models and datasets given."""
  from lit_seqsal import datasets
  from lit_seqsal.serving import app as web_app
  from lit_seqsal.serving import layouts
  from lit_seqsal.serving import lit_server as server

  lit_app = web_app.SalienceApp(
    **server.app_kwargs(models_map, datasets.get_datasets(list(datasets_config))),
    default_layout=layouts.LEFT_RIGHT,
    development_demo=True,
    client_root=server.LIT_CLIENT_ROOT,
    **app_kw,
  )
  return ServedApp(lit_app)


def post(url: str, path: str, body=None, **params):
  query = urllib.parse.urlencode(params)
  req = urllib.request.Request(
    f"{url}{path}?{query}",
    data=json.dumps(body or {}).encode(),
    headers={"Content-Type": "application/json"},
    method="POST",
  )
  with urllib.request.urlopen(req, timeout=120) as resp:
    return json.loads(resp.read())


def get(url: str, path: str):
  with urllib.request.urlopen(f"{url}{path}", timeout=120) as resp:
    return json.loads(resp.read())


def post_error(url: str, path: str, body=None, **params) -> str:
  with pytest.raises(urllib.error.HTTPError) as err:
    post(url, path, body, **params)
  assert err.value.code >= 400
  return err.value.read().decode()


def lit_example(prompt="Suggestion: Onion soup\nAnalysis:", target=" it has onions.", **extra):
  data = {"prompt": prompt, "target": target, **extra}
  # LIT requires id == data._id; the server caches predictions by this id.
  ex_id = hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()
  return {"data": data | {"_id": ex_id}, "id": ex_id, "meta": {}}
