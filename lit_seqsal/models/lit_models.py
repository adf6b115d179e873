"""The three LIT models of a group, over one engine (docs/architecture.md).

`NAME` generates, `_NAME_tokenizer` tokenizes and `_NAME_salience` explains.
They wrap one `LMEngine` (lit_seqsal/engine/base.py) and own what LIT needs around
it: specs, batching of requests, grouping several target masks of one input
into one computation, and the salience cache. Every salience method comes from
the registry (lit_seqsal/salience/methods.py).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

from lit_seqsal import contract, work
from lit_seqsal.contract import FieldNames
from lit_seqsal.engine import encoding
from lit_seqsal.engine.base import LMEngine
from lit_seqsal.engine.batching import Row
from lit_seqsal.inputs import check_length, stop_of
from lit_seqsal.salience import gradients, methods
from lit_seqsal.work import units
from lit_seqsal.work.cache import ByteLRU

# All gradient methods come from one pass, so a request for one caches all.
_GRADIENT_PASS = ("gradients",)
# The model's top next tokens returned at each explained span's first token.
NUM_ALTERNATIVES = 5
_MISSING = object()


class _GroupMember(lit_model.Model):
  """Common parts of the three models of a group."""

  group: ModelGroup  # set by make_model_group

  def __init__(self, engine: LMEngine):
    self.engine = engine

  def max_minibatch_size(self) -> int:
    return self.engine.batch_size

  @property
  def supports_concurrent_predictions(self) -> bool:
    """True, on purpose: LIT's caching wrapper then locks each set of examples on
    its own instead of the whole model, so a light request is never queued
    behind a heavy one before it reaches us. Model work is still one unit at a
    time: the engine's ModelLock (lit_seqsal/work/model_lock.py) takes turns,
    light work first. False here would serialise every request to the model."""
    return True

  def input_spec(self) -> lit_types.Spec:
    return dict(contract.INPUT_SPEC)


class GenerationModel(_GroupMember):
  """`NAME`: the model's own continuation of the prompt."""

  def input_spec(self) -> lit_types.Spec:
    return dict(contract.GENERATION_INPUT_SPEC)

  def output_spec(self) -> lit_types.Spec:
    return dict(contract.GENERATION_OUTPUT_SPEC)

  def predict(self, inputs: Iterable[dict], **unused_kw) -> list[dict]:
    encoded, stops = [], []
    for i, ex in enumerate(inputs):
      ids, _ = encoding.encode_prompt(self.engine, ex, i)
      # Leave room for at least one generated token.
      check_length(len(ids) + 1, self.engine.max_length, "The prompt plus one generated token")
      encoded.append(ids)
      stops.append(stop_of(ex))
    return [
      {
        FieldNames.RESPONSE: g.text,
        FieldNames.PROMPT_EMBEDDINGS: g.prompt_embedding,
        FieldNames.RESPONSE_EMBEDDINGS: g.response_embedding,
      }
      for g in self.engine.generate(encoded, stops)
    ]


class TokenizerModel(_GroupMember):
  """`_NAME_tokenizer`: the tokens of prompt + target, as salience sees them."""

  def output_spec(self) -> lit_types.Spec:
    return dict(contract.TOKENIZER_OUTPUT_SPEC)

  def predict(self, inputs: Iterable[dict], **unused_kw) -> list[dict]:
    outputs = []
    for i, ex in enumerate(inputs):
      encoded = encoding.encode_example(self.engine, ex, i, with_mask=False)
      outputs.append(
        _with_turns({FieldNames.TOKENS: self.engine.token_strings(encoded.ids)}, encoded)
      )
    return outputs


class SalienceModel(_GroupMember):
  """`_NAME_salience`: salience of the target_mask tokens' log-probability.

  By default returns the registry's default methods (the gradient methods).
  Inputs that share prompt + target but differ in target_mask share one
  computation (for the gradient methods: one forward pass, one backward pass per
  mask), so a client can prefetch every segment of an output in one request.
  Costly methods run only for inputs that list them in `salience_methods`.
  Results are cached per (input tokens, mask, method and its settings).
  """

  def __init__(self, engine: LMEngine, cache: ByteLRU | None = None):
    super().__init__(engine)
    self.cache = cache if cache is not None else ByteLRU()

  def input_spec(self) -> lit_types.Spec:
    return contract.salience_input_spec(methods.REGISTRY.values())

  def output_spec(self) -> lit_types.Spec:
    return contract.salience_output_spec(methods.REGISTRY.values())

  def predict(self, inputs: Iterable[dict], **unused_kw) -> list[dict]:
    """Scores per input (costly methods report progress to the current Work)."""
    prepared, found, todo = self._plan(inputs)
    for computation, rows in todo.items():
      found.update(self._compute(computation, rows))

    # Answers come from `found` (what this call looked up or computed), not from
    # the cache again: another request may have evicted them meanwhile.
    tokens_by_ids: dict[tuple, list[str]] = {}
    outputs = []
    for encoded, requested in prepared:
      if encoded.ids not in tokens_by_ids:
        tokens_by_ids[encoded.ids] = self.engine.token_strings(encoded.ids)
      out = _with_turns({FieldNames.TOKENS: tokens_by_ids[encoded.ids]}, encoded)
      for method, settings in requested:
        out[method.name] = found[_key(encoded, method.name, settings)]
        if method.from_gradients:
          out[FieldNames.ALTERNATIVES] = found[_key(encoded, FieldNames.ALTERNATIVES, ())]
      outputs.append(out)
    return outputs

  def estimate(self, inputs: Iterable[dict]) -> units.Cost | None:
    """The model work predict(inputs) would do, before doing it (cached results
    cost nothing); None when a requested method cannot say."""
    _, _, todo = self._plan(inputs)
    cost = units.Cost()
    for computation, rows in todo.items():
      if computation == _GRADIENT_PASS:
        part = gradients.gradient_cost(self.engine, rows)
      else:
        name, settings = computation
        part = methods.REGISTRY[name].model_work(self.engine, rows, settings)
      if part is None:
        return None
      cost += part
    return cost

  def _plan(self, inputs: Iterable[dict]) -> tuple[list, dict, dict[tuple, list[Row]]]:
    """(each input encoded with its requested (method, settings); the results
    found in the cache by key; the rows each missing computation needs)."""
    prepared = []  # (encoded example, [(method, settings)]) per input
    for i, ex in enumerate(inputs):
      encoded = encode_within_budget(self.engine, ex, i)
      prepared.append((encoded, [(m, m.settings_of(ex)) for m in methods.requested(ex)]))

    # Cache misses by computation (all gradient methods together, each costlier
    # method per setting); within one, each token sequence with its distinct
    # masks (a contrastive input is a row of its own: one span, one foil).
    found: dict[tuple, object] = {}
    todo: dict[tuple, dict[tuple, tuple]] = collections.OrderedDict()
    for encoded, requested in prepared:
      for method, settings in requested:
        keys = [_key(encoded, method.name, settings)]
        if method.from_gradients:
          keys.append(_key(encoded, FieldNames.ALTERNATIVES, ()))
        values = [self.cache.get(key, _MISSING) for key in keys]
        if all(v is not _MISSING for v in values):
          found.update(zip(keys, values))
          continue
        computation = _GRADIENT_PASS if method.from_gradients else (method.name, settings)
        row_key = (
          encoded.ids,
          encoded.foil_ids,
          encoded.mask.tobytes() if encoded.foil_ids else None,
        )
        _, _, masks = todo.setdefault(computation, collections.OrderedDict()).setdefault(
          row_key, (encoded.ids, encoded.foil_ids, {})
        )
        masks[encoded.mask.tobytes()] = encoded.mask
    rows_by_computation = {
      computation: [
        (list(ids), np.stack(list(masks.values()))) + ((list(foil),) if foil is not None else ())
        for ids, foil, masks in by_row.values()
      ]
      for computation, by_row in todo.items()
    }
    return prepared, found, rows_by_computation

  def _compute(self, computation: tuple, rows: list[Row]) -> dict[tuple, object]:
    """Runs one computation on rows of (ids, masks[, foil]); every mask's scores
    by cache key, also put in the cache."""
    if computation == _GRADIENT_PASS:
      results = methods.gradient_methods_run(
        self.engine, rows, methods.REGISTRY.values(), alternatives=NUM_ALTERNATIVES
      )
      for row in results:
        top_ids, top_logprobs = row.pop(gradients.ALTERNATIVES)
        # Each alternative is one token on its own (a token holding part of a
        # character shows U+FFFD).
        row[FieldNames.ALTERNATIVES] = [
          list(
            zip(
              [self.engine.token_strings([int(i)])[0] for i in ids],
              np.exp(lps).astype(float).tolist(),
            )
          )
          for ids, lps in zip(top_ids, top_logprobs)
        ]
      settings = ()
    else:
      name, settings = computation
      scores = methods.REGISTRY[name].run(self.engine, rows, settings)
      results = [{name: s} for s in scores]
    computed = {}
    for row, row_results in zip(rows, results):
      ids, masks, foil_ids = tuple(row[0]), row[1], row[2:]  # (ids, masks[, foil])
      foil = tuple(foil_ids[0]) if foil_ids else None
      for name, per_mask in row_results.items():
        for mask, values in zip(masks, per_mask):
          key = (ids, foil, mask.tobytes(), name, settings)
          computed[key] = values
          self.cache.put(key, values)
    return computed


def encode_within_budget(
  engine: LMEngine, example: dict, index: int = 0
) -> encoding.EncodedExample:
  """The example encoded with its mask, within the current request's token budget
  (--max_input_tokens; none outside a server): TooLarge before any model work."""
  encoded = encoding.encode_example(engine, example, index)
  limits = work.current().limits
  limits.check("max_input_tokens", len(encoded.ids), "Prompt + target, in tokens,")
  if encoded.foil_ids is not None:
    limits.check("max_input_tokens", encoded.longest, "The context plus the foil, in tokens,")
  return encoded


def _with_turns(output: dict, encoded: encoding.EncodedExample) -> dict:
  if encoded.turns is not None:
    output[FieldNames.TOKEN_TURNS] = list(encoded.turns)
  return output


def _key(encoded: encoding.EncodedExample, method: str, settings: tuple) -> tuple:
  return (encoded.ids, encoded.foil_ids, encoded.checked_mask().tobytes(), method, settings)


@dataclass
class ModelGroup:
  """The three LIT models of one loaded LM; each member links back to it."""

  name: str
  engine: LMEngine
  generation: GenerationModel
  salience: SalienceModel
  tokenizer: TokenizerModel


def make_model_group(name: str, engine: LMEngine) -> dict[str, lit_model.Model]:
  """The three LIT models of one loaded LM, sharing its weights and lock."""
  group = ModelGroup(
    name, engine, GenerationModel(engine), SalienceModel(engine), TokenizerModel(engine)
  )
  for member in (group.generation, group.salience, group.tokenizer):
    member.group = group
  return {
    name: group.generation,
    contract.salience_model_name(name): group.salience,
    contract.tokenizer_model_name(name): group.tokenizer,
  }


def group_of(model: lit_model.Model) -> ModelGroup | None:
  """The group a LIT model belongs to, looking through LIT's wrappers (caching)."""
  seen = 0
  current: object = model
  while current is not None and seen < 8:
    group = getattr(current, "group", None)
    if isinstance(group, ModelGroup):
      return group
    current = getattr(current, "wrapped", None)
    seen += 1
  return None
