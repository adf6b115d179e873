"""LIT Model wrappers shared by every framework.

A framework contributes an `LMEngine` (tokenize, generate, gradients); the three
LIT models of a group (`NAME`, `_NAME_salience`, `_NAME_tokenizer`) wrap one engine
and own everything framework-independent: input checks, batching, grouping several
target masks of one input into one forward pass, and the salience cache.
"""

from __future__ import annotations

import abc
import collections
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

from lit_seqsal import contract
from lit_seqsal.components import attribution
from lit_seqsal.contract import FieldNames
from lit_seqsal.models import salience_batch
from lit_seqsal.models.salience_batch import SalienceBatch


@dataclass
class Generation:
  text: str
  prompt_embedding: np.ndarray  # mean input embedding over prompt tokens
  response_embedding: np.ndarray  # mean input embedding over generated tokens


class LMEngine(abc.ABC):
  """One loaded causal LM, framework-specific. Wrappers call it under `lock`."""

  pad_id: int  # token that fills rows shorter than their batch

  def __init__(self, *, batch_size: int, max_length: int, max_new_tokens: int):
    if batch_size < 1:
      raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    if max_length < 2:
      raise ValueError(f"max_length must be at least 2, got {max_length}.")
    if max_new_tokens < 1:
      raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}.")
    self.batch_size = batch_size
    self.max_length = max_length
    self.max_new_tokens = max_new_tokens
    # One lock per loaded model: LIT serves requests on threads, and two
    # concurrent forward/backward passes would only fight over the same cores.
    self.lock = threading.RLock()

  @abc.abstractmethod
  def encode(self, text: str) -> list[int]:
    """Token ids of `text`, BOS first."""

  @abc.abstractmethod
  def token_strings(self, ids: Sequence[int]) -> list[str]:
    """Display strings: `▁` marks a word start, newlines stay `\\n`."""

  @abc.abstractmethod
  def generate(self, prompt_ids: Sequence[Sequence[int]]) -> list[Generation]:
    """Continuations of a batch of tokenized prompts (each fits max_length)."""

  @abc.abstractmethod
  def embed(self, ids: np.ndarray) -> np.ndarray:
    """Input embeddings of ids <int>[B, T] as the decoder sees them: <float32>[B, T, H]."""

  @abc.abstractmethod
  def objectives(
      self, embs: np.ndarray, batch: SalienceBatch, *, gradients: bool
  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Runs the model on `embs` <float32>[B, batch.used, H] (instead of the
    embeddings of batch.ids) and returns the summed log-probability of each
    mask's target tokens, <float32>[B, M], and, if `gradients`, the gradient of
    each mask's objective with respect to `embs`, <float32>[M, B, used, H].

    This is the one framework-specific primitive every salience method is built
    on (lit_seqsal.components.attribution); one forward pass serves all masks.
    """

  def gradient_salience(
      self, rows: Sequence[tuple[Sequence[int], np.ndarray]]
  ) -> list[dict[str, np.ndarray]]:
    """Salience for a batch of (token ids, masks <float>[num_masks, num_tokens]).

    For each row returns {method: <float32>[num_masks, num_tokens]} for every
    method in contract.GRADIENT_METHODS, explaining per mask the summed
    log-probability of the masked tokens.
    """
    batch = salience_batch.pack(rows, self.pad_id)
    embs = self.embed(batch.ids[:, :batch.used])
    _, grads = self.objectives(embs, batch, gradients=True)
    return salience_batch.unpack(rows, grads, embs)


class _GroupMember(lit_model.Model):
  """Common parts of the three models of a group."""

  group: "ModelGroup"  # set by make_model_group

  def __init__(self, engine: LMEngine):
    self.engine = engine

  def max_minibatch_size(self) -> int:
    return self.engine.batch_size

  def supports_concurrent_predictions(self) -> bool:
    return False

  def input_spec(self) -> lit_types.Spec:
    return dict(contract.INPUT_SPEC)

  def _ids_of(self, example: dict, index: int) -> tuple[list[int], int]:
    """Ids of prompt + target and how many of them belong to the prompt alone."""
    prompt = contract.prompt_of(example, index=index)
    target = contract.target_of(example)
    prompt_ids = self.engine.encode(prompt)
    if not target:
      return prompt_ids, len(prompt_ids)
    ids = self.engine.encode(prompt + target)
    # Tokens may merge across the prompt/target boundary; count as prompt only
    # the shared prefix, so a merged boundary token is part of the target.
    shared = 0
    for a, b in zip(prompt_ids, ids):
      if a != b:
        break
      shared += 1
    return ids, shared


class GenerationModel(_GroupMember):
  """`NAME`: the model's own continuation of the prompt."""

  def output_spec(self) -> lit_types.Spec:
    return dict(contract.GENERATION_OUTPUT_SPEC)

  def predict(self, inputs: Iterable[dict], **unused_kw) -> list[dict]:
    inputs = list(inputs)
    encoded = []
    for i, ex in enumerate(inputs):
      ids = self.engine.encode(contract.prompt_of(ex, index=i))
      # Leave room for at least one generated token.
      contract.check_length(len(ids) + 1, self.engine.max_length, "The prompt plus one generated token")
      encoded.append(ids)
    # Batch prompts of similar length together: padding a short prompt to a long
    # one's width costs a full generation step per padded position.
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    outputs: list[Generation | None] = [None] * len(encoded)
    for start in range(0, len(order), self.engine.batch_size):
      chunk = order[start:start + self.engine.batch_size]
      with self.engine.lock:
        generations = self.engine.generate([encoded[i] for i in chunk])
      for i, g in zip(chunk, generations):
        outputs[i] = g
    return [{
        FieldNames.RESPONSE: g.text,
        FieldNames.PROMPT_EMBEDDINGS: g.prompt_embedding,
        FieldNames.RESPONSE_EMBEDDINGS: g.response_embedding,
    } for g in outputs]


class TokenizerModel(_GroupMember):
  """`_NAME_tokenizer`: the tokens of prompt + target, as salience sees them."""

  def output_spec(self) -> lit_types.Spec:
    return dict(contract.TOKENIZER_OUTPUT_SPEC)

  def predict(self, inputs: Iterable[dict], **unused_kw) -> list[dict]:
    return [
        {FieldNames.TOKENS: self.engine.token_strings(self._ids_of(ex, i)[0])}
        for i, ex in enumerate(inputs)
    ]


class SalienceModel(_GroupMember):
  """`_NAME_salience`: salience of the target_mask tokens' log-probability.

  By default returns the gradient methods. Inputs that share prompt + target
  but differ in target_mask share one forward pass; their gradients come from
  one backward pass per mask over the retained graph, so a client can prefetch
  every segment of an output in one request. The costlier methods
  (integrated gradients, occlusion) run only for inputs that list them in
  `salience_methods`. Results are cached per (input tokens, mask, method and
  its settings).
  """

  def __init__(self, engine: LMEngine, cache_size: int = 4096):
    super().__init__(engine)
    self._cache: collections.OrderedDict = collections.OrderedDict()
    self._cache_size = cache_size

  def input_spec(self) -> lit_types.Spec:
    return dict(contract.SALIENCE_INPUT_SPEC)

  def output_spec(self) -> lit_types.Spec:
    return dict(contract.SALIENCE_OUTPUT_SPEC)

  def _cache_get(self, key):
    hit = self._cache.get(key)
    if hit is not None:
      self._cache.move_to_end(key)
    return hit

  def _cache_put(self, key, value) -> None:
    self._cache[key] = value
    self._cache.move_to_end(key)
    while len(self._cache) > self._cache_size:
      self._cache.popitem(last=False)

  def prepare(self, example: dict, index: int = 0) -> tuple[tuple[int, ...], np.ndarray]:
    """Token ids of prompt + target and the checked 0/1 mask of tokens to explain."""
    ids, num_prompt = self._ids_of(example, index)
    contract.check_length(len(ids), self.engine.max_length, "Prompt + target")
    return tuple(ids), contract.target_mask_for(example, len(ids), num_prompt)

  @staticmethod
  def _settings(example: dict, method: str):
    """The cache key part of a method: its name and the settings it depends on."""
    if method == FieldNames.INTEGRATED_GRADIENTS:
      steps = example.get(FieldNames.IG_STEPS)
      return method, contract.check_steps(contract.DEFAULT_IG_STEPS if steps is None else steps)
    if method == FieldNames.OCCLUSION:
      granularity = example.get(FieldNames.OCCLUSION_GRANULARITY) \
          or contract.DEFAULT_OCCLUSION_GRANULARITY
      return method, contract.check_granularity(granularity)
    return method, None

  def predict(self, inputs: Iterable[dict], **unused_kw) -> list[dict]:
    inputs = list(inputs)
    prepared = []  # (ids, mask, {method: cache key part}) per input
    for i, ex in enumerate(inputs):
      ids, mask = self.prepare(ex, i)
      methods = contract.requested_methods(ex)
      prepared.append((ids, mask, {m: self._settings(ex, m) for m in methods}))

    # Cache misses, grouped by how they are computed: the gradient methods
    # together, each costlier method per setting. Within a kind, one entry per
    # token sequence with its distinct masks.
    todo: dict[tuple, dict[tuple, dict[bytes, np.ndarray]]] = collections.OrderedDict()
    for ids, mask, methods in prepared:
      for method, setting in methods.items():
        if self._cache_get((ids, mask.tobytes(), setting)) is None:
          kind = ("gradients", None) if method in contract.GRADIENT_METHODS else setting
          todo.setdefault(kind, collections.OrderedDict()).setdefault(
              ids, {})[mask.tobytes()] = mask
    for kind, by_ids in todo.items():
      self._compute(kind, [(list(ids), np.stack(list(masks.values())))
                           for ids, masks in by_ids.items()])

    tokens_by_ids: dict[tuple, list[str]] = {}
    outputs = []
    for ids, mask, methods in prepared:
      if ids not in tokens_by_ids:
        tokens_by_ids[ids] = self.engine.token_strings(ids)
      out = {FieldNames.TOKENS: tokens_by_ids[ids]}
      for method, setting in methods.items():
        out[method] = self._cache_get((ids, mask.tobytes(), setting))
      outputs.append(out)
    return outputs

  def _compute(self, kind: tuple, rows: list[tuple[list[int], np.ndarray]]) -> None:
    """Runs one kind of method on rows of (ids, masks) and caches every mask's scores."""
    method, setting = kind
    if method == "gradients":
      for start in range(0, len(rows), self.engine.batch_size):
        chunk = rows[start:start + self.engine.batch_size]
        with self.engine.lock:
          scores = self.engine.gradient_salience(chunk)
        for (ids, masks), row in zip(chunk, scores):
          for m in contract.GRADIENT_METHODS:
            for mask, values in zip(masks, row[m]):
              self._cache_put((tuple(ids), mask.tobytes(), (m, None)), values)
      return
    if method == FieldNames.INTEGRATED_GRADIENTS:
      results = attribution.integrated_gradients(self.engine, rows, steps=setting)
      per_mask = [list(r.scores) for r in results]
    else:
      results = attribution.occlusion(self.engine, rows, setting)
      per_mask = [[o.scores for o in r] for r in results]
    for (ids, masks), values in zip(rows, per_mask):
      for mask, scores in zip(masks, values):
        self._cache_put((tuple(ids), mask.tobytes(), kind), scores)


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
  group = ModelGroup(name, engine, GenerationModel(engine), SalienceModel(engine),
                     TokenizerModel(engine))
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
  while model is not None and seen < 8:
    group = getattr(model, "group", None)
    if isinstance(group, ModelGroup):
      return group
    model = getattr(model, "wrapped", None)
    seen += 1
  return None
