"""Heavy work in small units: the unit policy, cut vs uncut results, measured speed, costs.

The policy (lit_seqsal/work/units.py) sizes every unit of model work; results
must not depend on how work is cut (cut and uncut agree to float32 noise), and
the cost a method counts before running must be the units it then runs.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from lit_seqsal import errors
from lit_seqsal.engine.encoding import encode_example
from lit_seqsal.salience import attribution, check, gradients, methods, occlusion
from lit_seqsal.work import units
from tests.salience_checks import PROMPT, TARGET

REDUCTIONS = methods.gradient_reductions()


# -- the policy --------------------------------------------------------------


def test_rows_per_unit_keeps_row_tokens_within_the_budget():
  # A forward row costs its tokens; a gradient row 1 + 2 per mask (backward passes).
  assert units.row_cost(100, units.FORWARD) == 100
  assert units.row_cost(100, units.GRADIENT) == 300
  assert units.row_cost(100, units.GRADIENT, masks=4) == 900
  assert units.rows_per_unit(100, units.FORWARD, max_rows=8, budget=512) == 5
  assert units.rows_per_unit(100, units.GRADIENT, max_rows=8, budget=512) == 1
  assert units.rows_per_unit(10, units.FORWARD, max_rows=8, budget=512) == 8  # batch_size caps
  # A row longer than the budget is a unit of its own: a forward pass is not cut.
  assert units.rows_per_unit(2000, units.GRADIENT, max_rows=8, budget=512) == 1
  # A row's masks are: each is a backward pass.
  assert units.masks_per_unit(50, budget=512) == 4  # 50 * (1 + 2 * 4) = 450 <= 512
  assert units.masks_per_unit(400, budget=512) == 1
  with pytest.raises(ValueError, match="forward, gradient"):
    units.row_cost(10, "sideways")


def test_split_cuts_rows_in_order_within_budget_and_batch_size():
  rows = [(10, 1), (20, 1), (30, 1), (40, 1), (300, 1), (600, 1), (50, 2)]
  cut = units.split(rows, units.FORWARD, max_rows=3, budget=100)
  assert [i for unit in cut for i in unit] == list(range(len(rows)))  # in order, each once
  for unit in cut:
    width = max(rows[i][0] for i in unit)
    assert len(unit) <= 3
    assert len(unit) == 1 or len(unit) * width <= 100
  assert cut == [[0, 1, 2], [3], [4], [5], [6]]
  # A gradient unit is padded to its most masks: 3 rows with 3 masks would be 420.
  gradient = units.split([(20, 1), (20, 1), (20, 3)], units.GRADIENT, max_rows=8, budget=200)
  assert gradient == [[0, 1], [2]]


def test_engine_unit_size_follows_the_prompt_length(tiny_group):
  engine = next(iter(tiny_group.values())).engine
  assert engine.unit_tokens == units.CPU_UNIT_TOKENS
  short, long = engine.unit_rows(40, units.FORWARD), engine.unit_rows(400, units.FORWARD)
  assert short == min(engine.batch_size, units.CPU_UNIT_TOKENS // 40) and long == 1
  assert engine.unit_rows(400, units.GRADIENT) == 1


# -- cut and uncut agree -------------------------------------------------------


class _Calls:
  """Records each objectives call's rows, width and masks (the units a run takes)."""

  def __init__(self, engine):
    self.engine, self.calls = engine, []
    self._orig = engine._objectives

  def __call__(self, embs, batch, grads, alternatives):
    self.calls.append((grads, embs.shape[0], embs.shape[1], batch.num_masks))
    return self._orig(embs, batch, grads, alternatives)

  def cost(self) -> units.Cost:
    cost = units.Cost()
    for grads, rows, width, masks in self.calls:
      kind = units.GRADIENT if grads else units.FORWARD
      cost += units.Cost.of_unit(rows * width, kind, masks)
    return cost


@contextlib.contextmanager
def _units(engine, unit_tokens: int, batch_size: int):
  """The engine with another unit budget and batch size, its calls recorded."""
  before = engine.unit_tokens, engine.batch_size
  engine.unit_tokens, engine.batch_size = unit_tokens, batch_size
  calls = _Calls(engine)
  engine._objectives = calls
  try:
    yield calls
  finally:
    engine.unit_tokens, engine.batch_size = before
    del engine._objectives


def _rows(engine):
  """Two rows (one with two masks), as a request with several spans sends them."""
  encoded = encode_example(engine, {"prompt": PROMPT, "target": TARGET})
  ids, mask = list(encoded.ids), encoded.mask
  targets = np.nonzero(mask)[0]
  first, last = np.zeros_like(mask), np.zeros_like(mask)
  first[targets[:2]], last[targets[-3:]] = 1, 1
  other = encode_example(engine, {"prompt": "Suggestion: Onion soup\nAnalysis:", "target": TARGET})
  return [(ids, np.stack([first, last])), (list(other.ids), other.mask[None])]


def _close(cut, uncut, of_max: float = 1e-5):
  cut, uncut = np.asarray(cut), np.asarray(uncut)
  assert cut.shape == uncut.shape
  scale = np.abs(uncut).max()
  assert scale > 0
  np.testing.assert_allclose(cut, uncut, rtol=0, atol=of_max * scale)


def _check_cut_equals_uncut(engine, steps: int):
  rows = _rows(engine)
  with _units(engine, 10**9, 10**6) as whole:
    ig_whole = attribution.integrated_gradients(engine, rows, steps=steps)
    occ_whole = attribution.occlusion(engine, rows, "words")
    grad_whole = gradients.gradient_salience(engine, rows, REDUCTIONS)
  with _units(engine, 1, 1) as cut:  # one row per unit, one mask per unit
    ig_cut = attribution.integrated_gradients(engine, rows, steps=steps)
    occ_cut = attribution.occlusion(engine, rows, "words")
    grad_cut = gradients.gradient_salience(engine, rows, REDUCTIONS)
  assert len(cut.calls) > 3 * len(whole.calls)  # the work really was cut
  assert all(rows == 1 and masks == 1 for _, rows, _, masks in cut.calls)
  for a, b in zip(ig_cut, ig_whole):
    _close(a.scores, b.scores)
    _close(a.log_likelihood, b.log_likelihood)
  for per_mask_cut, per_mask_whole in zip(occ_cut, occ_whole):
    for a, b in zip(per_mask_cut, per_mask_whole):
      assert a.segments == b.segments
      _close(a.segment_scores, b.segment_scores)
  # A row's masks cut into units run up to their own last target, as a request
  # for those masks alone always has: on the bundled model, a mask's gradient
  # alone and beside a later mask already differ by 8e-5 of the max (float32
  # through 18 layers at another length), with or without units.
  for a, b in zip(grad_cut, grad_whole):
    for name in REDUCTIONS:
      _close(a[name], b[name], of_max=5e-4)


def test_cut_and_uncut_work_agree_on_a_tiny_model(tiny_group):
  _check_cut_equals_uncut(next(iter(tiny_group.values())).engine, steps=16)


@pytest.mark.bundled
def test_cut_and_uncut_work_agree_on_the_bundled_model(bundled_group):
  _check_cut_equals_uncut(next(iter(bundled_group.values())).engine, steps=6)


def test_integrated_gradients_units_follow_the_policy(tiny_group):
  """With the default budget, every call of a 4-row batch engine holds at most
  the rows the policy allows for its width."""
  engine = next(iter(tiny_group.values())).engine
  rows = _rows(engine)
  with _units(engine, 300, 4) as calls:
    attribution.integrated_gradients(engine, rows, steps=8)
    attribution.occlusion(engine, rows, "words")
  for grads, n, width, masks in calls.calls:
    kind = units.GRADIENT if grads else units.FORWARD
    assert n == 1 or n * units.row_cost(width, kind, masks) <= 300, (grads, n, width)
  assert any(n > 1 for _, n, _, _ in calls.calls)  # short rows still share a unit


# -- costs counted before running are the units run ------------------------------


def test_costs_counted_before_running_are_the_units_that_run(tiny_group):
  engine = next(iter(tiny_group.values())).engine
  rows = _rows(engine)
  ids, masks = rows[1]
  span = np.zeros_like(masks)
  span[0, np.nonzero(masks[0])[0][:2]] = 1
  rows.append((ids, span, engine.encode_continuation(" soup and bread")))  # contrastive
  with _units(engine, 300, 4) as calls:  # costs are counted with the same policy
    counted = attribution.integrated_gradients_cost(engine, rows, 8)
    attribution.integrated_gradients(engine, rows, steps=8)
  assert counted == calls.cost() and counted.gradient_units > 1
  with _units(engine, 300, 4) as calls:
    counted = gradients.gradient_cost(engine, rows)
    gradients.gradient_salience(engine, rows, REDUCTIONS)
  assert counted == calls.cost()
  with _units(engine, 300, 4) as calls:
    counted = attribution.occlusion_cost(engine, rows, "words")
    attribution.occlusion(engine, rows, "words")
  assert counted == calls.cost()


def test_all_spans_occlusion_and_the_check_are_counted_before_they_run(tiny_group):
  """All-spans occlusion and the deletion check run through run_prefix and
  token_logprobs, whose units the engine times: their estimates count the same
  calls (the check's from the number of segments alone, so its work is bounded
  above by the estimate's calls) before anything runs."""
  engine = next(iter(tiny_group.values())).engine
  rows = _rows(engine)
  observed = []
  real_observe = engine.throughput.observe

  def observe(kind, row_tokens, masks, seconds):
    observed.append((kind, row_tokens))
    real_observe(kind, row_tokens, masks, seconds)

  engine.throughput.observe = observe
  try:
    counted = occlusion.all_spans_cost(engine, rows, "words")
    occlusion.all_spans(engine, rows, "words")
    assert counted.forward_units == len(observed) > 2
    assert {kind for kind, _ in observed} == {units.FORWARD}
    observed.clear()
    row = (rows[1][0], rows[1][1])
    scores = np.arange(len(row[0]), dtype=np.float32)
    counted = check.deletion_check_cost(engine, row, "words")
    check.deletion_check(engine, row, scores, "words", method="m", signed=True)
    assert 2 < len(observed) <= counted.forward_units
  finally:
    del engine.throughput.observe


# -- measured speed --------------------------------------------------------------


def test_throughput_fits_seconds_per_row_token_robustly():
  speed = units.Throughput()
  assert speed.seconds(units.Cost.of_unit(100, units.FORWARD)) is None
  for work in (100, 200, 400, 800, 100, 300):
    speed.observe(units.FORWARD, work, 1, 0.02 + 1e-3 * work)
  speed.observe(units.FORWARD, 200, 1, 30.0)  # a first call or a compilation
  f = speed.speeds()[units.FORWARD]
  assert f.per_unit == pytest.approx(0.02, rel=1e-6) and f.per_work == pytest.approx(1e-3)
  # No gradient unit seen yet: a backward pass is taken as two forward ones.
  g = speed.speeds()[units.GRADIENT]
  assert g.per_work == pytest.approx(3e-3)
  for work in (100, 400):
    speed.observe(units.GRADIENT, work, 1, 0.05 + 4e-3 * work)
  speed.observe(units.GRADIENT, 100, 3, 0.05 + 4e-3 * 100 * (1 + 2 * 2 / 3))
  cost = units.Cost.of_rows(10, 50, units.GRADIENT, per_unit=3) + units.Cost.of_unit(
    500, units.FORWARD
  )
  # 4 gradient units (3 + 3 + 3 + 1 rows of 50 tokens), 1 forward unit, by hand:
  expected = 4 * 0.05 + 4e-3 * 500 + 0.02 + 1e-3 * 500
  assert speed.seconds(cost) == pytest.approx(expected, rel=1e-6)
  described = speed.describe()
  assert described["units_measured"] == 10 and described["unit_s_max"] == 30.0


def test_warm_up_anchors_keep_long_work_estimated_among_many_short_units():
  """Light requests are short rows, where the per-unit overhead dominates: alone
  they would say nothing of the cost per token; the warm-up's long units stay."""
  speed = units.Throughput(window=16)
  for work_ in (64, 256, 64, 256):  # a warm-up: 0.1 s per unit + 1 ms per row-token
    speed.observe(units.GRADIENT, work_, 1, 0.1 + 1e-3 * work_)
  speed.keep_as_anchors()
  for i in range(100):  # then only light requests, 20 row-tokens, a little noise
    speed.observe(units.GRADIENT, 20 + i % 3, 1, 0.1 + 1e-3 * 20 + 1e-3 * (i % 5))
  g = speed.speeds()[units.GRADIENT]
  assert g.per_work == pytest.approx(1e-3, rel=0.2) and g.per_unit == pytest.approx(0.1, rel=0.2)
  # Without the anchors, short units alone: the overhead would count per token.
  alone = units.fit([(20 + i % 3, 0.12 + 1e-3 * (i % 5)) for i in range(16)])
  assert alone.per_work > 4e-3


def test_judge_refuses_an_estimate_over_the_limit_with_both_in_the_details():
  units.judge(None, 10, "request_time_limit_s")  # unknown: not judged
  units.judge(50, 0, "request_time_limit_s")  # no limit
  units.judge(9.5, 10, "request_time_limit_s")
  with pytest.raises(errors.TooLarge, match="--request_time_limit_s") as refused:
    units.judge(95.2, 60, "request_time_limit_s", advice="Ask for less.")
  assert refused.value.details == {
    "estimate_s": 95.2,
    "budget_s": 60,
    "limit": "request_time_limit_s",
  }
  assert "about 95 s" in str(refused.value) and str(refused.value).endswith("Ask for less.")
  body = errors.describe(refused.value, "r1")["error"]
  assert body["status"] == 413 and body["details"]["estimate_s"] == 95.2


def test_measure_speed_gives_estimates_before_any_request(tiny_model_dir):
  from lit_seqsal import models

  engine = next(iter(models.load_model_group("t", tiny_model_dir).values())).engine
  assert engine.throughput.speeds() is None
  engine.measure_speed()
  rows = _rows(engine)
  estimate = engine.throughput.seconds(attribution.integrated_gradients_cost(engine, rows, 8))
  assert estimate is not None and estimate > 0
  described = engine.throughput.describe()
  assert described["warm_up_units"] == 8  # 2 rounds after the first: 2 sizes x 2 kinds
  assert described["units_measured"] == 0  # recent units: those since the warm-up
