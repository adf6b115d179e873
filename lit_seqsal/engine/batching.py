"""Rows of (token ids, target masks) packed for one call of `LMEngine.objectives`.

A `Row` is the unit every salience computation works on: one input and the
target masks to explain on it. `pack` puts rows side by side, right-padded,
with the positions some mask selects (logits are computed only there) and how
many tokens the model must see (`used`: everything before the last target).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# (token ids, masks <float32>[num_masks, num_tokens]): one input and the target
# masks to explain on it, the unit every salience computation works on. A
# contrastive row adds the foil's token ids: (ids, mask [1, num_tokens], foil
# ids), explaining log P(span | context) - log P(foil | context), where the span
# is the mask's contiguous run of tokens (lit_seqsal/salience/contrastive.py).
Row = tuple  # (ids, masks) or (ids, masks, foil_ids)


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
    ids[b, : len(row_ids)] = row_ids
    attention[b, : len(row_ids)] = 1
    full_weights[b, : masks.shape[0], : len(row_ids)] = masks
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
  index = np.asarray(rows, dtype=np.int64)
  return SalienceBatch(
    ids=batch.ids[index],
    attention=batch.attention[index],
    weights=batch.weights[index],
    positions=batch.positions,
    labels=batch.labels[index],
    used=batch.used,
    num_masks=batch.num_masks,
  )


def per_row(rows: Sequence[Row], scores: np.ndarray) -> list[np.ndarray]:
  """Scores [M, B, used] as one [num_masks, num_tokens] array per row.

  Tokens from `used` on get zero: they cannot influence any target.
  """
  used = scores.shape[2]
  out = []
  for b, (ids, masks) in enumerate(rows):
    n, m = len(ids), masks.shape[0]
    row = np.zeros((m, n), dtype=np.float32)
    row[:, : min(used, n)] = scores[:m, b, :n]
    out.append(row)
  return out
