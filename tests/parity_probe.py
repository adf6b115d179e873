"""Runs one framework/runtime on the bundled model and saves what parity compares.

Usage: python -m tests.parity_probe FRAMEWORK RUNTIME OUT.npz
Used by tests/test_parity.py (one process per Keras runtime: Keras fixes its
backend at import) and by hand when a parity failure needs a closer look.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from lit_seqsal import datasets, models
from lit_seqsal.salience import methods

# The walkthrough's three menu prompts and one of each other kind.
SOURCES = (
  "fewshot-mistake",
  "fewshot-fixed",
  "fewshot-constitution",
  "math-fewshot",
  "headline-generation",
  "ideas-with-principles",
)
MAX_NEW_TOKENS = 24


def examples() -> list[dict]:
  first = {}
  for ex in datasets.read_examples(datasets.sample_prompts_path()):
    first.setdefault(ex["source"], ex)
  return [first[s] for s in SOURCES]


def run(framework: str, runtime: str, precision: str = "float32") -> dict:
  start = time.perf_counter()
  group = models.load_model_group(
    "m",
    "bundled",
    dl_framework=framework,
    dl_runtime=runtime,
    precision=precision,
    batch_size=3,
    max_new_tokens=MAX_NEW_TOKENS,
  )
  exs = examples()
  prompts = [{"prompt": e["prompt"]} for e in exs]
  generations = [o["response"] for o in group["m"].predict(prompts)]
  inputs = [{"prompt": e["prompt"], "target": e["target"]} for e in exs]
  tokens = [o["tokens"] for o in group["_m_tokenizer"].predict(inputs)]
  # Per example: the whole target, and its last five tokens as a second mask
  # in the same call (one forward, two backward passes).
  sal_inputs = []
  for ex, toks in zip(inputs, tokens):
    tail = np.zeros(len(toks), np.float32)
    tail[-5:] = 1
    sal_inputs += [ex, ex | {"target_mask": tail.tolist()}]
  # Contrastive: the walkthrough's recommendation against "Avoid." (one context,
  # two continuations).
  contrast = next(
    e for e in datasets.read_examples(datasets.sample_prompts_path()) if e.get("foil")
  )
  sal_inputs.append({k: contrast[k] for k in ("prompt", "target", "foil")})
  sal = group["_m_salience"].predict(sal_inputs)
  out = {
    "tokens": json.dumps(tokens),
    "generations": json.dumps(generations),
    "seconds": time.perf_counter() - start,
  }
  for method in methods.gradient_names():
    for i, o in enumerate(sal):
      out[f"{method}_{i}"] = o[method]
  return out


if __name__ == "__main__":
  framework, runtime, path = sys.argv[1:4]
  np.savez(path, **run(framework, runtime))
