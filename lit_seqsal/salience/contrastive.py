"""Contrastive salience: why this span and not that foil.

A contrastive row (ids, mask, foil ids) explains
    log P(span | context) - log P(foil | context),
where the span is the mask's contiguous run of tokens [s, e), its context every
token before s, and the foil's tokens replace the span's. Every method runs it
through the engine primitive unchanged: `expand` turns each contrastive row
into two ordinary rows that share the context, the actual one (weight +1 on
the span) and the foil one (context + foil, weight -1 on the foil), so the
objectives of the two rows add up to the difference. `fold` adds the two rows'
results back together over the context: gradients (before any reduction, so
grad_l2 is the norm of the gradient of the difference), integrated-gradients
attributions, log-likelihoods. Scores of the span and everything after it are 0.

Because the two rows share their context and the difference is a sum, an
engine may run the shared context once (TransformersEngine does): the
gradient it returns for the context then already is the sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lit_seqsal.engine.batching import Row


@dataclass(frozen=True)
class Pair:
  """Where a row went: its actual row, and for a contrastive row its foil row and
  the span's start (the end of the shared context)."""

  actual: int
  foil: int | None = None
  start: int | None = None


def is_contrastive(row: Row) -> bool:
  return len(row) > 2 and row[2] is not None


def expand(rows: Sequence[Row]) -> tuple[list[Row], list[Pair]]:
  """Plain rows for the engine, and how to fold their results back (one Pair per row)."""
  plain: list[Row] = []
  plan: list[Pair] = []
  for row in rows:
    ids, masks = row[0], row[1]
    if not is_contrastive(row):
      plan.append(Pair(len(plain)))
      plain.append((ids, masks))
      continue
    if masks.shape[0] != 1:
      raise ValueError("A contrastive row has exactly one mask (the span).")
    start = int(np.nonzero(masks[0])[0][0])
    foil = list(row[2])
    foil_mask = np.zeros((1, start + len(foil)), dtype=np.float32)
    foil_mask[0, start:] = -1.0
    plan.append(Pair(len(plain), len(plain) + 1, start))
    plain.append((ids, masks))
    plain.append((list(ids[:start]) + foil, foil_mask))
  return plain, plan


def fold_tokens(
  plan: Sequence[Pair], per_row: Sequence[np.ndarray], lengths: Sequence[int], axis: int = -1
) -> list[np.ndarray]:
  """Per original row, arrays with `lengths[i]` tokens along `axis` from the
  expanded rows' arrays: the actual row's, plus the foil row's over the context
  (zero from the span on)."""
  out = []
  for pair, n in zip(plan, lengths):
    actual = np.moveaxis(per_row[pair.actual], axis, -1)
    if pair.foil is None:
      out.append(per_row[pair.actual])
      continue
    folded = np.zeros(actual.shape[:-1] + (n,), dtype=actual.dtype)
    s = pair.start
    folded[..., :s] = actual[..., :s] + np.moveaxis(per_row[pair.foil], axis, -1)[..., :s]
    out.append(np.moveaxis(folded, -1, axis))
  return out


def fold_values(plan: Sequence[Pair], values: Sequence | np.ndarray) -> list:
  """Per original row, the expanded rows' values (numbers or arrays) summed over
  each pair's two rows."""
  return [values[p.actual] + (values[p.foil] if p.foil is not None else 0) for p in plan]
