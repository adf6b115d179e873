"""The engine interface: one loaded causal LM, whatever framework runs it.

A framework contributes a subclass of `LMEngine` (lit_seqsal/models/
transformers_engine.py, lit_seqsal/models/keras_engine.py) that tokenizes,
generates token ids, and implements the two primitives every salience method is
written on (docs/architecture.md, "The engine and its primitives"):

- `embed(ids)`: the input embeddings the decoder sees;
- `objectives(embs, batch, gradients=)`: for each target mask, the summed
  log-probability of its target tokens when the model runs on `embs`, and
  optionally its gradient with respect to `embs` (one forward pass for all
  masks, one backward pass per mask).

and, for methods that only run the model forward on edited token sequences
(occlusion, the deletion check), `run_prefix` and `token_logprobs`: the
log-probability of chosen tokens of each row, teacher-forced, where rows that
begin like a sequence already run may continue from its key/value cache (the
Transformers engine does; the base class recomputes every row through
`objectives`).

The base class holds what every framework shares: the engine's lock and
generation (batching prompts, cutting at stops: lit_seqsal/engine/generation.py).
Packing rows is lit_seqsal/engine/batching.py; examples to token ids,
lit_seqsal/engine/encoding.py.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lit_seqsal import options, work
from lit_seqsal.engine import batching, lengths
from lit_seqsal.engine import generation as generation_lib
from lit_seqsal.engine.batching import SalienceBatch, pack
from lit_seqsal.engine.generation import Generation
from lit_seqsal.work import units
from lit_seqsal.work.model_lock import ModelLock
from lit_seqsal.work.progress import Progress

# max_length=None on an engine that cannot tell its shape: the old default.
LENGTH_WITHOUT_SHAPE = 1024
# The largest max_length an option may ask for (ModelOptions).
MAX_LENGTH_CEILING = options.MAX_SEQUENCE_LENGTH


@dataclass
class Prefix:
  """A sequence an engine has run once (`LMEngine.run_prefix`): its log-probabilities
  at some positions, and the engine's state after it (its key/value cache), from
  which rows that begin with the same tokens may continue (`token_logprobs`)."""

  ids: tuple[int, ...]
  positions: np.ndarray  # <int64>[K]: where log-probabilities were taken
  logprobs: np.ndarray  # <float32>[K]: log P(ids[t] | ids[:t]) at each of `positions`
  state: object = None  # engine-specific; None: nothing to continue from (recompute)
  cached: int = 0  # how many leading tokens `state` holds

  def shared_length(self, row: Sequence[int]) -> int:
    """How many leading tokens `row` shares with this prefix that `state` holds."""
    n = min(len(row), self.cached)
    if n == 0:
      return 0
    differ = np.nonzero(np.asarray(row[:n]) != np.asarray(self.ids[:n]))[0]
    return int(differ[0]) if differ.size else n


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

  def checked_grads(self) -> np.ndarray:
    """The gradients; an error where they were not asked for."""
    if self.grads is None:
      raise ValueError("These objectives were computed without gradients (gradients=False).")
    return self.grads

  def checked_alternatives(self) -> tuple[np.ndarray, np.ndarray]:
    """(top_logprobs, top_ids); an error where alternatives were not asked for."""
    if self.top_logprobs is None or self.top_ids is None:
      raise ValueError("These objectives were computed without alternatives (alternatives=0).")
    return self.top_logprobs, self.top_ids


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
  # A chat format's (START, END) turn markers, single tokens of the vocabulary:
  # a prompt written with them gets its turns tagged (chat.tag_marked_turns).
  turn_markers: tuple[str, str] | None = None

  def __init__(
    self,
    *,
    batch_size: int,
    max_length: int | None,
    max_new_tokens: int,
    stop_sequences: Sequence[str] = (),
  ):
    """`max_length` None: the model's context window within what a salience pass
    fits in the memory free (lit_seqsal/engine/lengths.py), worked out on first use."""
    if batch_size < 1:
      raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    if max_length is not None and max_length < 2:
      raise ValueError(f"max_length must be at least 2, got {max_length}.")
    if max_new_tokens < 1:
      raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}.")
    self.batch_size = batch_size
    self._max_length = max_length
    # How an automatic max_length was chosen (None when it was given).
    self.auto_length: lengths.AutoLength | None = None
    self.max_new_tokens = max_new_tokens
    self.stop_sequences = tuple(stop_sequences)  # end every generation (plus its own)
    # One lock per loaded model, held for one model batch at a time: LIT serves
    # requests on threads, and two concurrent passes would only fight over the
    # same cores (and memory). It hands the model to light work first and stops
    # cancelled or overdue work (lit_seqsal/work/model_lock.py). Reentrant, so primitives
    # may call each other.
    self.lock = ModelLock()
    # How much work one unit (one model call, the lock held once) may hold, in
    # forward-equivalent row-tokens (lit_seqsal/work/units.py); a framework
    # raises it on an accelerator.
    self.unit_tokens = units.CPU_UNIT_TOKENS
    # Measured speed of this model, for cost estimates (units.Throughput).
    self.throughput = units.Throughput()

  @property
  def max_length(self) -> int:
    """The longest prompt + target (or prompt + generation) in tokens."""
    if self._max_length is None:
      shape = self.model_shape()
      if shape is None:
        self._max_length = LENGTH_WITHOUT_SHAPE
      else:
        self.auto_length = lengths.auto_length(shape, self.free_memory_bytes(), MAX_LENGTH_CEILING)
        self._max_length = self.auto_length.length
    return self._max_length

  @max_length.setter
  def max_length(self, value: int) -> None:
    self._max_length = value

  def model_shape(self) -> lengths.ModelShape | None:
    """The model's shape and context window, for an automatic max_length; None if unknown."""
    return None

  def free_memory_bytes(self) -> int | None:
    """Memory free for model work where the model runs (the host's by default)."""
    return lengths.host_available_bytes()

  @property
  def context_window(self) -> int | None:
    """Positions the model was trained for, where its configuration says."""
    shape = self.model_shape()
    return shape.context_window if shape else None

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
  def _generate_ids(
    self, prompt_ids: Sequence[Sequence[int]], stop_sequences: Sequence[str], max_new_tokens: int
  ) -> list[list[int]]:
    """Up to `max_new_tokens` (at most self.max_new_tokens) new token ids per prompt
    (may run past a stop token, a stop sequence or the limit: generate() cuts
    there; stopping early only saves work)."""

  @abc.abstractmethod
  def _embed(self, ids: np.ndarray) -> np.ndarray:
    """See embed()."""

  @abc.abstractmethod
  def _objectives(
    self, embs: np.ndarray, batch: SalienceBatch, gradients: bool, alternatives: int
  ) -> Objectives:
    """See objectives()."""

  # Whether `token_logprobs` continues rows from a prefix's key/value cache (only
  # what follows the shared tokens runs) or recomputes them whole.
  continues_prefixes: bool = False

  def _run_prefix(self, ids: list[int], positions: np.ndarray) -> Prefix:
    """See run_prefix(). Default: no state to continue from."""
    (logprobs,) = self._token_logprobs([ids], [positions], None)
    return Prefix(tuple(ids), positions, logprobs)

  def _token_logprobs(
    self, rows: list[list[int]], positions: list[np.ndarray], prefix: Prefix | None
  ) -> list[np.ndarray]:
    """See token_logprobs(). Default: every row from scratch, one forward pass
    through `_objectives` with one single-token mask per requested position."""
    del prefix  # nothing to continue from: every row is recomputed
    packed = []
    for row, pos in zip(rows, positions):
      masks = np.zeros((len(pos), len(row)), dtype=np.float32)
      masks[np.arange(len(pos)), pos] = 1.0
      packed.append((row, masks))
    batch = batching.pack(packed, self.pad_id)
    values = self._objectives(self._embed(batch.ids[:, : batch.used]), batch, False, 0).values
    return [values[b, : len(p)].astype(np.float32) for b, p in enumerate(positions)]

  # -- shared ------------------------------------------------------------------

  def unit_rows(self, tokens: int, kind: str, masks: int = 1) -> int:
    """Rows of `tokens` tokens in one unit of a pass of `kind` (units.FORWARD or
    units.GRADIENT, with `masks` backward passes): the policy of
    lit_seqsal/work/units.py, within this engine's batch_size and unit_tokens."""
    return units.rows_per_unit(
      tokens, kind, masks=masks, max_rows=self.batch_size, budget=self.unit_tokens
    )

  def cut_units(self, rows: Sequence[tuple[int, int]], kind: str) -> list[list[int]]:
    """Rows given as (tokens, masks) cut in order into units (lists of indices)."""
    return units.split(rows, kind, max_rows=self.batch_size, budget=self.unit_tokens)

  def masks_per_unit(self, tokens: int) -> int:
    """Masks (backward passes) of one row of `tokens` tokens per gradient unit."""
    return units.masks_per_unit(tokens, budget=self.unit_tokens)

  def embed(self, ids: np.ndarray) -> np.ndarray:
    """Input embeddings of ids <int>[B, T] as the decoder sees them: <float32>[B, T, H]."""
    with self.lock:
      return self._embed(np.asarray(ids))

  def objectives(
    self, embs: np.ndarray, batch: SalienceBatch, *, gradients: bool, alternatives: int = 0
  ) -> Objectives:
    """Runs the model on `embs` <float32>[B, batch.used, H] (instead of the
    embeddings of batch.ids) and returns the summed log-probability of each
    mask's target tokens, <float32>[B, M], and, if `gradients`, the gradient of
    each mask's objective with respect to `embs`, <float32>[M, B, used, H]; with
    `alternatives=k`, also the top k next tokens at every target position.

    The one framework-specific primitive every salience method is built on
    (lit_seqsal/salience/); one forward pass serves all masks.
    """
    kind = units.GRADIENT if gradients else units.FORWARD
    row_tokens = int(embs.shape[0]) * int(embs.shape[1])
    with self.lock, units.Timer(self.throughput, kind, row_tokens, batch.num_masks):
      return self._objectives(embs, batch, gradients, alternatives)

  def measure_speed(self, sizes: Sequence[int] = (64, 256), rounds: int = 2) -> None:
    """Times a forward unit and a gradient unit of each size (tokens: a short
    and a long row, for the per-unit overhead and the per-token cost) on a
    made-up row, `rounds` times after one round that is forgotten (the first
    calls of a model or a shape pay one-time costs), and keeps them as the
    anchors of the model's speed (units.Throughput), so that a server can
    estimate the cost of work from its first request on."""
    ids = self.encode("The quick brown fox jumps over the lazy dog. " * 64)
    for round_ in range(rounds + 1):
      if round_ == 1:
        self.throughput.clear()
      for size in sizes:
        n = max(2, min(size, self.max_length, len(ids)))
        mask = np.zeros((1, n), dtype=np.float32)
        mask[0, n - 1] = 1.0
        batch = pack([(ids[:n], mask)], self.pad_id)
        embs = self.embed(batch.ids[:, : batch.used])
        self.objectives(embs, batch, gradients=False)
        self.objectives(embs, batch, gradients=True)
    self.throughput.keep_as_anchors()

  def run_prefix(self, ids: Sequence[int], positions: Sequence[int] | np.ndarray) -> Prefix:
    """Runs the model once on `ids` and returns the log-probability of the tokens
    at `positions` (each >= 1), teacher-forced, and what rows that begin with
    the same tokens may continue from in `token_logprobs`. One model call."""
    checked = _checked_positions(len(ids), positions)
    with self.lock, units.Timer(self.throughput, units.FORWARD, len(ids), 1):
      return self._run_prefix(list(ids), checked)

  def token_logprobs(
    self,
    rows: Sequence[Sequence[int]],
    positions: Sequence[Sequence[int] | np.ndarray],
    *,
    prefix: Prefix | None = None,
  ) -> list[np.ndarray]:
    """log P(row[t] | row[:t]) for each t of positions[b] (each >= 1), per row:
    <float32>[len(positions[b])], teacher-forced. Rows that begin with tokens of
    `prefix` may continue from its state instead of running those tokens again
    (the same values to float rounding); without a state every row runs whole.
    One model call: the engine's lock is held for this batch only.
    """
    as_lists = [list(r) for r in rows]
    checked = [_checked_positions(len(r), p) for r, p in zip(as_lists, positions, strict=True)]
    # What the model runs: each row less the tokens it continues from `prefix`.
    computed = sum(len(r) - (prefix.shared_length(r) if prefix else 0) for r in as_lists)
    with self.lock, units.Timer(self.throughput, units.FORWARD, max(computed, 1), 1):
      return self._token_logprobs(as_lists, checked, prefix)

  def generate(
    self,
    prompt_ids: Sequence[Sequence[int]],
    stops: Sequence[Sequence[str]] | None = None,
    max_new_tokens: Sequence[int] | None = None,
  ) -> list[Generation]:
    """Continuations of tokenized prompts (each fits max_length), in order, each
    ending at the first of the engine's stop sequences and its own `stops`, after
    at most its own `max_new_tokens` (default and bound: self.max_new_tokens).
    One batch of prompts at a time holds the model (heavy work: light requests
    waiting for it go between batches, and, on the Transformers engine, between
    generated tokens: ModelLock.yield_to_lighter)."""
    encoded = [list(ids) for ids in prompt_ids]
    stops = [
      tuple(dict.fromkeys(self.stop_sequences + tuple(s or ())))
      for s in (stops or [()] * len(encoded))
    ]
    limits = [
      min(n, self.max_new_tokens) for n in (max_new_tokens or [self.max_new_tokens] * len(encoded))
    ]
    # Prompts of one batch share their stops and their limit.
    keys = [(s, n) for s, n in zip(stops, limits)]
    outputs: dict[int, Generation] = {}
    progress = Progress(f"Generation for {len(encoded)} prompts", len(encoded))
    stop_ids = self.stop_ids | {self.pad_id}
    with work.heavy():
      for chunk in generation_lib.batches(encoded, keys, self.batch_size):
        with self.lock:
          limit = limits[chunk[0]]
          generated = self._generate_ids([encoded[i] for i in chunk], stops[chunk[0]], limit)
          for i, new_ids in zip(chunk, generated):
            new_ids = generation_lib.cut_at_stop_ids(list(new_ids)[:limit], stop_ids)
            new_ids, text = generation_lib.cut_at_stop_sequence(self.decode, new_ids, stops[i])
            outputs[i] = self._generation(encoded[i], new_ids, text)
        progress.advance(len(chunk))
    return [outputs[i] for i in range(len(encoded))]

  def _generation(self, prompt_ids: Sequence[int], new_ids: Sequence[int], text: str) -> Generation:
    prompt_emb = self.mean_embedding(prompt_ids)
    response_emb = self.mean_embedding(new_ids) if new_ids else np.zeros_like(prompt_emb)
    return Generation(text, prompt_emb, response_emb)

  def mean_embedding(self, ids: Sequence[int]) -> np.ndarray:
    return self.embed(np.asarray([list(ids)]))[0].mean(0)


# Log-probabilities one call of `LMEngine.token_logprobs` computes at most
# (rows x positions): each is a row of logits over the vocabulary (262,144
# floats, 1 MiB, for Gemma 3), so this bounds the call's memory.
MAX_POSITIONS_PER_CALL = 512


def rows_per_call(engine: LMEngine, num_tokens: int, positions_per_row: int = 1) -> int:
  """Rows of `num_tokens` tokens per `token_logprobs` call for heavy work that
  loops over small calls (occlusion, the deletion check): the unit policy's
  forward unit (lit_seqsal/work/units.py: the model lock changes hands between
  calls), less where the rows' log-probabilities would pass
  MAX_POSITIONS_PER_CALL."""
  by_logits = MAX_POSITIONS_PER_CALL // max(positions_per_row, 1)
  return max(1, min(engine.unit_rows(num_tokens, units.FORWARD), by_logits))


def _checked_positions(length: int, positions: Sequence[int] | np.ndarray) -> np.ndarray:
  out = np.asarray(positions, dtype=np.int64).reshape(-1)
  if out.size == 0 or out.min() < 1 or out.max() >= length:
    raise ValueError(
      f"Positions must lie in [1, {length}) (position 0 is never predicted); got {out.tolist()}."
    )
  return out
