"""Framework-independent bookkeeping around a batched gradient-salience call.

Every engine packs `rows` of (token ids, masks) the same way (right padding, one
weight vector per mask, logits only where some mask selects a token, the model run
only on the tokens before the last target) and unpacks per-mask gradients into
the contract's TokenScores. Only the forward and backward passes differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lit_seqsal import contract


@dataclass
class SalienceBatch:
  ids: np.ndarray  # int64 [B, W], right-padded with pad_id
  attention: np.ndarray  # int32 [B, W], 1 on real tokens
  weights: np.ndarray  # float32 [B, M, K]: weight of target position k in mask m
  positions: np.ndarray  # int64 [K]: token positions some mask selects
  labels: np.ndarray  # int64 [B, K]: the tokens at those positions
  used: int  # tokens the model must see: everything before the last target
  num_masks: int


def pack(rows: Sequence[tuple[Sequence[int], np.ndarray]], pad_id: int) -> SalienceBatch:
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
  positions = np.nonzero(full_weights.sum((0, 1)) > 0)[0].astype(np.int64)
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


def per_row(rows: Sequence[tuple[Sequence[int], np.ndarray]], scores: np.ndarray) -> list[np.ndarray]:
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


def unpack(
    rows: Sequence[tuple[Sequence[int], np.ndarray]],
    grads: np.ndarray,
    embeddings: np.ndarray,
) -> list[dict[str, np.ndarray]]:
  """Per-row {method: [num_masks, num_tokens]} from gradients [M, B, used, H].

  `embeddings` [B, used, H] are the inputs the gradients were taken against.
  """
  grads = np.asarray(grads, dtype=np.float32)
  embeddings = np.asarray(embeddings, dtype=np.float32)
  by_method = {
      contract.FieldNames.GRAD_L2: per_row(rows, np.linalg.norm(grads, axis=-1)),
      contract.FieldNames.GRAD_DOT_INPUT: per_row(
          rows, np.einsum("mbth,bth->mbt", grads, embeddings)),
  }
  return [{method: scores[b] for method, scores in by_method.items()}
          for b in range(len(rows))]
