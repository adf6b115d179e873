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


def batches(rows: Sequence[batching.Row], batch_size: int) -> Iterator[list[batching.Row]]:
  """Rows in groups of at most batch_size; a contrastive row alone (its two
  engine rows share their context, which an engine may then run once)."""
  chunk = []
  for row in rows:
    if contrastive.is_contrastive(row):
      yield [row]
      continue
    chunk.append(row)
    if len(chunk) == batch_size:
      yield chunk
      chunk = []
  if chunk:
    yield chunk


def gradient_salience(
  engine: LMEngine,
  rows: Sequence[batching.Row],
  reductions: Mapping[str, Reduction],
  *,
  alternatives: int = 0,
) -> list[dict[str, Any]]:
  """Per row {method: <float32>[num_masks, num_tokens]} for each reduction, and
  with `alternatives=k` the top k next tokens at each mask's first target
  (key ALTERNATIVES: (ids, log-probs)). Within a batch, one forward pass serves
  every mask."""
  out: list[dict[str, Any]] = []
  for chunk in batches(rows, engine.batch_size):
    plain, plan = contrastive.expand(chunk)
    batch = batching.pack(plain, engine.pad_id)
    first = plan[0]
    if first.foil is not None and first.start is not None:
      batch.shared_prefix = first.start  # the pair's gradients are summed over the context
    embs = engine.embed(batch.ids[:, : batch.used])
    result = engine.objectives(embs, batch, gradients=True, alternatives=alternatives)
    all_grads = result.checked_grads()
    grads = contrastive.fold_tokens(  # per row: [M, used, H]
      plan, [all_grads[:, b] for b in range(len(plain))], [batch.used] * len(chunk), axis=-2
    )
    for row, pair, row_grads in zip(chunk, plan, grads):
      n = len(row[0])
      scores = {}
      for name, reduce in reductions.items():
        values = reduce(row_grads, embs[pair.actual][None])  # [M, used]
        scores[name] = np.zeros((values.shape[0], n), dtype=np.float32)
        scores[name][:, : min(batch.used, n)] = values[:, :n]
      if alternatives:
        firsts = [int(np.nonzero(mask)[0][0]) for mask in row[1]]
        at = np.searchsorted(batch.positions, firsts)
        top_logprobs, top_ids = result.checked_alternatives()
        scores[ALTERNATIVES] = (top_ids[pair.actual, at], top_logprobs[pair.actual, at])
      out.append(scores)
  return out
