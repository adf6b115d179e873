"""How faithful is each salience method? LDS, comprehensiveness, sufficiency, randomisation.

On the `sample_prompts` examples and the benchmark's own prompts
(bench/faithfulness_prompts.jsonl: few-shot, question answering over a
passage, instructions with rules, chat), each with its target, with the
bundled Gemma 3 270M, for every method of `_NAME_salience` (grad_l2,
grad_dot_input, integrated_gradients, occlusion: all-spans occlusion at the
granularity measured), at each granularity asked for (sentences and words by
default). The units are the segments before the target (occlusion's: BOS and
the target never), each scored by the sum of its tokens' scores.

1. Linear datamodeling score (LDS, ContextCite, Cohen-Wang et al. 2024): for
   --ablations random half-ablations of the segments (half of them deleted,
   drawn at random; the same ablations for every method), the target's
   log-probability the method predicts (a linear model: the full
   log-probability minus the scores of the deleted segments) against the one
   measured. Spearman correlation per example, mean over examples; higher is
   better, 0 is no better than chance. (ContextCite keeps each segment with
   probability 1/2; exactly half here, so that the number deleted, which any
   positive scores would track, plays no part.)
2. Comprehensiveness (ERASER, DeYoung et al. 2020): the drop in the target's
   log-probability (nats) when the top 10%, 20%, ... 50% of the segments
   (most supportive first for the signed methods) are deleted; its area is
   the mean over those fractions. Higher is better; its ratio to random
   orders' area (mean of --random_orders) above 1.
3. Sufficiency (ERASER): the drop when only the top 10% ... 50% are kept (the
   rest deleted). Lower is better; its ratio to random's below 1.
4. Model randomisation (Adebayo et al., 2018): Spearman correlation of the
   prompt-token scores from the trained model and from the same architecture
   with re-initialised weights (mean over examples; near 0 is good).
5. Integrated gradients' completeness gap at the default steps.

All deletions of one example run as one set (occlusion.fill: one run of the
sequence, then the edited rows continuing from its key/value cache). The
figures printed are what docs/methods.md quotes.

usage: .venv/bin/python bench/bench_faithfulness.py [--limit N] [--stride N] [--datasets sample,bench]
           [--granularities sentences,words] [--methods grad_l2,...] [--ablations 32]
           [--random_orders 5] [--skip_randomisation] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
import transformers

from lit_seqsal import datasets, models
from lit_seqsal.contract import FieldNames
from lit_seqsal.engine.encoding import encode_example
from lit_seqsal.models import lit_models, transformers_engine
from lit_seqsal.salience import attribution, occlusion, segmentation
from lit_seqsal.salience import methods as method_registry

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5)
RANDOM = "random"
BENCH_PROMPTS = os.path.join(
  os.path.dirname(os.path.abspath(__file__)), "faithfulness_prompts.jsonl"
)
DATASETS = {"sample": datasets.sample_prompts_path(), "bench": BENCH_PROMPTS}


def spearman(a, b) -> float:
  ra = np.argsort(np.argsort(np.asarray(a))).astype(np.float64)
  rb = np.argsort(np.argsort(np.asarray(b))).astype(np.float64)
  if ra.std() == 0 or rb.std() == 0:
    return 0.0
  return float(np.corrcoef(ra, rb)[0, 1])


def random_model_group(trained: lit_models.ModelGroup, seed: int) -> lit_models.ModelGroup:
  engine = trained.engine
  torch.manual_seed(seed)
  model = transformers.AutoModelForCausalLM.from_config(engine.model.config)
  random_engine = transformers_engine.TransformersEngine(
    model, engine.tokenizer, batch_size=engine.batch_size, max_length=engine.max_length
  )
  return lit_models.group_of(lit_models.make_model_group("random", random_engine)["random"])


def method_scores(group, example: dict, method: str, granularity: str) -> np.ndarray:
  ex = dict(example, salience_methods=[method], occlusion_granularity=granularity)
  (out,) = group.salience.predict([ex])
  return np.asarray(out[method], dtype=np.float64)


class Example:
  """One example's tokens, target and the log-probability under any deletions."""

  def __init__(self, engine, example: dict):
    self.engine = engine
    self.example = example
    encoded = encode_example(engine, example)
    self.ids, self.mask = list(encoded.ids), encoded.mask
    self.first = int(np.nonzero(self.mask)[0][0])
    self.tokens = engine.token_strings(self.ids)

  def segments(self, granularity: str) -> list[tuple[int, ...]]:
    return [tuple(p) for p in attribution.occlusion_segments(self.tokens, self.mask, granularity)]

  def log_probs(self, deletions: list[tuple[int, ...]]) -> tuple[float, dict]:
    """The target's log-probability, and under each deletion (one set of runs)."""
    positions = np.nonzero(self.mask)[0].astype(np.int64)
    table = occlusion.fill(self.engine, None, self.ids, positions, [set(deletions)])
    full = table.log_likelihood(self.mask)
    return full, {d: full - table.drop(self.mask, d) for d in deletions}


def joined(segments, chosen) -> tuple[int, ...]:
  return tuple(sorted(p for i in chosen for p in segments[i]))


def evaluate(ex: Example, granularity: str, scores: dict, args, rng) -> dict | None:
  """Per method (and random): comprehensiveness and sufficiency curves, LDS."""
  segments = ex.segments(granularity)
  n = len(segments)
  if n < 2:
    return None
  ks = [max(1, round(f * n)) for f in FRACTIONS]
  orders = {}
  for m, s in scores.items():
    values = np.array([s[list(seg)].sum() for seg in segments])
    orders[m] = sorted(range(n), key=lambda i: -values[i])  # most supportive first
  random_orders = [list(rng.permutation(n)) for _ in range(args.random_orders)]
  # Exactly half the segments deleted each time (not each with probability 1/2):
  # with a varying count, any positive scores would be rewarded for "more
  # deleted hurts more", and the measure would favour unsigned methods.
  ablations = [
    sorted(rng.choice(n, size=n // 2, replace=False).tolist()) for _ in range(args.ablations)
  ]
  wanted = set()
  for order in list(orders.values()) + random_orders:
    for k in ks:
      wanted.add(joined(segments, order[:k]))  # comprehensiveness: the top k deleted
      wanted.add(joined(segments, order[k:]))  # sufficiency: all but the top k deleted
  wanted |= {joined(segments, a) for a in ablations}
  full, after = ex.log_probs(sorted(wanted))

  def curves(order):
    comp = [full - after[joined(segments, order[:k])] for k in ks]
    suff = [full - after[joined(segments, order[k:])] for k in ks]
    return np.array(comp), np.array(suff)

  measured = [after[joined(segments, a)] for a in ablations]
  out = {}
  for m, s in scores.items():
    values = np.array([s[list(seg)].sum() for seg in segments])
    comp, suff = curves(orders[m])
    predicted = [full - values[a].sum() for a in ablations]
    out[m] = {"comp": comp, "suff": suff, "lds": spearman(predicted, measured)}
  comps, suffs, lds = [], [], []
  for order in random_orders:
    comp, suff = curves(order)
    comps.append(comp)
    suffs.append(suff)
    values = rng.random(n)
    lds.append(spearman([full - values[a].sum() for a in ablations], measured))
  out[RANDOM] = {"comp": np.mean(comps, 0), "suff": np.mean(suffs, 0), "lds": float(np.mean(lds))}
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--limit", type=int, default=None, help="first N examples of each dataset")
  parser.add_argument(
    "--stride", type=int, default=1, help="every Nth example of each dataset (a spread-out part)"
  )
  parser.add_argument("--datasets", default="sample,bench", help=f"any of {', '.join(DATASETS)}")
  parser.add_argument("--granularities", default="sentences,words")
  parser.add_argument("--methods", default=",".join(method_registry.REGISTRY))
  parser.add_argument("--ablations", type=int, default=32, help="random half-ablations for LDS")
  parser.add_argument("--random_orders", type=int, default=5)
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--skip_randomisation", action="store_true")
  parser.add_argument("--out", default="", help="also write the figures as JSON here")
  args = parser.parse_args()
  granularities = [g.strip() for g in args.granularities.split(",") if g.strip()]
  for g in granularities:
    segmentation.check_granularity(g)
  methods = [m.strip() for m in args.methods.split(",") if m.strip()]
  for m in methods:
    method_registry.get(m, "--methods")

  rng = np.random.default_rng(args.seed)
  start = time.perf_counter()
  trained = lit_models.group_of(
    models.load_model_group("gemma", "bundled", batch_size=args.batch_size)["gemma"]
  )
  randomised = None if args.skip_randomisation else random_model_group(trained, args.seed)
  engine = trained.engine
  examples = []
  for name in args.datasets.split(","):
    rows = [r for r in datasets.read_examples(DATASETS[name.strip()]) if r.get("target")]
    examples += rows[:: args.stride][: args.limit]

  results = {g: {m: [] for m in methods + [RANDOM]} for g in granularities}
  correlations = {m: [] for m in methods}
  gaps = []
  seconds_by_granularity = {g: dict.fromkeys(methods, 0.0) for g in granularities}
  for n, row in enumerate(examples):
    example = {k: row[k] for k in ("prompt", "target", "messages") if row.get(k)}
    ex = Example(engine, example)
    per_granularity = {g: {} for g in granularities}
    for m in methods:
      for g in granularities:
        if m != FieldNames.OCCLUSION and g != granularities[0]:
          per_granularity[g][m] = per_granularity[granularities[0]][m]  # the same scores
          continue
        t = time.perf_counter()
        if m == FieldNames.INTEGRATED_GRADIENTS:
          # The same computation as the salience field (a test checks they are
          # equal), called directly for its completeness figures.
          (ig,) = attribution.integrated_gradients(engine, [(ex.ids, ex.mask[None])])
          per_granularity[g][m] = ig.scores[0].astype(np.float64)
          gaps.append(
            abs(ig.completeness_gap[0]) / abs(ig.log_likelihood[0] - ig.baseline_log_likelihood[0])
          )
        else:
          per_granularity[g][m] = method_scores(trained, example, m, g)
        took = time.perf_counter() - t
        # Scores at one granularity serve all (but occlusion's): the same time for each.
        for h in granularities if m != FieldNames.OCCLUSION else [g]:
          seconds_by_granularity[h][m] += took
    if randomised is not None:
      g0 = granularities[0]
      for m in methods:
        random_scores = method_scores(randomised, example, m, g0)
        correlations[m].append(
          spearman(per_granularity[g0][m][1 : ex.first], random_scores[1 : ex.first])
        )
    for g in granularities:
      measured = evaluate(ex, g, per_granularity[g], args, rng)
      if measured is None:
        continue
      for m, values in measured.items():
        results[g][m].append(values)
    print(
      f"[{n + 1}/{len(examples)}] {row.get('source')}: {len(ex.ids)} tokens, "
      + ", ".join(f"{len(ex.segments(g))} {g}" for g in granularities),
      flush=True,
    )

  elapsed = time.perf_counter() - start
  print()
  print(
    f"Bundled Gemma 3 270M, float32, {len(examples)} examples ({args.datasets}; prompt +"
    f" target), {args.ablations} ablations for LDS, {args.random_orders} random orders;"
    f" {elapsed:.0f} s in all."
  )
  print(
    "comp: mean drop in the target's log-probability (nats) with the top 10-50% of the"
    " segments deleted (higher is better); suff: with only them kept (lower is better);"
    " x random: ratio to random orders; LDS: Spearman of predicted vs measured"
    " log-probability over random half-ablations; rand. corr: trained vs re-initialised"
    " model (near 0 is good)."
  )
  figures = {}
  for g in granularities:
    random_comp = float(np.mean([v["comp"].mean() for v in results[g][RANDOM]]))
    random_suff = float(np.mean([v["suff"].mean() for v in results[g][RANDOM]]))
    print(f"\n{g} ({len(results[g][RANDOM])} examples with at least 2 segments)")
    header = ["method", "LDS", "comp", "x random", "suff", "x random", "rand. corr", "s / ex"]
    line = "{:<22}" + "".join(f"{{:>{max(9, len(h) + 2)}}}" for h in header[1:])
    print(line.format(*header))
    figures[g] = {}
    for m in methods + [RANDOM]:
      entries = results[g][m]
      lds = float(np.mean([v["lds"] for v in entries]))
      comp = float(np.mean([v["comp"].mean() for v in entries]))
      suff = float(np.mean([v["suff"].mean() for v in entries]))
      corr = f"{np.mean(correlations[m]):.2f}" if correlations.get(m) else "-"
      secs = seconds_by_granularity[g].get(m)
      per_ex = "-" if secs is None else f"{secs / max(len(examples), 1):.1f}"
      print(
        line.format(
          m,
          f"{lds:.3f}",
          f"{comp:.2f}",
          f"{comp / random_comp:.2f}",
          f"{suff:.2f}",
          f"{suff / random_suff:.2f}",
          corr,
          per_ex,
        )
      )
      figures[g][m] = {
        "lds": lds,
        "comprehensiveness": comp,
        "comprehensiveness_vs_random": comp / random_comp,
        "sufficiency": suff,
        "sufficiency_vs_random": suff / random_suff,
        "comprehensiveness_curve": np.mean([v["comp"] for v in entries], 0).tolist(),
        "sufficiency_curve": np.mean([v["suff"] for v in entries], 0).tolist(),
      }
    print("comprehensiveness by fraction deleted:")
    print(
      ("{:<22}" + "{:>8}" * len(FRACTIONS)).format("", *[f"{int(f * 100)}%" for f in FRACTIONS])
    )
    for m in methods + [RANDOM]:
      curve = figures[g][m]["comprehensiveness_curve"]
      print(("{:<22}" + "{:>8}" * len(FRACTIONS)).format(m, *[f"{v:.2f}" for v in curve]))
  print(
    "(One pass computes both gradient methods, so grad_dot_input's time is in grad_l2's;"
    " occlusion's time is per granularity, the others' are counted at the first.)"
  )
  if gaps:
    print(
      f"\nIntegrated gradients ({attribution.DEFAULT_IG_STEPS} steps): completeness gap"
      f" |sum - change| / |change|: median {np.median(gaps):.3f}, max {np.max(gaps):.3f}"
      f" over {len(gaps)} examples."
    )
  if args.out:
    with open(args.out, "w", encoding="utf-8") as f:
      json.dump({"examples": len(examples), "seconds": elapsed, "figures": figures}, f, indent=1)


if __name__ == "__main__":
  main()
