"""How faithful is each salience method? Deletion curves and a randomisation check.

On the `sample_prompts` examples (prompt + their target) with the bundled Gemma 3
270M, for every method of `_NAME_salience` (grad_l2, grad_dot_input,
integrated_gradients, occlusion):

1. Deletion: the prompt is cut into segments (sentences by default); segments
   are ranked by the method's score (summed over their tokens; the signed
   methods rank the most supportive first) and the top 10%, 20%, ... 50% are
   deleted. The drop in the target's log-likelihood is measured at each step,
   and against deleting random segments (mean of --random_orders orders). A
   faithful method's deletions hurt the target more than random ones: the area
   under its deletion curve (mean drop over the steps, in nats) is larger, and
   its ratio to random's area is above 1.
2. Model randomisation (Adebayo et al., 2018): the same scores from a model with
   re-initialised weights (same architecture and tokenizer). Spearman rank
   correlation between trained and random scores over the prompt tokens, mean
   over examples: scores that explain the trained model should not survive
   randomisation (a correlation near 0).
3. Integrated gradients' completeness gap on each example (|sum - change| /
   |change|) at the default steps.

Everything is measured in one run; the figures printed are what docs/methods.md quotes.

usage: .venv/bin/python bench/bench_faithfulness.py [--limit N] [--granularity sentences]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import transformers

from lit_seqsal import datasets, models
from lit_seqsal.contract import FieldNames
from lit_seqsal.engine.encoding import encode_example
from lit_seqsal.models import lit_models, transformers_engine
from lit_seqsal.salience import attribution, segmentation
from lit_seqsal.salience import methods as method_registry

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5)
RANDOM = "random"


def spearman(a: np.ndarray, b: np.ndarray) -> float:
  ra = np.argsort(np.argsort(a)).astype(np.float64)
  rb = np.argsort(np.argsort(b)).astype(np.float64)
  if ra.std() == 0 or rb.std() == 0:
    return 0.0
  return float(np.corrcoef(ra, rb)[0, 1])


def all_scores(group: lit_models.ModelGroup, example: dict, granularity: str) -> dict:
  """Every method's token scores for the example's whole target, through the contract."""
  ex = dict(
    example, salience_methods=list(method_registry.REGISTRY), occlusion_granularity=granularity
  )
  (out,) = group.salience.predict([ex])
  return {m: np.asarray(out[m], dtype=np.float64) for m in method_registry.REGISTRY}


def deletion_curve(engine, ids, mask, segments, order) -> np.ndarray:
  """Log-likelihood drop after deleting the first k segments of `order`, per fraction."""
  rows = [(list(ids), mask[None])]
  for fraction in FRACTIONS:
    k = max(1, round(fraction * len(segments)))
    drop = sorted(i for s in order[:k] for i in range(*segments[s]))
    keep = np.ones(len(ids), dtype=bool)
    keep[drop] = False
    rows.append(([t for t, k_ in zip(ids, keep) if k_], mask[keep][None]))
  lls = attribution.log_likelihoods(engine, rows)
  return lls[0] - lls[1:]


def random_model_group(trained: lit_models.ModelGroup, seed: int) -> lit_models.ModelGroup:
  engine = trained.engine
  torch.manual_seed(seed)
  model = transformers.AutoModelForCausalLM.from_config(engine.model.config)
  random_engine = transformers_engine.TransformersEngine(
    model, engine.tokenizer, batch_size=engine.batch_size, max_length=engine.max_length
  )
  return lit_models.group_of(lit_models.make_model_group("random", random_engine)["random"])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--limit", type=int, default=None, help="first N sample prompts only")
  parser.add_argument(
    "--granularity",
    default="sentences",
    choices=[g for g in segmentation.GRANULARITIES if g != "tokens"],
  )
  parser.add_argument("--random_orders", type=int, default=5)
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()

  rng = np.random.default_rng(args.seed)
  start = time.perf_counter()
  trained = lit_models.group_of(
    models.load_model_group("gemma", "bundled", batch_size=args.batch_size)["gemma"]
  )
  randomised = random_model_group(trained, args.seed)
  engine = trained.engine
  examples = [
    ex
    for ex in datasets.get_datasets(["sample_prompts"])["sample_prompts"].examples
    if ex.get("target")
  ][: args.limit]

  methods = list(method_registry.REGISTRY)
  curves = {m: [] for m in methods + [RANDOM]}
  correlations = {m: [] for m in methods}
  gaps, seconds = [], dict.fromkeys(methods, 0.0)
  for n, example in enumerate(examples):
    ex = {"prompt": example["prompt"], "target": example["target"]}
    encoded = encode_example(engine, ex)
    ids, mask = encoded.ids, encoded.mask
    first = int(mask.nonzero()[0][0])
    tokens = engine.token_strings(ids)
    segments = segmentation.segment_tokens(tokens, args.granularity, 1, first)
    scores = {}
    for m in methods:  # one method at a time, timed
      t = time.perf_counter()
      if m == FieldNames.INTEGRATED_GRADIENTS:
        # The same computation as the salience field (a test checks they are
        # equal), called directly for its completeness figures.
        (ig,) = attribution.integrated_gradients(engine, [(list(ids), mask[None])])
        scores[m] = ig.scores[0].astype(np.float64)
        gaps.append(
          abs(ig.completeness_gap[0]) / abs(ig.log_likelihood[0] - ig.baseline_log_likelihood[0])
        )
      else:
        (out,) = trained.salience.predict(
          [dict(ex, salience_methods=[m], occlusion_granularity=args.granularity)]
        )
        scores[m] = np.asarray(out[m], dtype=np.float64)
      seconds[m] += time.perf_counter() - t
    random_scores = all_scores(randomised, ex, args.granularity)
    for m in methods:
      seg_scores = [scores[m][a:b].sum() for a, b in segments]
      order = list(np.argsort(seg_scores)[::-1])  # most salient (most supportive) first
      curves[m].append(deletion_curve(engine, ids, mask, segments, order))
      correlations[m].append(spearman(scores[m][1:first], random_scores[m][1:first]))
    curves[RANDOM].append(
      np.mean(
        [
          deletion_curve(engine, ids, mask, segments, list(rng.permutation(len(segments))))
          for _ in range(args.random_orders)
        ],
        axis=0,
      )
    )
    print(
      f"[{n + 1}/{len(examples)}] {example.get('source')}: {len(ids)} tokens,"
      f" {len(segments)} {args.granularity}",
      flush=True,
    )

  random_area = float(np.mean([c.mean() for c in curves[RANDOM]]))
  print()
  print(
    f"Bundled Gemma 3 270M, float32, {len(examples)} sample prompts (prompt + target),"
    f" deleting {args.granularity}; {time.perf_counter() - start:.0f} s in all."
  )
  print(
    "Deletion: mean drop in target log-likelihood (nats) after deleting the top"
    " fraction of prompt segments; area = mean over the fractions; ratio = area / random's."
  )
  print(
    "Randomisation: Spearman correlation of prompt-token scores, trained vs re-initialised"
    " model (mean over examples; near 0 is good)."
  )
  header = (
    ["method"]
    + [f"{int(f * 100)}%" for f in FRACTIONS]
    + ["area", "vs random", "rand. corr", "s / example"]
  )
  # Each column wide enough for its header, so the table stays readable as plain text.
  line = "{:<22}" + "".join(f"{{:>{max(8, len(h) + 2)}}}" for h in header[1:])
  print(line.format(*header))
  for m in methods + [RANDOM]:
    mean_curve = np.mean(curves[m], axis=0)
    area = float(np.mean([c.mean() for c in curves[m]]))
    corr = f"{np.mean(correlations[m]):.2f}" if m in correlations else "-"
    secs = f"{seconds[m] / len(examples):.1f}" if m in seconds else "-"
    row = (
      [m]
      + [f"{v:.2f}" for v in mean_curve]
      + [f"{area:.2f}", f"{area / random_area:.2f}", corr, secs]
    )
    print(line.format(*row))
  print("(One pass computes both gradient methods, so grad_dot_input's time is in grad_l2's.)")
  print(
    f"\nIntegrated gradients ({attribution.DEFAULT_IG_STEPS} steps): completeness gap"
    f" |sum - change| / |change|: median {np.median(gaps):.3f}, max {np.max(gaps):.3f}"
    f" over {len(gaps)} examples."
  )


if __name__ == "__main__":
  main()
