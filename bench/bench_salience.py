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
import threading
import time

import numpy as np
import psutil
import torch

from lit_seqsal import datasets, models
from lit_seqsal.models import lit_wrappers

TARGET_TOKENS = 20


class PeakRSS:
  """Samples this process's resident memory while a block runs."""

  def __enter__(self):
    self._proc = psutil.Process()
    self.base = self.peak = self._proc.memory_info().rss
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._sample, daemon=True)
    self._thread.start()
    return self

  def _sample(self):
    while not self._stop.is_set():
      self.peak = max(self.peak, self._proc.memory_info().rss)
      time.sleep(0.02)

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()

  @property
  def extra_mib(self) -> float:
    return (self.peak - self.base) / 2**20


def timed(fn, repeats):
  """Median seconds over `repeats` after a warm-up; then one more run for memory.

  Memory is sampled in a separate run so the sampler never slows the timings.
  """
  fn()  # warm-up: allocator, thread pools, first-call dispatch
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  with PeakRSS() as mem:
    result = fn()
  return statistics.median(times), mem.extra_mib, result


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

  LIT's wrapper cannot run on transformers 5 (DESIGN.md), so this re-states its
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


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
  args = parser.parse_args()
  if args.threads:
    torch.set_num_threads(args.threads)

  group = models.load_model_group("gemma", "bundled", batch_size=8, max_length=4096)
  engine = group["gemma"].engine
  text = "\n\n".join(e["prompt"] + e["target"] for e in
                     datasets.read_examples(datasets.sample_prompts_path()))
  print(f"Bundled Gemma 3 270M, float32, torch threads={torch.get_num_threads()},"
        f" median of {args.repeats}; target = last {TARGET_TOKENS} tokens.\n")

  print("1. Target-only logits (ours) vs full logits at every position (one salience call)")
  print("   full: plain log-softmax at every position; LIT-style: LIT 1.3's loss algorithm")
  print(f"{'tokens':>7} {'variant':<9} {'seconds':>8} {'ours faster':>12} {'max |diff|/max':>15}"
        f" {'peak MiB':>9}")
  for n in (64, 512):
    ids, mask = input_of_length(engine, text, n)
    t_ours, m_ours, r_ours = timed(
        lambda: engine.gradient_salience([(ids, mask[None])])[0], args.repeats)
    print(f"{n:>7} {'ours':<9} {t_ours:>8.3f} {'':>12} {'':>15} {m_ours:>9.0f}")
    for name, ref in (("full", full_logits_reference), ("LIT-style", lit_style_reference)):
      t_ref, m_ref, r_ref = timed(lambda: ref(engine, ids, mask), args.repeats)
      diff = max(np.abs(r_ours[k][0] - r_ref[k]).max() / np.abs(r_ref[k]).max()
                 for k in ("grad_l2", "grad_dot_input"))
      print(f"{n:>7} {name:<9} {t_ref:>8.3f} {t_ref / t_ours:>11.2f}x {diff:>15.1e} {m_ref:>9.0f}")

  print("\n2. Eight target masks of one 512-token input")
  ids, _ = input_of_length(engine, text, 512)
  masks = []
  for k in range(8):  # eight consecutive 5-token segments at the end
    m = np.zeros(len(ids), np.float32)
    m[len(ids) - 40 + 5 * k: len(ids) - 35 + 5 * k] = 1
    masks.append(m)

  def via_wrapper(batch_masks):
    # A fresh wrapper each time: no cache, the arithmetic only.
    sal = lit_wrappers.SalienceModel(engine)
    sal._ids_of = lambda ex, i: (ids, len(ids) - 40)  # pre-tokenized input
    return sal.predict([{"prompt": "x", "target_mask": m.tolist()} for m in batch_masks])

  rows = []
  for mode in ("loop", "vmap"):
    engine.backward_mode = mode
    t, mem, batched = timed(lambda: via_wrapper(masks), args.repeats)
    rows.append((f"one call, 8 masks ({mode} backward)", t, mem, batched))
  engine.backward_mode = "loop"
  t_sep, m_sep, separate = timed(lambda: [via_wrapper([m])[0] for m in masks], args.repeats)
  print(f"{'variant':<38} {'seconds':>8} {'vs separate':>12} {'MiB':>6} {'max |diff|':>10}")
  for name, t, mem, res in rows:
    diff = max(np.abs(a["grad_l2"] - b["grad_l2"]).max() for a, b in zip(res, separate))
    print(f"{name:<38} {t:>8.3f} {t_sep / t:>11.2f}x {mem:>6.0f} {diff:>10.1e}")
  print(f"{'8 separate calls':<38} {t_sep:>8.3f} {1.0:>11.2f}x {m_sep:>6.0f} {0:>10.1e}")


if __name__ == "__main__":
  main()
