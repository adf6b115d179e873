"""How long one unit of heavy work holds the model: the longest a light request waits for it.

  .venv/bin/python bench/bench_units.py [--tokens 400 2000] [--repeats 3]

Loads the bundled Gemma 3 270M (float32, CPU) and, for each prompt length,
times one unit as the unit policy (lit_seqsal/work/units.py) cuts heavy work:
an integrated-gradients unit (a gradient pass: forward + one backward, of
`unit_rows(tokens, gradient)` rows), an occlusion unit (a forward pass of
`unit_rows(tokens, forward)` rows), and, for comparison, a light request's own
unit (a gradient pass of one 32-token row). Each is run once to warm up, then
`--repeats` times; the median is printed, with the engine's lock held as a
request holds it. A light request waits for at most one unit in progress.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from lit_seqsal import models
from lit_seqsal.engine import batching
from lit_seqsal.work import units


def _row(engine, ids, n):
  mask = np.zeros((1, n), dtype=np.float32)
  mask[0, n - 1] = 1.0
  return (ids[:n], mask)


def time_unit(engine, ids, n, kind, repeats) -> tuple[int, float]:
  """(rows, median seconds) of one unit of `kind` on rows of n tokens."""
  rows = engine.unit_rows(n, kind)
  batch = batching.pack([_row(engine, ids, n)] * rows, engine.pad_id)
  times = []
  for i in range(repeats + 1):
    start = time.perf_counter()
    with engine.lock:
      embs = engine.embed(batch.ids[:, : batch.used])
      engine.objectives(embs, batch, gradients=kind == units.GRADIENT)
    if i:  # the first call of a shape pays one-time costs
      times.append(time.perf_counter() - start)
  return rows, statistics.median(times)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--tokens", type=int, nargs="+", default=[400, 2000])
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  group = models.load_model_group("gemma", "bundled", max_length=max(args.tokens) + 8)
  engine = next(iter(group.values())).engine
  text = "The quick brown fox jumps over the lazy dog, and the dog sleeps on. " * 400
  ids = engine.encode(text)
  print(
    f"bench_units: bundled Gemma 3 270M, float32, {os.cpu_count()} CPUs, budget"
    f" {engine.unit_tokens} forward-equivalent row-tokens per unit, batch_size"
    f" {engine.batch_size}; median of {args.repeats} after a warm-up"
  )
  rows, light = time_unit(engine, ids, 32, units.GRADIENT, args.repeats)
  print(f"light request's unit (gradient, 1 row of 32 tokens): {light:.2f} s")
  print(f"{'tokens':>7} {'kind':>9} {'rows':>5} {'unit s':>7}")
  for n in args.tokens:
    for kind in (units.GRADIENT, units.FORWARD):
      rows, seconds = time_unit(engine, ids, n, kind, args.repeats)
      what = "IG" if kind == units.GRADIENT else "occlusion"
      print(f"{n:7d} {kind:>9} {rows:5d} {seconds:7.2f}  ({what})")


if __name__ == "__main__":
  main()
