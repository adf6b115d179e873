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
batch. A chunk's records are written as soon as it is done (results.py); a
rerun skips the examples already in the file, and chunks are formed over the
whole dataset before skipping, so a resumed run computes the same chunks, and
writes the same lines, as an uninterrupted one.

The same chunks run locally (`run_local`) or on Ray workers (lit_seqsal/batch/
ray_run.py); `compute_chunk` is the one function both call.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from absl import logging

from lit_seqsal import datasets as datasets_lib
from lit_seqsal import engine as engine_lib
from lit_seqsal import inputs
from lit_seqsal.batch import regions as regions_lib
from lit_seqsal.batch import results as results_lib
from lit_seqsal.batch import spans as spans_lib
from lit_seqsal.contract import FieldNames
from lit_seqsal.options import ModelOptions
from lit_seqsal.salience import methods as methods_lib
from lit_seqsal.salience import segmentation
from lit_seqsal.tokens import token_text

# Fields of a dataset record passed through to the models as they are: a
# contrastive `foil`, the generation's `stop` sequences, a conversation's
# `messages` (for chat templates).
PASS_THROUGH_FIELDS: tuple[str, ...] = (FieldNames.FOIL, FieldNames.STOP, FieldNames.MESSAGES)
DEFAULT_GRANULARITY = "sentences"


class BatchError(RuntimeError):
  """Stops the run: bad settings, a clashing results file, or an error under --strict."""


@dataclass(frozen=True)
class BatchConfig:
  """What to explain, with which model and methods, and where the results go."""
  models: tuple[str, ...]  # NAME:PATH, as the server's --models
  datasets: tuple[str, ...]  # sample_prompts or NAME:PATH, as the server's --datasets
  out: str
  options: ModelOptions = ModelOptions()
  max_examples: int = 0  # per dataset; 0: all
  explain: str = "target"  # or "generation"
  span: str = ""  # regex selecting the output segment to explain; "": the whole output
  span_granularity: str = "lines"
  methods: tuple[str, ...] = ()  # () : the registry's default methods
  settings: tuple[tuple[str, object], ...] = ()  # method settings (ig_steps, ...)
  granularity: str = DEFAULT_GRANULARITY
  regions: tuple[str, ...] = ()
  strict: bool = False
  retry_errors: bool = False
  overwrite: bool = False
  chunk_size: int = 0  # examples per salience call; 0: options.batch_size
  foil: str = ""  # contrast every explained span with this text (an example's own foil wins)

  def checked(self) -> BatchConfig:
    """Errors for settings no example can run with, before any loading."""
    if not self.models:
      raise BatchError("--models is empty: name at least one model (NAME:PATH).")
    if not self.out:
      raise BatchError("--out is required: the results file (.jsonl) to write or resume.")
    inputs.one_of(self.explain, "explain", spans_lib.EXPLAIN_CHOICES)
    segmentation.check_granularity(self.granularity, "granularity")
    segmentation.check_granularity(self.span_granularity, "span_granularity")
    try:
      spans_lib.compile_selector(self.span)
    except Exception as e:  # re.error
      raise BatchError(f"--span {self.span!r} is not a valid regular expression ({e}).") from e
    regions_lib.parse_specs(self.regions)
    if self.strict:
      unknown = self.unknown_methods()
      if unknown:
        raise BatchError(f"Unknown method(s) {', '.join(unknown)} in --methods; allowed"
                         f" values: {', '.join(methods_lib.REGISTRY)}.")
    for method in self.known_methods():
      for setting in method.settings:
        setting.check(dict(self.settings).get(setting.name, setting.default))
    return dataclasses.replace(self, options=self.options.checked())

  @property
  def size(self) -> int:
    return self.chunk_size or self.options.batch_size

  def known_methods(self) -> tuple[methods_lib.Method, ...]:
    if not self.methods:
      return tuple(methods_lib.REGISTRY[n] for n in methods_lib.default_names())
    return tuple(methods_lib.REGISTRY[n] for n in dict.fromkeys(self.methods)
                 if n in methods_lib.REGISTRY)

  def unknown_methods(self) -> tuple[str, ...]:
    return tuple(n for n in dict.fromkeys(self.methods) if n not in methods_lib.REGISTRY)

  def method_settings(self) -> dict:
    """The settings the known methods read, with their defaults filled in."""
    given = dict(self.settings)
    return {s.name: given.get(s.name, s.default)
            for m in self.known_methods() for s in m.settings}


# -- examples -------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
  id: str  # DATASET/INDEX: the example's position among the dataset's non-blank lines
  dataset: str
  index: int
  source: str
  prompt: object  # as read: checked by the models (a bad one is that example's error)
  target: object
  extra: tuple[tuple[str, object], ...] = ()  # pass-through fields (PASS_THROUGH_FIELDS)
  error: str = ""  # a line that could not be read


@dataclass(frozen=True)
class Task:
  """One example for one model: what a chunk is made of."""
  model: str  # NAME of a --models entry
  example: Example
  key: str  # hash of the inputs and settings (see task_key)

  @property
  def weight(self) -> int:
    """Rough cost, for ordering and the ETA: the length of what the model reads."""
    ex = self.example
    return len(ex.prompt if isinstance(ex.prompt, str) else "") + len(
        ex.target if isinstance(ex.target, str) else "")


def _read_dataset(name: str, path: str, max_examples: int) -> list[Example]:
  """A dataset's examples; a line that cannot be read becomes an example with an error.

  Raises datasets_lib.DatasetFileError for a file that cannot be read at all.
  """
  if not os.path.exists(path):
    raise datasets_lib.DatasetFileError(f"Dataset file {path!r} does not exist.")
  examples = []
  if path.endswith(".jsonl"):
    with open(path, encoding="utf-8") as f:
      index = 0
      for lineno, line in enumerate(f, start=1):
        if not line.strip():
          continue
        error, record = "", {}
        try:
          record = json.loads(line)
          if not isinstance(record, dict):
            error = f"line {lineno}: expected a JSON object, got {type(record).__name__}."
            record = {}
        except json.JSONDecodeError as e:
          error = f"line {lineno}: not valid JSON ({e.msg} at column {e.colno})."
        source = record.get("source")
        examples.append(Example(
            id=f"{name}/{index}", dataset=name, index=index,
            source=source if isinstance(source, str) else "",
            prompt=record.get("prompt"), target=record.get("target") or "",
            extra=tuple((k, record[k]) for k in PASS_THROUGH_FIELDS if k in record),
            error=f"{path}, {error}" if error else ""))
        index += 1
  else:
    for index, ex in enumerate(datasets_lib.read_examples(path)):  # .txt, or the format error
      examples.append(Example(id=f"{name}/{index}", dataset=name, index=index,
                              source=ex["source"], prompt=ex["prompt"], target=ex["target"]))
  return examples[:max_examples] if max_examples else examples


def load_examples(config: BatchConfig) -> tuple[list[Example], list[dict]]:
  """Every dataset's examples, and an error record for each dataset that cannot be read."""
  examples, errors = [], []
  for entry in config.datasets:
    try:
      name, path = datasets_lib.parse_dataset_spec(entry)
      examples.extend(_read_dataset(name, path, config.max_examples))
    except (ValueError, OSError, UnicodeDecodeError) as e:
      name = entry.partition(":")[0].strip() or entry
      if config.strict:
        raise BatchError(f"Dataset {entry!r} cannot be read: {e}") from e
      logging.error("Dataset %r cannot be read: %s", entry, e)
      errors.append({"id": f"{name}/*", "model": "", "dataset": name, "kind": "dataset_error",
                     "error": {"kind": type(e).__name__, "message": f"Dataset {entry!r}"
                               f" cannot be read: {e}"}})
  return examples, errors


def model_names(config: BatchConfig) -> list[str]:
  from lit_seqsal import models  # pylint: disable=g-import-not-at-top

  return [models.parse_model_spec(e)[0] for e in config.models]


def task_key(config: BatchConfig, model_entry: str, ex: Example) -> str:
  """What an example's record depends on: its inputs, the model and the settings."""
  opts = config.options
  payload = {
      "model": model_entry, "framework": opts.dl_framework, "runtime": opts.runtime,
      "precision": opts.precision, "explain": config.explain, "span": config.span,
      "span_granularity": config.span_granularity, "methods": list(config.methods),
      "settings": config.method_settings(), "granularity": config.granularity,
      "prompt": ex.prompt, "target": ex.target, "extra": list(ex.extra), "foil": config.foil,
  }
  if config.explain == "generation":
    payload["max_new_tokens"] = opts.max_new_tokens
  data = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
  return hashlib.sha1(data).hexdigest()[:16]


def make_tasks(config: BatchConfig, examples: Sequence[Example]) -> list[Task]:
  from lit_seqsal import models  # pylint: disable=g-import-not-at-top

  tasks = []
  for entry in config.models:
    name, _ = models.parse_model_spec(entry)
    tasks.extend(Task(name, ex, task_key(config, entry, ex)) for ex in examples)
  return tasks


def make_chunks(tasks: Sequence[Task], size: int) -> list[list[Task]]:
  """Tasks by model, longest first (stable), in chunks of `size`."""
  order = sorted(range(len(tasks)), key=lambda i: (tasks[i].model, -tasks[i].weight, i))
  by_model: dict[str, list[Task]] = {}
  for i in order:
    by_model.setdefault(tasks[i].model, []).append(tasks[i])
  chunks = []
  for model_tasks in by_model.values():
    chunks.extend(model_tasks[s:s + size] for s in range(0, len(model_tasks), size))
  return chunks


# -- one chunk --------------------------------------------------------------------------


def load_groups(config: BatchConfig) -> dict:
  """The model groups of --models: {NAME: ModelGroup} (lit_seqsal/models/lit_models.py)."""
  from lit_seqsal import models  # pylint: disable=g-import-not-at-top
  from lit_seqsal.models import lit_models  # pylint: disable=g-import-not-at-top

  loaded = models.get_models(list(config.models), config.options)
  return {name: lit_models.group_of(loaded[name]) for name in model_names(config)}


def _error(kind: str | Exception, message: str = "") -> dict:
  if isinstance(kind, Exception):
    return {"kind": type(kind).__name__, "message": str(kind) or repr(kind)}
  return {"kind": kind, "message": message}


def _predict_each(model, batch: Sequence[dict]) -> list:
  """model.predict on the batch; if it fails, on each input alone, so that one bad
  input costs only its own result. Returns results or exceptions, in order."""
  if not batch:
    return []
  try:
    return list(model.predict(list(batch)))
  except (KeyboardInterrupt, SystemExit):
    raise
  except Exception:  # pylint: disable=broad-except
    if len(batch) == 1:
      return [sys.exc_info()[1]]
  out = []
  for item in batch:
    try:
      out.append(model.predict([item])[0])
    except (KeyboardInterrupt, SystemExit):
      raise
    except Exception as e:  # pylint: disable=broad-except
      out.append(e)
  return out


def _base_record(task: Task) -> dict:
  ex = task.example
  return {"id": ex.id, "model": task.model, "dataset": ex.dataset, "index": ex.index,
          "source": ex.source, "key": task.key}


def _error_record(task: Task, error: dict) -> dict:
  return _base_record(task) | {"kind": "example_error", "error": error}


def _segments(tokens: Sequence[str], prompt_length: int, granularity: str) -> list[dict]:
  """The prompt's and the output's segments, as the client shows them (BOS left out)."""
  n = len(tokens)
  ranges = segmentation.segment_tokens(tokens, granularity, 1, prompt_length)
  ranges += segmentation.segment_tokens(tokens, granularity, prompt_length, n)
  return [{"start": a, "end": b, "text": "".join(token_text(t) for t in tokens[a:b])}
          for a, b in ranges if b > a]


def compute_chunk(groups: dict, chunk: Sequence[Task], config: BatchConfig) -> list[dict]:
  """The records of one chunk (one model): results, or per-example errors.

  Raises BatchError on the first example error when config.strict.
  """
  if not chunk:
    return []
  group = groups[chunk[0].model]
  engine = group.engine
  known = config.known_methods()
  unknown = config.unknown_methods()
  settings = config.method_settings()
  selector = spans_lib.compile_selector(config.span)
  specs = regions_lib.parse_specs(config.regions)
  records: dict[int, dict] = {}

  def fail(i: int, error: dict) -> None:
    if config.strict:
      raise BatchError(f"Example {chunk[i].example.id} ({chunk[i].model}): {error['kind']}:"
                       f" {error['message']}")
    records[i] = _error_record(chunk[i], error)

  # 1. The output to explain: the target, or the model's generation.
  outputs: dict[int, str] = {}
  to_generate = []
  for i, task in enumerate(chunk):
    ex = task.example
    if ex.error:
      fail(i, _error("DatasetLineError", ex.error))
    elif not methods_lib.REGISTRY or not known:
      fail(i, _error("InputError", f"No known method in --methods ({', '.join(unknown)});"
                     f" allowed values: {', '.join(methods_lib.REGISTRY)}."))
    elif config.explain == "target":
      if not isinstance(ex.target, str) or not ex.target:
        fail(i, _error("InputError", "This example has no target to explain; use"
                       " --explain=generation to explain the model's own output."))
      else:
        outputs[i] = ex.target
    else:
      to_generate.append(i)
  generations = _predict_each(group.generation, [
      {FieldNames.PROMPT: chunk[i].example.prompt, **dict(chunk[i].example.extra)}
      for i in to_generate])
  for i, gen in zip(to_generate, generations):
    if isinstance(gen, Exception):
      fail(i, _error(gen))
    elif not gen[FieldNames.RESPONSE]:
      fail(i, _error("InputError", "The model generated nothing (it stopped at once):"
                     " nothing to explain."))
    else:
      outputs[i] = gen[FieldNames.RESPONSE]

  # 2. Tokens, the span to explain, and the salience model's input.
  prepared: dict[int, tuple] = {}
  for i, output in outputs.items():
    ex = chunk[i].example
    example = {FieldNames.PROMPT: ex.prompt, FieldNames.TARGET: output,
               **({FieldNames.FOIL: config.foil} if config.foil else {}), **dict(ex.extra)}
    try:
      inputs.prompt_of(example)  # its message, without a position in the chunk
      encoded = engine_lib.encode_example(engine, example, with_mask=False)
      inputs.check_length(len(encoded.ids), engine.max_length, "Prompt + output")
      tokens = engine.token_strings(encoded.ids)
      span = spans_lib.select_span(tokens, encoded.num_prompt_tokens, selector,
                                   config.span_granularity)
    except inputs.InputError as e:
      fail(i, _error(e))
      continue
    example |= {FieldNames.TARGET_MASK: span.mask(len(tokens)),
                FieldNames.SALIENCE_METHODS: [m.name for m in known], **settings}
    prepared[i] = (example, tokens, encoded.num_prompt_tokens, span, output)

  # 3. Salience, in one call for the chunk (rows of similar length share a batch), by
  # the group's salience model class with a cache of its own: a result cached from an
  # earlier chunk (another batch, other padding) could differ in the last float bits,
  # and a chunk's records must not depend on which chunks ran before it (on this worker).
  order = sorted(prepared)
  salience_model = type(group.salience)(engine)
  answers = _predict_each(salience_model, [prepared[i][0] for i in order])
  for i, answer in zip(order, answers):
    if isinstance(answer, Exception):
      fail(i, _error(answer))
      continue
    example, tokens, prompt_length, span, output = prepared[i]
    segments = _segments(tokens, prompt_length, config.granularity)
    salience = {}
    for method in known:
      scores = np.asarray(answer[method.name], dtype=np.float32).tolist()
      salience[method.name] = {
          "tokens": scores,
          "segments": [float(sum(scores[s["start"]:s["end"]])) for s in segments],
      }
    ex = chunk[i].example
    record = _base_record(chunk[i]) | {
        "prompt": ex.prompt, "target": ex.target, "explain": config.explain,
        "generation": output if config.explain == "generation" else None,
        "tokens": list(answer[FieldNames.TOKENS]), "prompt_length": prompt_length,
        "span": {"selector": config.span, "granularity": config.span_granularity,
                 "start": span.start, "end": span.end, "text": span.text},
        "granularity": config.granularity, "segments": segments,
        "methods": [m.name for m in known],
        "signed": {m.name: m.signed for m in known},
        "salience": salience,
    }
    if unknown:
      record["errors"] = [{"kind": "UnknownMethod", "method": n, "message":
                           f"Unknown method {n!r}; allowed values:"
                           f" {', '.join(methods_lib.REGISTRY)}."} for n in unknown]
    if specs:
      record["regions"] = regions_lib.example_regions(record, specs)
    records[i] = record
  return [records[i] for i in range(len(chunk))]


# -- the progress bar -------------------------------------------------------------------


def _duration(seconds: float) -> str:
  seconds = int(max(0, seconds))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class ProgressBar:
  """Examples done, rate and ETA on stderr: one line redrawn on a terminal, a line
  every `log_every_s` seconds otherwise. The ETA weighs the examples left by
  length (they are done longest first, so a plain rate would promise too much)."""

  def __init__(self, total: int, total_weight: int, *, done_before: int = 0, stream=None,
               log_every_s: float = 10.0, width: int = 24):
    self.total, self.total_weight = total, max(total_weight, 1)
    self.done = self.weight = self.errors = 0
    self.done_before = done_before
    self.stream = stream or sys.stderr
    self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
    self.log_every_s, self.width = log_every_s, width
    self.start = self._last = time.monotonic()
    self._draw(force=True)

  def start_clock(self) -> None:
    """Counts rate and ETA from now (after the models are loaded)."""
    self.start = time.monotonic()

  def update(self, examples: int, weight: int, errors: int = 0) -> None:
    self.done += examples
    self.weight += weight
    self.errors += errors
    self._draw(force=self.done >= self.total)

  def line(self) -> str:
    elapsed = time.monotonic() - self.start
    rate = self.done / elapsed if elapsed > 0 else 0.0
    fraction = self.done / self.total if self.total else 1.0
    remaining = (elapsed * (self.total_weight - self.weight) / self.weight
                 if self.weight else float("nan"))
    filled = int(round(fraction * self.width))
    eta = "ETA ?" if remaining != remaining else f"ETA {_duration(remaining)}"
    if self.done >= self.total:
      eta = f"in {_duration(elapsed)}"
    before = f" (+{self.done_before} done before)" if self.done_before else ""
    errors = f", {self.errors} errors" if self.errors else ""
    return (f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total}"
            f" examples{before} {100 * fraction:.0f}% | {rate:.2f} ex/s | {eta}{errors}")

  def _draw(self, force: bool = False) -> None:
    now = time.monotonic()
    if self.tty:
      if force or now - self._last >= 0.2:
        self.stream.write("\r" + self.line() + ("\n" if self.done >= self.total else ""))
        self.stream.flush()
        self._last = now
    elif force or now - self._last >= self.log_every_s:
      self.stream.write(self.line() + "\n")
      self.stream.flush()
      self._last = now


# -- the run ------------------------------------------------------------------------------


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
        record.get("kind") == "example_error" and config.retry_errors):
      dropped = True  # tried again (a dataset may be readable now)
      continue
    if key in wanted and record.get("key") != wanted[key]:
      raise BatchError(
          f"{out} already holds example {key[1]} ({key[0]}) computed from other inputs or"
          " settings: use another --out, or --overwrite to start it again.")
    done.add(key)
  if dropped:  # the file without the errors about to be tried again (atomic)
    results_lib.rewrite(out, (r for r in results_lib.iter_records(out)
                              if results_lib.record_key(r) in done))
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


def run_local(config: BatchConfig, chunks: Sequence[list[Task]], on_chunk: OnChunk,
              groups: dict | None = None, on_ready: Callable[[], None] | None = None) -> None:
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


def run(config: BatchConfig, *, executor: Executor | None = None, groups: dict | None = None,
        on_chunk: OnChunk | None = None, stream=None) -> RunResult:
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
    logging.warning("Unknown method(s) %s in --methods: recorded as an error in every"
                    " example; allowed values: %s.", ", ".join(unknown),
                    ", ".join(methods_lib.REGISTRY))
  pending = sum(len(c) for c in the_plan.chunks)
  weights = {(t.model, t.example.id): t.weight for c in the_plan.chunks for t in c}
  bar = ProgressBar(pending, sum(weights.values()), done_before=the_plan.done, stream=stream)
  computed = 0
  with results_lib.ResultsWriter(config.out) as writer:
    writer.write(the_plan.errors_to_write)

    def write(records: list[dict]) -> None:
      nonlocal computed
      writer.write(records)
      computed += len(records)
      bar.update(len(records), sum(weights.get(results_lib.record_key(r), 0) for r in records),
                 sum(1 for r in records if "error" in r))
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
  return light


def finalize(config: BatchConfig) -> list[dict]:
  """The file's records (light), with `regions` brought up to date with --regions or,
  without --regions, with those the file already has. The file is rewritten
  (atomically, one record at a time) only where a record's regions were computed
  otherwise."""
  specs = regions_lib.parse_specs(config.regions or file_region_specs(config.out))
  spec_texts = [s.text for s in specs]

  def stale(record: dict) -> bool:
    return ("error" not in record and "tokens" in record
            and record.get("regions", {}).get("spec", []) != spec_texts)

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
