"""The engine interface: one loaded causal LM, whatever framework runs it.

A framework contributes a subclass of `LMEngine` (lit_seqsal/models/
transformers_engine.py, lit_seqsal/models/keras_engine.py) that tokenizes,
generates token ids, and implements the two primitives every salience method is
written on (docs/architecture.md, "Engine primitives"):

- `embed(ids)`: the input embeddings the decoder sees;
- `objectives(embs, batch, gradients=)`: for each target mask, the summed
  log-probability of its target tokens when the model runs on `embs`, and
  optionally its gradient with respect to `embs` (one forward pass for all
  masks, one backward pass per mask).

Everything else shared by the frameworks lives here: the engine's lock, cutting
generations at stop tokens, mean embeddings, packing (ids, masks) rows into one
`SalienceBatch`, and `encode_example`, which turns a LIT example into token ids
and the mask of tokens to explain.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lit_seqsal import chat, inputs, work
from lit_seqsal.progress import Progress

# (token ids, masks <float32>[num_masks, num_tokens]): one input and the target
# masks to explain on it, the unit every salience computation works on. A
# contrastive row adds the foil's token ids: (ids, mask [1, num_tokens], foil
# ids), explaining log P(span | context) - log P(foil | context), where the span
# is the mask's contiguous run of tokens (lit_seqsal/salience/contrastive.py).
Row = tuple  # (ids, masks) or (ids, masks, foil_ids)


@dataclass
class Objectives:
  """What `LMEngine.objectives` returns for a batch of B rows and M masks."""
  values: np.ndarray  # <float32>[B, M]: summed target log-probability per mask
  grads: np.ndarray | None  # <float32>[M, B, used, H], when gradients were asked for
  # When `alternatives=k` was asked for: the model's top k next tokens at each of
  # the batch's target positions (batch.positions), from the logits it computed
  # anyway: log-probabilities <float32>[B, K, k] and token ids <int>[B, K, k].
  top_logprobs: np.ndarray | None = None
  top_ids: np.ndarray | None = None


@dataclass
class Generation:
  text: str
  prompt_embedding: np.ndarray  # mean input embedding over prompt tokens
  response_embedding: np.ndarray  # mean input embedding over generated tokens


# -- examples to token ids ----------------------------------------------------


@dataclass(frozen=True)
class EncodedExample:
  ids: tuple[int, ...]  # prompt + target, BOS first
  num_prompt_tokens: int  # how many of them belong to the prompt alone
  mask: np.ndarray | None  # <float32>[len(ids)]: tokens to explain (with_mask=True)
  foil_ids: tuple[int, ...] | None = None  # the `foil`'s tokens, for contrastive salience
  # With a chat template: "<turn>:<role>" per token ("template" for its own tokens).
  turns: tuple[str, ...] | None = None

  @property
  def row(self) -> Row:
    """The example as a salience row (contrastive when it has a foil)."""
    if self.foil_ids is None:
      return (list(self.ids), self.mask[None])
    return (list(self.ids), self.mask[None], list(self.foil_ids))


def encode_prompt(engine: LMEngine, example: dict, index: int = 0
                  ) -> tuple[list[int], tuple[str, ...] | None]:
  """Token ids of an example's prompt as the model sees it (in its chat template
  when it has one: lit_seqsal/chat.py), and the tokens' turn tags if templated."""
  prompt = inputs.prompt_of(example, index=index)
  conversation = (chat.conversation_of(example, engine.chat_markers)
                  if engine.uses_chat_template else None)
  if conversation is None:
    return engine.encode(prompt), None
  ids, tags = engine.encode_chat(conversation)
  return list(ids), tuple(tags)


def encode_example(engine: LMEngine, example: dict, index: int = 0, *,
                   with_mask: bool = True) -> EncodedExample:
  """Token ids of an example's prompt + target and, with `with_mask`, the checked
  mask of tokens to explain (its `target_mask`, else every target token).

  Raises inputs.InputError for a missing or empty prompt, a bad mask, or an
  input over the engine's length limit.
  """
  prompt = inputs.prompt_of(example, index=index)
  target = inputs.target_of(example)
  prompt_ids, turns = encode_prompt(engine, example, index)
  if turns is not None:
    # The target is the model's turn, which the template's generation prompt opened.
    target_ids = engine.encode_continuation(target) if target else []
    model_turn = turns[-1].split(":")[0]
    ids, num_prompt = prompt_ids + target_ids, len(prompt_ids)
    turns = turns + (f"{model_turn}:model",) * len(target_ids)
  elif target:
    ids = engine.encode(prompt + target)
    # Tokens may merge across the prompt/target boundary; count as prompt only
    # the shared prefix, so a merged boundary token is part of the target.
    num_prompt = 0
    for a, b in zip(prompt_ids, ids):
      if a != b:
        break
      num_prompt += 1
  else:
    ids, num_prompt = prompt_ids, len(prompt_ids)
  if not with_mask:
    return EncodedExample(tuple(ids), num_prompt, None, turns=turns)
  inputs.check_length(len(ids), engine.max_length, "Prompt + target")
  work.current().limits.check("max_input_tokens", len(ids), "Prompt + target, in tokens,")
  mask = inputs.target_mask_for(example, len(ids), num_prompt)
  foil = inputs.foil_of(example)
  if foil is None:
    return EncodedExample(tuple(ids), num_prompt, mask, turns=turns)
  start, _ = inputs.contiguous_span(mask)
  # The foil replaces the span's text: if the span starts a word, so does the foil.
  if engine.token_strings([ids[start]])[0].startswith("▁") and not foil[:1].isspace():
    foil = " " + foil
  foil_ids = engine.encode_continuation(foil)
  inputs.check_length(start + len(foil_ids), engine.max_length, "The context plus the foil")
  work.current().limits.check("max_input_tokens", start + len(foil_ids),
                              "The context plus the foil, in tokens,")
  return EncodedExample(tuple(ids), num_prompt, mask, tuple(foil_ids), turns)


# -- salience batches -----------------------------------------------------------


@dataclass
class SalienceBatch:
  """Rows of (ids, masks) packed for one call of `LMEngine.objectives`."""
  ids: np.ndarray  # int64 [B, W], right-padded with pad_id
  attention: np.ndarray  # int32 [B, W], 1 on real tokens
  weights: np.ndarray  # float32 [B, M, K]: weight of target position k in mask m
  positions: np.ndarray  # int64 [K]: token positions some mask selects
  labels: np.ndarray  # int64 [B, K]: the tokens at those positions
  used: int  # tokens the model must see: everything before the last target
  num_masks: int
  # > 0: every row starts with the same `shared_prefix` tokens (same ids and
  # embeddings), and the caller wants, per mask, the gradient of the objective
  # summed over rows (a contrastive pair): an engine may then run the prefix
  # once, its whole gradient landing on row 0 (lit_seqsal/salience/contrastive.py).
  shared_prefix: int = 0


def pack(rows: Sequence[Row], pad_id: int) -> SalienceBatch:
  """Rows of (ids, masks) in one batch; mask weights may be negative (a
  contrastive row's foil, lit_seqsal/salience/contrastive.py)."""
  rows = [row[:2] for row in rows]
  width = max(len(ids) for ids, _ in rows)
  batch = len(rows)
  num_masks = max(masks.shape[0] for _, masks in rows)
  ids = np.full((batch, width), pad_id, dtype=np.int64)
  attention = np.zeros((batch, width), dtype=np.int32)
  # Rows with fewer masks get all-zero extra masks (their gradients are dropped).
  full_weights = np.zeros((batch, num_masks, width), dtype=np.float32)
  for b, (row_ids, masks) in enumerate(rows):
    # Right padding keeps every real token at its natural position; causal
    # attention means no real token ever sees the padding.
    ids[b, :len(row_ids)] = row_ids
    attention[b, :len(row_ids)] = 1
    full_weights[b, :masks.shape[0], :len(row_ids)] = masks
  positions = np.nonzero(np.abs(full_weights).sum((0, 1)) > 0)[0].astype(np.int64)
  if positions.size == 0 or positions[0] < 1:
    raise ValueError("Every mask must select at least one token after position 0.")
  # Causality: tokens from the last target on never influence any target's
  # probability, so the model runs only on the tokens before it.
  used = int(positions.max())
  return SalienceBatch(
      ids=ids,
      attention=attention,
      weights=full_weights[:, :, positions],
      positions=positions,
      labels=ids[:, positions],
      used=used,
      num_masks=num_masks,
  )


def take_rows(batch: SalienceBatch, rows: Sequence[int]) -> SalienceBatch:
  """The batch made of `rows` of `batch` (repeats allowed), same positions."""
  rows = np.asarray(rows, dtype=np.int64)
  return SalienceBatch(
      ids=batch.ids[rows], attention=batch.attention[rows], weights=batch.weights[rows],
      positions=batch.positions, labels=batch.labels[rows], used=batch.used,
      num_masks=batch.num_masks)


def per_row(rows: Sequence[Row], scores: np.ndarray) -> list[np.ndarray]:
  """Scores [M, B, used] as one [num_masks, num_tokens] array per row.

  Tokens from `used` on get zero: they cannot influence any target.
  """
  used = scores.shape[2]
  out = []
  for b, (ids, masks) in enumerate(rows):
    n, m = len(ids), masks.shape[0]
    row = np.zeros((m, n), dtype=np.float32)
    row[:, :min(used, n)] = scores[:m, b, :n]
    out.append(row)
  return out


# -- the engine -------------------------------------------------------------------


class LMEngine(abc.ABC):
  """One loaded causal LM. Thread-safe: it takes its own lock around model work.

  Subclasses implement the abstract methods; generation post-processing, the
  lock and batching by length are shared here.
  """

  pad_id: int  # token that fills rows shorter than their batch
  bos_id: int | None  # the token every encoded text starts with, if any
  stop_ids: frozenset[int]  # generation ends at the first of these (pad included)
  # Prompts go in as a conversation in the model's chat template (lit_seqsal/chat.py).
  uses_chat_template: bool = False
  chat_markers: tuple[str, ...] = ()  # a prompt holding one of these is already templated

  def __init__(self, *, batch_size: int, max_length: int, max_new_tokens: int,
               stop_sequences: Sequence[str] = ()):
    if batch_size < 1:
      raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    if max_length < 2:
      raise ValueError(f"max_length must be at least 2, got {max_length}.")
    if max_new_tokens < 1:
      raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}.")
    self.batch_size = batch_size
    self.max_length = max_length
    self.max_new_tokens = max_new_tokens
    self.stop_sequences = tuple(stop_sequences)  # end every generation (plus its own)
    # One lock per loaded model, held for one model batch at a time: LIT serves
    # requests on threads, and two concurrent passes would only fight over the
    # same cores (and memory). It hands the model to light work first and stops
    # cancelled or overdue work (lit_seqsal/work.py). Reentrant, so primitives
    # may call each other.
    self.lock = work.ModelLock()

  # -- framework-specific ------------------------------------------------------

  @abc.abstractmethod
  def encode(self, text: str) -> list[int]:
    """Token ids of `text`, BOS first."""

  @abc.abstractmethod
  def token_strings(self, ids: Sequence[int]) -> list[str]:
    """Display strings: `▁` marks a word start, newlines stay `\\n` (lit_seqsal/tokens.py)."""

  def encode_continuation(self, text: str) -> list[int]:
    """Token ids of `text` as it continues a sequence: no BOS."""
    ids = self.encode(text)
    return ids[1:] if ids and ids[0] == self.bos_id else ids

  def encode_chat(self, messages: Sequence[dict[str, str]]) -> tuple[list[int], list[str]]:
    """Token ids of a conversation in the model's chat template, ending with the
    prompt for the model's turn, and each token's turn tag (lit_seqsal/chat.py)."""
    raise NotImplementedError(f"{type(self).__name__} has no chat template.")

  @abc.abstractmethod
  def decode(self, ids: Sequence[int]) -> str:
    """Text of generated token ids, special tokens left out."""

  @abc.abstractmethod
  def _generate_ids(self, prompt_ids: Sequence[Sequence[int]],
                    stop_sequences: Sequence[str]) -> list[list[int]]:
    """Up to max_new_tokens new token ids per prompt (may run past a stop token or
    a stop sequence: generate() cuts there; stopping early only saves work)."""

  @abc.abstractmethod
  def _embed(self, ids: np.ndarray) -> np.ndarray:
    """See embed()."""

  @abc.abstractmethod
  def _objectives(self, embs: np.ndarray, batch: SalienceBatch, gradients: bool,
                  alternatives: int) -> Objectives:
    """See objectives()."""

  # -- shared ------------------------------------------------------------------

  def embed(self, ids: np.ndarray) -> np.ndarray:
    """Input embeddings of ids <int>[B, T] as the decoder sees them: <float32>[B, T, H]."""
    with self.lock:
      return self._embed(np.asarray(ids))

  def objectives(self, embs: np.ndarray, batch: SalienceBatch, *, gradients: bool,
                 alternatives: int = 0) -> Objectives:
    """Runs the model on `embs` <float32>[B, batch.used, H] (instead of the
    embeddings of batch.ids) and returns the summed log-probability of each
    mask's target tokens, <float32>[B, M], and, if `gradients`, the gradient of
    each mask's objective with respect to `embs`, <float32>[M, B, used, H]; with
    `alternatives=k`, also the top k next tokens at every target position.

    The one framework-specific primitive every salience method is built on
    (lit_seqsal/salience/); one forward pass serves all masks.
    """
    with self.lock:
      return self._objectives(embs, batch, gradients, alternatives)

  def generate(self, prompt_ids: Sequence[Sequence[int]],
               stops: Sequence[Sequence[str]] | None = None) -> list[Generation]:
    """Continuations of tokenized prompts (each fits max_length), in order, each
    ending at the first of the engine's stop sequences and its own `stops`.

    Prompts with the same stop sequences and of similar length are batched
    together: padding a short prompt to a long one's width costs a generation
    step per padded position.
    """
    encoded = [list(ids) for ids in prompt_ids]
    stops = [tuple(dict.fromkeys(self.stop_sequences + tuple(s or ())))
             for s in (stops or [()] * len(encoded))]
    order = sorted(range(len(encoded)), key=lambda i: (stops[i], len(encoded[i])))
    chunks, chunk = [], []
    for i in order:
      if chunk and (len(chunk) == self.batch_size or stops[chunk[0]] != stops[i]):
        chunks.append(chunk)
        chunk = []
      chunk.append(i)
    if chunk:
      chunks.append(chunk)
    outputs: list[Generation | None] = [None] * len(encoded)
    progress = Progress(f"Generation for {len(encoded)} prompts", len(encoded))
    with work.heavy():
      for chunk in chunks:
        with self.lock:
          generated = self._generate_ids([encoded[i] for i in chunk], stops[chunk[0]])
          for i, new_ids in zip(chunk, generated):
            outputs[i] = self._generation(encoded[i], self.cut_at_stop(new_ids), stops[i])
        progress.advance(len(chunk))
    return outputs

  def cut_at_stop(self, new_ids: Sequence[int]) -> list[int]:
    """Generated ids up to (not including) the first stop or pad token."""
    new_ids = [int(t) for t in new_ids]
    stops = self.stop_ids | {self.pad_id}
    cut = next((k for k, t in enumerate(new_ids) if t in stops), len(new_ids))
    return new_ids[:cut]

  def cut_at_stop_sequence(self, new_ids: Sequence[int], stops: Sequence[str]
                           ) -> tuple[list[int], str]:
    """Generated ids up to the token that completes the first stop sequence, and
    the text before that sequence. Matched on the decoded text, so a stop
    sequence split across tokens (or inside one) is found all the same."""
    text = self.decode(new_ids) if new_ids else ""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    if not found:
      return list(new_ids), text
    # The shortest prefix of tokens whose text holds a stop sequence.
    k = next(k for k in range(1, len(new_ids) + 1)
             if any(s in self.decode(new_ids[:k]) for s in stops))
    return list(new_ids[:k]), text[:min(found)]

  def _generation(self, prompt_ids: Sequence[int], new_ids: Sequence[int],
                  stops: Sequence[str] = ()) -> Generation:
    new_ids, text = self.cut_at_stop_sequence(new_ids, stops)
    prompt_emb = self.mean_embedding(prompt_ids)
    response_emb = self.mean_embedding(new_ids) if new_ids else np.zeros_like(prompt_emb)
    return Generation(text, prompt_emb, response_emb)

  def mean_embedding(self, ids: Sequence[int]) -> np.ndarray:
    return self.embed(np.asarray([list(ids)]))[0].mean(0)
