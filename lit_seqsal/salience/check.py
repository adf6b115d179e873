"""The deletion check of one explanation: does removing what it ranks highest hurt?

For the explained span, a method's token scores and a granularity, the
segments before the span (the units occlusion deletes: BOS and the span's own
tokens never) are ranked by their summed scores, most supportive first for a
signed method (largest magnitude first for an unsigned one). For k = 1, 2, 3
the check deletes together

- the top k segments,
- the k lowest-ranked ones,
- k segments drawn at random, DRAWS times (seeded: the same draws every time),

and measures the span's log-probability each time (for a contrastive row,
log P(span) - log P(foil)). An explanation is *supported* when removing its
top segments lowers that clearly more than removing random ones, for every k
(`verdict`, thresholds below, docs/methods.md). The record is small and
JSON-able (`deletion_check`); the salience model returns it as the `check`
field, and the batch command writes it per example.

The deletions run as in occlusion (lit_seqsal/salience/occlusion.py): one run
of the sequence, then the edited rows in small engine calls that continue from
its key/value cache where the engine can.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from lit_seqsal import work
from lit_seqsal.engine.base import LMEngine
from lit_seqsal.engine.batching import Row
from lit_seqsal.salience import contrastive, segmentation
from lit_seqsal.salience.attribution import occlusion_segments
from lit_seqsal.salience.occlusion import Deletion, deletions_cost, fill
from lit_seqsal.tokens import token_text
from lit_seqsal.work import units
from lit_seqsal.work.progress import Progress, ProgressCallback

KS = (1, 2, 3)  # how many segments are deleted together
DRAWS = 8  # random draws per k
SEED = 0  # of the random draws (numpy's default_rng)
# A k "beats random" when deleting the top k segments lowers the span's
# log-probability more than the mean of the random draws by at least
# MIN_EXCESS_NATS (0.25 nats: the probability falls to 0.78x of what random
# deletions leave) and by STANDARD_ERRORS standard errors of that mean.
MIN_EXCESS_NATS = 0.25
STANDARD_ERRORS = 2.0

SUPPORTED, WEAK, NOT_SUPPORTED = "supported", "weak", "not supported"
MEANINGS = {
  SUPPORTED: "Removing the top-ranked parts lowers the span's probability clearly more"
  " than removing random parts, for every number tried: the highlighted parts are"
  " what the model relies on.",
  WEAK: "Removing the top-ranked parts lowers the span's probability more than removing"
  " random parts for some numbers tried but not all: read the highlighting with care.",
  NOT_SUPPORTED: "Removing the top-ranked parts lowers the span's probability no more than"
  " removing random parts: the highlighting does not show what the model relies on here.",
}
TOO_FEW = "Fewer than two segments before the span at this granularity: nothing to compare with."


def describe() -> dict:
  """The check as a client sees it (/seqsal/info): what it does and its thresholds."""
  return {
    "ks": list(KS),
    "draws": DRAWS,
    "seed": SEED,
    "min_excess_nats": MIN_EXCESS_NATS,
    "standard_errors": STANDARD_ERRORS,
    "verdicts": dict(MEANINGS),
  }


def rank(segment_scores: Sequence[float], signed: bool) -> list[int]:
  """Segments, most supportive first (signed) or largest first (unsigned); ties
  by position."""
  values = np.asarray(segment_scores, dtype=np.float64)
  key = values if signed else np.abs(values)
  return sorted(range(len(values)), key=lambda i: (-key[i], i))


def random_draws(
  num_segments: int, k: int, draws: int, rng: np.random.Generator
) -> list[list[int]]:
  return [sorted(rng.choice(num_segments, size=k, replace=False).tolist()) for _ in range(draws)]


def versus_random(
  top_drop: float, random_drops: Sequence[float] | np.ndarray
) -> tuple[float, float, bool]:
  """(excess, threshold, beats): how much more deleting the top k lowered the
  span's log-probability than the random draws did on average, the margin it
  needs (MIN_EXCESS_NATS, or STANDARD_ERRORS standard errors of the draws'
  mean if larger), and whether it has it."""
  drops = np.asarray(random_drops, dtype=np.float64)
  excess = float(top_drop - drops.mean())
  threshold = max(MIN_EXCESS_NATS, STANDARD_ERRORS * float(drops.std()) / math.sqrt(len(drops)))
  return excess, threshold, excess >= threshold


def verdict(by_k: Sequence[dict]) -> tuple[str | None, str]:
  """(verdict, its meaning) from the per-k numbers: supported when every k
  beats random and the top k hurt more than the lowest k; not supported when
  no k beats random; weak otherwise; None with fewer than two segments."""
  if not by_k:
    return None, TOO_FEW
  beats = [entry["beats_random"] for entry in by_k]
  ordered = all(entry["top"]["drop"] > entry["lowest"]["drop"] for entry in by_k)
  if all(beats) and ordered:
    return SUPPORTED, MEANINGS[SUPPORTED]
  if not any(beats):
    return NOT_SUPPORTED, MEANINGS[NOT_SUPPORTED]
  return WEAK, MEANINGS[WEAK]


def _prob(log_prob: float, contrastive_row: bool) -> float | None:
  return None if contrastive_row else math.exp(log_prob)


def deletion_check_cost(
  engine: LMEngine, row: Row, granularity: str, draws: int = DRAWS
) -> units.Cost:
  """The model work of deletion_check(engine, row, ...) before it runs, from
  the number of segments alone (which ones are deleted depends on the scores):
  at most, per k, the top, the lowest and the random draws, each starting at
  the segments' mean start."""
  ids, mask = list(row[0]), row[1][0]
  segments = occlusion_segments(engine.token_strings(ids), mask, granularity)
  ks = [k for k in KS if k < len(segments)]
  if not ks:
    return units.Cost()
  # As many deletions as the check may run, each one of the segments (which
  # ones depends on the scores): the calls they cut into are as many.
  wanted = len(ks) * (2 + draws)
  deletions = sorted(tuple(segments[i % len(segments)]) for i in range(wanted))
  plain, _ = contrastive.expand([row])
  cost = units.Cost()
  for ids, masks, *_ in plain:
    positions = np.nonzero(masks[0])[0].astype(np.int64)
    cost += deletions_cost(engine, len(ids), positions, [sorted(deletions)])
  return cost


@work.heavy()  # light requests get the model between its calls
def deletion_check(
  engine: LMEngine,
  row: Row,
  scores: np.ndarray,
  granularity: str,
  *,
  method: str,
  signed: bool,
  draws: int = DRAWS,
  seed: int = SEED,
  progress: ProgressCallback | None = None,
) -> dict:
  """The deletion check of `scores` (<float>[num_tokens], a method's scores of
  the row's one mask) at `granularity`: the record the `check` field returns
  (docs/reference.md describes it)."""
  segmentation.check_granularity(granularity)
  if draws < 2:
    raise ValueError(f"The deletion check needs at least 2 random draws, got {draws}.")
  ids, masks = list(row[0]), row[1]
  if masks.shape[0] != 1:
    raise ValueError("The deletion check explains one mask at a time.")
  mask = masks[0]
  tokens = engine.token_strings(ids)
  segments = [tuple(p) for p in occlusion_segments(tokens, mask, granularity)]
  values = [float(np.sum(np.asarray(scores, dtype=np.float64)[list(s)])) for s in segments]
  order = rank(values, signed)
  ks = [k for k in KS if k < len(segments)]
  rng = np.random.default_rng(seed)
  # Per k, segment indices: the top k (highest first), the lowest k (lowest
  # first) and the random draws.
  plan = [(order[:k], order[::-1][:k], random_draws(len(segments), k, draws, rng)) for k in ks]

  def deletion(chosen: Sequence[int]) -> Deletion:
    return tuple(sorted(p for i in chosen for p in segments[i]))

  wanted = sorted(
    {deletion(c) for top, low, rand in plan for c in [top, low, *rand]}, key=lambda d: (d[0], d)
  )
  work.current().limits.check(
    "max_occlusion_units", len(wanted), "The deletion check: the number of deletions"
  )
  plain, pairs = contrastive.expand([row])
  counter = Progress(f"Deletion check, {granularity}", len(plain) * (len(wanted) + 1), progress)
  tables = []
  for p in (pairs[0].actual, pairs[0].foil):
    if p is None:
      continue
    weights = plain[p][1][0]
    positions = np.nonzero(weights)[0].astype(np.int64)
    tables.append((fill(engine, None, plain[p][0], positions, [wanted], counter), weights))
  is_contrastive = pairs[0].foil is not None
  log_prob = sum(t.log_likelihood(w) for t, w in tables)

  def outcome(chosen: Sequence[int]) -> dict:
    drop = sum(t.drop(w, deletion(chosen)) for t, w in tables)
    after = log_prob - drop
    return {
      # Token ranges [start, end) of the deleted segments, in the order chosen.
      "segments": [[segments[i][0], segments[i][-1] + 1] for i in chosen],
      "log_prob": after,
      "prob": _prob(after, is_contrastive),
      "drop": drop,
    }

  by_k = []
  for k, (top, low, rand) in zip(ks, plan):
    outcomes = [outcome(c) for c in rand]
    drops = np.asarray([o["drop"] for o in outcomes])
    log_probs = np.asarray([o["log_prob"] for o in outcomes])
    top_outcome = outcome(top)
    excess, threshold, beats = versus_random(top_outcome["drop"], drops)
    random_summary = {
      "drop_mean": float(drops.mean()),
      "drop_std": float(drops.std()),
      "log_prob_mean": float(log_probs.mean()),
      "log_prob_std": float(log_probs.std()),
      "prob_mean": None if is_contrastive else float(np.exp(log_probs).mean()),
      "prob_std": None if is_contrastive else float(np.exp(log_probs).std()),
      "draws": outcomes,
    }
    by_k.append(
      {
        "k": k,
        "top": top_outcome,
        "lowest": outcome(low),
        "random": random_summary,
        "excess": excess,
        "threshold": threshold,
        "beats_random": beats,
      }
    )
  result, meaning = verdict(by_k)
  start, end = int(np.nonzero(mask)[0][0]), int(np.nonzero(mask)[0][-1]) + 1
  return {
    "method": method,
    "granularity": granularity,
    "signed": signed,
    "contrastive": is_contrastive,
    "span": {"start": start, "end": end, "text": "".join(token_text(t) for t in tokens[start:end])},
    "objective": "log P(span) - log P(foil)" if is_contrastive else "log P(span)",
    "log_prob": log_prob,
    "prob": _prob(log_prob, is_contrastive),
    "segments": len(segments),
    "draws": draws,
    "seed": seed,
    "by_k": by_k,
    "verdict": result,
    "meaning": meaning,
    "thresholds": {"min_excess_nats": MIN_EXCESS_NATS, "standard_errors": STANDARD_ERRORS},
  }
