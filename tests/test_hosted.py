"""The hosted demo under a real gunicorn (demos/deploy/gunicorn_config.py) on a tiny model:
error classes, security probes, budgets, admission control and jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import REPO, free_port, lit_example

LONG_PROMPT = (
  "Taste-likes: cheese, tomato.\nTaste-dislikes: onions.\n" * 6
  + "Suggestion: Onion soup\nAnalysis:"
)
TARGET = " it has onions."
IG_STEPS = 256  # the server's --max_ig_steps: about 2 s of work on the tiny model


class Hosted:
  def __init__(self, url: str, log: Path):
    self.url = url
    self.log = log

  def call(
    self,
    path,
    body=None,
    *,
    method="POST",
    raw: bytes | None = None,
    query_params: dict | None = None,
    **params,
  ):
    """(status, parsed JSON body, headers)."""
    query = urllib.parse.urlencode({**(query_params or {}), **params})
    data = (
      raw
      if raw is not None
      else (
        None if method in ("GET", "DELETE") and body is None else json.dumps(body or {}).encode()
      )
    )
    req = urllib.request.Request(
      f"{self.url}{path}{'?' + query if query else ''}", data=data, method=method
    )
    try:
      with urllib.request.urlopen(req, timeout=60) as resp:
        status, text, headers = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as e:
      status, text, headers = e.code, e.read(), e.headers
    try:
      return status, json.loads(text), headers
    except ValueError:
      return status, text.decode("utf-8", "replace"), headers

  def salience(self, prompt="Suggestion: Onion soup\nAnalysis:", target=TARGET, **fields):
    return self.call(
      "/get_preds", {"inputs": [lit_example(prompt, target, **fields)]}, model="_tiny_salience"
    )

  def start_job(self, steps=IG_STEPS, masks=1):
    """An integrated-gradients job on `masks` spans (one token each) of LONG_PROMPT's
    output: steps * masks integration points, one unit each (--batch_size=1)."""
    fields = dict(salience_methods=["integrated_gradients"], ig_steps=steps)
    if masks == 1:
      inputs = [lit_example(LONG_PROMPT, TARGET, **fields)]
    else:
      n = len(self.tokens(LONG_PROMPT, TARGET))
      inputs = [
        lit_example(
          LONG_PROMPT, TARGET, target_mask=[int(i == n - 1 - k) for i in range(n)], **fields
        )
        for k in range(masks)
      ]
    status, body, _ = self.call("/seqsal/jobs", {"inputs": inputs}, model="_tiny_salience")
    assert status == 202, body
    return body["job"]["id"]

  def tokens(self, prompt, target):
    status, body, _ = self.call(
      "/get_preds", {"inputs": [lit_example(prompt, target)]}, model="_tiny_tokenizer"
    )
    assert status == 200, body
    return body[0]["tokens"]

  def job(self, job_id):
    status, body, _ = self.call(f"/seqsal/jobs/{job_id}", method="GET")
    assert status == 200, body
    return body["job"]

  def wait(self, job_id, until, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
      job = self.job(job_id)
      if until(job):
        return job
      time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not get there: {job}")


@pytest.fixture(scope="module")
def hosted(tiny_model_dir, tmp_path_factory):
  port = free_port()
  log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
  args = (
    f"--models=tiny:{tiny_model_dir} --batch_size=1 --sequence_length=256"
    f" --max_input_tokens=200 --max_ig_steps={IG_STEPS} --queue_per_model=3"
    " --max_masks_per_request=8 --max_occlusion_units=40 --max_map_outputs=16"
    " --max_body_bytes=65536"
    # Costs are judged from the speed measured on this machine, which a busy
    # test machine slows many times over: limits that no request here nears.
    " --request_time_limit_s=600 --job_time_limit_s=3600"
  )
  env = dict(
    os.environ,
    PORT=str(port),
    HOST="127.0.0.1",
    LIT_SEQSAL_ARGS=args,
    LIT_SEQSAL_CACHE=str(tmp_path_factory.mktemp("cache")),
    PYTHONUNBUFFERED="1",
  )
  gunicorn = Path(sys.executable).with_name("gunicorn")
  with open(log, "w") as out:
    proc = subprocess.Popen(
      [str(gunicorn), "-c", "demos/deploy/gunicorn_config.py"],
      cwd=REPO,
      env=env,
      stdout=out,
      stderr=subprocess.STDOUT,
    )
  server = Hosted(f"http://127.0.0.1:{port}", log)
  try:
    deadline = time.time() + 180
    while True:
      assert proc.poll() is None, log.read_text()[-4000:]
      try:
        if server.call("/get_info")[0] == 200:
          break
      except (urllib.error.URLError, ConnectionError):
        pass
      assert time.time() < deadline, "gunicorn did not start:\n" + log.read_text()[-4000:]
      time.sleep(1)
    yield server
  finally:
    proc.terminate()
    proc.wait(timeout=90)


def _assert_clean_error(status, body, headers, expected_status, fragment):
  assert status == expected_status, body
  assert isinstance(body, dict), body
  error = body["error"]
  assert error["status"] == expected_status and fragment in error["message"], error
  assert error["request_id"] == headers["X-Request-Id"]
  text = json.dumps(body)
  for leak in ("Traceback", 'File "', ".py", "site-packages", str(REPO)):
    assert leak not in text, (leak, text)


def test_each_error_class_is_clean_json(hosted):
  junk = lit_example("Hi", " there")
  long_prompt = "Taste-likes: cheese. " * 45  # over --max_input_tokens, under the model's 256
  cases = [
    (dict(path="/get_preds", raw=b"{not json", model="_tiny_salience"), 400, "not valid JSON"),
    (dict(path="/get_preds", body={"inputs": [junk]}, model="nope"), 404, "Unknown model 'nope'"),
    (
      dict(
        path="/get_preds", body={"inputs": [lit_example(long_prompt, " x")]}, model="_tiny_salience"
      ),
      413,
      "--max_input_tokens",
    ),
    (
      dict(
        path="/get_preds",
        body={"inputs": [lit_example(long_prompt * 3, " x")]},
        model="_tiny_salience",
      ),
      400,
      "maximum of 256 tokens",
    ),
    (
      dict(
        path="/get_preds",
        body={
          "inputs": [
            lit_example("Hi", " there", salience_methods=["integrated_gradients"], ig_steps=600)
          ]
        },
        model="_tiny_salience",
      ),
      400,
      "between 1 and 512, got 600",
    ),
    (
      dict(
        path="/get_preds",
        body={
          "inputs": [
            lit_example("Hi", " there", salience_methods=["integrated_gradients"], ig_steps=300)
          ]
        },
        model="_tiny_salience",
      ),
      413,
      "--max_ig_steps",
    ),
    (
      dict(
        path="/get_interpretations",
        body={"inputs": [junk]},
        model="tiny",
        dataset_name="sample_prompts",
        interpreter="nope",
      ),
      404,
      "Unknown interpreter",
    ),
    (
      dict(
        path="/create_model",
        body={"config": {"new_name": "x", "model_name_or_path": "/"}},
        model_name="Transformers LM",
      ),
      403,
      "not available on this hosted demo",
    ),
    (
      dict(
        path="/create_dataset",
        body={"config": {"new_name": "x", "path": "/etc/passwd"}},
        dataset_name="prompt_file",
      ),
      403,
      "not available",
    ),
    (
      dict(path="/get_preds", raw=b'{"inputs": ["' + b"x" * 70000 + b'"]}', model="_tiny_salience"),
      413,
      "--max_body_bytes",
    ),
    (dict(path="/seqsal/jobs/0123abcd", method="GET"), 404, "No job"),
    (dict(path="/no/such/page", method="GET"), 404, "No such page"),
  ]
  for kwargs, expected, fragment in cases:
    status, body, headers = hosted.call(**kwargs)
    _assert_clean_error(status, body, headers, expected, fragment)
  # The request id of an error is in the server log, for whoever reads it.
  status, body, headers = hosted.call("/get_preds", raw=b"{oops", model="_tiny_salience")
  deadline = time.monotonic() + 30
  while body["error"]["request_id"] not in hosted.log.read_text():  # the log is written after
    assert time.monotonic() < deadline, "the request id never reached the log"
    time.sleep(0.05)
  # And the server keeps serving.
  status, preds, _ = hosted.salience()
  assert status == 200 and len(preds[0]["tokens"]) == len(preds[0]["grad_l2"])


def test_security_headers_and_probes(hosted):
  status, page, headers = hosted.call("/", method="GET")
  assert status == 200 and "<seqsal-app>" in page
  policy = headers["Content-Security-Policy"]
  script_src = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
  assert (
    "'self'" in script_src and "unsafe-inline" not in script_src and "unsafe-eval" not in policy
  )
  assert "frame-ancestors 'self'" in policy
  assert headers["X-Content-Type-Options"] == "nosniff"
  assert headers["X-Frame-Options"] == "SAMEORIGIN"
  # LIT's client gets the script that shows our JSON errors as messages.
  status, page, headers = hosted.call("/lit/", method="GET")
  assert status == 200 and '<script src="lit_client_errors.js">' in page
  # ... and its fonts from this server, not Google's (the policy allows no other origin).
  assert "https://" not in page and 'href="lit-fonts/lit-fonts.css"' in page
  assert "https://" not in headers["Content-Security-Policy"]
  status, css, _ = hosted.call("/lit/lit-fonts/lit-fonts.css", method="GET")
  assert status == 200 and "font-family: 'Material Icons'" in css
  status, script, _ = hosted.call("/lit/lit_client_errors.js", method="GET")
  assert status == 200 and "request_id" in script
  # Traversal out of either client's directory.
  for probe in (
    "/../../etc/passwd",
    "/lit/../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/lit/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2fetc%2fpasswd",
  ):
    status, body, headers = hosted.call(probe, method="GET")
    assert status in (400, 404) and "root:" not in json.dumps(body), (probe, body)
  # LIT's endpoints that read or write server paths, or keep posted data.
  for path, params in [
    ("/save_datapoints", {"dataset_name": "sample_prompts", "path": "/tmp/x"}),
    ("/load_datapoints", {"dataset_name": "sample_prompts", "path": "/etc/passwd"}),
    ("/post_new_data", {"dataset_name": "sample_prompts"}),
    ("/remove_new_data", {"saved_datapoints_id": "x"}),
  ]:
    status, body, headers = hosted.call(path, {"inputs": [lit_example()]}, query_params=params)
    _assert_clean_error(status, body, headers, 403, "not available")


def test_budgets_are_refused_before_any_work(hosted):
  tokens = hosted.call(
    "/get_preds", {"inputs": [lit_example(LONG_PROMPT, TARGET)]}, model="_tiny_tokenizer"
  )[1][0]["tokens"]
  masks = []
  for k in range(9):  # one over --max_masks_per_request
    mask = [0] * len(tokens)
    mask[-1 - k] = 1
    masks.append(lit_example(LONG_PROMPT, TARGET, target_mask=mask))
  start = time.monotonic()
  status, body, headers = hosted.call("/get_preds", {"inputs": masks}, model="_tiny_salience")
  _assert_clean_error(status, body, headers, 413, "--max_masks_per_request")
  status, body, headers = hosted.salience(
    LONG_PROMPT, TARGET, salience_methods=["occlusion"], occlusion_granularity="tokens"
  )
  _assert_clean_error(status, body, headers, 413, "--max_occlusion_units")
  status, body, headers = hosted.call(
    "/get_interpretations",
    {"inputs": [lit_example(LONG_PROMPT, TARGET * 8)]},
    model="tiny",
    dataset_name="sample_prompts",
    interpreter="sequence_salience",
  )
  _assert_clean_error(status, body, headers, 413, "--max_map_outputs")
  assert time.monotonic() - start < 10
  # Within the budgets the same requests are served.
  status, body, _ = hosted.call("/get_preds", {"inputs": masks[:8]}, model="_tiny_salience")
  assert status == 200 and len(body) == 8
  status, body, _ = hosted.salience(
    LONG_PROMPT, TARGET, salience_methods=["occlusion"], occlusion_granularity="lines"
  )
  assert status == 200 and any(body[0]["occlusion"])


def test_light_requests_go_between_units_of_heavy_work_and_cancel_frees_the_model(hosted):
  """gunicorn's threads let a light request reach the app while a heavy job and a
  heavy request run, and the model lock gives it the model between their units
  (ordered by the job's progress: it has taken units; and by its end: it has
  not). The job's cost was judged before it ran, from the speed measured at start."""
  speed = hosted.call("/seqsal/info", method="GET")[1]["speed"]["tiny"]
  assert speed["warm_up_units"] == 8 and speed["gradient_s_per_row_token"] > 0
  job_id = hosted.start_job(masks=8)  # 2,048 units
  first = hosted.wait(job_id, lambda j: j["done"] > 0)
  assert first["state"] == "running" and first["total"] == 8 * IG_STEPS
  heavy = {}
  heavy_request = threading.Thread(
    target=lambda: heavy.update(
      answer=hosted.salience(
        LONG_PROMPT, TARGET, salience_methods=["integrated_gradients"], ig_steps=32
      )
    )
  )
  heavy_request.start()
  start = time.monotonic()
  status, preds, _ = hosted.salience()
  light_s = time.monotonic() - start
  assert status == 200 and len(preds[0]["grad_l2"]) == len(preds[0]["tokens"])
  running = hosted.job(job_id)
  assert running["state"] == "running" and running["done"] < running["total"], (
    "the light request waited for the whole job"
  )
  assert light_s < 10, light_s
  heavy_request.join(120)
  assert heavy["answer"][0] == 200
  # Cancel: the job stops at its next unit (one integration point each here).
  status, body, _ = hosted.call(f"/seqsal/jobs/{job_id}/cancel")
  assert status == 200
  at_cancel = body["job"]["done"]
  final = hosted.wait(job_id, lambda j: j["state"] != "running", timeout=30)
  assert final["state"] == "cancelled" and "cancelled" in final["error"]["message"]
  assert final["done"] <= at_cancel + 1 < final["total"]
  # The model is free again.
  assert hosted.salience(prompt="Headline:")[0] == 200
  # A job that runs to the end returns the same scores as a plain request.
  job_id = hosted.start_job(steps=8)
  done = hosted.wait(job_id, lambda j: j["state"] == "done")
  ex = lit_example(LONG_PROMPT, TARGET, salience_methods=["integrated_gradients"], ig_steps=8)
  status, direct, _ = hosted.call("/get_preds", {"inputs": [ex]}, model="_tiny_salience")
  assert status == 200 and done["result"] == direct


def test_full_queue_answers_429_then_recovers(hosted):
  jobs = [hosted.start_job() for _ in range(3)]  # --queue_per_model=3
  status, body, headers = hosted.salience(prompt="Busy?")
  _assert_clean_error(status, body, headers, 429, "--queue_per_model")
  assert int(headers["Retry-After"]) > 0
  for job_id in jobs:
    hosted.call(f"/seqsal/jobs/{job_id}", method="DELETE")
  for job_id in jobs:
    hosted.wait(job_id, lambda j: j["state"] == "cancelled", timeout=10)
  assert hosted.salience(prompt="Busy?")[0] == 200


def test_workers_starting_together_on_an_empty_cache_build_it_once(tmp_path):
  """Two processes ask for the same cached directory at once (as two gunicorn
  workers do for the converted bundled model): one builds it, the other waits,
  and both get the complete directory."""
  code = (
    "import sys, time, os\n"
    "from pathlib import Path\n"
    "from lit_seqsal.models import bundled\n"
    "def build(out):\n"
    "  with open(sys.argv[2], 'a') as log: log.write(f'{os.getpid()}\\n')\n"
    "  for i in range(5):\n"
    "    (out / f'part{i}').write_text('x' * 1000)\n"
    "    time.sleep(0.3)\n"
    "target = bundled.build_once(Path(sys.argv[1]), build, 'a test directory')\n"
    "print(sorted(p.name for p in target.iterdir()))\n"
  )
  target, builds = tmp_path / "cache" / "model", tmp_path / "builds.log"
  env = dict(os.environ, LIT_SEQSAL_CACHE=str(tmp_path / "cache"))
  procs = [
    subprocess.Popen(
      [sys.executable, "-c", code, str(target), str(builds)],
      cwd=REPO,
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for _ in range(2)
  ]
  outputs = [p.communicate(timeout=120) for p in procs]
  for proc, (out, err) in zip(procs, outputs):
    assert proc.returncode == 0, err
    assert out.strip().splitlines()[-1] == str(
      [".lit_seqsal_complete"] + [f"part{i}" for i in range(5)]
    )
  assert len(builds.read_text().split()) == 1  # built once
  assert any("waiting for it" in out for out, _ in outputs)
  assert sorted(p.name for p in target.parent.iterdir()) == [".locks", "model"]  # no leftovers
