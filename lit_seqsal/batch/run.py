"""Salience for every example of some datasets: examples in, one record per example out.

Each example goes through the same path as a request to the server: the
generation model when the output to explain is the model's own
(`--explain=generation`), then the salience model's `predict` with the
example's prompt, output, `target_mask` (the selected span, lit_seqsal/batch/
spans.py), `salience_methods` and the methods' settings. The batch output is
therefore the salience model's answer, example by example.

Speed comes from batching: the examples still to do are sorted by length
(longest first, so the memory peak and any out-of-memory error come at once)
and cut into chunks of `chunk_size` (default: the model's `batch_size`), each
one call of the salience model, so rows of similar length share a model
batch (lit_seqsal/batch/examples.py). A chunk's records (lit_seqsal/batch/
chunk.py) are written as soon as it is done (results.py); a rerun skips the
examples already in the file, and chunks are formed over the whole dataset
before skipping, so a resumed run computes the same chunks, and writes the
same lines, as an uninterrupted one.

The same chunks run locally (`run_local`) or on Ray workers (lit_seqsal/batch/
ray_run.py).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from absl import logging

from lit_seqsal.batch import regions as regions_lib
from lit_seqsal.batch import results as results_lib
from lit_seqsal.batch.chunk import compute_chunk, load_groups
from lit_seqsal.batch.config import BatchConfig, BatchError
from lit_seqsal.batch.examples import Task, load_examples, make_chunks, make_tasks
from lit_seqsal.salience import methods as methods_lib
from lit_seqsal.work.progress import Progress


@dataclass
class Plan:
  """What a run will do: the chunks still to compute and what the file already holds."""

  chunks: list[list[Task]]
  done: int  # examples already in the file for these settings
  errors_to_write: list[dict] = field(default_factory=list)  # dataset errors found now
  total_tasks: int = 0


def plan(config: BatchConfig) -> Plan:
  """Reads the datasets and the results file; prepares the file for resuming."""
  examples, dataset_errors = load_examples(config)
  tasks = make_tasks(config, examples)
  out = config.out
  if config.overwrite and os.path.exists(out):
    os.remove(out)
  results_lib.repair(out)
  wanted = {(t.model, t.example.id): t.key for t in tasks}
  done, dropped = set(), False
  for record in results_lib.iter_records(out):
    key = results_lib.record_key(record)
    if record.get("kind") == "dataset_error" or (
      record.get("kind") == "example_error" and config.retry_errors
    ):
      dropped = True  # tried again (a dataset may be readable now)
      continue
    if key in wanted and record.get("key") != wanted[key]:
      raise BatchError(
        f"{out} already holds example {key[1]} ({key[0]}) computed from other inputs or"
        " settings: use another --out, or --overwrite to start it again."
      )
    done.add(key)
  if dropped:  # the file without the errors about to be tried again (atomic)
    results_lib.rewrite(
      out, (r for r in results_lib.iter_records(out) if results_lib.record_key(r) in done)
    )
  chunks = []
  for chunk in make_chunks(tasks, config.size):
    todo = [t for t in chunk if (t.model, t.example.id) not in done]
    if todo:
      chunks.append(todo)
  done_here = sum(1 for t in tasks if (t.model, t.example.id) in done)
  return Plan(chunks, done_here, dataset_errors, len(tasks))


OnChunk = Callable[[list[dict]], None]
# Computes the chunks somewhere and passes each chunk's records to the callback, in any
# order; calls on_ready once the models are loaded (run_local; ray_run.executor).
Executor = Callable[["BatchConfig", Sequence[list[Task]], OnChunk, Callable[[], None]], None]


def run_local(
  config: BatchConfig,
  chunks: Sequence[list[Task]],
  on_chunk: OnChunk,
  groups: dict | None = None,
  on_ready: Callable[[], None] | None = None,
) -> None:
  """Computes the chunks in this process, in order."""
  if not chunks:
    return
  groups = groups or load_groups(config)
  if on_ready is not None:
    on_ready()
  for chunk in chunks:
    on_chunk(compute_chunk(groups, chunk, config))


@dataclass
class RunResult:
  records: list[dict]  # every record of the file after the run, light (see light_record)
  computed: int  # records written by this run
  errors: list[dict]  # error records (examples and datasets) in the file
  seconds: float


def run(
  config: BatchConfig,
  *,
  executor: Executor | None = None,
  groups: dict | None = None,
  on_chunk: OnChunk | None = None,
  stream=None,
) -> RunResult:
  """Runs (or resumes) the batch: computes what the results file lacks and appends it.

  `executor` computes the chunks elsewhere (ray_run.executor: on Ray workers);
  by default they run here, on `groups` if given (model groups already loaded);
  `on_chunk` sees each chunk's records after they are written.
  """
  config = config.checked()
  start = time.monotonic()
  the_plan = plan(config)
  unknown = config.unknown_methods()
  if unknown:
    logging.warning(
      "Unknown method(s) %s in --methods: recorded as an error in every"
      " example; allowed values: %s.",
      ", ".join(unknown),
      ", ".join(methods_lib.REGISTRY),
    )
  pending = sum(len(c) for c in the_plan.chunks)
  weights = {(t.model, t.example.id): t.weight for c in the_plan.chunks for t in c}
  bar = Progress(
    f"Salience for {pending} examples",
    pending,
    stream=stream or sys.stderr,
    unit="examples",
    total_weight=sum(weights.values()),
    done_before=the_plan.done,
  )
  computed = 0
  with results_lib.ResultsWriter(config.out) as writer:
    writer.write(the_plan.errors_to_write)

    def write(records: list[dict]) -> None:
      nonlocal computed
      writer.write(records)
      computed += len(records)
      bar.advance(
        len(records),
        sum(weights.get(results_lib.record_key(r), 0) for r in records),
        sum(1 for r in records if "error" in r),
      )
      if on_chunk is not None:
        on_chunk(records)

    if executor is not None:
      executor(config, the_plan.chunks, write, bar.start_clock)
    else:
      run_local(config, the_plan.chunks, write, groups, on_ready=bar.start_clock)
  records = finalize(config)
  errors = [r for r in records if "error" in r]
  return RunResult(records, computed, errors, time.monotonic() - start)


def file_region_specs(path: str) -> tuple[str, ...]:
  """The --regions a results file was last aggregated with (() if none)."""
  for record in results_lib.iter_records(path):
    if record.get("regions"):
      return tuple(record["regions"].get("spec", ()))
  return ()


# What the summary and the reports need of each record: no tokens or scores.
_HEAVY = ("tokens", "salience", "segments", "prompt", "target", "generation", "signed")


def light_record(record: dict) -> dict:
  light = {k: v for k, v in record.items() if k not in _HEAVY}
  if "span" in light:
    light["span"] = {k: v for k, v in light["span"].items() if k in ("text", "selector")}
  if isinstance(light.get("check"), dict):  # the numbers without each random draw
    light["check"] = dict(
      light["check"],
      by_k=[
        dict(e, random={k: v for k, v in e["random"].items() if k != "draws"})
        for e in light["check"].get("by_k", [])
      ],
    )
  return light


def finalize(config: BatchConfig) -> list[dict]:
  """The file's records (light), with `regions` brought up to date with --regions or,
  without --regions, with those the file already has. The file is rewritten
  (atomically, one record at a time) only where a record's regions were computed
  otherwise."""
  specs = regions_lib.parse_specs(config.regions or file_region_specs(config.out))
  spec_texts = [s.text for s in specs]

  def stale(record: dict) -> bool:
    return (
      "error" not in record
      and "tokens" in record
      and record.get("regions", {}).get("spec", []) != spec_texts
    )

  def updated(record: dict) -> dict:
    if stale(record):
      if specs:
        record["regions"] = regions_lib.example_regions(record, specs)
      else:
        record.pop("regions", None)
    return record

  if any(stale(r) for r in results_lib.iter_records(config.out)):
    results_lib.rewrite(config.out, (updated(r) for r in results_lib.iter_records(config.out)))
  return [light_record(r) for r in results_lib.iter_records(config.out)]
