"""Requests side by side: our threaded servers, the model between units, judged costs.

- The demo server and the notebook widget's server (lit_seqsal/serving/
  http_servers.py) handle requests on a bounded pool of threads: a light
  request completes while a heavy one runs, served between two of its units
  (ordered by events: a wrapper of the engine's primitive that holds heavy
  work until the light request waits for the model); a cancelled job frees the
  model at its next unit. gunicorn's: tests/test_hosted.py.
- A request or job the estimate puts over its time limit is refused at once.
- Many threads of mixed requests against one server each get their own
  correct answer, and the caches stay within their byte bounds.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from lit_seqsal import datasets, work
from lit_seqsal.serving import app as web_app
from lit_seqsal.serving import http_servers, layouts, lit_patches
from lit_seqsal.serving import lit_server as server
from lit_seqsal.work import limits as limits_lib
from lit_seqsal.work import units
from tests.helpers import free_port, get, lit_example, post

PROMPT = "Taste-likes: cheese, tomato.\nTaste-dislikes: onions.\nSuggestion: Onion soup\nAnalysis:"
TARGET = " it has onions."
_unique = itertools.count()


def _fresh(prompt: str = PROMPT) -> str:
  """A prompt no cache has seen (LIT's or ours), so the model really runs."""
  return f"{prompt} ({next(_unique)})"


def _engine(group):
  return next(iter(group.values())).engine


class HeavyProbe:
  """Wraps an engine's objectives primitive (each call is one unit) to order
  threads by events: heavy work's first unit waits until a light request waits
  for the model (or until `resume`, when given); its unit `hold_at` waits for
  `release`, so the heavy request is still running while the test looks."""

  def __init__(self, engine, *, hold_at: int = 3, resume: threading.Event | None = None):
    self.engine, self.hold_at, self.resume = engine, hold_at, resume
    self.heavy_started, self.release = threading.Event(), threading.Event()
    self.order: list[str] = []
    self.heavy_units = 0
    self._orig = engine._objectives

  def __enter__(self):
    self.engine._objectives = self
    return self

  def __exit__(self, *exc):
    self.release.set()
    del self.engine._objectives

  def __call__(self, embs, batch, gradients, alternatives):
    if work.current().priority == work.HEAVY:
      self.heavy_units += 1
      self.order.append(f"heavy {self.heavy_units}")
      if self.heavy_units == 1:
        self.heavy_started.set()
        if self.resume is not None:
          assert self.resume.wait(60)
        else:
          assert self.engine.lock.wait_for_waiters(1, timeout=60)  # the light request
      elif self.heavy_units == self.hold_at:
        self.release.wait(60)
    else:
      self.order.append("light")
    return self._orig(embs, batch, gradients, alternatives)


def _salience(url, prompt, target=TARGET, **fields):
  return post(
    url, "/get_preds", {"inputs": [lit_example(prompt, target, **fields)]}, model="_tiny_salience"
  )


def _ig_fields(steps=16):
  return {"salience_methods": ["integrated_gradients"], "ig_steps": steps}


def check_light_request_between_heavy_units(url: str, group) -> None:
  """A light request completes while a heavy one is running, served right after
  the heavy request's unit in progress; both answers are right."""
  engine = _engine(group)
  heavy_prompt, light_prompt = _fresh(), _fresh("Suggestion: Quiche\nAnalysis:")
  answers = {}
  with HeavyProbe(engine) as probe:
    heavy = threading.Thread(
      target=lambda: answers.update(heavy=_salience(url, heavy_prompt, **_ig_fields()))
    )
    heavy.start()
    assert probe.heavy_started.wait(60)
    answers["light"] = _salience(url, light_prompt)
    assert heavy.is_alive(), "the light request waited for the whole heavy one"
    probe.release.set()
    heavy.join(60)
  assert not heavy.is_alive()
  # The model went to the light request right after the heavy unit in progress.
  assert probe.order[:3] == ["heavy 1", "light", "heavy 2"], probe.order
  # The answers are those of the same requests on their own.
  sal = group["_tiny_salience"]
  sal.cache.clear()
  (light_alone,) = sal.predict([lit_example(light_prompt, TARGET)["data"]])
  np.testing.assert_allclose(answers["light"][0]["grad_l2"], light_alone["grad_l2"], rtol=1e-5)
  (heavy_alone,) = sal.predict([lit_example(heavy_prompt, TARGET, **_ig_fields())["data"]])
  scores = np.asarray(answers["heavy"][0]["integrated_gradients"])
  alone = heavy_alone["integrated_gradients"]
  np.testing.assert_allclose(scores, alone, atol=1e-5 * np.abs(alone).max())


def check_cancelled_job_frees_the_model_at_the_next_unit(url: str, group, jobs) -> None:
  engine = _engine(group)
  cancelled = threading.Event()
  with HeavyProbe(engine, resume=cancelled) as probe:
    ex = lit_example(_fresh(), TARGET, **_ig_fields(64))
    job = post(url, "/seqsal/jobs", {"inputs": [ex]}, model="_tiny_salience")["job"]
    assert probe.heavy_started.wait(60)
    status = post(url, f"/seqsal/jobs/{job['id']}/cancel")["job"]
    assert status["state"] == "running"
    cancelled.set()  # the unit in progress finishes
    assert jobs.get(job["id"]).ended.wait(60)
    assert probe.heavy_units == 1  # no unit after the cancel
  final = get(url, f"/seqsal/jobs/{job['id']}")["job"]
  assert final["state"] == "cancelled" and "cancelled" in final["error"]["message"]
  assert not engine.lock.held and engine.lock.waiting == 0
  assert len(_salience(url, _fresh())[0]["grad_l2"]) > 3  # the model serves again


# -- the demo server -----------------------------------------------------------


@pytest.fixture
def demo_server(tiny_group):
  """The demo server as `python -m lit_seqsal.demos.lm_salience --hosted` runs it
  (lit_server.Server with server_type "default"), in a thread."""
  srv = server.Server(
    **server.app_kwargs(dict(tiny_group), datasets.get_datasets(["sample_prompts"])),
    port=free_port(),
    host="127.0.0.1",
    server_type="default",
    hosted=True,
    threads=4,
    default_layout=layouts.LEFT_RIGHT,
  )
  thread = threading.Thread(target=srv.serve, daemon=True)
  thread.start()
  while srv.http_server is None:  # serve() builds the app (and measures the model) first
    threading.Event().wait(0.05)
  assert srv.http_server.started.wait(60)
  assert isinstance(srv.http_server, http_servers.DemoServer)
  yield f"http://127.0.0.1:{srv.http_server.port}", srv
  srv.http_server.stop()
  thread.join(30)


def test_demo_server_serves_a_light_request_between_heavy_units(demo_server, tiny_group):
  url, srv = demo_server
  assert srv.http_server.http.threads == 4
  check_light_request_between_heavy_units(url, tiny_group)
  check_cancelled_job_frees_the_model_at_the_next_unit(url, tiny_group, srv.app.jobs)


# -- the notebook widget's server ----------------------------------------------


def test_notebook_widget_serves_a_light_request_between_heavy_units(tiny_group):
  from lit_seqsal import notebook

  widget = notebook.SalienceWidget(
    models=dict(tiny_group), datasets=datasets.get_datasets(["sample_prompts"]), threads=3
  )
  try:
    assert isinstance(widget._server, http_servers.NotebookServer)
    url = widget.url.rstrip("/")
    check_light_request_between_heavy_units(url, tiny_group)
  finally:
    port = widget.port
    widget.stop()
  with pytest.raises(urllib.error.URLError):  # nothing serves there now
    urllib.request.urlopen(f"http://localhost:{port}/", timeout=5)


# -- the thread pool --------------------------------------------------------------


def test_threaded_server_runs_at_most_its_threads_at_once():
  inside, most, lock = [0], [0], threading.Lock()
  enough = threading.Event()

  def app(environ, start_response):
    with lock:
      inside[0] += 1
      most[0] = max(most[0], inside[0])
      if inside[0] == 2:
        enough.set()
    enough.wait(30)  # the first two wait for each other
    with lock:
      inside[0] -= 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]

  http = http_servers.ThreadedServer("127.0.0.1", free_port(), app, threads=2)
  thread = threading.Thread(target=http.serve_forever, daemon=True)
  thread.start()
  try:
    results = []
    clients = [
      threading.Thread(
        target=lambda: results.append(
          urllib.request.urlopen(f"http://127.0.0.1:{http.port}/", timeout=60).read()
        )
      )
      for _ in range(5)
    ]
    for c in clients:
      c.start()
    for c in clients:
      c.join(60)
    assert results == [b"ok"] * 5 and most[0] == 2
  finally:
    http.shutdown()
    thread.join(30)


# -- judged before it runs ------------------------------------------------------


def _known_speed() -> units.Throughput:
  """A model speed set by hand: 1 ms per row-token forward, 3 ms forward + backward."""
  speed = units.Throughput()
  for work_ in (100, 300):
    speed.observe(units.FORWARD, work_, 1, 1e-3 * work_)
    speed.observe(units.GRADIENT, work_, 1, 3e-3 * work_)
  return speed


@pytest.fixture
def hosted_app(tiny_group):
  limits = limits_lib.HOSTED.replace(request_time_limit_s=5, job_time_limit_s=20)
  app = web_app.SalienceApp(
    **server.app_kwargs(dict(tiny_group), datasets.get_datasets(["sample_prompts"])),
    default_layout=layouts.LEFT_RIGHT,
    client_root=server.LIT_CLIENT_ROOT,
    hosted=True,
    limits=limits,
  )
  http = http_servers.ThreadedServer("127.0.0.1", free_port(), app, threads=4)
  thread = threading.Thread(target=http.serve_forever, daemon=True)
  thread.start()
  engine = _engine(tiny_group)
  measured, engine.throughput = engine.throughput, _known_speed()
  yield f"http://127.0.0.1:{http.port}", app
  engine.throughput = measured
  http.shutdown()
  thread.join(30)


def _error(url, path, body, **params):
  query = "&".join(f"{k}={v}" for k, v in params.items())
  req = urllib.request.Request(
    f"{url}{path}?{query}", data=json.dumps(body).encode(), method="POST"
  )
  start = time.monotonic()
  with pytest.raises(urllib.error.HTTPError) as err:
    urllib.request.urlopen(req, timeout=60)
  return err.value.code, json.loads(err.value.read()), time.monotonic() - start


def test_requests_over_their_time_limit_are_refused_before_they_run(hosted_app, tiny_group):
  url, app = hosted_app
  engine = _engine(tiny_group)
  prompt = _fresh(PROMPT * 6)
  used = len(engine.encode(prompt + TARGET)) - 1  # the model runs up to the last target
  # 64 steps: 64 gradient rows of `used` tokens and 2 forward rows, at the speed
  # set by hand: over the request limit (5 s) and the job limit (20 s).
  expected = 64 * 3e-3 * used + 2 * 1e-3 * used
  assert expected > 20
  body = {"inputs": [lit_example(prompt, TARGET, **_ig_fields(64))]}
  with HeavyProbe(engine) as probe:
    status, error, seconds = _error(url, "/get_preds", body, model="_tiny_salience")
    assert probe.heavy_units == 0  # refused before any model work
  assert status == 413 and seconds < 1.0, error
  details = error["error"]["details"]
  assert details["estimate_s"] == pytest.approx(expected, rel=0.01)
  assert details["budget_s"] == 5 and details["limit"] == "request_time_limit_s"
  message = error["error"]["message"]
  assert "--request_time_limit_s" in message and "ig_steps" in message
  assert "run it as a job" in message
  # The same as a job: judged against the job limit, refused before it starts.
  status, error, seconds = _error(url, "/seqsal/jobs", body, model="_tiny_salience")
  assert status == 413 and seconds < 1.0, error
  assert error["error"]["details"]["limit"] == "job_time_limit_s"
  assert error["error"]["details"]["budget_s"] == 20
  # Under the limits, requests and jobs run.
  short = _fresh()
  assert 8 * 3e-3 * len(engine.encode(short + TARGET)) < 5
  preds = _salience(url, short, **_ig_fields(8))
  assert np.abs(preds[0]["integrated_gradients"]).max() > 0
  ex = lit_example(short, TARGET, **_ig_fields(64))
  job = post(url, "/seqsal/jobs", {"inputs": [ex]}, model="_tiny_salience")["job"]
  assert app.jobs.get(job["id"]).ended.wait(60)
  assert get(url, f"/seqsal/jobs/{job['id']}")["job"]["state"] == "done"


# -- many threads, one server -----------------------------------------------------


def _requests(prompts) -> list[tuple[str, dict, dict]]:
  """A mix of light and heavy requests: (path, body, params)."""
  sal = {"model": "_tiny_salience"}
  out = []
  for i, prompt in enumerate(prompts):
    plain = lit_example(prompt, TARGET)
    out.append(("/get_preds", {"inputs": [plain]}, sal))
    out.append(("/get_preds", {"inputs": [plain]}, {"model": "_tiny_tokenizer"}))
    if i % 2 == 0:
      out.append(("/get_preds", {"inputs": [lit_example(prompt, TARGET, **_ig_fields(8))]}, sal))
    else:
      occ = {"salience_methods": ["occlusion"], "occlusion_granularity": "words"}
      out.append(("/get_preds", {"inputs": [lit_example(prompt, TARGET, **occ)]}, sal))
  # Overlapping sets of examples (LIT's per-example prediction locks).
  a, b, c = (lit_example(p, TARGET) for p in prompts[:3])
  out += [("/get_preds", {"inputs": s}, sal) for s in ([a, b], [b], [a, b, c], [c, a])]
  return out


def _close(got, want) -> None:
  """Equal answers, up to float32 noise (rows batched with other rows or not)."""
  if isinstance(want, dict):
    assert set(got) == set(want)
    for k in want:
      _close(got[k], want[k])
  elif isinstance(want, list) and want and isinstance(want[0], (int, float)):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    np.testing.assert_allclose(got, want, atol=1e-5 * max(np.abs(want).max(), 1e-12))
  elif isinstance(want, list):
    assert len(got) == len(want)
    for g, w in zip(got, want):
      _close(g, w)
  elif isinstance(want, float):  # batched with other rows or not: float32 noise
    assert got == pytest.approx(want, rel=1e-5, abs=1e-7)
  else:
    assert got == want


def test_many_threads_of_mixed_requests_each_get_their_own_answer(tiny_group):
  app = web_app.SalienceApp(
    **server.app_kwargs(dict(tiny_group), datasets.get_datasets(["sample_prompts"])),
    default_layout=layouts.LEFT_RIGHT,
    client_root=server.LIT_CLIENT_ROOT,
  )
  http = http_servers.ThreadedServer("127.0.0.1", free_port(), app, threads=8)
  thread = threading.Thread(target=http.serve_forever, daemon=True)
  thread.start()
  url = f"http://127.0.0.1:{http.port}"
  prompts = [_fresh(f"Suggestion: dish {i}\nAnalysis:") for i in range(6)]
  requests = _requests(prompts)
  try:
    # Sequential answers first, each on its own.
    reference = [post(url, path, body, **params) for path, body, params in requests]
    # Then all at once, twice over, in a shuffled order, with small caches.
    sal_cache = tiny_group["_tiny_salience"].cache
    lit_caches = [
      wrapper._cache._d._lru
      for wrapper in lit_patches.components(app).models.values()
      if isinstance(getattr(wrapper, "_cache", None), object) and hasattr(wrapper, "_cache")
    ]
    bounded = [sal_cache, *lit_caches]
    before = [(c.max_bytes, c.bound_by_server) for c in bounded]
    for c in bounded:
      c.clear()
      # Ours holds a few masks' results (a request's own results evict each
      # other), LIT's a few requests' answers.
      c.max_bytes = 4_000 if c is sal_cache else 24_000
    order = list(range(len(requests))) * 2
    random.Random(0).shuffle(order)
    answers, failures, over = {}, [], []
    todo = iter(order)
    todo_lock = threading.Lock()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # more interleavings

    def client():
      while True:
        with todo_lock:
          i = next(todo, None)
        if i is None:
          return
        path, body, params = requests[i]
        try:
          answers.setdefault(i, []).append(post(url, path, body, **params))
        except Exception as e:  # noqa: BLE001 (collected: the test reports them all)
          failures.append((i, repr(e)))
        for c in bounded:
          size, _ = c.stats()
          if size > c.max_bytes:
            over.append(size)

    clients = [threading.Thread(target=client) for _ in range(12)]
    try:
      for c in clients:
        c.start()
      for c in clients:
        c.join(300)
    finally:
      sys.setswitchinterval(switch)
      for c, (max_bytes, _) in zip(bounded, before):
        c.max_bytes = max_bytes
    assert not failures, failures
    assert not over
    assert sorted(answers) == list(range(len(requests)))
    for i, got in answers.items():
      for answer in got:
        _close(answer, reference[i])
    assert sal_cache.bytes > 0  # the caches were used, and evicted
  finally:
    http.shutdown()
    thread.join(30)


def test_lits_prediction_lock_table_is_safe_on_many_threads():
  """LIT's PredsCache changes its table of prediction locks from every thread
  without a lock ("dictionary changed size during iteration", KeyError) unless
  lit_patches makes its three methods atomic."""
  from lit_nlp.lib import caching

  cache = caching.PredsCache("m")
  lit_patches.thread_safe_pred_locks(cache)
  failures = []

  def hammer(seed):
    rng = random.Random(seed)
    for _ in range(8000):
      keys = [("m", f"id{rng.randint(0, 200)}") for _ in range(rng.randint(1, 3))]
      try:
        with cache.get_pred_lock(keys):
          pass
        cache.delete_pred_lock(keys)
      except Exception as e:  # noqa: BLE001 (collected)
        failures.append(repr(e))

  switch = sys.getswitchinterval()
  sys.setswitchinterval(1e-6)
  try:
    threads = [threading.Thread(target=hammer, args=(s,)) for s in range(8)]
    for t in threads:
      t.start()
    for t in threads:
      t.join()
  finally:
    sys.setswitchinterval(switch)
  assert not failures, failures[:3]
