"""Keras on TensorFlow / PyTorch / JAX against Transformers on PyTorch, one run.

Same bundled Gemma 3 270M weights, same inputs (the walkthrough's
fewshot-mistake prompt with its dataset target), each configuration in its own
process (Keras picks its backend once per process). Keras on TensorFlow and
JAX runs twice: salience compiled (the default) and eager (op by op). Prints
latency of
  - salience for the whole target (one mask): the first call (which compiles
    where salience is compiled) and later calls,
  - salience for 8 target masks in one call,
  - greedy generation of 32 tokens (first call, which traces/compiles, and later calls),
the load time and the process's peak resident memory, with every latency also
as a ratio to Transformers on PyTorch in float32 measured in the same run.

usage: .venv/bin/python bench/bench_frameworks.py [--repeats 2] [--no-jax] [--no-bf16]
  [--no-generation]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

GEN_TOKENS = 32
REFERENCE = ("transformers", "torch", "float32", "eager")


def measure(
  framework: str, runtime: str, precision: str, mode: str, repeats: int, generation: bool
) -> dict:
  """Runs in the child process: one configuration, JSON-able figures."""
  import numpy as np
  from bench_salience import timed

  from lit_seqsal import datasets, models
  from lit_seqsal.engine.encoding import encode_example
  from lit_seqsal.salience import methods

  start = time.perf_counter()
  group = models.load_model_group(
    "m",
    "bundled",
    dl_framework=framework,
    dl_runtime=runtime,
    precision=precision,
    batch_size=1,
    max_new_tokens=GEN_TOKENS,
  )
  load_s = time.perf_counter() - start
  ex = next(
    e
    for e in datasets.read_examples(datasets.sample_prompts_path())
    if e["source"] == "fewshot-mistake"
  )
  example = {"prompt": ex["prompt"], "target": ex["target"]}
  gen_model, sal_model = group["m"], group["_m_salience"]
  engine = gen_model.engine
  if framework != "transformers":
    engine.compiled = mode == "compiled"
  encoded = encode_example(sal_model.engine, example)
  ids, num_prompt = list(encoded.ids), encoded.num_prompt_tokens
  masks = []
  for k in range(8):  # 8 disjoint spans of the target, as a client prefetches them
    m = np.zeros(len(ids), np.float32)
    m[num_prompt + k * 2 : num_prompt + k * 2 + 2] = 1
    masks.append(m)

  def salience(batch_masks):
    # Straight to the engine: the wrappers' cache would answer repeats for free.
    return methods.gradient_methods_run(
      engine, [(ids, np.stack(batch_masks))], methods.REGISTRY.values()
    )

  first_gen_s = gen_s = float("nan")
  gen = None
  if generation:
    start = time.perf_counter()
    gen = gen_model.predict([{"prompt": ex["prompt"]}])[0]["response"]
    first_gen_s = time.perf_counter() - start
    gen_s, _ = timed(lambda: gen_model.predict([{"prompt": ex["prompt"]}]), repeats)
  full = np.zeros(len(ids), np.float32)
  full[num_prompt:] = 1
  start = time.perf_counter()
  salience([full])
  first_sal_s = time.perf_counter() - start
  sal_s, scores = timed(lambda: salience([full]), repeats)
  masks_s, _ = timed(lambda: salience(masks), repeats)
  peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  return {
    "load_s": load_s,
    "first_gen_s": first_gen_s,
    "gen_s": gen_s,
    "first_sal_s": first_sal_s,
    "sal_s": sal_s,
    "masks8_s": masks_s,
    "peak_mib": peak_mib,
    "tokens": len(ids),
    "generation": gen,
    "grad_l2": scores[0]["grad_l2"][0].tolist(),
  }


def run_child(config, repeats: int, generation: bool) -> dict:
  framework, runtime, precision, mode = config
  env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
  bench_dir = os.path.dirname(os.path.abspath(__file__))
  # This checkout's lit_seqsal, whatever the virtualenv has installed.
  env["PYTHONPATH"] = os.pathsep.join(
    [bench_dir, os.path.dirname(bench_dir), env.get("PYTHONPATH", "")]
  )
  proc = subprocess.run(
    [
      sys.executable,
      __file__,
      "--child",
      framework,
      runtime,
      precision,
      mode,
      "--repeats",
      str(repeats),
    ]
    + ([] if generation else ["--no-generation"]),
    capture_output=True,
    text=True,
    env=env,
  )
  if proc.returncode != 0:
    raise RuntimeError(f"{config} failed:\n{proc.stderr[-4000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--no-jax", action="store_true", help="skip Keras on JAX (slowest)")
  parser.add_argument("--no-bf16", action="store_true", help="float32 only")
  parser.add_argument("--no-generation", action="store_true", help="salience only")
  parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(measure(*args.child, repeats=args.repeats, generation=not args.no_generation)))
    return

  import numpy as np

  precisions = ("float32",) if args.no_bf16 else ("float32", "bfloat16")
  configs = [("transformers", "torch", p, "eager") for p in precisions]
  configs += [("kerasnlp", "tensorflow", p, m) for p in precisions for m in ("compiled", "eager")]
  configs += [("kerasnlp", "torch", p, "eager") for p in precisions]
  if not args.no_jax:
    configs += [("kerasnlp", "jax", "float32", m) for m in ("compiled", "eager")]
  results = {}
  for config in configs:
    print(f"... {' / '.join(config)}", file=sys.stderr, flush=True)
    results[config] = run_child(config, args.repeats, not args.no_generation)
  ref = results[REFERENCE]
  print(
    f"Bundled Gemma 3 270M, fewshot-mistake prompt + target ({ref['tokens']} tokens),"
    f" {GEN_TOKENS} generated tokens, median of {args.repeats} after a warm-up."
  )
  print("Ratios: seconds / Transformers-torch-float32 seconds in this run (lower is faster).")
  print(
    "salience: compiled = one XLA program per bucket of shapes (its first call"
    " compiles it), eager = op by op."
  )
  header = (
    f"{'framework':12} {'runtime':10} {'precision':9} {'salience':8} {'load s':>7} "
    f"{'sal 1st s':>9} {'salience s':>10} {'ratio':>6} {'8 masks s':>9} {'ratio':>6} "
    f"{'gen 1st s':>9} {'gen s':>7} {'ratio':>6} {'peak MiB':>8} {'|diff|/max':>10}"
  )
  print(header)
  ref_l2 = np.asarray(ref["grad_l2"])
  for (framework, runtime, precision, mode), r in results.items():
    diff = np.abs(np.asarray(r["grad_l2"]) - ref_l2).max() / np.abs(ref_l2).max()
    same_gen = "" if r["generation"] == ref["generation"] else "  (generation differs)"
    print(
      f"{framework:12} {runtime:10} {precision:9} {mode:8} {r['load_s']:7.1f} "
      f"{r['first_sal_s']:9.2f} {r['sal_s']:10.2f} {r['sal_s'] / ref['sal_s']:6.2f} "
      f"{r['masks8_s']:9.2f} {r['masks8_s'] / ref['masks8_s']:6.2f} "
      f"{r['first_gen_s']:9.1f} {r['gen_s']:7.2f} {r['gen_s'] / ref['gen_s']:6.2f} "
      f"{r['peak_mib']:8.0f} {diff:10.1e}{same_gen}"
    )


if __name__ == "__main__":
  main()
