"""Helpers shared by the tests: serving an app on a free port, HTTP calls, LIT
examples, and the browser tools. Fixtures live in tests/conftest.py."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BROWSER_DIR = Path(__file__).parent / "browser"


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


def require_browser_tools():
  chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
  missing = []
  if not os.path.exists(chromium):
    missing.append(f"chromium at {chromium} (apt-get install chromium)")
  if shutil.which("node") is None:
    missing.append("node")
  for package in ("playwright-core", "axe-core"):
    if not (BROWSER_DIR / "node_modules" / package).exists():
      missing.append(f"{package} (npm ci --prefix {BROWSER_DIR})")
  if missing:
    pytest.fail(
      "Browser test tools missing: " + "; ".join(missing) + ". `make test` installs them."
    )


def greedy_reference(engine, prompt_ids, max_new_tokens: int) -> str:
  """A Transformers engine's greedy continuation computed independently: one full
  forward pass per new token (no generate(), no cache, no padding), cut at the
  first stop token, decoded without special tokens."""
  import torch

  ids, new = list(prompt_ids), []
  with torch.no_grad():
    for _ in range(max_new_tokens):
      batch = torch.tensor([ids + new], device=engine.model.device)
      logits = engine.model(input_ids=batch, use_cache=False).logits[0, -1]
      token = int(logits.argmax())
      if token in engine.stop_ids or token == engine.pad_id:
        break
      new.append(token)
  return engine.decode(new)
