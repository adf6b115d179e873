"""The HTTP API of running servers: LIT's endpoints on our models."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from lit_seqsal import models
from tests.helpers import free_port, get, greedy_reference, post, post_error, serve_lit
from tests.helpers import lit_example as _example

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def served(tiny_group):
  srv = serve_lit(dict(tiny_group))
  yield srv
  srv.close()


def test_get_info_lists_group_layouts_and_loaders(served):
  info = post(served.url, "/get_info")
  assert {"tiny", "_tiny_salience", "_tiny_tokenizer"} <= set(info["models"])
  assert {"left_right", "top_bottom", "three_panel"} <= set(info["layouts"])
  assert "sample_prompts" in info["datasets"]
  sal_out = info["models"]["_tiny_salience"]["spec"]["output"]
  assert sal_out["grad_l2"]["__name__"] == "TokenScores"
  assert models.AUTO_LOADER in info["initSpecs"]["models"]
  assert "prompt_file" in info["initSpecs"]["datasets"]


def test_salience_preds_have_aligned_scores(served):
  preds = post(
    served.url,
    "/get_preds",
    {"inputs": [_example()]},
    model="_tiny_salience",
    dataset_name="sample_prompts",
  )
  assert len(preds) == 1
  assert len(preds[0]["tokens"]) == len(preds[0]["grad_l2"]) == len(preds[0]["grad_dot_input"])
  # LIT's client asks for TokenScores only; that filter must keep working.
  preds = post(
    served.url,
    "/get_preds",
    {"inputs": [_example()]},
    model="_tiny_salience",
    dataset_name="sample_prompts",
    requested_types="TokenScores",
  )
  assert set(preds[0]) == {"grad_l2", "grad_dot_input"}


def test_bad_requests_then_good_request(served):
  bad_mask = _example(target_mask=[0, 1])
  msg = post_error(
    served.url,
    "/get_preds",
    {"inputs": [bad_mask]},
    model="_tiny_salience",
    dataset_name="sample_prompts",
  )
  assert "target_mask" in msg
  msg = post_error(
    served.url,
    "/get_preds",
    {"inputs": [_example(prompt="")]},
    model="tiny",
    dataset_name="sample_prompts",
  )
  assert "prompt" in msg
  msg = post_error(
    served.url,
    "/get_preds",
    {"inputs": [_example(target="")]},
    model="_tiny_salience",
    dataset_name="sample_prompts",
  )
  assert "Nothing to explain" in msg
  post_error(
    served.url,
    "/get_preds",
    {"inputs": [_example()]},
    model="no_such_model",
    dataset_name="sample_prompts",
  )
  msg = post_error(
    served.url,
    "/create_dataset",
    {"config": {"new_name": "broken", "path": "/no/such.jsonl"}},
    dataset_name="prompt_file",
  )
  assert "does not exist" in msg
  # The server keeps serving, and nothing loaded was lost.
  preds = post(
    served.url,
    "/get_preds",
    {"inputs": [_example()]},
    model="_tiny_salience",
    dataset_name="sample_prompts",
  )
  assert len(preds[0]["tokens"]) == len(preds[0]["grad_l2"])
  info = post(served.url, "/get_info")
  assert "sample_prompts" in info["datasets"] and "_tiny_salience" in info["models"]


def test_examples_without_ids_do_not_share_lits_prediction_lock(served):
  """LIT keys examples by `_id`; ours key id-less examples by content, so a
  request for one example does not wait for another's predict call to end."""
  name = next(n for n in served.app._models if n.endswith("_salience"))
  wrapper = served.app._models[name]
  first, second = _example()["data"], _example(target=" it is soup.")["data"]
  for ex in (first, second):
    ex.pop("_id", None)
  keys = [wrapper.key_fn(first)]
  assert keys[0] is not None and keys[0] == wrapper.key_fn(dict(first))
  assert wrapper.key_fn(second) != keys[0]
  wrapper._cache.get_pred_lock(keys)  # first is being predicted
  try:
    assert wrapper._cache.pred_lock_key([wrapper.key_fn(second)]) is None
  finally:
    wrapper._cache.delete_pred_lock(keys)
  assert wrapper.key_fn(dict(first, _id="abc"))[1] == "abc"  # LIT's own ids unchanged


def test_lit_lets_requests_for_different_examples_predict_side_by_side(tiny_group):
  """Our models declare supports_concurrent_predictions, a property, True: LIT's
  caching wrapper then locks each set of examples on its own. Were it False (or
  a method, as LIT reads the attribute), one request's predict call would hold
  every other request to the model until it ended."""
  from lit_nlp.lib import caching

  from lit_seqsal.models import lit_models

  assert {m.supports_concurrent_predictions for m in tiny_group.values()} == {True}
  inside, release = threading.Event(), threading.Event()

  class Blocking(lit_models.TokenizerModel):
    def predict(self, inputs, **unused_kw):
      inputs = list(inputs)
      if inputs[0]["prompt"] == "slow":
        inside.set()
        release.wait(60)
      return [{"tokens": [ex["prompt"]]} for ex in inputs]

  wrapper = caching.CachingModelWrapper(Blocking(next(iter(tiny_group.values())).engine), "m")
  slow = threading.Thread(target=wrapper.predict, args=([{"prompt": "slow", "_id": "a"}],))
  slow.start()
  try:
    assert inside.wait(60)
    answers = []
    fast = threading.Thread(
      target=lambda: answers.extend(wrapper.predict([{"prompt": "fast", "_id": "b"}]))
    )
    fast.start()
    fast.join(60)
    assert answers == [{"tokens": ["fast"]}] and slow.is_alive()
  finally:
    release.set()
    slow.join()


def test_generation_endpoint(served, tiny_group):
  preds = post(
    served.url, "/get_preds", {"inputs": [_example()]}, model="tiny", dataset_name="sample_prompts"
  )
  engine = tiny_group["tiny"].engine
  prompt = _example()["data"]["prompt"]
  want = greedy_reference(engine, engine.encode(prompt), engine.max_new_tokens)
  assert preds[0]["response"] == want


def test_configure_menu_loads_dataset_and_model(served, tmp_path, tiny_model_dir):
  path = tmp_path / "extra.jsonl"
  path.write_text('{"prompt": "Extra prompt", "target": " here"}\n')
  info, name = post(
    served.url,
    "/create_dataset",
    {"config": {"new_name": "extra", "path": str(path)}},
    dataset_name="prompt_file",
  )
  assert name == "extra" and "extra" in info["datasets"]
  info, _names = post(
    served.url,
    "/create_model",
    {"config": {"new_name": "tiny2", "model_name_or_path": tiny_model_dir}},
    model_name=models.AUTO_LOADER,
  )
  assert {"tiny2", "_tiny2_salience", "_tiny2_tokenizer"} <= set(info["models"])


def _start(cmd: list[str]) -> subprocess.Popen:
  """A server process started from the command line, its output on its stdout."""
  return subprocess.Popen(
    cmd,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
    env=os.environ | {"PYTHONUNBUFFERED": "1"},
  )


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 240):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if proc.poll() is not None:
      raise AssertionError(f"server exited early:\n{proc.stdout.read()}")
    try:
      return post(url, "/get_info")
    except (urllib.error.URLError, ConnectionError):
      time.sleep(1)
  raise AssertionError("server did not start in time")


def test_demo_module_serves_from_command_line(tiny_model_dir, tmp_path):
  port = free_port()
  jl = tmp_path / "d.jsonl"
  jl.write_text('{"prompt": "From a file"}\n')
  cmd = [
    sys.executable,
    "-m",
    "lit_seqsal.demos.lm_salience",
    f"--port={port}",
    f"--models=tiny:{tiny_model_dir}",
    f"--datasets=sample_prompts,mine:{jl}",
    "--max_examples=5",
    "--batch_size=2",
    "--sequence_length=128",
    "--dl_framework=transformers",
    "--dl_runtime=torch",
    "--precision=float32",
  ]
  proc = _start(cmd)
  try:
    info = _wait_for(f"http://127.0.0.1:{port}", proc)
    assert "_tiny_salience" in info["models"]
    assert set(info["datasets"]) >= {"sample_prompts", "mine"}
    data = post(f"http://127.0.0.1:{port}", "/get_dataset", dataset_name="sample_prompts")
    assert len(data) == 5
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read().decode()
    assert "<script" in page  # LIT's prebuilt client
    info = get(f"http://127.0.0.1:{port}", "/seqsal/info")
    assert info["models"]["tiny"] | {"stop_sequences": None} == {
      "max_length": 128,
      "length": "set",
      "context_window": 512,  # the tiny model's max_position_embeddings
      "max_new_tokens": 64,
      "stop_sequences": None,
      "chat_template": False,
    }
  finally:
    proc.terminate()
    log = proc.communicate(timeout=30)[0]
  # The log says each thing once: set-up messages, and one line per request.
  assert log.count("Loading 'tiny' with transformers") == 1, log[-3000:]
  assert log.count("/get_dataset") == 1, log[-3000:]
  assert log.count("/seqsal/info") == 1, log[-3000:]


def test_demo_module_serves_a_keras_model_on_torch(tiny_keras_preset):
  port = free_port()
  cmd = [
    sys.executable,
    "-m",
    "lit_seqsal.demos.lm_salience",
    f"--port={port}",
    f"--models=tk:{tiny_keras_preset}",
    "--dl_framework=kerasnlp",
    "--dl_runtime=torch",
    "--sampler=top_k",
    "--max_new_tokens=4",
  ]
  proc = _start(cmd)
  try:
    url = f"http://127.0.0.1:{port}"
    info = _wait_for(url, proc)
    assert {"tk", "_tk_salience", "_tk_tokenizer"} <= set(info["models"])
    assert "Keras LM (torch)" in info["initSpecs"]["models"]
    preds = post(
      url,
      "/get_preds",
      {"inputs": [_example()]},
      model="_tk_salience",
      dataset_name="sample_prompts",
    )
    assert len(preds[0]["tokens"]) == len(preds[0]["grad_l2"]) > 3
  finally:
    proc.terminate()
    proc.wait(timeout=30)


def test_demo_module_rejects_bad_flags(tiny_model_dir):
  result = subprocess.run(
    [
      sys.executable,
      "-m",
      "lit_seqsal.demos.lm_salience",
      "--dl_framework=jaxnlp",
      f"--models=t:{tiny_model_dir}",
    ],
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode != 0
  assert "dl_framework" in result.stderr and "transformers" in result.stderr
  result = subprocess.run(
    [sys.executable, "-m", "lit_seqsal.demos.lm_salience", "--models=t:/no/such/dir"],
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode != 0
  assert "does not exist" in result.stderr
  assert "Traceback" not in result.stderr  # a user error: the message, no traceback


# Runs an entry point (server or batch command) as if Keras were not installed.
_WITHOUT_KERAS = """
import sys
for name in ("keras", "keras_hub", "tensorflow", "tensorflow_text"):
  sys.modules[name] = None  # import fails, importlib.util.find_spec finds nothing
from absl import app
if sys.argv[1] == "server":
  from lit_seqsal.demos.lm_salience import main
else:
  from lit_seqsal.attribute import main
sys.argv = ["entry", *sys.argv[2:]]
app.run(main)
"""


@pytest.mark.parametrize("entry", ["server", "batch"])
def test_keras_preset_without_the_keras_extra_fails_at_once(entry, tmp_path):
  """The walkthrough's command without the keras extra: a message naming the
  extra and the flag, before anything is loaded or written, no traceback."""
  out = tmp_path / "out.jsonl"
  args = [entry, "--models=gemma2_2b_it:gemma2_instruct_2b_en"]
  if entry == "batch":
    args.append(f"--out={out}")
  result = subprocess.run(
    [sys.executable, "-c", _WITHOUT_KERAS, *args],
    capture_output=True,
    text=True,
    timeout=120,
    cwd=REPO,
    env=os.environ | {"PYTHONPATH": str(REPO)},
  )
  assert result.returncode == 1, result.stderr[-3000:]
  assert "'gemma2_instruct_2b_en' is a keras-hub preset name" in result.stderr
  assert "pip install 'lit-seqsal[keras]'" in result.stderr
  assert "--dl_framework" in result.stderr
  assert "Traceback" not in result.stderr
  assert not out.exists()


@pytest.mark.slow
@pytest.mark.keras
def test_walkthrough_command_picks_keras(tmp_path):
  """`--models=gemma2_2b_it:gemma2_instruct_2b_en` as the walkthrough writes it:
  Keras, said at load; offline (a dead proxy keeps it so) a clear message about
  Kaggle, exit 1, no traceback."""
  dead_proxy = "http://127.0.0.1:9"
  result = subprocess.run(
    [sys.executable, "-m", "lit_seqsal.demos.lm_salience", "--models=g:gemma2_instruct_2b_en"],
    capture_output=True,
    text=True,
    timeout=300,
    cwd=REPO,
    env=os.environ
    | {"HTTPS_PROXY": dead_proxy, "HTTP_PROXY": dead_proxy, "KERAS_HOME": str(tmp_path)},
  )
  output = result.stdout + result.stderr
  assert result.returncode == 1, output[-3000:]
  assert "is a keras-hub preset name: loading 'g' with Keras" in output
  assert "Could not load the keras-hub preset 'gemma2_instruct_2b_en'" in result.stderr
  assert "Kaggle" in result.stderr
  assert "Traceback" not in output


def test_wsgi_app_for_gunicorn(tiny_model_dir):
  code = (
    "import sys\n"
    f"sys.argv = ['gunicorn', '--models=tiny:{tiny_model_dir}', '--workers=1']\n"
    "from lit_seqsal.demos import lm_salience\n"
    "app = lm_salience.get_wsgi_app()\n"
    "from werkzeug.test import Client\n"
    "r = Client(app).post('/get_info')\n"
    "import json; info = json.loads(r.data)\n"
    "assert r.status_code == 200 and '_tiny_salience' in info['models'], r.data\n"
    "assert info['demoMode'] is True and not info['initSpecs']['models']\n"
    "print('WSGI_OK')\n"
  )
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
  assert "WSGI_OK" in result.stdout, result.stderr[-3000:]
