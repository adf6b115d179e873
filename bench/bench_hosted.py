"""Load test of the hosted demo: gunicorn on the bundled model, simulated visitors.

  .venv/bin/python bench/bench_hosted.py [--visitors 32] [--seconds 120]

Starts gunicorn with demos/deploy/gunicorn_config.py (hosted mode, the bundled Gemma 3
270M) and runs C simulated visitors for T seconds with a realistic mix:
gradient salience of short prompts (most requests), generation, a few costly
jobs (integrated gradients, polled to the end, some cancelled), and some bad
requests. Prints requests/s, p50/p95/p99 latency per kind, responses by status
(goal: no 5xx), the light requests' p95 while a heavy job runs against an idle
server's (goal: within 2x), and the worker's resident memory at start and end
(goal: bounded). gunicorn's log goes to bench/results/bench_hosted.gunicorn.log.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
MODEL = "gemma"
WORDS = ("soup", "cake", "tacos", "salad", "curry", "pasta", "stew", "pie", "rice", "bread")


def request(url, path, body=None, method="POST", params="", timeout=300):
  """(status, parsed JSON or None, seconds)."""
  data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
  req = urllib.request.Request(
    f"{url}{path}{'?' + params if params else ''}",
    data=data,
    method=method,
    headers={"Content-Type": "application/json"},
  )
  start = time.perf_counter()
  try:
    with urllib.request.urlopen(req, timeout=timeout) as resp:
      status, text = resp.status, resp.read()
  except urllib.error.HTTPError as e:
    status, text = e.code, e.read()
  except (urllib.error.URLError, ConnectionError, TimeoutError):
    return 0, None, time.perf_counter() - start
  elapsed = time.perf_counter() - start
  try:
    return status, json.loads(text), elapsed
  except ValueError:
    return status, None, elapsed


def example(prompt, target="", **extra):
  return {"id": "", "meta": {}, "data": {"prompt": prompt, "target": target, **extra}}


def short_prompt(rng):
  dish = " ".join(rng.sample(WORDS, 2))
  return (
    f"Taste-likes: {rng.choice(WORDS)}\nSuggestion: {dish}\nAnalysis:",
    " it has onions.\nRecommendation: Avoid.",
  )


def long_prompt():
  from lit_seqsal import datasets

  ex = {e["source"]: e for e in datasets.read_examples(datasets.sample_prompts_path())}
  return ex["fewshot-mistake"]["prompt"], ex["fewshot-mistake"]["target"]


class Stats:
  def __init__(self):
    self.lock = threading.Lock()
    self.latency = defaultdict(list)
    self.status = Counter()
    self.by_kind_status = defaultdict(Counter)

  def add(self, kind, status, seconds):
    with self.lock:
      self.latency[kind].append(seconds)
      self.status[status] += 1
      self.by_kind_status[kind][status] += 1


def light(url, rng):
  prompt, target = short_prompt(rng)
  return request(
    url, "/get_preds", {"inputs": [example(prompt, target)]}, params=f"model=_{MODEL}_salience"
  )


def run_job(url, prompt, target, steps, cancel_after=None):
  """Starts an IG job and polls it to the end; (final state, seconds)."""
  start = time.perf_counter()
  ex = example(prompt, target, salience_methods=["integrated_gradients"], ig_steps=steps)
  status, body, _ = request(
    url, "/seqsal/jobs", {"inputs": [ex]}, params=f"model=_{MODEL}_salience"
  )
  if status != 202:
    return f"refused {status}", time.perf_counter() - start
  job_id = body["job"]["id"]
  while True:
    time.sleep(0.5)
    if cancel_after is not None and time.perf_counter() - start > cancel_after:
      request(url, f"/seqsal/jobs/{job_id}/cancel")
      cancel_after = None
    status, body, _ = request(url, f"/seqsal/jobs/{job_id}", method="GET", body=b"")
    if status != 200 or body["job"]["state"] in ("done", "failed", "cancelled"):
      return (body or {}).get("job", {}).get("state", f"poll {status}"), time.perf_counter() - start


BAD = [
  (b"{not json", "model=_gemma_salience"),
  (json.dumps({"inputs": [example("Hi", " there")]}).encode(), "model=no_such_model"),
  (json.dumps({"inputs": [example("word " * 2000, " x")]}).encode(), "model=_gemma_salience"),
  (
    json.dumps(
      {
        "inputs": [
          example("Hi", " there", salience_methods=["integrated_gradients"], ig_steps=4096)
        ]
      }
    ).encode(),
    "model=_gemma_salience",
  ),
]


def visitor(url, stats, stop_at, seed, long_ex):
  rng = random.Random(seed)
  while time.time() < stop_at:
    roll = rng.random()
    if roll < 0.60:
      status, _, s = light(url, rng)
      stats.add("salience (short prompt)", status, s)
    elif roll < 0.75:
      prompt, _ = short_prompt(rng)
      status, _, s = request(
        url, "/get_preds", {"inputs": [example(prompt)]}, params=f"model={MODEL}"
      )
      stats.add("generation", status, s)
    elif roll < 0.80:
      state, s = run_job(
        url, long_ex[0], long_ex[1], steps=16, cancel_after=3 if rng.random() < 0.3 else None
      )
      if state.startswith("refused "):  # admission control answered the start
        status = int(state.split()[1])
      else:
        status = 200 if state in ("done", "cancelled") else 0
      stats.add(f"IG job ({state})", status, s)
    else:
      body, params = rng.choice(BAD)
      status, _, s = request(url, "/get_preds", body, params=params)
      stats.add("bad request", status, s)
    time.sleep(rng.uniform(0.5, 2.0))


def percentile(values, q):
  values = sorted(values)
  return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def worker_rss_mib(master: psutil.Process) -> float:
  procs = master.children(recursive=True) or [master]
  return sum(p.memory_info().rss for p in procs) / 2**20


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--visitors", type=int, default=32)
  parser.add_argument("--seconds", type=float, default=120)
  parser.add_argument("--port", type=int, default=18765)
  args = parser.parse_args()

  url = f"http://127.0.0.1:{args.port}"
  env = dict(
    os.environ,
    PORT=str(args.port),
    LIT_SEQSAL_ARGS=f"--models={MODEL}:bundled",
    PYTHONUNBUFFERED="1",
  )
  gunicorn = Path(sys.executable).with_name("gunicorn")
  log_path = REPO / "bench" / "results" / "bench_hosted.gunicorn.log"  # ignored by git
  log_path.parent.mkdir(parents=True, exist_ok=True)
  with open(log_path, "w") as log:  # the server keeps its own copy of the file
    proc = subprocess.Popen(
      [str(gunicorn), "-c", "demos/deploy/gunicorn_config.py"],
      cwd=REPO,
      env=env,
      stdout=log,
      stderr=subprocess.STDOUT,
    )
  try:
    deadline = time.time() + 600
    while request(url, "/get_info", timeout=5)[0] != 200:
      if proc.poll() is not None or time.time() > deadline:
        raise SystemExit(f"gunicorn did not start; see {log_path}")
      time.sleep(2)
    master = psutil.Process(proc.pid)
    rng = random.Random(0)
    long_ex = long_prompt()
    for _ in range(3):  # warm-up: first calls allocate
      light(url, rng)
    rss_start = worker_rss_mib(master)

    # Light requests on an idle server, then while a heavy job runs.
    idle = [light(url, rng)[2] for _ in range(15)]
    busy, job_result = [], {}
    job = threading.Thread(
      target=lambda: job_result.update(state=run_job(url, long_ex[0], long_ex[1], steps=64))
    )
    job.start()
    time.sleep(2)
    while job.is_alive() and len(busy) < 15:
      busy.append(light(url, rng)[2])
    job.join()

    stats = Stats()
    stop_at = time.time() + args.seconds
    start = time.perf_counter()
    threads = [
      threading.Thread(target=visitor, args=(url, stats, stop_at, seed, long_ex))
      for seed in range(args.visitors)
    ]
    for t in threads:
      t.start()
    for t in threads:
      t.join()
    wall = time.perf_counter() - start
    rss_end = worker_rss_mib(master)
  finally:
    proc.terminate()
    proc.wait(timeout=60)

  total = sum(len(v) for v in stats.latency.values())
  print(
    f"gunicorn (demos/deploy/gunicorn_config.py), bundled Gemma 3 270M, {args.visitors} visitors,"
    f" {args.seconds:g} s, 2-core CPU"
  )
  print(f"{total} requests in {wall:.0f} s: {total / wall:.2f} requests/s")
  print(f"{'kind':32} {'n':>5} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7}  statuses")
  for kind in sorted(stats.latency):
    values = stats.latency[kind]
    codes = ", ".join(f"{k}: {v}" for k, v in sorted(stats.by_kind_status[kind].items()))
    print(
      f"{kind:32} {len(values):5d} {percentile(values, 0.5):7.2f} {percentile(values, 0.95):7.2f}"
      f" {percentile(values, 0.99):7.2f}  {codes}"
    )
  fivexx = sum(v for k, v in stats.status.items() if k >= 500 or k == 0)
  print("responses by status:", dict(sorted(stats.status.items())), f"(5xx or no answer: {fivexx})")
  p95_idle, p95_busy = percentile(idle, 0.95), percentile(busy, 0.95)
  print(
    f"light salience p95: idle {p95_idle:.2f} s, while an IG job runs {p95_busy:.2f} s"
    f" ({p95_busy / p95_idle:.2f}x; job {job_result.get('state')}; {len(busy)} requests)"
  )
  print(
    f"worker RSS: {rss_start:.0f} MiB at start, {rss_end:.0f} MiB at the end"
    f" ({rss_end / rss_start:.2f}x)"
  )


if __name__ == "__main__":
  main()
