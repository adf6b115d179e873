"""Gradient salience: reductions of the target objective's input-embedding gradient.

One forward and one backward pass per mask (LMEngine.objectives) give the
gradient of each mask's summed target log-probability with respect to every
input embedding; a gradient method reduces it, per token, to one score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from lit_seqsal import engine as engine_lib

# (gradients <float32>[..., H], input embeddings <float32>[..., H]) -> scores [...].
Reduction = Callable[[np.ndarray, np.ndarray], np.ndarray]


def l2_norm(grads: np.ndarray, embs: np.ndarray) -> np.ndarray:
  """How much the objective moves per unit change of the token's embedding (unsigned)."""
  del embs
  return np.linalg.norm(grads, axis=-1)


def dot_input(grads: np.ndarray, embs: np.ndarray) -> np.ndarray:
  """First-order effect of the token's embedding on the objective (signed)."""
  return np.einsum("...h,...h->...", grads, embs)


def gradient_salience(
    engine: engine_lib.LMEngine,
    rows: Sequence[engine_lib.Row],
    reductions: Mapping[str, Reduction],
) -> list[dict[str, np.ndarray]]:
  """Per row {method: <float32>[num_masks, num_tokens]} for each reduction.

  Rows run `engine.batch_size` at a time; within a batch, one forward pass
  serves every mask of every row.
  """
  out: list[dict[str, np.ndarray]] = []
  for start in range(0, len(rows), engine.batch_size):
    chunk = rows[start:start + engine.batch_size]
    batch = engine_lib.pack(chunk, engine.pad_id)
    embs = engine.embed(batch.ids[:, :batch.used])
    grads = engine.objectives(embs, batch, gradients=True).grads  # [M, B, used, H]
    by_method = {name: engine_lib.per_row(chunk, reduce(grads, embs[None]))
                 for name, reduce in reductions.items()}
    out.extend({name: scores[b] for name, scores in by_method.items()}
               for b in range(len(chunk)))
  return out
