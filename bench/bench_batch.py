"""Speed of the batch command (python -m lit_seqsal.attribute) on the bundled model.

  .venv/bin/python bench/bench_batch.py [--examples 260] [--batch_size 4] [--no_ray]

The `sample_prompts` examples (with their targets) repeated to --examples, each
made distinct by a numbered first line so that no two share a computation.
Each configuration runs in its own process, one after the other, on the same
examples (gradient methods, sentence segments, paragraph regions):

- interleaved: one process, one model, and for each chunk of --batch_size
  examples of similar length (as the batch command forms them) in turn: the
  batch command's computation of the chunk (run.compute_chunk: one salience
  call, tokens, span, segments, regions) and the salience model called on each
  of its examples alone (a fresh cache per call), alternating which goes
  first. Both see the same machine load, so their ratio holds on a shared
  machine whose load drifts;
- loop: the salience model on one example at a time, alone in its process;
- batch: the whole batch command (run.run: plan, chunks, writes, regions);
- ray1: the batch command on a local Ray cluster, 1 worker with 2 CPUs;
- ray2: the same with 2 workers of 1 CPU each.

It prints examples/s (model loading and cluster start excluded; the time to
first result is shown apart), the peak resident memory of each process tree
(Ray workers included), the load average before and after each configuration
(other work on the machine), ratios measured in this run, and a projection of
the time for 10,000 prompts on N workers from the measured per-example cost.
"""

from __future__ import annotations

import argparse
import contextlib
import io
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
MODES = ("interleaved", "loop", "batch", "ray1", "ray2")
DEFAULT_MODES = ("interleaved", "batch", "ray1", "ray2")
LABELS = {
  "interleaved_loop": "interleaved: salience model, one example at a time",
  "interleaved_batch": "interleaved: batch command's chunk computation",
  "loop": "salience model, one example at a time",
  "batch": "batch command, local",
  "ray1": "batch command, Ray, 1 worker x 2 CPUs",
  "ray2": "batch command, Ray, 2 workers x 1 CPU",
}


def make_dataset(path: Path, n: int) -> str:
  from lit_seqsal import datasets

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
        with contextlib.suppress(psutil.Error):
          total += p.memory_info().rss
      self.peak = max(self.peak, total)
      self._stop.wait(0.2)

  def stop(self) -> int:
    self._stop.set()
    self._thread.join()
    return self.peak


def run_mode(mode: str, data: str, out_dir: str, batch_size: int) -> dict:
  """One configuration, in this process; returns its measurements."""
  from lit_seqsal.batch import chunk as chunk_lib
  from lit_seqsal.batch import config as config_lib
  from lit_seqsal.batch import examples as examples_lib
  from lit_seqsal.batch import run as run_lib
  from lit_seqsal.options import ModelOptions

  memory = PeakMemory()
  load_before = os.getloadavg()[0]
  start = time.perf_counter()
  config = config_lib.BatchConfig(
    models=("gemma:bundled",),
    datasets=(f"bench:{data}",),
    out=os.path.join(out_dir, f"{mode}.jsonl"),
    options=ModelOptions(batch_size=batch_size),
    regions=("paragraphs",),
    overwrite=True,
  )
  stamps = []
  if mode == "interleaved":
    return interleaved(config, memory, start, load_before)
  if mode == "loop":
    groups = chunk_lib.load_groups(config)
    group = groups["gemma"]
    examples, _ = examples_lib.load_examples(config)
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
    groups = None if ray_options else chunk_lib.load_groups(config)
    ready = time.perf_counter()
    from lit_seqsal.batch import ray_run

    executor = ray_run.executor(ray_options) if ray_options else None
    result = run_lib.run(
      config,
      executor=executor,
      groups=groups,
      on_chunk=lambda records: stamps.append((time.perf_counter(), len(records))),
      stream=io.StringIO(),
    )
    done = result.computed
    assert not result.errors, result.errors[:2]
  end = time.perf_counter()
  peak = memory.stop()
  # Steady rate: from the first result to the last (startup, loading and warm-up apart).
  first_t, first_n = stamps[0]
  steady = (done - first_n) / (end - first_t) if end > first_t and done > first_n else float("nan")
  return {
    "mode": mode,
    "examples": done,
    "load_s": ready - start,
    "first_result_s": first_t - ready,
    "compute_s": end - ready,
    "rate": done / (end - ready),
    "steady_rate": steady,
    "peak_rss": peak,
    "load_avg": [load_before, os.getloadavg()[0]],
  }


def interleaved(config, memory: PeakMemory, start: float, load_before: float) -> dict:
  """The batch command's chunk computation and the one-at-a-time loop, chunk by chunk."""
  from lit_seqsal.batch import chunk as chunk_lib
  from lit_seqsal.batch import examples as examples_lib

  config = config.checked()
  groups = chunk_lib.load_groups(config)
  group = groups["gemma"]
  examples, _ = examples_lib.load_examples(config)
  chunks = examples_lib.make_chunks(examples_lib.make_tasks(config, examples), config.size)
  # Warm-up (first calls allocate and pick kernels), not timed.
  warm = chunks[-1][:1]
  chunk_lib.compute_chunk(groups, warm, config)
  ready = time.perf_counter()
  seconds = {"loop": 0.0, "batch": 0.0}
  done = 0
  for k, chunk in enumerate(chunks):
    for which in ("loop", "batch") if k % 2 == 0 else ("batch", "loop"):
      t0 = time.perf_counter()
      if which == "batch":
        records = chunk_lib.compute_chunk(groups, chunk, config)
        assert not any("error" in r for r in records)
      else:
        for task in chunk:
          fresh = type(group.salience)(group.engine)  # no cache shared between calls
          fresh.predict([{"prompt": task.example.prompt, "target": task.example.target}])
      seconds[which] += time.perf_counter() - t0
    done += len(chunk)
  peak = memory.stop()
  out = {}
  for which in ("loop", "batch"):
    rate = done / seconds[which]
    out[f"interleaved_{which}"] = {
      "mode": f"interleaved_{which}",
      "examples": done,
      "load_s": ready - start,
      "first_result_s": float("nan"),
      "compute_s": seconds[which],
      "rate": rate,
      "steady_rate": rate,
      "peak_rss": peak,
      "load_avg": [load_before, os.getloadavg()[0]],
    }
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--examples", type=int, default=260)
  parser.add_argument("--batch_size", type=int, default=4)
  parser.add_argument("--modes", default=",".join(DEFAULT_MODES), help=f"any of {','.join(MODES)}")
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
        [
          sys.executable,
          __file__,
          f"--mode={mode}",
          f"--data={data}",
          f"--out_dir={tmp}",
          f"--batch_size={args.batch_size}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
      )
      if proc.returncode != 0:
        print(f"{mode}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
        continue
      measured = json.loads(proc.stdout.strip().splitlines()[-1])
      measured = measured if "mode" not in measured else {mode: measured}
      for name, r in measured.items():
        results[name] = r
        print(f"  {name}: {r['rate']:.3f} ex/s", file=sys.stderr)

  cpu = psutil.cpu_count()
  print(
    f"bench_batch: {args.examples} examples (sample_prompts, made distinct), bundled"
    f" Gemma 3 270M, float32, batch_size {args.batch_size}, {cpu} CPUs,"
    f" load average {os.getloadavg()[0]:.1f}"
  )
  print(
    "| configuration | examples/s | steady examples/s | vs loop | first result | load |"
    " peak memory | load average before / after |"
  )
  print("|---|---:|---:|---:|---:|---:|---:|---:|")
  base = (results.get("interleaved_loop") or results.get("loop") or {}).get("rate")
  for mode, r in results.items():
    ratio = f"{r['rate'] / base:.2f}x" if base else "–"
    first = "–" if r["first_result_s"] != r["first_result_s"] else f"{r['first_result_s']:.1f} s"
    print(
      f"| {LABELS[mode]} | {r['rate']:.3f} | {r['steady_rate']:.3f} | {ratio} | {first} |"
      f" {r['load_s']:.1f} s | {r['peak_rss'] / 2**30:.2f} GiB |"
      f" {r['load_avg'][0]:.1f} / {r['load_avg'][1]:.1f} |"
    )
  print(
    "(vs loop: against the one-at-a-time loop of this run, interleaved if measured."
    " examples/s: from the models loaded, for Ray from the cluster start, to the end;"
    " steady: from the first result to the end.)"
  )
  reference = results.get("interleaved_batch") or results.get("batch")
  if reference:
    cost = 1 / reference["steady_rate"]
    print(
      f"\nProjection (not a measurement): 10,000 prompts at the measured {cost:.2f} s per"
      " example per worker of this kind, with perfect scaling over N workers, plus each"
      " worker's start-up:"
    )
    for n in (1, 2, 4, 8, 16):
      print(f"  N={n:>2}: {10_000 * cost / n / 3600:6.2f} h")


if __name__ == "__main__":
  main()
