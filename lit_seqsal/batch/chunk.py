"""One chunk of a batch run: examples of one model in, one record per example out.

A chunk runs in three phases, each its own function: the output to explain
(the example's target, or the model's generation), the salience model's inputs
(tokens, the span to explain, the methods), and the records from the salience
model's answers. A failing example costs only its own record (an error
record), unless the run is strict. Both the local run and Ray workers
(lit_seqsal/batch/ray_run.py) call `compute_chunk`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lit_seqsal import inputs, models
from lit_seqsal.batch import regions as regions_lib
from lit_seqsal.batch import spans as spans_lib
from lit_seqsal.batch.config import BatchConfig, BatchError
from lit_seqsal.batch.examples import Task, model_names
from lit_seqsal.contract import FieldNames
from lit_seqsal.engine import encoding
from lit_seqsal.models import lit_models
from lit_seqsal.salience import methods as methods_lib
from lit_seqsal.salience import segmentation
from lit_seqsal.tokens import token_text


def load_groups(config: BatchConfig) -> dict:
  """The model groups of --models: {NAME: ModelGroup} (lit_seqsal/models/lit_models.py)."""
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
  except Exception as e:  # noqa: BLE001 (any failure: retry each input alone)
    if len(batch) == 1:
      return [e]
  out = []
  for item in batch:
    try:
      out.append(model.predict([item])[0])
    except Exception as e:  # noqa: BLE001 (whatever it is, it is this example's error)
      out.append(e)
  return out


def _base_record(task: Task) -> dict:
  ex = task.example
  return {
    "id": ex.id,
    "model": task.model,
    "dataset": ex.dataset,
    "index": ex.index,
    "source": ex.source,
    "key": task.key,
  }


def _error_record(task: Task, error: dict) -> dict:
  return _base_record(task) | {"kind": "example_error", "error": error}


def _segments(tokens: Sequence[str], prompt_length: int, granularity: str) -> list[dict]:
  """The prompt's and the output's segments, as the client shows them (BOS left out)."""
  n = len(tokens)
  ranges = segmentation.segment_tokens(tokens, granularity, 1, prompt_length)
  ranges += segmentation.segment_tokens(tokens, granularity, prompt_length, n)
  return [
    {"start": a, "end": b, "text": "".join(token_text(t) for t in tokens[a:b])}
    for a, b in ranges
    if b > a
  ]


class _Chunk:
  """One chunk's state through its phases: the records made so far (results or
  errors, by position in the chunk) and what the run asks for."""

  def __init__(self, groups: dict, tasks: Sequence[Task], config: BatchConfig):
    self.tasks = tasks
    self.config = config
    self.group = groups[tasks[0].model]
    self.known = config.known_methods()
    self.unknown = config.unknown_methods()
    self.records: dict[int, dict] = {}

  def fail(self, i: int, error: dict) -> None:
    if self.config.strict:
      task = self.tasks[i]
      raise BatchError(
        f"Example {task.example.id} ({task.model}): {error['kind']}: {error['message']}"
      )
    self.records[i] = _error_record(self.tasks[i], error)


def compute_chunk(groups: dict, chunk: Sequence[Task], config: BatchConfig) -> list[dict]:
  """The records of one chunk (one model): results, or per-example errors.

  Raises BatchError on the first example error when config.strict.
  """
  if not chunk:
    return []
  state = _Chunk(groups, chunk, config)
  outputs = _outputs_to_explain(state)
  prepared = _salience_inputs(state, outputs)
  _records_from_salience(state, prepared)
  return [state.records[i] for i in range(len(chunk))]


def _outputs_to_explain(state: _Chunk) -> dict[int, str]:
  """Phase 1: each example's output to explain: its target, or the model's generation."""
  config = state.config
  outputs: dict[int, str] = {}
  to_generate = []
  for i, task in enumerate(state.tasks):
    ex = task.example
    if ex.error:
      state.fail(i, _error("DatasetLineError", ex.error))
    elif not methods_lib.REGISTRY or not state.known:
      state.fail(
        i,
        _error(
          "InputError",
          f"No known method in --methods"
          f" ({', '.join(state.unknown)}); allowed values:"
          f" {', '.join(methods_lib.REGISTRY)}.",
        ),
      )
    elif config.explain == "target":
      if not isinstance(ex.target, str) or not ex.target:
        state.fail(
          i,
          _error(
            "InputError",
            "This example has no target to explain; use"
            " --explain=generation to explain the model's own output.",
          ),
        )
      else:
        outputs[i] = ex.target
    else:
      to_generate.append(i)
  generations = _predict_each(
    state.group.generation,
    [
      {FieldNames.PROMPT: state.tasks[i].example.prompt, **dict(state.tasks[i].example.extra)}
      for i in to_generate
    ],
  )
  for i, gen in zip(to_generate, generations):
    if isinstance(gen, Exception):
      state.fail(i, _error(gen))
    elif not gen[FieldNames.RESPONSE]:
      state.fail(
        i,
        _error(
          "InputError", "The model generated nothing (it stopped at once): nothing to explain."
        ),
      )
    else:
      outputs[i] = gen[FieldNames.RESPONSE]
  return outputs


@dataclass
class _Prepared:
  """An example ready for the salience model."""

  example: dict  # the salience model's input
  tokens: list[str]
  prompt_length: int
  span: spans_lib.Span
  output: str


def _salience_inputs(state: _Chunk, outputs: dict[int, str]) -> dict[int, _Prepared]:
  """Phase 2: tokens, the span to explain, and the salience model's input."""
  config = state.config
  engine = state.group.engine
  selector = spans_lib.compile_selector(config.span)
  settings = config.method_settings()
  prepared: dict[int, _Prepared] = {}
  for i, output in outputs.items():
    ex = state.tasks[i].example
    example = {
      FieldNames.PROMPT: ex.prompt,
      FieldNames.TARGET: output,
      **({FieldNames.FOIL: config.foil} if config.foil else {}),
      **dict(ex.extra),
    }
    try:
      inputs.prompt_of(example)  # its message, without a position in the chunk
      encoded = encoding.encode_example(engine, example, with_mask=False)
      inputs.check_length(
        len(encoded.ids), engine.max_length, "Prompt + output", engine.context_window
      )
      tokens = engine.token_strings(encoded.ids)
      span = spans_lib.select_span(
        tokens, encoded.num_prompt_tokens, selector, config.span_granularity
      )
    except inputs.InputError as e:
      state.fail(i, _error(e))
      continue
    example |= {
      FieldNames.TARGET_MASK: span.mask(len(tokens)),
      FieldNames.SALIENCE_METHODS: [m.name for m in state.known],
      **settings,
    }
    if config.check:  # the deletion check of that method's explanation, at --granularity
      example |= {FieldNames.CHECK: config.check, FieldNames.CHECK_GRANULARITY: config.granularity}
    prepared[i] = _Prepared(example, tokens, encoded.num_prompt_tokens, span, output)
  return prepared


def _records_from_salience(state: _Chunk, prepared: dict[int, _Prepared]) -> None:
  """Phase 3: salience in one call for the chunk (rows of similar length share a
  batch), and each example's record.

  The call goes to the group's salience model class with a cache of its own: a
  result cached from an earlier chunk (another batch, other padding) could
  differ in the last float bits, and a chunk's records must not depend on
  which chunks ran before it (on this worker).
  """
  config = state.config
  specs = regions_lib.parse_specs(config.regions)
  order = sorted(prepared)
  salience_model = type(state.group.salience)(state.group.engine)
  answers = _predict_each(salience_model, [prepared[i].example for i in order])
  for i, answer in zip(order, answers):
    if isinstance(answer, Exception):
      state.fail(i, _error(answer))
      continue
    p = prepared[i]
    segments = _segments(p.tokens, p.prompt_length, config.granularity)
    salience = {}
    for method in state.known:
      scores = np.asarray(answer[method.name], dtype=np.float32).tolist()
      salience[method.name] = {
        "tokens": scores,
        "segments": [float(sum(scores[s["start"] : s["end"]])) for s in segments],
      }
    ex = state.tasks[i].example
    record = _base_record(state.tasks[i]) | {
      "prompt": ex.prompt,
      "target": ex.target,
      "explain": config.explain,
      "generation": p.output if config.explain == "generation" else None,
      "tokens": list(answer[FieldNames.TOKENS]),
      "prompt_length": p.prompt_length,
      "span": {
        "selector": config.span,
        "granularity": config.span_granularity,
        "start": p.span.start,
        "end": p.span.end,
        "text": p.span.text,
      },
      "granularity": config.granularity,
      "segments": segments,
      "methods": [m.name for m in state.known],
      "signed": {m.name: m.signed for m in state.known},
      "salience": salience,
    }
    if state.unknown:
      record["errors"] = [
        {
          "kind": "UnknownMethod",
          "method": n,
          "message": f"Unknown method {n!r}; allowed values: {', '.join(methods_lib.REGISTRY)}.",
        }
        for n in state.unknown
      ]
    if config.check:
      record["check"] = answer[FieldNames.CHECK]
    if specs:
      record["regions"] = regions_lib.example_regions(record, specs)
    state.records[i] = record
