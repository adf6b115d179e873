"""Salience speed on the bundled Gemma 3 270M, ours against references, one run.

Prints, for the same inputs measured in the same process:
  1. target-only logits (ours) vs full logits at every position, at 64 and 512
     tokens with a 20-token target: latency, ratio, max score difference;
  2. 8 target masks of one input in one batched call (one forward pass, one
     backward per mask; also the vmapped backward) vs 8 separate calls;
  3. peak resident memory of each variant.

usage: .venv/bin/python bench/bench_salience.py [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import psutil
import torch

from lit_seqsal import datasets, models
from lit_seqsal.salience import methods

TARGET_TOKENS = 20


def timed(fn, repeats):
  """Median seconds over `repeats` runs after a warm-up, and the last result."""
  result = fn()  # warm-up: allocator, thread pools, first-call dispatch
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times), result


def sampled_peak_mib(fn) -> float:
  """Peak resident memory while fn runs, above what was resident before it."""
  proc = psutil.Process()
  base = peak = proc.memory_info().rss
  done = threading.Event()

  def sample():
    nonlocal peak
    while not done.is_set():
      peak = max(peak, proc.memory_info().rss)
      time.sleep(0.005)

  sampler = threading.Thread(target=sample, daemon=True)
  sampler.start()
  fn()
  done.set()
  sampler.join()
  return (peak - base) / 2**20


def peak_memory_mib(variant: str, n: int) -> float:
  """Peak RSS above the loaded model for one call, in a fresh process.

  A separate process per variant, and no sampling while timing: the sampler
  would slow the timed runs, and memory one variant freed could hide another's.
  """
  out = subprocess.run(
      [sys.executable, __file__, "--memory-of", variant, "--tokens", str(n)],
      capture_output=True, text=True, check=True)
  return float(out.stdout.strip().splitlines()[-1])


def full_logits_reference(engine, ids, mask):
  """Straightforward salience: logits and log-softmax at every position."""
  input_ids = torch.tensor([ids])
  embs = engine.model.get_input_embeddings()(input_ids).detach().requires_grad_(True)
  logits = engine.model(inputs_embeds=embs, use_cache=False).logits[0]
  logprobs = torch.log_softmax(logits[:-1].float(), dim=-1)
  token_lp = logprobs[torch.arange(len(ids) - 1), input_ids[0, 1:]]
  objective = (token_lp * torch.tensor(mask[1:], dtype=torch.float32)).sum()
  (grad,) = torch.autograd.grad(objective, embs)
  return {"grad_l2": grad[0].norm(dim=-1).numpy(),
          "grad_dot_input": (grad[0] * embs[0]).sum(-1).detach().numpy()}


def lit_style_reference(engine, ids, mask):
  """Full logits the way LIT 1.3's own Transformers wrapper computes its loss.

  LIT's wrapper cannot run on transformers 5 (its `model.framework` is gone), so this re-states its
  algorithm: logits at every position, per-token cross-entropy over the
  [batch, vocab, tokens] layout, masked, one backward pass.
  """
  input_ids = torch.tensor([ids])
  embs = engine.model.get_input_embeddings()(input_ids).detach().requires_grad_(True)
  logits = engine.model(inputs_embeds=embs, use_cache=False).logits
  next_ids = torch.roll(input_ids, -1, dims=1)
  loss = torch.nn.functional.cross_entropy(logits.permute(0, 2, 1), next_ids, reduction="none")
  weights = torch.roll(torch.tensor(mask)[None], -1, dims=1)
  (grad,) = torch.autograd.grad(-(loss * weights).sum(), embs)  # log-lik = -loss
  return {"grad_l2": grad[0].norm(dim=-1).numpy(),
          "grad_dot_input": (grad[0] * embs[0]).sum(-1).detach().numpy()}


def input_of_length(engine, text: str, n: int):
  ids = engine.encode(text)[:n]
  if len(ids) < n:
    raise SystemExit(f"sample text has only {len(ids)} tokens, need {n}")
  mask = np.zeros(n, np.float32)
  mask[-TARGET_TOKENS:] = 1
  return ids, mask


def eight_masks(n_tokens: int) -> list[np.ndarray]:
  """Eight consecutive 5-token segments at the end of the input."""
  masks = []
  for k in range(8):
    m = np.zeros(n_tokens, np.float32)
    m[n_tokens - 40 + 5 * k: n_tokens - 35 + 5 * k] = 1
    masks.append(m)
  return masks


def salience_calls(engine, ids):
  """Gradient salience of pre-tokenized ids for some masks, in one call, no cache."""

  def call(batch_masks):
    return methods.gradient_methods_run(engine, [(ids, np.stack(batch_masks))],
                                        methods.REGISTRY.values())

  return call


def variants(engine, ids, mask):
  """Every measured variant, by name, as a zero-argument callable."""
  call = salience_calls(engine, ids)
  masks = eight_masks(len(ids))

  def with_mode(mode, fn):
    def run():
      engine.backward_mode = mode
      try:
        return fn()
      finally:
        engine.backward_mode = "loop"
    return run

  return {
      "ours": lambda: call([mask])[0],
      "full": lambda: full_logits_reference(engine, ids, mask),
      "LIT-style": lambda: lit_style_reference(engine, ids, mask),
      "8 masks, loop": with_mode("loop", lambda: call(masks)),
      "8 masks, vmap": with_mode("vmap", lambda: call(masks)),
      "8 separate": lambda: [call([m])[0] for m in masks],
      "contrastive": lambda: contrastive_call(engine, ids, mask),
  }


FOIL = " and that is all I wanted to say about it."


def contrastive_call(engine, ids, mask):
  """Gradient salience of the target against a foil (salience/contrastive.py)."""
  foil_ids = engine.encode_continuation(FOIL)
  return methods.gradient_methods_run(engine, [(ids, mask[None], foil_ids)],
                                      methods.REGISTRY.values())[0]


def load():
  group = models.load_model_group("gemma", "bundled", batch_size=8, max_length=4096)
  engine = group["gemma"].engine
  text = "\n\n".join(e["prompt"] + e["target"] for e in
                     datasets.read_examples(datasets.sample_prompts_path()))
  return engine, text


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
  parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # internal: one variant's memory
  parser.add_argument("--tokens", type=int, default=512, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.threads:
    torch.set_num_threads(args.threads)
  engine, text = load()

  if args.memory_of:
    ids, mask = input_of_length(engine, text, args.tokens)
    fn = variants(engine, ids, mask)[args.memory_of]
    fn()  # warm-up: one-time allocations are not the variant's cost
    print(sampled_peak_mib(fn))
    return

  print(f"Bundled Gemma 3 270M, float32, torch threads={torch.get_num_threads()},"
        f" median of {args.repeats} after a warm-up; target = last {TARGET_TOKENS} tokens.")
  print("Peak MiB: resident memory above the loaded model, one call in a fresh process.\n")
  print("1. Target-only logits (ours) vs logits at every position (one salience call)")
  print("   full: plain log-softmax at every position; LIT-style: LIT 1.3's loss algorithm")
  print(f"{'tokens':>7} {'variant':<9} {'seconds':>8} {'ours faster':>12} {'max |diff|/max':>15}"
        f" {'peak MiB':>9}")
  for n in (64, 512):
    ids, mask = input_of_length(engine, text, n)
    runs = variants(engine, ids, mask)
    t_ours, r_ours = timed(runs["ours"], args.repeats)
    r_ours = {k: v[0] for k, v in r_ours.items()}
    print(f"{n:>7} {'ours':<9} {t_ours:>8.3f} {'':>12} {'':>15} {peak_memory_mib('ours', n):>9.0f}")
    for name in ("full", "LIT-style"):
      t_ref, r_ref = timed(runs[name], args.repeats)
      diff = max(np.abs(r_ours[k] - r_ref[k]).max() / np.abs(r_ref[k]).max()
                 for k in ("grad_l2", "grad_dot_input"))
      print(f"{n:>7} {name:<9} {t_ref:>8.3f} {t_ref / t_ours:>11.2f}x {diff:>15.1e}"
            f" {peak_memory_mib(name, n):>9.0f}")

  print("\n2. Eight target masks of one 512-token input")
  ids, mask = input_of_length(engine, text, 512)
  runs = variants(engine, ids, mask)
  t_sep, separate = timed(runs["8 separate"], args.repeats)
  print(f"{'variant':<40} {'seconds':>8} {'vs separate':>12} {'peak MiB':>9} {'max |diff|/max':>15}")
  for name in ("8 masks, loop", "8 masks, vmap"):
    t, res = timed(runs[name], args.repeats)
    diff = max(np.abs(a["grad_l2"] - b["grad_l2"]).max() / np.abs(b["grad_l2"]).max()
               for a, b in zip(res, separate))
    label = f"one call, {name.split(', ')[1]} backward"
    print(f"{label:<40} {t:>8.3f} {t_sep / t:>11.2f}x {peak_memory_mib(name, 512):>9.0f} {diff:>15.1e}")
  print(f"{'8 separate calls':<40} {t_sep:>8.3f} {1.0:>11.2f}x"
        f" {peak_memory_mib('8 separate', 512):>9.0f} {0:>15.1e}")

  print("\n3. Contrastive salience (target vs a foil) against plain salience, 512 tokens")
  t_plain, _ = timed(runs["ours"], args.repeats)
  t_con, _ = timed(runs["contrastive"], args.repeats)
  print(f"plain {t_plain:.3f} s, contrastive {t_con:.3f} s: {t_con / t_plain:.2f}x"
        f" (goal: at most 1.6x; the context runs once for both continuations)")


if __name__ == "__main__":
  main()
