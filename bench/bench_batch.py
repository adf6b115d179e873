"""Speed of the batch command (python -m lit_seqsal.attribute) on the bundled model.

  .venv/bin/python bench/bench_batch.py [--examples 260] [--batch_size 4] [--no_ray]

The `sample_prompts` examples (with their targets) repeated to --examples, each
made distinct by a numbered first line so that no two share a computation.
Each configuration runs in its own process, one after the other, on the same
examples (gradient methods, sentence segments, paragraph regions):

- loop: the salience model called on one example at a time (a fresh cache per call);
- batch: the batch command's local path (chunks of --batch_size examples of similar length);
- ray 1: the batch command on a local Ray cluster, 1 worker with 2 CPUs;
- ray 2: the same with 2 workers of 1 CPU each.

It prints examples/s (model loading and cluster start excluded; the time to
first result is shown apart), ratios against the loop measured in this run,
the peak resident memory of each process tree (Ray workers included), and a
projection of the time for 10,000 prompts on N workers from the measured
per-example cost.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MODES = ("loop", "batch", "ray1", "ray2")
LABELS = {"loop": "salience model, one example at a time",
          "batch": "batch command, local",
          "ray1": "batch command, Ray, 1 worker x 2 CPUs",
          "ray2": "batch command, Ray, 2 workers x 1 CPU"}


def make_dataset(path: Path, n: int) -> str:
  from lit_seqsal import datasets  # pylint: disable=g-import-not-at-top

  base = datasets.read_examples(datasets.sample_prompts_path())
  with open(path, "w", encoding="utf-8") as f:
    for i in range(n):
      ex = dict(base[i % len(base)])
      ex["prompt"] = f"Example {i}.\n{ex['prompt']}"
      f.write(json.dumps(ex) + "\n")
  return str(path)


class PeakMemory:
  """Peak summed RSS of this process and all its descendants, sampled every 0.2 s."""

  def __init__(self):
    self.peak = 0
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)
    self._thread.start()

  def _run(self):
    me = psutil.Process()
    while not self._stop.is_set():
      total = 0
      for p in [me] + me.children(recursive=True):
        try:
          total += p.memory_info().rss
        except psutil.Error:
          pass
      self.peak = max(self.peak, total)
      self._stop.wait(0.2)

  def stop(self) -> int:
    self._stop.set()
    self._thread.join()
    return self.peak


def run_mode(mode: str, data: str, out_dir: str, batch_size: int) -> dict:
  """One configuration, in this process; returns its measurements."""
  from lit_seqsal.batch import run as run_lib  # pylint: disable=g-import-not-at-top
  from lit_seqsal.options import ModelOptions  # pylint: disable=g-import-not-at-top

  memory = PeakMemory()
  start = time.perf_counter()
  config = run_lib.BatchConfig(
      models=("gemma:bundled",), datasets=(f"bench:{data}",),
      out=os.path.join(out_dir, f"{mode}.jsonl"), options=ModelOptions(batch_size=batch_size),
      regions=("paragraphs",), overwrite=True)
  stamps = []
  if mode == "loop":
    groups = run_lib.load_groups(config)
    group = groups["gemma"]
    examples, _ = run_lib.load_examples(config)
    ready = time.perf_counter()
    for ex in examples:
      fresh = type(group.salience)(group.engine)  # no cache shared between calls
      fresh.predict([{"prompt": ex.prompt, "target": ex.target}])
      stamps.append((time.perf_counter(), 1))
    done = len(examples)
  else:
    ray_options = None
    if mode == "ray1":
      ray_options = {"num_workers": 1, "cpus_per_worker": 2}
    elif mode == "ray2":
      ray_options = {"num_workers": 2, "cpus_per_worker": 1}
    groups = None if ray_options else run_lib.load_groups(config)
    ready = time.perf_counter()
    result = run_lib.run(config, ray_options=ray_options, groups=groups,
                         on_chunk=lambda records: stamps.append((time.perf_counter(),
                                                                 len(records))),
                         stream=open(os.devnull, "w"))
    done = result.computed
    assert not result.errors, result.errors[:2]
  end = time.perf_counter()
  peak = memory.stop()
  # Steady rate: from the first result to the last (startup, loading and warm-up apart).
  first_t, first_n = stamps[0]
  steady = (done - first_n) / (end - first_t) if end > first_t and done > first_n else float("nan")
  return {"mode": mode, "examples": done, "load_s": ready - start,
          "first_result_s": first_t - ready, "compute_s": end - ready,
          "rate": done / (end - ready), "steady_rate": steady, "peak_rss": peak}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--examples", type=int, default=260)
  parser.add_argument("--batch_size", type=int, default=4)
  parser.add_argument("--modes", default=",".join(MODES))
  parser.add_argument("--no_ray", action="store_true", help="skip the Ray configurations")
  parser.add_argument("--mode", help=argparse.SUPPRESS)  # internal: one configuration
  parser.add_argument("--data", help=argparse.SUPPRESS)
  parser.add_argument("--out_dir", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.mode:
    print(json.dumps(run_mode(args.mode, args.data, args.out_dir, args.batch_size)))
    return

  modes = [m for m in args.modes.split(",") if m and not (args.no_ray and m.startswith("ray"))]
  with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
    data = make_dataset(Path(tmp) / "bench.jsonl", args.examples)
    results = {}
    for mode in modes:  # one at a time: never two heavy runs at once
      proc = subprocess.run(
          [sys.executable, __file__, f"--mode={mode}", f"--data={data}", f"--out_dir={tmp}",
           f"--batch_size={args.batch_size}"],
          cwd=REPO, capture_output=True, text=True,
          env=dict(os.environ, PYTHONPATH=str(REPO)))
      if proc.returncode != 0:
        print(f"{mode}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
        continue
      results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
      print(f"  {mode}: {results[mode]['rate']:.3f} ex/s", file=sys.stderr)

  cpu = psutil.cpu_count()
  print(f"bench_batch: {args.examples} examples (sample_prompts, made distinct), bundled"
        f" Gemma 3 270M, float32, batch_size {args.batch_size}, {cpu} CPUs,"
        f" load average {os.getloadavg()[0]:.1f}")
  print("| configuration | examples/s | steady examples/s | vs loop | first result | load |"
        " peak memory |")
  print("|---|---:|---:|---:|---:|---:|---:|")
  base = results.get("loop", {}).get("rate")
  for mode, r in results.items():
    ratio = f"{r['rate'] / base:.2f}x" if base else "–"
    print(f"| {LABELS[mode]} | {r['rate']:.3f} | {r['steady_rate']:.3f} | {ratio} |"
          f" {r['first_result_s']:.1f} s | {r['load_s']:.1f} s |"
          f" {r['peak_rss'] / 2**30:.2f} GiB |")
  if "batch" in results:
    cost = 1 / results["batch"]["steady_rate"]
    print(f"\nProjection (not a measurement): 10,000 prompts at the measured {cost:.2f} s per"
          " example per worker of this kind, with perfect scaling over N workers, plus each"
          " worker's start-up:")
    for n in (1, 2, 4, 8, 16):
      print(f"  N={n:>2}: {10_000 * cost / n / 3600:6.2f} h")


if __name__ == "__main__":
  main()
