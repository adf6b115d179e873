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
from lit_seqsal.contract import FieldNames


@dataclass
class Generation:
  text: str
  prompt_embedding: np.ndarray  # mean input embedding over prompt tokens
  response_embedding: np.ndarray  # mean input embedding over generated tokens


class LMEngine(abc.ABC):
  """One loaded causal LM, framework-specific. Wrappers call it under `lock`."""

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
  def gradient_salience(
      self, rows: Sequence[tuple[Sequence[int], np.ndarray]]
  ) -> list[dict[str, np.ndarray]]:
    """Salience for a batch of (token ids, masks <float>[num_masks, num_tokens]).

    For each row returns {method: <float32>[num_masks, num_tokens]} for every
    method in contract.GRADIENT_METHODS, explaining per mask the summed
    log-probability of the masked tokens.
    """


class _GroupMember(lit_model.Model):
  """Common parts of the three models of a group."""

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
  """`_NAME_salience`: gradient salience of the target_mask tokens' log-probability.

  Inputs in one call that share prompt + target but differ in target_mask share
  one forward pass; their gradients come from one backward pass per mask over
  the retained graph. So a client can prefetch every segment of an output in one
  request. Results are cached per (input tokens, mask).
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

  def predict(self, inputs: Iterable[dict], **unused_kw) -> list[dict]:
    inputs = list(inputs)
    prepared = []  # (ids, mask) per input
    for i, ex in enumerate(inputs):
      ids, num_prompt = self._ids_of(ex, i)
      contract.check_length(len(ids), self.engine.max_length, "Prompt + target")
      mask = contract.target_mask_for(ex, len(ids), num_prompt)
      prepared.append((tuple(ids), mask))

    results: list[dict | None] = [None] * len(inputs)
    # Group cache misses by token sequence: one forward pass per distinct input.
    groups: dict[tuple, list[tuple[int, np.ndarray]]] = collections.OrderedDict()
    for i, (ids, mask) in enumerate(prepared):
      hit = self._cache_get((ids, mask.tobytes()))
      if hit is not None:
        results[i] = hit
      else:
        groups.setdefault(ids, []).append((i, mask))

    group_items = list(groups.items())
    for start in range(0, len(group_items), self.engine.batch_size):
      chunk = group_items[start:start + self.engine.batch_size]
      rows = []
      for ids, members in chunk:
        # Identical masks within a group are computed once.
        unique = list({m.tobytes(): m for _, m in members}.values())
        rows.append((list(ids), np.stack(unique)))
      with self.engine.lock:
        scores = self.engine.gradient_salience(rows)
      for (ids, members), (_, masks), row_scores in zip(chunk, rows, scores):
        for j, mask in enumerate(masks):
          key = (ids, mask.tobytes())
          self._cache_put(key, {m: row_scores[m][j] for m in contract.GRADIENT_METHODS})
        for i, mask in members:
          results[i] = self._cache_get((ids, mask.tobytes()))

    tokens_by_ids: dict[tuple, list[str]] = {}
    outputs = []
    for (ids, _), scores in zip(prepared, results):
      if ids not in tokens_by_ids:
        tokens_by_ids[ids] = self.engine.token_strings(ids)
      outputs.append({FieldNames.TOKENS: tokens_by_ids[ids], **scores})
    return outputs


def make_model_group(name: str, engine: LMEngine) -> dict[str, lit_model.Model]:
  """The three LIT models of one loaded LM, sharing its weights and lock."""
  return {
      name: GenerationModel(engine),
      contract.salience_model_name(name): SalienceModel(engine),
      contract.tokenizer_model_name(name): TokenizerModel(engine),
  }
