"""Gradient salience: reductions of the target objective's input-embedding gradient.

One forward and one backward pass per mask (LMEngine.objectives) give the
gradient of each mask's summed target log-probability with respect to every
input embedding; a gradient method reduces it, per token, to one score.
Contrastive rows fold their two rows' gradients before reducing
(lit_seqsal/salience/contrastive.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from lit_seqsal.engine import batching
from lit_seqsal.engine.base import LMEngine
from lit_seqsal.salience import contrastive
from lit_seqsal.work import units

# (gradients <float32>[..., H], input embeddings <float32>[..., H]) -> scores [...].
Reduction = Callable[[np.ndarray, np.ndarray], np.ndarray]
# Key of a row's alternatives in gradient_salience's results: the model's top
# next tokens at each mask's first target token, (ids <int>[M, k], log-probs [M, k]).
ALTERNATIVES = "alternatives"


def l2_norm(grads: np.ndarray, embs: np.ndarray) -> np.ndarray:
  """How much the objective moves per unit change of the token's embedding (unsigned)."""
  del embs
  return np.linalg.norm(grads, axis=-1)


def dot_input(grads: np.ndarray, embs: np.ndarray) -> np.ndarray:
  """First-order effect of the token's embedding on the objective (signed)."""
  return np.einsum("...h,...h->...", grads, embs)


def pieces(engine: LMEngine, rows: Sequence[batching.Row]) -> list[tuple[int, slice]]:
  """Each row's masks cut into groups small enough for one unit (each mask is a
  backward pass; lit_seqsal/work/units.py): (row index, slice of its masks).
  A contrastive row has one mask."""
  out = []
  for r, row in enumerate(rows):
    count = row[1].shape[0]
    per = count if contrastive.is_contrastive(row) else engine.masks_per_unit(len(row[0]))
    out.extend((r, slice(s, s + per)) for s in range(0, count, per))
  return out


def batches(engine: LMEngine, rows: Sequence[batching.Row]) -> Iterator[list[int]]:
  """Indices of `rows` in units, shortest rows first (less padding): within the
  unit policy (LMEngine.cut_units); a contrastive row alone (its two engine
  rows share their context, which an engine may then run once)."""
  order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
  plain = [i for i in order if not contrastive.is_contrastive(rows[i])]
  shapes = [(len(rows[i][0]), rows[i][1].shape[0]) for i in plain]
  for unit in engine.cut_units(shapes, units.GRADIENT):
    yield [plain[k] for k in unit]
  for i in order:
    if contrastive.is_contrastive(rows[i]):
      yield [i]


def gradient_cost(engine: LMEngine, rows: Sequence[batching.Row]) -> units.Cost:
  """The model work of gradient_salience(engine, rows), unit by unit, before it runs."""
  cut = pieces(engine, rows)
  parts = [(rows[r][0], rows[r][1][masks]) + tuple(rows[r][2:]) for r, masks in cut]
  cost = units.Cost()
  for unit in batches(engine, parts):
    plain, _ = contrastive.expand([parts[i] for i in unit])
    used = max(_last_target(row[1]) for row in plain)  # as batching.pack's `used`
    masks = max(row[1].shape[0] for row in plain)
    cost += units.Cost.of_unit(len(plain) * used, units.GRADIENT, masks)
  return cost


def _last_target(masks: np.ndarray) -> int:
  return int(np.nonzero(np.abs(masks).sum(0))[0].max())


def gradient_salience(
  engine: LMEngine,
  rows: Sequence[batching.Row],
  reductions: Mapping[str, Reduction],
  *,
  alternatives: int = 0,
) -> list[dict[str, Any]]:
  """Per row {method: <float32>[num_masks, num_tokens]} for each reduction, and
  with `alternatives=k` the top k next tokens at each mask's first target
  (key ALTERNATIVES: (ids, log-probs)). Within a unit, one forward pass serves
  every mask; a row
  with more masks than one unit holds runs in several (lit_seqsal/work/units.py)."""
  cut = pieces(engine, rows)
  parts = [(rows[r][0], rows[r][1][masks]) + tuple(rows[r][2:]) for r, masks in cut]
  results: list[dict[str, Any]] = [{} for _ in parts]
  for unit in batches(engine, parts):
    for i, scores in zip(
      unit, _unit_salience(engine, [parts[i] for i in unit], reductions, alternatives)
    ):
      results[i] = scores
  out: list[dict[str, Any]] = [{} for _ in rows]
  for (r, _), scores in zip(cut, results):  # a row's pieces, in the order of its masks
    for name, value in scores.items():
      out[r][name] = _join(out[r].get(name), value)
  return out


def _join(before, value):
  """A row's results so far followed by those of its next masks (arrays by mask,
  or ALTERNATIVES' pair of them)."""
  if before is None:
    return value
  if isinstance(value, tuple):
    return tuple(np.concatenate([a, b]) for a, b in zip(before, value))
  return np.concatenate([before, value])


def _unit_salience(
  engine: LMEngine,
  chunk: Sequence[batching.Row],
  reductions: Mapping[str, Reduction],
  alternatives: int,
) -> list[dict[str, np.ndarray]]:
  """gradient_salience of rows that make one unit: one embed and one objectives call."""
  out: list[dict[str, np.ndarray]] = []
  plain, plan = contrastive.expand(chunk)
  batch = batching.pack(plain, engine.pad_id)
  first = plan[0]
  if first.foil is not None and first.start is not None:
    batch.shared_prefix = first.start  # the pair's gradients are summed over the context
  with engine.lock:  # one unit: the model changes hands between units, not inside one
    embs = engine.embed(batch.ids[:, : batch.used])
    result = engine.objectives(embs, batch, gradients=True, alternatives=alternatives)
  all_grads = result.checked_grads()
  grads = contrastive.fold_tokens(  # per row: [M, used, H]
    plan, [all_grads[:, b] for b in range(len(plain))], [batch.used] * len(chunk), axis=-2
  )
  for row, pair, row_grads in zip(chunk, plan, grads):
    n = len(row[0])
    m = row[1].shape[0]
    scores = {}
    for name, reduce in reductions.items():
      values = reduce(row_grads[:m], embs[pair.actual][None])  # [M, used]
      scores[name] = np.zeros((values.shape[0], n), dtype=np.float32)
      scores[name][:, : min(batch.used, n)] = values[:, :n]
    if alternatives:
      firsts = [int(np.nonzero(mask)[0][0]) for mask in row[1]]
      at = np.searchsorted(batch.positions, firsts)
      top_logprobs, top_ids = result.checked_alternatives()
      scores[ALTERNATIVES] = (top_ids[pair.actual, at], top_logprobs[pair.actual, at])
    out.append(scores)
  return out
