"""Framework-independent checks of a salience model's arithmetic.

Every engine (Transformers, Keras on each runtime) must pass the same checks;
test modules call these with their own models.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lit_seqsal.engine.encoding import encode_example

PROMPT = (
  "Taste-likes: Cheese\nTaste-dislikes: Can't eat eggs\nSuggestion: Quiche Lorraine\nAnalysis:"
)
TARGET = " it has eggs in it.\nRecommendation: Avoid."


def default_mask(sal, ex) -> tuple[list[int], np.ndarray]:
  encoded = encode_example(sal.engine, ex, with_mask=False)
  ids, n_prompt = encoded.ids, encoded.num_prompt_tokens
  mask = np.zeros(len(ids), np.float32)
  mask[n_prompt:] = 1
  return ids, mask


def check_target_mask_semantics(sal) -> None:
  ex = {"prompt": PROMPT, "target": TARGET}
  ids, mask = default_mask(sal, ex)
  n = len(ids)
  implicit = sal.predict([ex])[0]
  explicit = sal.predict([ex | {"target_mask": mask.tolist()}])[0]
  np.testing.assert_array_equal(implicit["grad_l2"], explicit["grad_l2"])
  # Position 0 (BOS) is never a target, so setting it changes nothing.
  with_bos = mask.copy()
  with_bos[0] = 1
  np.testing.assert_array_equal(
    sal.predict([ex | {"target_mask": with_bos.tolist()}])[0]["grad_l2"], implicit["grad_l2"]
  )

  # A single target token k depends only on tokens before it (causality).
  k = n - 3
  single = np.zeros(n)
  single[k] = 1
  one = sal.predict([ex | {"target_mask": single.tolist()}])[0]
  assert np.all(one["grad_l2"][k:] == 0)
  assert np.all(one["grad_l2"][k - 4 : k] > 0)

  # The explained quantity is a sum of log-probabilities: gradients add up.
  a = np.zeros(n)
  a[n - 6 : n - 3] = 1
  b = np.zeros(n)
  b[n - 3 :] = 1
  ga = sal.predict([ex | {"target_mask": a.tolist()}])[0]["grad_dot_input"]
  gb = sal.predict([ex | {"target_mask": b.tolist()}])[0]["grad_dot_input"]
  gab = sal.predict([ex | {"target_mask": (a + b).tolist()}])[0]["grad_dot_input"]
  np.testing.assert_allclose(gab, ga + gb, rtol=1e-4, atol=1e-5 * np.abs(gab).max())
  # Targets may be prompt tokens too (explain part of the prompt).
  prompt_only = np.zeros(n)
  prompt_only[3:6] = 1
  assert sal.predict([ex | {"target_mask": prompt_only.tolist()}])[0]["grad_l2"][:5].sum() > 0


def check_padding_invariance(new_salience_model: Callable, rtol=1e-5, atol=1e-6) -> None:
  """One example alone equals the same example in a batch with shorter and longer ones."""
  alone = new_salience_model().predict([{"prompt": PROMPT, "target": TARGET}])[0]
  batch = [
    {"prompt": "Short", "target": " one."},
    {"prompt": PROMPT, "target": TARGET},
    {"prompt": PROMPT * 3, "target": TARGET + TARGET},
  ]
  inside = new_salience_model().predict(batch)[1]
  assert inside["tokens"] == alone["tokens"]
  for key in ("grad_l2", "grad_dot_input"):
    np.testing.assert_allclose(inside[key], alone[key], rtol=rtol, atol=atol)


def check_batched_masks(new_salience_model: Callable, rtol=1e-5, atol=1e-6) -> None:
  """Several masks of one input in one call equal one call per mask."""
  ex = {"prompt": PROMPT, "target": TARGET}
  ids, _ = default_mask(new_salience_model(), ex)
  n = len(ids)
  masks = []
  for start in range(n - 10, n, 2):
    m = np.zeros(n)
    m[start : start + 2] = 1
    masks.append(m.tolist())
  other = {"prompt": "Headline:", "target": " Storm halts ferries"}
  batched = new_salience_model().predict([ex | {"target_mask": m} for m in masks] + [other])
  for m, got in zip(masks, batched):
    want = new_salience_model().predict([ex | {"target_mask": m}])[0]  # no shared cache
    for key in ("grad_l2", "grad_dot_input"):
      np.testing.assert_allclose(got[key], want[key], rtol=rtol, atol=atol)
  want_other = new_salience_model().predict([other])[0]
  np.testing.assert_allclose(batched[-1]["grad_l2"], want_other["grad_l2"], rtol=rtol, atol=atol)


def check_cache(sal) -> None:
  ex = {"prompt": PROMPT + " cached", "target": TARGET}
  first = sal.predict([ex])[0]
  before = len(sal.cache)
  second = sal.predict([ex])[0]
  assert len(sal.cache) == before
  np.testing.assert_array_equal(first["grad_l2"], second["grad_l2"])
