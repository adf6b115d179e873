"""Load test of the hosted demo: light requests while heavy work runs, then simulated visitors.

  .venv/bin/python bench/bench_hosted.py [--server both] [--seconds 120] [--visitors 32]

For each server (`demo`: `python -m lit_seqsal.demos.lm_salience --hosted`;
`gunicorn`: demos/deploy/gunicorn_config.py; `both` runs one after the other),
on the bundled Gemma 3 270M:

1. Fairness. Light requests (gradient salience of a short prompt), one at a
   time, first on the idle server, then while one heavy integrated-gradients
   request and one integrated-gradients job run on a long prompt (until they
   end, or --seconds; each at half the steps while the server's estimate
   refuses it on this machine). Prints light p50/p95 idle and busy, and the unit time
   (the longest and median unit of model work the server measured, from
   /seqsal/info). Goal: busy p95 within 2x idle p95, or, where one unit is
   itself longer than an idle light request, idle p95 plus one unit.
2. Judged before it runs: a request the server's estimate puts over its time
   limit (--request_time_limit_s) is refused with 413 at once (goal: < 1 s).
3. Visitors (--visitors for --seconds): a mix of short-prompt salience,
   generation, integrated-gradients jobs (some cancelled) and bad requests.
   Prints requests/s, p50/p95/p99 per kind, responses by status (goal: no
   5xx) and the server's resident memory at start and end.

Server logs go to bench/results/bench_hosted.<server>.log. A short check:
`--seconds 20 --visitors 4 --light 5`.
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
    data=None if method == "GET" else data,
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
    f"Taste-likes: {rng.choice(WORDS)} {rng.randrange(10**6)}\nSuggestion: {dish}\nAnalysis:",
    " it has onions.\nRecommendation: Avoid.",
  )


def long_prompt():
  from lit_seqsal import datasets

  ex = {e["source"]: e for e in datasets.read_examples(datasets.sample_prompts_path())}
  return ex["fewshot-mistake"]["prompt"], ex["fewshot-mistake"]["target"]


def ig(prompt, target, steps):
  return example(prompt, target, salience_methods=["integrated_gradients"], ig_steps=steps)


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
  """A light request no cache has seen (a fresh number in the prompt)."""
  prompt, target = short_prompt(rng)
  return request(
    url, "/get_preds", {"inputs": [example(prompt, target)]}, params=f"model=_{MODEL}_salience"
  )


def run_job(url, ex, cancel_after=None, stop: threading.Event | None = None):
  """Starts a job and polls it to the end (cancelled after `cancel_after` s or
  when `stop` is set); (final state, seconds)."""
  start = time.perf_counter()
  status, body, _ = request(
    url, "/seqsal/jobs", {"inputs": [ex]}, params=f"model=_{MODEL}_salience"
  )
  if status != 202:
    return f"refused {status}", time.perf_counter() - start
  job_id = body["job"]["id"]
  while True:
    time.sleep(0.5)
    if (cancel_after is not None and time.perf_counter() - start > cancel_after) or (
      stop is not None and stop.is_set()
    ):
      request(url, f"/seqsal/jobs/{job_id}/cancel")
      cancel_after, stop = None, None
    status, body, _ = request(url, f"/seqsal/jobs/{job_id}", method="GET")
    if status != 200 or body["job"]["state"] in ("done", "failed", "cancelled"):
      return (body or {}).get("job", {}).get("state", f"poll {status}"), time.perf_counter() - start


BAD = [
  (b"{not json", f"model=_{MODEL}_salience"),
  (json.dumps({"inputs": [example("Hi", " there")]}).encode(), "model=no_such_model"),
  (json.dumps({"inputs": [example("word " * 2000, " x")]}).encode(), f"model=_{MODEL}_salience"),
  (json.dumps({"inputs": [ig("Hi", " there", 4096)]}).encode(), f"model=_{MODEL}_salience"),
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
      state, s = run_job(url, ig(*long_ex, 16), cancel_after=3 if rng.random() < 0.3 else None)
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


def server_rss_mib(proc: psutil.Process) -> float:
  procs = [proc, *proc.children(recursive=True)]
  return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20


def start_server(kind: str, port: int, log_path: Path) -> subprocess.Popen:
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  if kind == "gunicorn":
    env.update(PORT=str(port), HOST="127.0.0.1", LIT_SEQSAL_ARGS=f"--models={MODEL}:bundled")
    cmd = [str(Path(sys.executable).with_name("gunicorn")), "-c", "demos/deploy/gunicorn_config.py"]
  else:
    cmd = [
      sys.executable,
      "-m",
      "lit_seqsal.demos.lm_salience",
      "--hosted",
      f"--port={port}",
      f"--models={MODEL}:bundled",
    ]
  with open(log_path, "w") as log:  # the server keeps its own copy of the file
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def heavy_request(url, long_ex, steps) -> tuple:
  """An IG request on the long prompt; at half the steps while the server's
  estimate refuses it (413: over --request_time_limit_s on this machine).
  (status, seconds, steps)."""
  while True:
    status, _, seconds = request(
      url, "/get_preds", {"inputs": [ig(*long_ex, steps)]}, params=f"model=_{MODEL}_salience"
    )
    if status != 413 or steps == 1:
      return status, seconds, steps
    steps //= 2


def heavy_job(url, long_ex, steps, stop) -> tuple:
  """An IG job on the long prompt, halved while refused; (state, seconds, steps)."""
  while True:
    state, seconds = run_job(url, ig(*long_ex, steps), stop=stop)
    if state != "refused 413" or steps == 1:
      return state, seconds, steps
    steps //= 2


def fairness(url, rng, long_ex, args) -> dict:
  """Light requests idle, then while a heavy IG request and an IG job run."""
  idle = [light(url, rng)[2] for _ in range(args.light)]
  heavy, stop = {}, threading.Event()
  request_thread = threading.Thread(
    target=lambda: heavy.update(request=heavy_request(url, long_ex, args.heavy_steps))
  )
  job_thread = threading.Thread(
    target=lambda: heavy.update(job=heavy_job(url, long_ex, args.job_steps, stop))
  )
  request_thread.start()
  job_thread.start()
  time.sleep(5)  # both have been judged and started their first units
  busy, deadline = [], time.time() + args.seconds
  while (request_thread.is_alive() or job_thread.is_alive()) and time.time() < deadline:
    status, _, seconds = light(url, rng)
    if status == 200:
      busy.append(seconds)
  stop.set()
  request_thread.join()
  job_thread.join()
  status, info, _ = request(url, "/seqsal/info", method="GET")
  speed = (info or {}).get("speed", {}).get(MODEL, {})
  # Judged before it runs: the same IG at the most steps a request may ask for,
  # on a prompt three times as long, is over the compute limit on a CPU.
  limit = (info or {}).get("limits", {})
  refused = request(
    url,
    "/get_preds",
    {"inputs": [ig(long_ex[0] * 3, long_ex[1], limit.get("max_ig_steps", 64))]},
    params=f"model=_{MODEL}_salience",
  )
  return dict(idle=idle, busy=busy, heavy=heavy, speed=speed, refused=refused, limits=limit)


def report_fairness(kind: str, f: dict) -> None:
  idle_p50, idle_p95 = percentile(f["idle"], 0.5), percentile(f["idle"], 0.95)
  busy_p50, busy_p95 = percentile(f["busy"], 0.5), percentile(f["busy"], 0.95)
  unit_max, unit_median = f["speed"].get("unit_s_max"), f["speed"].get("unit_s_median")
  print(f"[{kind}] light salience, {len(f['idle'])} idle and {len(f['busy'])} busy requests:")
  print(f"  idle p50 {idle_p50:.2f} s, p95 {idle_p95:.2f} s")
  print(
    f"  busy p50 {busy_p50:.2f} s, p95 {busy_p95:.2f} s ({busy_p95 / idle_p95:.2f}x idle p95)"
    f" while an IG request and an IG job ran"
  )
  for name, (outcome, seconds, steps) in sorted(f["heavy"].items()):
    print(f"  heavy {name}: {steps} IG steps, {outcome} in {seconds:.1f} s")
  if unit_max is not None:
    goal = max(2 * idle_p95, idle_p95 + unit_max)
    print(
      f"  unit of model work (server-measured, last {f['speed'].get('units_measured')} units):"
      f" median {unit_median:.2f} s, max {unit_max:.2f} s;"
      f" speed {f['speed'].get('forward_s_per_row_token', 0) * 1e3:.2f} ms/row-token forward,"
      f" {f['speed'].get('gradient_s_per_row_token', 0) * 1e3:.2f} ms forward+backward"
    )
    print(
      f"  goal: busy p95 <= max(2 x idle p95, idle p95 + one unit) = {goal:.2f} s:"
      f" {'met' if busy_p95 <= goal else 'NOT met'}"
    )
  status, body, seconds = f["refused"]
  details = ((body or {}).get("error") or {}).get("details", {})
  print(
    f"  over-budget request: {status} in {seconds:.2f} s"
    f" (estimate {details.get('estimate_s', '?')} s, budget {details.get('budget_s', '?')} s)"
  )


def visitors(url, long_ex, args) -> tuple[Stats, float]:
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
  return stats, time.perf_counter() - start


def report_visitors(kind: str, stats: Stats, wall: float, rss: tuple[float, float]) -> None:
  total = sum(len(v) for v in stats.latency.values())
  print(f"[{kind}] visitors: {total} requests in {wall:.0f} s: {total / wall:.2f} requests/s")
  print(f"  {'kind':32} {'n':>5} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7}  statuses")
  for name in sorted(stats.latency):
    values = stats.latency[name]
    codes = ", ".join(f"{k}: {v}" for k, v in sorted(stats.by_kind_status[name].items()))
    print(
      f"  {name:32} {len(values):5d} {percentile(values, 0.5):7.2f}"
      f" {percentile(values, 0.95):7.2f} {percentile(values, 0.99):7.2f}  {codes}"
    )
  fivexx = sum(v for k, v in stats.status.items() if k >= 500 or k == 0)
  print("  responses by status:", dict(sorted(stats.status.items())), f"(5xx or none: {fivexx})")
  print(f"  server RSS: {rss[0]:.0f} MiB at start, {rss[1]:.0f} MiB at the end")


def bench(kind: str, args) -> None:
  url = f"http://127.0.0.1:{args.port}"
  log_path = REPO / "bench" / "results" / f"bench_hosted.{kind}.log"  # ignored by git
  log_path.parent.mkdir(parents=True, exist_ok=True)
  proc = start_server(kind, args.port, log_path)
  try:
    deadline = time.time() + 900
    while request(url, "/get_info", timeout=5)[0] != 200:
      if proc.poll() is not None or time.time() > deadline:
        raise SystemExit(f"{kind} did not start; see {log_path}")
      time.sleep(2)
    server = psutil.Process(proc.pid)
    rng = random.Random(0)
    long_ex = long_prompt()
    for _ in range(3):  # warm-up: first calls allocate
      light(url, rng)
    rss_start = server_rss_mib(server)
    report_fairness(kind, fairness(url, rng, long_ex, args))
    if args.visitors:
      stats, wall = visitors(url, long_ex, args)
      report_visitors(kind, stats, wall, (rss_start, server_rss_mib(server)))
  finally:
    proc.terminate()
    proc.wait(timeout=120)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--server", choices=("demo", "gunicorn", "both"), default="both")
  parser.add_argument(
    "--seconds", type=float, default=120, help="visitor phase; busy phase at most"
  )
  parser.add_argument("--visitors", type=int, default=32, help="0: no visitor phase")
  parser.add_argument("--light", type=int, default=15, help="idle light requests")
  parser.add_argument("--heavy_steps", type=int, default=16, help="the heavy request's IG steps")
  parser.add_argument("--job_steps", type=int, default=64, help="the heavy job's IG steps")
  parser.add_argument("--port", type=int, default=18765)
  args = parser.parse_args()
  print(
    f"bench_hosted: bundled Gemma 3 270M, hosted mode, {os.cpu_count()} CPUs;"
    f" --seconds {args.seconds:g} --visitors {args.visitors} --light {args.light}"
  )
  for kind in ("demo", "gunicorn") if args.server == "both" else (args.server,):
    bench(kind, args)


if __name__ == "__main__":
  main()
