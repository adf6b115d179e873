"""Prompt datasets: the bundled `sample_prompts` and users' JSONL or text files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from importlib import resources

from absl import logging
from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import types as lit_types

from lit_seqsal import chat
from lit_seqsal.errors import SetupError

SAMPLE_PROMPTS = "sample_prompts"
DEFAULT_DATASETS = (SAMPLE_PROMPTS,)
DEFAULT_MAX_EXAMPLES = 1000
_FIELDS = ("source", "prompt", "target")
# Optional fields: a foil for contrastive salience, stop sequences that end the
# generation, a whole conversation (role/content pairs) for chat templates, and
# for an edited example the record of what was changed (the generation model's
# `edit`, lit_seqsal/edits.py), kept as it is.
_OPTIONAL = ("foil", "stop", "messages", "edit")


class DatasetFileError(SetupError):
  """A dataset file that cannot be read; the message names the file and line."""


def sample_prompts_path() -> str:
  return str(resources.files("lit_seqsal").joinpath("data", "sample_prompts.jsonl"))


def jsonl_records(path: str) -> Iterator[tuple[int, dict | None, str]]:
  """Each non-blank line of a JSON Lines file: (line number, the JSON object, "")
  or, for a line that is not one, (line number, None, what is wrong with it)."""
  with open(path, encoding="utf-8") as f:
    for lineno, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError as e:
        yield lineno, None, f"line {lineno}: not valid JSON ({e.msg} at column {e.colno})."
        continue
      if not isinstance(record, dict):
        yield lineno, None, (f"line {lineno}: expected a JSON object, got {type(record).__name__}.")
        continue
      yield lineno, record, ""


def _read_jsonl(path: str) -> list[dict]:
  """Checked examples of a JSON Lines file; the first bad line is an error."""
  examples = []
  for lineno, record, error in jsonl_records(path):
    if record is None:
      raise DatasetFileError(f"{path}, {error}")
    examples.append(_checked_example(record, f"{path}, line {lineno}"))
  return examples


def _checked_example(record: dict, where: str) -> dict:
  """A JSON record as an example of the dataset, or DatasetFileError naming `where`."""
  if "messages" in record:
    try:
      messages = chat.parse_messages(record["messages"], f"{where}: field 'messages'")
    except ValueError as e:
      raise DatasetFileError(str(e)) from None
    record["messages"] = json.dumps(messages)
    record.setdefault("prompt", chat.render_plain(messages))
  if "prompt" not in record:
    raise DatasetFileError(f"{where}: missing the required field 'prompt' (or 'messages').")
  for field in _FIELDS + ("foil",):
    value = record.get(field)
    if value is not None and not isinstance(value, str):
      raise DatasetFileError(
        f"{where}: field '{field}' must be a string, got {type(value).__name__}."
      )
  if not record["prompt"].strip():
    raise DatasetFileError(f"{where}: field 'prompt' is empty.")
  if "stop" in record:
    stop = [record["stop"]] if isinstance(record["stop"], str) else record["stop"]
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
      raise DatasetFileError(f"{where}: field 'stop' must be a text or a list of texts.")
    record["stop"] = stop
  if "edit" in record and not isinstance(record["edit"], dict):
    raise DatasetFileError(f"{where}: field 'edit' must be an object (what an edit changed).")
  extra = sorted(set(record) - set(_FIELDS) - set(_OPTIONAL))
  if extra:
    logging.warning("%s: ignoring fields %s (known: %s)", where, extra, list(_FIELDS + _OPTIONAL))
  example = {f: record.get(f) or "" for f in _FIELDS}
  example.update({f: record[f] for f in _OPTIONAL if f in record})
  return example


def _read_text(path: str) -> list[dict]:
  with open(path, encoding="utf-8") as f:
    return [
      {"source": os.path.basename(path), "prompt": line.rstrip("\n"), "target": ""}
      for line in f
      if line.strip()
    ]


def read_examples(path: str) -> list[dict]:
  """Examples from a .jsonl (prompt, optional target and source) or .txt file."""
  if not os.path.exists(path):
    raise DatasetFileError(f"Dataset file {path!r} does not exist.")
  if path.endswith(".jsonl"):
    return _read_jsonl(path)
  if path.endswith(".txt"):
    return _read_text(path)
  raise DatasetFileError(
    f"Dataset file {path!r}: unsupported format; use .jsonl (one JSON object with"
    " 'prompt' and optional 'target' and 'source' per line) or .txt (one prompt per line)."
  )


class PromptDataset(lit_dataset.Dataset):
  """Prompts with optional targets and a source label, read from a file."""

  def __init__(self, path: str = "", max_examples: int | None = None):
    examples: list[lit_types.JsonDict] = list(read_examples(path)) if path else []
    if max_examples is not None:
      examples = examples[:max_examples]
    super().__init__(examples=examples)

  @classmethod
  def init_spec(cls) -> lit_types.Spec:
    return {
      "path": lit_types.String(default=""),
      "max_examples": lit_types.Integer(
        default=DEFAULT_MAX_EXAMPLES, min_val=1, max_val=100_000, required=False
      ),
    }

  def spec(self) -> lit_types.Spec:
    return {
      "source": lit_types.CategoryLabel(),
      "prompt": lit_types.TextSegment(),
      "target": lit_types.TextSegment(required=False),
      "stop": lit_types.SparseMultilabel(required=False),  # a list of texts
      # `foil` and `messages` (a conversation as JSON text) stay out of the
      # spec: LIT's datapoint editor expects every text field it lists in
      # every example, and an empty foil or conversation is not "none".
    }

  def load(self, path: str) -> lit_dataset.Dataset:
    return PromptDataset(path)


def parse_dataset_spec(entry: str) -> tuple[str, str]:
  """'sample_prompts' or 'NAME:PATH' -> (name, path)."""
  entry = entry.strip()
  if entry == SAMPLE_PROMPTS:
    return SAMPLE_PROMPTS, sample_prompts_path()
  name, sep, path = entry.partition(":")
  if not sep or not name.strip() or not path.strip():
    raise DatasetFileError(
      f"Bad dataset entry {entry!r}: expected 'sample_prompts' or NAME:PATH with a"
      " .jsonl or .txt file."
    )
  return name.strip(), path.strip()


def get_datasets(
  datasets_config: Sequence[str] | None = DEFAULT_DATASETS,
  max_examples: int | None = DEFAULT_MAX_EXAMPLES,
) -> dict[str, lit_dataset.Dataset]:
  datasets = {}
  for entry in datasets_config or ():
    name, path = parse_dataset_spec(entry)
    datasets[name] = PromptDataset(path, max_examples=max_examples)
    logging.info("Dataset %r: %d examples from %s", name, len(datasets[name]), path)
  return datasets


def get_dataset_loaders() -> dict:
  """Loaders for LIT's 'Configure' menu (a .jsonl or .txt path on the server)."""
  return {"prompt_file": (PromptDataset, PromptDataset.init_spec())}
