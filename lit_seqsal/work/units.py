"""How big one unit of model work is, how long units take, and whether work fits its budget.

A unit is one call of the model (one `LMEngine.objectives` call: a batch of
rows, one forward pass and, for a gradient pass, one backward pass per mask),
and the model lock (lit_seqsal/work/model_lock.py) is held for one unit at a
time. Between units it changes hands, light work first, so the longest a
light request waits for heavy work is one unit. This module holds the policy
that sizes units, in one place; every heavy caller (integrated gradients,
occlusion, the gradient pass of many rows or masks, batch chunks) asks it
through `LMEngine.unit_rows` / `LMEngine.cut_units` / `LMEngine.masks_per_unit`
(new heavy code: `engine.unit_rows(tokens, units.FORWARD)` rows per call, or
`engine.cut_units([(tokens, masks), ...], kind)` for rows of mixed lengths).

The policy: a unit holds at most `budget` forward-equivalent row-tokens
(`row_cost`: a row of T tokens costs T for a forward pass, T * (1 +
BACKWARD_COST * masks) for a forward pass and one backward pass per mask),
at most the engine's batch_size rows, and never less than one row (a row's
forward pass cannot be cut; a row's masks can, see `masks_per_unit`). The
budget is `CPU_UNIT_TOKENS` on a CPU (a 512-token forward pass, under a
second of the bundled Gemma 3 270M on a quiet 2-core CPU, about what an idle
light request takes; bench/bench_units.py measures units),
`ACCELERATOR_UNIT_TOKENS` on a GPU. Cutting work into units does not change
results beyond float32 noise (tests/test_units.py).

How long units take is measured per model (`Throughput`: seconds per
row-token of forward passes and of forward + backward passes and a per-unit
overhead, a robust fit over a warm-up and recent units), which gives the
cost estimate of work (`Cost`, counted unit by unit with the same policy)
before it runs; `judge` refuses work whose estimate is over its time limit
(413), at once rather than after the limit has passed.
"""

from __future__ import annotations

import collections
import dataclasses
import statistics
import threading
import time
from collections.abc import Sequence

from lit_seqsal import errors

FORWARD = "forward"  # forward passes only: occlusion, log-likelihoods
GRADIENT = "gradient"  # a forward pass and a backward pass per mask: gradients, IG
KINDS = (FORWARD, GRADIENT)

# A backward pass costs about two forward passes (its two matrix products per
# forward one); the unit policy only needs the ratio roughly right.
BACKWARD_COST = 2
# Forward-equivalent row-tokens per unit: a 512-token forward pass or a
# 170-token gradient pass, about a second of the bundled Gemma 3 270M on a
# quiet 2-core CPU (a 512-token gradient pass took 2.05 s, docs/benchmarks.md).
CPU_UNIT_TOKENS = 512
# On a GPU a unit of that size would be a few milliseconds: batch more.
ACCELERATOR_UNIT_TOKENS = 32 * CPU_UNIT_TOKENS


def row_cost(tokens: int, kind: str, masks: int = 1) -> int:
  """Forward-equivalent row-tokens of one row of `tokens` tokens in a pass of `kind`
  (a gradient pass: one backward pass per mask)."""
  _check_kind(kind)
  tokens = max(int(tokens), 1)
  return tokens if kind == FORWARD else tokens * (1 + BACKWARD_COST * max(int(masks), 1))


def rows_per_unit(tokens: int, kind: str, *, max_rows: int, budget: int, masks: int = 1) -> int:
  """Rows of `tokens` tokens (padded width) per unit: within `budget`, at most
  `max_rows`, at least one."""
  return max(1, min(int(max_rows), int(budget) // row_cost(tokens, kind, masks)))


def masks_per_unit(tokens: int, *, budget: int) -> int:
  """Masks of one row's gradient pass per unit (each mask is a backward pass):
  within `budget`, at least one."""
  return max(1, (int(budget) // max(int(tokens), 1) - 1) // BACKWARD_COST)


def split(
  rows: Sequence[tuple[int, int]], kind: str, *, max_rows: int, budget: int
) -> list[list[int]]:
  """Rows, given as (tokens, masks), cut in order into units (lists of row
  indices): a unit is padded to its longest row and its most masks, so its cost
  is rows * row_cost(longest, kind, most masks); it stays within `budget` and
  `max_rows`, and holds at least one row. Sort rows by length first for less
  padding."""
  out: list[list[int]] = []
  unit: list[int] = []
  longest = most = 0
  for i, (tokens, masks) in enumerate(rows):
    width, deepest = max(longest, tokens), max(most, masks)
    if unit and (
      len(unit) >= max_rows or (len(unit) + 1) * row_cost(width, kind, deepest) > budget
    ):
      out.append(unit)
      unit, width, deepest = [], tokens, masks
    unit.append(i)
    longest, most = width, deepest
  if unit:
    out.append(unit)
  return out


def unit_work(row_tokens: int, kind: str, masks: int = 1) -> float:
  """The measure of one unit's work that its time is linear in: its row-tokens,
  a gradient unit's weighted by its extra backward passes (the second and later
  masks, each about BACKWARD_COST / (1 + BACKWARD_COST) of a forward + backward)."""
  _check_kind(kind)
  if kind == FORWARD:
    return float(row_tokens)
  return row_tokens * (1 + (max(masks, 1) - 1) * BACKWARD_COST / (1 + BACKWARD_COST))


@dataclasses.dataclass(frozen=True)
class Cost:
  """Model work, unit by unit as the unit policy cuts it: per kind of pass, how
  many units and their summed `unit_work`."""

  forward_units: int = 0
  forward_work: float = 0.0
  gradient_units: int = 0
  gradient_work: float = 0.0

  def __add__(self, other: Cost) -> Cost:
    return Cost(
      self.forward_units + other.forward_units,
      self.forward_work + other.forward_work,
      self.gradient_units + other.gradient_units,
      self.gradient_work + other.gradient_work,
    )

  @staticmethod
  def of_unit(row_tokens: int, kind: str, masks: int = 1, count: int = 1) -> Cost:
    """`count` units of `row_tokens` each (rows * padded width) with `masks`."""
    work = count * unit_work(row_tokens, kind, masks)
    if kind == FORWARD:
      return Cost(forward_units=count, forward_work=work)
    return Cost(gradient_units=count, gradient_work=work)

  @staticmethod
  def of_rows(rows: int, tokens: int, kind: str, *, per_unit: int, masks: int = 1) -> Cost:
    """`rows` rows of `tokens` tokens, `per_unit` rows per unit."""
    full, rest = divmod(rows, max(per_unit, 1))
    cost = Cost.of_unit(per_unit * tokens, kind, masks, full) if full else Cost()
    return cost + Cost.of_unit(rest * tokens, kind, masks) if rest else cost


@dataclasses.dataclass(frozen=True)
class Speed:
  """Seconds of a unit of one kind: `per_unit` + `per_work` * its unit_work
  (per_work: seconds per row-token of the pass)."""

  per_unit: float
  per_work: float

  def seconds(self, units: int, work: float) -> float:
    return units * self.per_unit + work * self.per_work


def fit(observations: Sequence[tuple[float, float]]) -> Speed | None:
  """The Speed of (unit_work, seconds) observations: Theil-Sen (the median of
  the slopes between units of clearly different sizes, at least 1.5x apart,
  and the median intercept), robust to the odd slow unit (a first call, a
  compilation, a busy moment); without such pairs, no overhead and the summed
  seconds over the summed work."""
  if not observations:
    return None
  slopes = [
    (t2 - t1) / (w2 - w1)
    for i, (w1, t1) in enumerate(observations)
    for w2, t2 in observations[i + 1 :]
    if abs(w2 - w1) * 3 >= max(w1, w2)
  ]
  slope = statistics.median(slopes) if slopes else 0.0
  if slope > 0:
    intercept = statistics.median(t - slope * w for w, t in observations)
    if intercept >= 0:
      return Speed(intercept, slope)
  return Speed(0.0, sum(t for _, t in observations) / sum(w for w, _ in observations))


class Throughput:
  """Measured speed of one model's units, per kind of pass, fitted (`fit`) over
  the last `window` units of that kind and the anchors: the units of a warm-up
  at sizes chosen to span short and long rows (LMEngine.measure_speed), kept,
  so that a run of light requests alone (short rows, where the per-unit
  overhead dominates) does not skew the estimate of long work. Thread-safe."""

  def __init__(self, window: int = 48):
    self._lock = threading.Lock()
    self._seen: dict[str, collections.deque[tuple[float, float]]] = {
      kind: collections.deque(maxlen=window) for kind in KINDS
    }
    self._anchors: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
    self._recent: collections.deque[float] = collections.deque(maxlen=window)

  def observe(self, kind: str, row_tokens: int, masks: int, seconds: float) -> None:
    """One unit: `row_tokens` (rows * padded tokens) in a pass of `kind` with
    `masks` backward passes, which took `seconds`."""
    work = unit_work(row_tokens, kind, masks)
    if work <= 0 or seconds <= 0:
      return
    with self._lock:
      self._seen[kind].append((work, seconds))
      self._recent.append(seconds)

  def speeds(self) -> dict[str, Speed] | None:
    """The Speed of each kind, or None before any unit. A kind not measured yet
    is derived from the other (a backward pass ~ BACKWARD_COST forward passes)."""
    with self._lock:
      fitted = {kind: fit(self._anchors[kind] + list(self._seen[kind])) for kind in KINDS}
    f, g = fitted[FORWARD], fitted[GRADIENT]
    if f is not None and g is None:
      g = Speed(f.per_unit, f.per_work * (1 + BACKWARD_COST))
    elif g is not None and f is None:
      f = Speed(g.per_unit, g.per_work / (1 + BACKWARD_COST))
    if f is None or g is None:
      return None
    return {FORWARD: f, GRADIENT: g}

  def seconds(self, cost: Cost) -> float | None:
    """Estimated seconds of `cost`, or None before any measurement."""
    speeds = self.speeds()
    if speeds is None:
      return None
    return speeds[FORWARD].seconds(cost.forward_units, cost.forward_work) + speeds[
      GRADIENT
    ].seconds(cost.gradient_units, cost.gradient_work)

  def keep_as_anchors(self) -> None:
    """The units observed so far become anchors (kept, not pushed out; not
    counted among the recent units describe() reports)."""
    with self._lock:
      for kind, seen in self._seen.items():
        self._anchors[kind] = list(seen)
        seen.clear()
      self._recent.clear()

  def clear(self) -> None:
    with self._lock:
      for kind, seen in self._seen.items():
        seen.clear()
        self._anchors[kind] = []
      self._recent.clear()

  def describe(self) -> dict:
    """What /seqsal/info reports: the fitted speeds, and the durations of the
    recent units (since the warm-up: the longest is the longest a light request
    waited for the model lately)."""
    speeds = self.speeds() or {}
    with self._lock:
      recent = sorted(self._recent)
    with self._lock:
      anchors = sum(len(a) for a in self._anchors.values())
    out: dict = {"warm_up_units": anchors, "units_measured": len(recent)}
    for kind in KINDS:
      speed = speeds.get(kind)
      out[f"{kind}_s_per_row_token"] = None if speed is None else speed.per_work
      out[f"{kind}_s_per_unit_overhead"] = None if speed is None else speed.per_unit
    out["unit_s_median"] = statistics.median(recent) if recent else None
    out["unit_s_max"] = recent[-1] if recent else None
    return out


class Timer:
  """Times one unit and reports it to a Throughput."""

  def __init__(self, throughput: Throughput, kind: str, row_tokens: int, masks: int):
    self.throughput, self.kind, self.row_tokens, self.masks = throughput, kind, row_tokens, masks

  def __enter__(self):
    self.start = time.perf_counter()
    return self

  def __exit__(self, exc_type, *unused):
    if exc_type is None:
      self.throughput.observe(
        self.kind, self.row_tokens, self.masks, time.perf_counter() - self.start
      )


def judge(
  estimate_s: float | None,
  limit_s: float,
  flag: str,
  *,
  what: str = "This request",
  advice: str = "",
) -> None:
  """TooLarge (413) when work estimated at `estimate_s` seconds is over the time
  limit `limit_s` (--`flag`; 0: no limit); the error's details carry both."""
  if estimate_s is None or not limit_s or estimate_s <= limit_s:
    return
  raise errors.TooLarge(
    f"{what} would need about {estimate_s:.0f} s of compute on this server (estimated"
    f" from its measured speed), over its limit of {limit_s:g} s (--{flag}), so it was"
    f" not started. {advice}".rstrip(),
    details={"estimate_s": round(estimate_s, 2), "budget_s": limit_s, "limit": flag},
  )


def _check_kind(kind: str) -> None:
  if kind not in KINDS:
    raise ValueError(f"Unknown kind of pass {kind!r}; allowed values: {', '.join(KINDS)}.")
