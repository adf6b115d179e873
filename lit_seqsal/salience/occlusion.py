"""Occlusion of every span of an output at once, from one set of deletions.

Occlusion asks how much the explained span's log-probability drops when a
segment before it is deleted. Deleting a segment changes nothing before it
(causality) and, teacher-forced, every later token keeps its place in the
sequence. So one run of the sequence with a segment deleted gives the
log-probability of *every* later token, and with it the drop for every span
after that segment: the score of any span (a token, a word, a sentence, a line,
a turn) is a sum over positions already computed. Deleting a segment inside
the output affects only the spans after it.

A `DeletionTable` holds, for one token sequence, the log-probabilities of its
scored tokens (the output, by default) as they are and under each deletion.
For a plain (non-contrastive) row the table is canonical: every segment of the
whole sequence at the asked granularity is deleted once, whatever spans were
asked for, so a span's scores are the same whether it came alone or with the
other spans of its output (they are read from the same numbers), and later
requests for other spans of the same input cost no model work. Deletions a
span needs beyond those (a segment cut where a span starts inside it) are added
to the table when asked. Tables are cached by the caller (the salience model
keeps them per model in its byte-bounded cache, keyed by the tokens and the
scored positions; deletions of every granularity share one table).

The model work is one `LMEngine.run_prefix` of the sequence and then
`LMEngine.token_logprobs` of the edited rows in small calls (rows per call
from `engine.base.rows_per_call`), each holding the model for that call only: a
row whose deletion starts at token p continues from the sequence's key/value
cache at p and runs only what follows (on the Transformers engine; the base
engine recomputes each row, see docs/methods.md).

A contrastive row (lit_seqsal/salience/contrastive.py) is two plain rows that
share the context: the span's (scored at the span) and the foil's (scored at
the foil); each context segment is deleted from both, and the two drops add up
to the drop of the difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lit_seqsal import work
from lit_seqsal.engine.base import LMEngine, rows_per_call
from lit_seqsal.engine.batching import Row
from lit_seqsal.salience import contrastive, segmentation
from lit_seqsal.salience.attribution import Occlusion, occlusion_segments
from lit_seqsal.work import units
from lit_seqsal.work.cache import ByteLRU
from lit_seqsal.work.progress import Progress, ProgressCallback

Deletion = tuple[int, ...]  # token positions deleted together, increasing


@dataclass
class DeletionTable:
  """Log-probabilities of a sequence's scored tokens, whole and under deletions.

  `base[k]` is log P(ids[t] | ids[:t]) for t = positions[k]; `deleted[d][k]`
  the same with the tokens at positions `d` deleted (teacher-forced: every
  other token stays), NaN where t itself is deleted. Before a deletion's first
  position the values are `base`'s (nothing there changes).
  """

  ids: tuple[int, ...]
  positions: np.ndarray  # <int64>[K], increasing
  base: np.ndarray  # <float32>[K]
  deleted: dict[Deletion, np.ndarray]

  def weights_of(self, weights: np.ndarray) -> np.ndarray:
    """Per-token weights (a mask row over ids) at the scored positions."""
    w = np.asarray(weights, dtype=np.float64)
    scored = w[self.positions]
    if not np.isclose(np.abs(scored).sum(), np.abs(w).sum()):
      raise ValueError("A mask selects tokens this deletion table does not score.")
    return scored

  def log_likelihood(self, weights: np.ndarray) -> float:
    """Sum of weights[t] times the log-probability of token t, nothing deleted."""
    return float(np.dot(self.weights_of(weights), self.base.astype(np.float64)))

  def drop(self, weights: np.ndarray, deletion: Deletion) -> float:
    """How much that sum falls when `deletion` is deleted (positive: the deleted
    tokens made the weighted tokens more likely). The weighted tokens must not
    be deleted."""
    w = self.weights_of(weights)
    values = self.deleted[deletion].astype(np.float64)
    changed = w != 0
    if np.isnan(values[changed]).any():
      raise ValueError(f"Deletion {deletion} removes a token it is asked to score.")
    return float(np.dot(w[changed], self.base[changed].astype(np.float64) - values[changed]))


def table_key(ids: Sequence[int], positions: np.ndarray) -> tuple:
  return ("deletion-table", tuple(ids), tuple(positions.tolist()))


def deleted_row(ids: Sequence[int], deletion: Deletion) -> list[int]:
  gone = set(deletion)
  return [t for i, t in enumerate(ids) if i not in gone]


def fill(
  engine: LMEngine,
  table: DeletionTable | None,
  ids: Sequence[int],
  positions: np.ndarray,
  groups: Sequence[Iterable[Deletion]],
  counter: Progress | None = None,
) -> DeletionTable:
  """`table` (or a new one for `ids` scored at `positions`) with every deletion
  of `groups` computed: one run of the whole sequence, then the missing
  deletions in small engine calls (rows per call: engine.base.rows_per_call),
  group by group, each sorted by where its deletions start so that the rows of
  a call share a long prefix. A group's calls hold only its own deletions, so
  their values never depend on what another group asked for."""
  ids = tuple(ids)
  have = set() if table is None else set(table.deleted)
  todo = []
  for group in groups:
    missing = sorted({d for d in group if d not in have}, key=lambda d: (d[0], d))
    have.update(missing)
    if missing:
      todo.append(missing)
  if table is not None and not todo:
    return table
  prefix = engine.run_prefix(ids, positions)
  if counter is not None:
    counter.advance(1)
  if table is None:
    table = DeletionTable(ids, positions, prefix.logprobs.astype(np.float32), {})
  for call in _call_plan(engine, len(ids), positions, todo):
    if call[0].changes_nothing:
      for job in call:
        values = table.base.copy()
        values[np.isin(positions, job.deletion)] = np.nan
        table.deleted[job.deletion] = values
      if counter is not None:
        counter.advance(len(call))
      continue
    results = engine.token_logprobs(
      [deleted_row(ids, j.deletion) for j in call], [j.row_positions for j in call], prefix=prefix
    )
    for job, logprobs in zip(call, results):
      values = table.base.copy()
      values[np.isin(positions, job.deletion)] = np.nan
      values[job.after] = logprobs
      table.deleted[job.deletion] = values
    if counter is not None:
      counter.advance(len(call))
  return table


@dataclass
class _Job:
  """One deletion's row in an engine call."""

  deletion: Deletion
  after: np.ndarray  # <bool>[K]: the scored positions after the deletion (not deleted)
  row_positions: np.ndarray  # where they are in the shortened row (empty: none)

  @property
  def changes_nothing(self) -> bool:
    """Nothing scored follows the deletion, so no model run is needed."""
    return len(self.row_positions) == 0


def _call_plan(
  engine: LMEngine, length: int, positions: np.ndarray, groups: Sequence[Sequence[Deletion]]
) -> list[list[_Job]]:
  """The engine calls `fill` makes for the missing deletions `groups` of a
  sequence of `length` tokens scored at `positions`: group by group, rows per
  call from engine.base.rows_per_call, deletions that change nothing (nothing
  scored after them) in calls of their own that run no model."""
  calls: list[list[_Job]] = []
  for missing in groups:
    idle, jobs = [], []
    for d in missing:
      gone = np.isin(positions, d)
      after = (positions > d[0]) & ~gone
      if not after.any():
        idle.append(_Job(d, after, np.zeros(0, np.int64)))
        continue
      # Each scored token moves left by the number of deleted tokens before it.
      shifted = positions[after] - np.searchsorted(np.asarray(d), positions[after])
      jobs.append(_Job(d, after, shifted))
    if idle:
      calls.append(idle)
    if jobs:
      per_call = rows_per_call(engine, length, max(len(j.row_positions) for j in jobs))
      calls.extend(_calls(jobs, per_call, length))
  return calls


def deletions_cost(
  engine: LMEngine, length: int, positions: np.ndarray, groups: Sequence[Sequence[Deletion]]
) -> units.Cost:
  """The model work of `fill` for the missing deletions `groups` of a sequence of
  `length` tokens scored at `positions`: one run of it, then its calls, each row
  running what follows its call's first deletion (everything, on an engine that
  cannot continue prefixes), as the engine counts it."""
  cost = units.Cost.of_unit(length, units.FORWARD)
  for call in _call_plan(engine, length, positions, groups):
    if call[0].changes_nothing:
      continue
    kept = [0 if not engine.continues_prefixes else j.deletion[0] for j in call]
    work_tokens = sum(length - len(j.deletion) - k for j, k in zip(call, kept))
    cost += units.Cost.of_unit(max(work_tokens, 1), units.FORWARD)
  return cost


# A call's rows continue from the sequence's cache only up to the first
# deletion among them, so each row also reruns the tokens between that and its
# own deletion: a call takes another row only while that extra work stays under
# this fraction of the rows' own.
MAX_SHARED_WASTE = 0.1


def _calls(jobs: list[_Job], per_call: int, length: int) -> list[list[_Job]]:
  """Jobs (sorted by where their deletion starts) cut into engine calls of at
  most `per_call` rows, each with little extra work (MAX_SHARED_WASTE)."""
  calls: list[list[_Job]] = []
  for job in jobs:
    if calls and len(calls[-1]) < per_call:
      first = calls[-1][0].deletion[0]
      starts = [j.deletion[0] for j in calls[-1]] + [job.deletion[0]]
      extra = sum(p - first for p in starts)
      own = sum(length - p for p in starts)
      if extra <= MAX_SHARED_WASTE * own:
        calls[-1].append(job)
        continue
    calls.append([job])
  return calls


def canonical_deletions(tokens: Sequence[str], granularity: str) -> list[Deletion]:
  """Every segment of the whole sequence (BOS left out) that has a token after it."""
  n = len(tokens)
  return [
    tuple(range(a, b)) for a, b in segmentation.segment_tokens(tokens, granularity, 1, n) if b < n
  ]


@dataclass
class _Plan:
  """For one row: its masks' deletions and the tables of its plain rows."""

  deletions: list[list[Deletion]]  # per mask
  tables: list[tuple[int, np.ndarray]]  # (plain row, scored positions) per plain row


def all_spans_cost(
  engine: LMEngine,
  rows: Sequence[Row],
  granularity: str,
  *,
  outputs_from: Sequence[int] | None = None,
  cache: ByteLRU | None = None,
) -> units.Cost:
  """The model work of all_spans(...) with the same arguments, before it runs
  (deletions a cached table already holds cost nothing)."""
  segmentation.check_granularity(granularity)
  _, plain, wanted, _ = _plan(engine, rows, granularity, outputs_from)
  cost = units.Cost()
  for p, (positions, canonical, others) in wanted.items():
    ids = plain[p][0]
    table = cache.get(table_key(ids, positions)) if cache is not None else None
    groups = [
      sorted({d for d in group if table is None or d not in table.deleted}, key=lambda d: (d[0], d))
      for group in (canonical, others - canonical)
    ]
    if table is None or any(groups):
      cost += deletions_cost(engine, len(ids), positions, [g for g in groups if g])
  return cost


def _plan(
  engine: LMEngine, rows: Sequence[Row], granularity: str, outputs_from: Sequence[int] | None
) -> tuple[
  list[_Plan], list[Row], dict[int, tuple[np.ndarray, set[Deletion], set[Deletion]]], list
]:
  """Per row, its masks' deletions and scored plain rows; the plain rows; per
  plain row (its scored positions, the canonical deletions, the masks' other
  deletions); and how the rows were expanded (contrastive pairs)."""
  plain, pairs = contrastive.expand(rows)
  plans: list[_Plan] = []
  # plain row -> (scored positions, canonical deletions, the masks' other deletions)
  wanted: dict[int, tuple[np.ndarray, set[Deletion], set[Deletion]]] = {}
  for r, row in enumerate(rows):
    ids, masks = list(row[0]), row[1]
    tokens = engine.token_strings(ids)
    deletions = [
      [tuple(p) for p in occlusion_segments(tokens, mask, granularity)] for mask in masks
    ]
    asked = {d for per_mask in deletions for d in per_mask}
    canonical: set[Deletion] = set()
    pair = pairs[r]
    if pair.foil is None:
      first = int(min(np.nonzero(mask)[0][0] for mask in masks))
      if outputs_from is not None:
        first = min(first, max(int(outputs_from[r]), 1))
      scored = [(pair.actual, np.arange(first, len(ids), dtype=np.int64))]
      canonical = set(canonical_deletions(tokens, granularity))
    else:
      scored = [
        (p, np.nonzero(plain[p][1][0])[0].astype(np.int64)) for p in (pair.actual, pair.foil)
      ]
    for p, positions in scored:
      entry = wanted.setdefault(p, (positions, set(), set()))
      entry[1].update(canonical)
      entry[2].update(asked - canonical)
    plans.append(_Plan(deletions, scored))
  return plans, plain, wanted, pairs


@work.heavy()  # light requests get the model between its calls
def all_spans(
  engine: LMEngine,
  rows: Sequence[Row],
  granularity: str,
  *,
  outputs_from: Sequence[int] | None = None,
  cache: ByteLRU | None = None,
  progress: ProgressCallback | None = None,
) -> list[list[Occlusion]]:
  """Segment occlusion for every (row, mask), per row one Occlusion per mask,
  equal to `attribution.occlusion` (the same segments and scores, to float
  rounding) but from one set of deletions per token sequence.

  `outputs_from[r]`: where row r's output starts (its first token after the
  prompt); a plain row's table scores every token from there (or from its
  first masked token, if earlier) to the end, so that every span of the output
  reads the same table. Default: from the first masked token. `cache` keeps
  the tables between calls.
  """
  segmentation.check_granularity(granularity)
  plans, plain, wanted, pairs = _plan(engine, rows, granularity, outputs_from)
  foil_rows = {pair.foil for pair in pairs if pair.foil is not None}
  existing: dict[int, DeletionTable | None] = {}
  to_run = num_deleted = 0
  for p, (positions, canonical, others) in wanted.items():
    table = cache.get(table_key(plain[p][0], positions)) if cache is not None else None
    existing[p] = table
    missing = sum(1 for d in canonical | others if table is None or d not in table.deleted)
    if p not in foil_rows:  # a contrastive row's deletion counts once, not per plain row
      num_deleted += missing
    to_run += missing + (1 if table is None or missing else 0)
  work.current().limits.check(
    "max_occlusion_units",
    num_deleted,
    f"Occlusion at {granularity} granularity: the number of deletions",
  )
  counter = Progress(f"Occlusion of every span, {granularity}", to_run, progress)
  tables: dict[int, DeletionTable] = {}
  for p, (positions, canonical, others) in wanted.items():
    # The canonical deletions first and on their own, so that their calls (and
    # so their values, to the last bit) never depend on the spans asked for.
    tables[p] = fill(engine, existing[p], plain[p][0], positions, [canonical, others], counter)
    if cache is not None:  # put again: the table may have grown
      cache.put(table_key(plain[p][0], positions), tables[p])

  results: list[list[Occlusion]] = []
  for r, (row, plan) in enumerate(zip(rows, plans)):
    pair = pairs[r]
    per_mask = []
    for m, deletions in enumerate(plan.deletions):
      # The plain rows' masks (the foil row's carries weight -1 on the foil).
      parts = [(tables[p], plain[p][1][m if p == pair.actual else 0]) for p, _ in plan.tables]
      full = sum(t.log_likelihood(w) for t, w in parts)
      scores = np.zeros(len(row[0]), dtype=np.float32)
      segment_scores = []
      for d in deletions:
        drop = sum(t.drop(w, d) for t, w in parts)
        scores[list(d)] = drop / len(d)
        segment_scores.append(drop)
      per_mask.append(
        Occlusion(
          scores=scores,
          segments=[(d[0], d[-1] + 1) for d in deletions],
          segment_scores=np.asarray(segment_scores, dtype=np.float32),
          log_likelihood=float(full),
        )
      )
    results.append(per_mask)
  return results
