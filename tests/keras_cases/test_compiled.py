"""Compiled Keras salience (TensorFlow, JAX) against the eager path, and bucket reuse.

On PyTorch salience runs eagerly; there the tests check that it does and that
asking for compilation is refused.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from lit_seqsal.engine import batching
from lit_seqsal.models import autodiff, keras_engine
from lit_seqsal.salience import attribution, gradients, methods
from tests.keras_cases.conftest import RUNTIME
from tests.salience_checks import PROMPT, TARGET

COMPILED = RUNTIME in keras_engine.COMPILED_RUNTIMES


def compiled_only(test):
  """Collects `test` only where salience is compiled: tests/test_keras_runtimes.py
  counts any skipped test as a failure, so on PyTorch these are not defined."""
  return test if COMPILED else None


@contextlib.contextmanager
def compiled_as(engine, compiled: bool):
  before = engine.compiled
  engine.compiled = compiled
  try:
    yield engine
  finally:
    engine.compiled = before


@contextlib.contextmanager
def one_unit(engine):
  """The unit budget lifted, so that no input here is cut into several units."""
  before = engine.unit_tokens
  engine.unit_tokens = 10**9
  try:
    yield engine
  finally:
    engine.unit_tokens = before


def both(engine, fn):
  """fn(engine) compiled and eagerly."""
  with compiled_as(engine, True):
    compiled = fn(engine)
  with compiled_as(engine, False):
    eager = fn(engine)
  return compiled, eager


def assert_close(compiled, eager):
  """Equal within 1e-5 of the largest magnitude."""
  compiled, eager = np.asarray(compiled), np.asarray(eager)
  assert compiled.shape == eager.shape
  np.testing.assert_allclose(compiled, eager, rtol=0, atol=1e-5 * np.abs(eager).max())


def _rows(engine, texts, num_masks):
  """(ids, masks) rows: each target split into num_masks spans (one mask each)."""
  rows = []
  for prompt, target in texts:
    ids = engine.encode(prompt + target)
    first = len(engine.encode(prompt))
    spans = np.array_split(np.arange(first, len(ids)), num_masks)
    masks = np.zeros((num_masks, len(ids)), np.float32)
    for m, span in enumerate(spans):
      masks[m, span] = 1.0
    rows.append((ids, masks))
  return rows


TEXTS = [(PROMPT, TARGET), ("Headline: the menu", " has onions and cheese.")]


def test_compiled_by_default_where_it_runs(engine):
  assert engine.compiled is COMPILED
  if not COMPILED:
    with pytest.raises(ValueError, match="Compiled salience runs on tensorflow or jax"):
      keras_engine.KerasEngine(engine.lm, compiled=True)


@compiled_only
def test_compiled_objectives_equal_eager(engine):
  """Values, gradients and top next tokens of a padded batch (two rows of
  different lengths, three masks), compiled and eagerly."""
  batch = batching.pack(_rows(engine, TEXTS, 3), engine.pad_id)
  embs = engine.embed(batch.ids[:, : batch.used])
  compiled, eager = both(
    engine, lambda e: e.objectives(embs, batch, gradients=True, alternatives=3)
  )
  assert compiled.grads.shape == (3, 2, batch.used, embs.shape[-1])
  assert_close(compiled.values, eager.values)
  assert_close(compiled.grads, eager.grads)
  assert_close(compiled.top_logprobs, eager.top_logprobs)
  np.testing.assert_array_equal(compiled.top_ids, eager.top_ids)
  forward, _ = both(engine, lambda e: e.objectives(embs, batch, gradients=False))
  assert forward.grads is None
  assert_close(forward.values, eager.values)


@compiled_only
def test_compiled_loop_over_masks_equals_eager(engine, monkeypatch):
  """The loop over masks in the program (JAX batches a few masks' backward
  passes into one; long inputs loop like TensorFlow) against the eager path."""
  monkeypatch.setattr(autodiff, "VMAP_TOKENS", 0)
  looping = keras_engine.KerasEngine(engine.lm)  # its own, newly traced programs
  batch = batching.pack(_rows(engine, TEXTS, 3), engine.pad_id)
  embs = engine.embed(batch.ids[:, : batch.used])
  compiled = looping.objectives(embs, batch, gradients=True)
  with compiled_as(engine, False):
    eager = engine.objectives(embs, batch, gradients=True)
  assert looping.traces == 1
  assert_close(compiled.values, eager.values)
  assert_close(compiled.grads, eager.grads)


@compiled_only
def test_compiled_gradient_salience_equals_eager(engine):
  rows = _rows(engine, TEXTS, 2)
  compiled, eager = both(
    engine, lambda e: gradients.gradient_salience(e, rows, methods.gradient_reductions())
  )
  for c, e in zip(compiled, eager):
    for method in methods.gradient_names():
      assert_close(c[method], e[method])


@compiled_only
def test_compiled_costly_methods_equal_eager(engine):
  """Integrated gradients (gradients of batches of rows) and occlusion (forward
  passes only), compiled and eagerly."""
  rows = _rows(engine, TEXTS[:1], 2)
  compiled, eager = both(engine, lambda e: attribution.integrated_gradients(e, rows, steps=5))
  assert_close(compiled[0].scores, eager[0].scores)
  assert_close(compiled[0].log_likelihood, eager[0].log_likelihood)
  compiled, eager = both(engine, lambda e: attribution.occlusion(e, rows, "words"))
  for c, e in zip(compiled[0], eager[0]):
    assert_close(c.log_likelihood, e.log_likelihood)
    # A segment's score is a difference of two log-likelihoods (~-40 here), so
    # float32 rounding of those (~4e-6) bounds how closely scores can agree.
    np.testing.assert_allclose(
      c.segment_scores, e.segment_scores, rtol=0, atol=1e-5 * abs(e.log_likelihood)
    )


@compiled_only
def test_inputs_in_one_bucket_share_a_program(engine):
  """A second input of another length and mask count in the same bucket runs
  the program compiled for the first (no new trace); one in another bucket
  gets its own."""
  first = _rows(engine, [(PROMPT, TARGET)], 3)
  second = _rows(engine, [(PROMPT[:-3], TARGET)], 4)
  batches = [batching.pack(rows, engine.pad_id) for rows in (first, second)]
  assert batches[0].used != batches[1].used
  shapes = {engine.salience_shape(1, b.used, b.positions.size, b.num_masks) for b in batches}
  assert len(shapes) == 1
  reductions = methods.gradient_reductions()
  # Each input in one unit: cutting a row's masks into units (tests/test_units.py)
  # would add programs for the pieces' shapes, which is not what this test counts.
  with compiled_as(engine, True), one_unit(engine):
    gradients.gradient_salience(engine, first, reductions)
    traces = engine.traces
    (scores,) = gradients.gradient_salience(engine, second, reductions)
    assert engine.traces == traces
    longer = _rows(engine, [(PROMPT * 3, TARGET)], 3)
    gradients.gradient_salience(engine, longer, reductions)
    assert engine.traces == traces + 1
  with compiled_as(engine, False):
    (eager,) = gradients.gradient_salience(engine, second, reductions)
  for method in methods.gradient_names():
    assert_close(scores[method], eager[method])


def test_buckets():
  bucket = keras_engine.bucket
  assert [bucket(n, 32, 8) for n in (1, 32, 33, 64, 65, 231, 256, 257, 1000, 4000)] == [
    32,
    32,
    36,
    64,
    72,
    240,
    256,
    288,
    1024,
    4096,
  ]
  assert [bucket(n, 1, 1) for n in (1, 2, 3, 5, 8, 9)] == [1, 2, 4, 8, 8, 16]
  for n in range(1, 5000):
    assert n <= bucket(n, 32, 8) <= max(32, n * 9 / 8)
