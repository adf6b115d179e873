"""A batch run's examples and tasks: datasets read line by line, chunks of similar length.

Unlike the server, a batch run keeps going past a line it cannot read: that
line becomes an example with an error (recorded in the results), and field
checks are left to the models, so that a bad example costs only its own
record. Each (model, example) is a `Task`, keyed by a hash of everything its
record depends on (resuming recomputes nothing else).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from absl import logging

from lit_seqsal import datasets as datasets_lib
from lit_seqsal import models, options
from lit_seqsal.batch.config import PASS_THROUGH_FIELDS, BatchConfig, BatchError


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
      ex.target if isinstance(ex.target, str) else ""
    )


def _read_dataset(name: str, path: str, max_examples: int) -> list[Example]:
  """A dataset's examples; a line that cannot be read becomes an example with an error.

  Raises datasets_lib.DatasetFileError for a file that cannot be read at all.
  """
  if not os.path.exists(path):
    raise datasets_lib.DatasetFileError(f"Dataset file {path!r} does not exist.")
  examples = []
  if path.endswith(".jsonl"):
    for index, (_, record, error) in enumerate(datasets_lib.jsonl_records(path)):
      record = record or {}
      source = record.get("source")
      examples.append(
        Example(
          id=f"{name}/{index}",
          dataset=name,
          index=index,
          source=source if isinstance(source, str) else "",
          prompt=record.get("prompt"),
          target=record.get("target") or "",
          extra=tuple((k, record[k]) for k in PASS_THROUGH_FIELDS if k in record),
          error=f"{path}, {error}" if error else "",
        )
      )
  else:
    for index, ex in enumerate(datasets_lib.read_examples(path)):  # .txt, or the format error
      examples.append(
        Example(
          id=f"{name}/{index}",
          dataset=name,
          index=index,
          source=ex["source"],
          prompt=ex["prompt"],
          target=ex["target"],
        )
      )
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
      errors.append(
        {
          "id": f"{name}/*",
          "model": "",
          "dataset": name,
          "kind": "dataset_error",
          "error": {"kind": type(e).__name__, "message": f"Dataset {entry!r} cannot be read: {e}"},
        }
      )
  return examples, errors


def model_names(config: BatchConfig) -> list[str]:
  return [models.parse_model_spec(e)[0] for e in config.models]


def task_key(config: BatchConfig, model_entry: str, ex: Example) -> str:
  """What an example's record depends on: its inputs, the model and the settings."""
  opts = config.options
  framework = models.choose_framework(models.parse_model_spec(model_entry)[1], opts)
  payload = {
    "model": model_entry,
    "framework": framework,
    "runtime": opts.dl_runtime or options.RUNTIMES_BY_FRAMEWORK[framework][0],
    "precision": opts.precision,
    "explain": config.explain,
    "span": config.span,
    "span_granularity": config.span_granularity,
    "methods": list(config.methods),
    "settings": config.method_settings(),
    "granularity": config.granularity,
    "prompt": ex.prompt,
    "target": ex.target,
    "extra": list(ex.extra),
    "foil": config.foil,
  }
  if config.check:  # absent otherwise, so files written before --check keep their keys
    payload["check"] = config.check
  if config.explain == "generation":
    payload["max_new_tokens"] = opts.max_new_tokens
  data = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
  return hashlib.sha1(data).hexdigest()[:16]


def make_tasks(config: BatchConfig, examples: Sequence[Example]) -> list[Task]:
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
    chunks.extend(model_tasks[s : s + size] for s in range(0, len(model_tasks), size))
  return chunks
