"""Salience methods beyond plain gradients, over any engine.

Everything here is written against the two engine primitives (`LMEngine.embed`
and `LMEngine.objectives`: the summed log-probability of each target mask, and
optionally its gradient with respect to the input embeddings; see
lit_seqsal/engine/base.py), so the same code serves the Transformers engine and the
Keras engine on every runtime.

Methods, all explaining the summed log-probability of the masked target tokens:
- the salience map: grad_l2 / grad_dot_input of every output token on its own,
  masks chunked so memory stays bounded;
- integrated gradients: from a baseline where the target's context has its
  embeddings scaled down 100x (BOS and the target kept) to the input,
  Gauss-Legendre quadrature, integration points batched as rows;
- occlusion: the drop in target log-likelihood when a segment (word, sentence,
  line, paragraph) is deleted from the sequence, all deletions batched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lit_seqsal import inputs, work
from lit_seqsal.engine import batching
from lit_seqsal.engine.base import LMEngine
from lit_seqsal.engine.batching import Row
from lit_seqsal.salience import contrastive, gradients, segmentation
from lit_seqsal.work import units
from lit_seqsal.work.progress import Progress, ProgressCallback

# The integrated-gradients baseline scales the context's input embeddings by
# this factor instead of zeroing them: Gemma's RMSNorm makes an exactly zero
# embedding a singular point (the log-likelihood jumps between 0 and 0.001x,
# which no gradient along the path sees), while from 0.01x on it is smooth.
BASELINE_SCALE = 0.01
# Output tokens per forward pass of a salience map: each adds one backward pass
# and one [tokens, hidden] gradient held in memory.
DEFAULT_MAP_CHUNK = 16
# Integrated-gradients integration points. On the sample prompts with the
# bundled model, 32 points left completeness gaps up to 20% on short prompts,
# 64 under 5%, 128 under 0.5% (bench/bench_faithfulness.py prints the gaps at
# this default).
DEFAULT_IG_STEPS = 64
MAX_IG_STEPS = 512
DEFAULT_OCCLUSION_GRANULARITY = "sentences"

Rows = Sequence[Row]


def check_steps(steps, field: str = "steps") -> int:
  return inputs.whole_number(
    steps, field, 1, MAX_IG_STEPS, what=" of integration steps", default=DEFAULT_IG_STEPS
  )


def check_chunk(chunk_size) -> int:
  if (
    isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1
  ):
    raise inputs.InputError(
      f"chunk_size must be a whole number of at least 1, got {chunk_size!r}"
      f" (default {DEFAULT_MAP_CHUNK})."
    )
  return int(chunk_size)


# -- salience map ------------------------------------------------------------


@work.heavy()  # light requests get the model between its units
def salience_map(
  engine: LMEngine,
  ids: Sequence[int],
  first_output: int,
  reductions: Mapping[str, gradients.Reduction],
  *,
  chunk_size: int = DEFAULT_MAP_CHUNK,
  progress: ProgressCallback | None = None,
) -> dict[str, np.ndarray]:
  """Gradient salience of every output token ids[first_output:] on its own.

  Returns {method: <float32>[num_outputs, len(ids)]} for each of `reductions`
  (the gradient methods, lit_seqsal/salience/methods.py): row i explains the
  log-probability of token first_output + i; only earlier tokens can be
  non-zero. Outputs are processed `chunk_size` at a time (one forward pass and
  one backward pass per output token in each chunk).
  """
  chunk_size = check_chunk(chunk_size)
  n = len(ids)
  first_output = max(first_output, 1)  # BOS is never predicted
  if first_output >= n:
    raise inputs.InputError(
      "The output to explain is empty: give a target text or let the model generate one first."
    )
  outputs = list(range(first_output, n))
  work.current().limits.check(
    "max_map_outputs", len(outputs), "The salience map's number of output tokens"
  )
  counter = Progress(f"Salience map of {len(outputs)} output tokens", len(outputs), progress)
  parts: dict[str, list[np.ndarray]] = {m: [] for m in reductions}
  for start in range(0, len(outputs), chunk_size):
    chunk = outputs[start : start + chunk_size]
    masks = np.zeros((len(chunk), n), dtype=np.float32)
    masks[np.arange(len(chunk)), chunk] = 1.0
    (scores,) = gradients.gradient_salience(engine, [(list(ids), masks)], reductions)
    for method in parts:
      parts[method].append(scores[method])
    counter.advance(len(chunk))
  return {method: np.concatenate(chunks) for method, chunks in parts.items()}


def salience_map_cost(
  engine: LMEngine, ids: Sequence[int], first_output: int, chunk_size: int = DEFAULT_MAP_CHUNK
) -> units.Cost:
  """The model work of salience_map(engine, ids, first_output, chunk_size=...)
  (its budget of output tokens first, as it checks it)."""
  chunk_size = check_chunk(chunk_size)
  n = len(ids)
  outputs = max(n - max(first_output, 1), 0)
  work.current().limits.check(
    "max_map_outputs", outputs, "The salience map's number of output tokens"
  )
  cost = units.Cost()
  for start in range(0, outputs, chunk_size):
    masks = np.zeros((min(chunk_size, outputs - start), n), dtype=np.float32)
    cost += gradients.gradient_cost(engine, [(list(ids), masks)])
  return cost


# -- integrated gradients ----------------------------------------------------


@dataclass
class IntegratedGradients:
  scores: np.ndarray  # <float32>[num_masks, num_tokens]
  log_likelihood: np.ndarray  # [num_masks]: of the input
  baseline_log_likelihood: np.ndarray  # [num_masks]: of the baseline

  @property
  def completeness_gap(self) -> np.ndarray:
    """Sum of attributions minus the change in log-likelihood, per mask."""
    return self.scores.sum(-1) - (self.log_likelihood - self.baseline_log_likelihood)


def _gauss_legendre(steps: int) -> tuple[np.ndarray, np.ndarray]:
  nodes, weights = np.polynomial.legendre.leggauss(steps)
  return (nodes + 1.0) / 2.0, weights / 2.0  # from [-1, 1] to [0, 1]


@work.heavy()  # light requests get the model between its units
def integrated_gradients(
  engine: LMEngine,
  rows: Rows,
  *,
  steps: int = DEFAULT_IG_STEPS,
  progress: ProgressCallback | None = None,
) -> list[IntegratedGradients]:
  """Integrated gradients of each mask's target log-likelihood, per row.

  What is attributed: the context of the target, i.e. every token after BOS
  and before the mask's first target token. The baseline scales those tokens'
  input embeddings by BASELINE_SCALE and keeps BOS (the attention sink every
  position reads) and the target tokens as they are. The path is the straight
  line from baseline to input; the path integral of the gradient uses `steps`
  Gauss-Legendre points (run as rows of model batches), and each token's
  attribution is that integral dotted with (input - baseline). A mask's
  attributions sum to its log-likelihood change from baseline to input up to
  the quadrature error (`completeness_gap`). Each mask has its own baseline,
  so masks do not share forward passes here. A contrastive row's two rows
  share their context and so their baseline; their attributions add up to
  those of the difference (lit_seqsal/salience/contrastive.py).
  """
  steps = check_steps(steps)
  work.current().limits.check("max_ig_steps", steps, "ig_steps")
  plain, plan = contrastive.expand(rows)
  paths = [(list(row[0]), mask[None]) for row in plain for mask in row[1]]
  batch = batching.pack(paths, engine.pad_id)
  inputs = engine.embed(batch.ids[:, : batch.used])
  context = np.zeros(inputs.shape[:2], dtype=np.float32)  # 1 where attributed
  for p, (_, mask) in enumerate(paths):
    context[p, 1 : int(np.nonzero(mask[0])[0][0])] = 1.0
  delta = (1.0 - BASELINE_SCALE) * inputs * context[..., None]  # input - baseline
  baseline = inputs - delta
  alphas, quad_weights = _gauss_legendre(steps)

  # Each (path, integration point) is one row of a model batch.
  points = [(p, s) for p in range(len(paths)) for s in range(steps)]
  counter = Progress(
    f"Integrated gradients ({steps} steps x {len(paths)} targets)", len(points), progress
  )
  path_integral = np.zeros(inputs.shape, dtype=np.float32)
  per_unit = engine.unit_rows(batch.used, units.GRADIENT)  # rows of one model call
  for start in range(0, len(points), per_unit):
    chunk = points[start : start + per_unit]
    which = [p for p, _ in chunk]
    alpha = alphas[[s for _, s in chunk]].astype(np.float32)[:, None, None]
    embs = baseline[which] + alpha * delta[which]
    objectives = engine.objectives(embs, batching.take_rows(batch, which), gradients=True)
    grads = objectives.checked_grads()
    for r, (p, s) in enumerate(chunk):
      path_integral[p] += quad_weights[s] * grads[0, r]
    counter.advance(len(chunk))

  ends = _forward(engine, batch, np.concatenate([inputs, baseline]), list(range(len(paths))) * 2)
  attributions = np.einsum("pth,pth->pt", path_integral, delta)[None]  # [1, P, used]
  per_path = batching.per_row(paths, attributions)
  plain_results, p = [], 0
  for row in plain:
    m = row[1].shape[0]
    plain_results.append(
      IntegratedGradients(
        scores=np.concatenate(per_path[p : p + m]),
        log_likelihood=ends[p : p + m, 0],
        baseline_log_likelihood=ends[len(paths) + p : len(paths) + p + m, 0],
      )
    )
    p += m
  scores = contrastive.fold_tokens(
    plan, [r.scores for r in plain_results], [len(r[0]) for r in rows]
  )
  log_likelihood = contrastive.fold_values(plan, [r.log_likelihood for r in plain_results])
  baseline = contrastive.fold_values(plan, [r.baseline_log_likelihood for r in plain_results])
  return [
    IntegratedGradients(scores=s, log_likelihood=ll, baseline_log_likelihood=bl)
    for s, ll, bl in zip(scores, log_likelihood, baseline)
  ]


def _forward(engine: LMEngine, batch, embs: np.ndarray, which: list[int]) -> np.ndarray:
  """Objectives [len(which), M] of rows `which` of `batch` run on `embs`, in units."""
  out = []
  per_unit = engine.unit_rows(batch.used, units.FORWARD)
  for start in range(0, len(which), per_unit):
    sub = batching.take_rows(batch, which[start : start + per_unit])
    out.append(engine.objectives(embs[start : start + per_unit], sub, gradients=False).values)
  return np.concatenate(out)


def integrated_gradients_cost(engine: LMEngine, rows: Rows, steps: int) -> units.Cost:
  """The model work of integrated_gradients(engine, rows, steps=steps), unit by
  unit, before it runs (the request's budgets first, as it checks them)."""
  work.current().limits.check("max_ig_steps", steps, "ig_steps")
  plain, _ = contrastive.expand(rows)
  lasts = [int(np.nonzero(mask)[0].max()) for row in plain for mask in row[1]]
  used = max(lasts, default=1)  # every path is padded to the batch's width
  paths = len(lasts)
  return units.Cost.of_rows(
    steps * paths, used, units.GRADIENT, per_unit=engine.unit_rows(used, units.GRADIENT)
  ) + units.Cost.of_rows(
    2 * paths, used, units.FORWARD, per_unit=engine.unit_rows(used, units.FORWARD)
  )


# -- occlusion ---------------------------------------------------------------


def log_likelihoods(
  engine: LMEngine, rows: Rows, *, progress: Progress | None = None
) -> np.ndarray:
  """Target log-likelihood of each (ids, mask <float>[1, num_tokens]) row (for a
  contrastive row, that of the span minus that of the foil), forward passes
  only, in units of rows of similar length (less padding)."""
  plain, plan = contrastive.expand(rows)
  values = np.zeros(len(plain), dtype=np.float64)
  order = sorted(range(len(plain)), key=lambda i: len(plain[i][0]))
  for unit in engine.cut_units([(len(plain[i][0]), 1) for i in order], units.FORWARD):
    which = [order[k] for k in unit]
    batch = batching.pack([plain[i] for i in which], engine.pad_id)
    with engine.lock:  # one unit
      lls = engine.objectives(engine.embed(batch.ids[:, : batch.used]), batch, gradients=False)
    values[which] = lls.values[:, 0]
    if progress is not None:
      progress.advance(len(which))
  return np.asarray(contrastive.fold_values(plan, values))


@dataclass
class Occlusion:
  scores: np.ndarray  # <float32>[num_tokens]: segment score / its tokens, spread
  segments: list[tuple[int, int]]  # token ranges [a, b) that were deleted
  segment_scores: np.ndarray  # [num_segments]: LL(input) - LL(without segment)
  log_likelihood: float  # of the input


def occlusion_segments(
  tokens: Sequence[str], mask: np.ndarray, granularity: str
) -> list[list[int]]:
  """Token positions to delete, one list per segment that can affect the target.

  Segments come from all tokens before the last target token (later tokens
  cannot affect it); BOS and target tokens are never deleted.
  """
  targets = np.nonzero(mask)[0]
  last = int(targets.max())
  out = []
  for a, b in segmentation.segment_tokens(tokens, granularity, 1, last):
    positions = [i for i in range(a, b) if not mask[i]]
    if positions:
      out.append(positions)
  return out


def occlusion_cost(engine: LMEngine, rows: Rows, granularity: str) -> units.Cost:
  """The model work of occlusion(engine, rows, granularity), unit by unit, before
  it runs: one forward row per mask and per deletion (two for a contrastive row).
  The request's budget of deletions first, as occlusion checks it."""
  segmentation.check_granularity(granularity)
  shapes = []  # (tokens, tokens the model sees) of each row log_likelihoods will run
  num_deleted = 0
  for row in rows:
    ids = list(row[0])
    foil = list(row[2]) if contrastive.is_contrastive(row) else None
    tokens = engine.token_strings(ids)
    for mask in row[1]:
      targets = np.nonzero(mask)[0]
      segments = occlusion_segments(tokens, mask, granularity)
      num_deleted += len(segments)
      for deleted in [[], *segments]:
        shapes.append((len(ids) - len(deleted), int(targets[-1]) - len(deleted)))
        if foil is not None:  # context (less the deletion) + foil, the foil explained
          foil_end = int(targets[0]) - len(deleted) + len(foil)
          shapes.append((foil_end, foil_end - 1))
  work.current().limits.check(
    "max_occlusion_units",
    num_deleted,
    f"Occlusion at {granularity} granularity: the number of deletions",
  )
  shapes.sort(key=lambda shape: shape[0])  # stable, as log_likelihoods orders its rows
  cost = units.Cost()
  for unit in engine.cut_units([(n, 1) for n, _ in shapes], units.FORWARD):
    used = max(shapes[i][1] for i in unit)
    cost += units.Cost.of_unit(len(unit) * used, units.FORWARD)
  return cost


@work.heavy()  # light requests get the model between its units
def occlusion(
  engine: LMEngine, rows: Rows, granularity: str, *, progress: ProgressCallback | None = None
) -> list[list[Occlusion]]:
  """Segment occlusion for every (row, mask): per row, one Occlusion per mask.

  A segment's score is the target log-likelihood of the full input minus that
  of the input with the segment's tokens deleted (positive: the segment makes
  the target more likely). All deletions of all masks run as batched forward
  passes. A contrastive row deletes each segment of its context from both of
  its rows (the foil follows the shortened context).
  """
  segmentation.check_granularity(granularity)
  jobs = []  # (row, mask, positions deleted or None for the full input)
  variants: list[tuple] = []  # rows for log_likelihoods, contrastive where the row is
  for r, row in enumerate(rows):
    ids, masks, foil = list(row[0]), row[1], (row[2] if contrastive.is_contrastive(row) else None)
    tokens = engine.token_strings(ids)
    for m, mask in enumerate(masks):
      jobs.append((r, m, None))
      variants.append((ids, mask[None], foil))
      for positions in occlusion_segments(tokens, mask, granularity):
        keep = np.ones(len(ids), dtype=bool)
        keep[positions] = False
        jobs.append((r, m, positions))
        variants.append(([t for t, k in zip(ids, keep) if k], mask[keep][None], foil))

  num_deleted = len(variants) - sum(len(row[1]) for row in rows)
  work.current().limits.check(
    "max_occlusion_units",
    num_deleted,
    f"Occlusion at {granularity} granularity: the number of deletions",
  )
  values = log_likelihoods(
    engine,
    variants,
    progress=Progress(f"Occlusion of {num_deleted} {granularity}", len(variants), progress),
  )
  results: list[list[Occlusion]] = [[] for _ in rows]
  j = 0
  while j < len(jobs):
    r, m, _ = jobs[j]
    full = values[j]
    j += 1
    segments, seg_scores = [], []
    scores = np.zeros(len(rows[r][0]), dtype=np.float32)
    while j < len(jobs) and jobs[j][2] is not None:
      positions = jobs[j][2]
      score = full - values[j]
      scores[positions] = score / len(positions)
      segments.append((positions[0], positions[-1] + 1))
      seg_scores.append(score)
      j += 1
    results[r].append(
      Occlusion(
        scores=scores,
        segments=segments,
        segment_scores=np.asarray(seg_scores, dtype=np.float32),
        log_likelihood=float(full),
      )
    )
  return results
