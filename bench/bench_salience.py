"""Salience speed on the bundled Gemma 3 270M, ours against references, one run.

Prints, for the same inputs measured in the same process:
  1. target-only logits (ours) vs full logits at every position, at 64 and 512
     tokens with a 20-token target: latency, ratio, max score difference;
  2. 8 target masks of one input in one batched call (one forward pass, one
     backward per mask; also the vmapped backward) vs 8 separate calls;
  3. contrastive salience (the target against a foil) vs plain salience;
  4. per-call cost: a whole salience request (through the HTTP API, LIT's
     wrappers, tokenization, the engine) and the engine call alone against a
     bare forward + backward of the model body, at 80 / 400 / 1,024 / 4,096
     tokens (4,096: the activation-checkpointing path), with peak memory;
  5. with CUDA present, section 4 again on the GPU;
  6. occlusion of every output sentence of fewshot-mistake with its generation
     (the model's own, greedy), at sentence granularity: all-spans occlusion
     (one set of deletions, rows continuing from the sequence's key/value
     cache) against (a) per-span occlusion (each span's deletions run whole,
     summed over the spans), (b) the gradient prefetch of the same spans (one
     forward pass, one backward pass per span) and (c) all-spans occlusion with
     every row recomputed (the engine base class's path, which the Keras
     engine takes); and the deletion check's cost for the Recommendation line;
  and the peak resident memory of each variant.

usage: .venv/bin/python bench/bench_salience.py [--repeats 3] [--threads N]
           [--lengths 80,400,1024,4096] [--sections 1,2,3,4,5,6] [--spans N]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import psutil
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/

from lit_seqsal import datasets, models
from lit_seqsal.engine.base import LMEngine
from lit_seqsal.engine.encoding import encode_example, encode_prompt
from lit_seqsal.salience import attribution, check, methods, occlusion, segmentation

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
    capture_output=True,
    text=True,
    check=True,
  )
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
  return {
    "grad_l2": grad[0].norm(dim=-1).numpy(),
    "grad_dot_input": (grad[0] * embs[0]).sum(-1).detach().numpy(),
  }


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
  return {
    "grad_l2": grad[0].norm(dim=-1).numpy(),
    "grad_dot_input": (grad[0] * embs[0]).sum(-1).detach().numpy(),
  }


def input_of_length(engine, text: str, n: int):
  ids = engine.encode(text)
  while len(ids) < n:  # long inputs repeat the sample prompts
    ids = ids + ids[1:]
  ids = ids[:n]
  mask = np.zeros(n, np.float32)
  mask[-TARGET_TOKENS:] = 1
  return ids, mask


def eight_masks(n_tokens: int) -> list[np.ndarray]:
  """Eight consecutive 5-token segments at the end of the input."""
  masks = []
  for k in range(8):
    m = np.zeros(n_tokens, np.float32)
    m[n_tokens - 40 + 5 * k : n_tokens - 35 + 5 * k] = 1
    masks.append(m)
  return masks


def salience_calls(engine, ids):
  """Gradient salience of pre-tokenized ids for some masks, in one call, no cache."""

  def call(batch_masks):
    return methods.gradient_methods_run(
      engine, [(ids, np.stack(batch_masks))], methods.REGISTRY.values()
    )

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
    "bare body": lambda: bare_body(engine, ids, mask),
    "bare body+head": lambda: bare_body_and_head(engine, ids, mask),
  }


def bare_body(engine, ids, mask):
  """The model body alone: decoder layers on the input embeddings, and the
  backward pass of the target positions' final hidden states to those
  embeddings. No LM head, no log-softmax, no bookkeeping."""
  embs = engine._embedding(torch.tensor([ids], device=engine.device)).detach()
  embs.requires_grad_(True)
  targets = torch.tensor(np.nonzero(mask)[0] - 1, device=engine.device)
  hidden = engine.model.model(inputs_embeds=embs, use_cache=False).last_hidden_state
  (grad,) = torch.autograd.grad(hidden[0, targets].sum(), embs)
  return grad


def bare_body_and_head(engine, ids, mask):
  """The least model work for the objective: the body, the LM head and the
  log-softmax at the target positions only, one backward pass."""
  embs = engine._embedding(torch.tensor([ids], device=engine.device)).detach()
  embs.requires_grad_(True)
  positions = np.nonzero(mask)[0]
  logits = engine.model(
    inputs_embeds=embs,
    use_cache=False,
    logits_to_keep=torch.tensor(positions - 1, device=engine.device),
  ).logits
  logprobs = torch.log_softmax(logits.float(), dim=-1)[0]
  labels = torch.tensor(np.asarray(ids)[positions], device=engine.device)
  (grad,) = torch.autograd.grad(logprobs[torch.arange(len(positions)), labels].sum(), embs)
  return grad


def http_call(served, group, engine, ids, mask):
  """One whole salience request through our HTTP app (cache cleared first)."""
  from tests.helpers import post

  group.salience.cache.clear()
  served.app._models["_gemma_salience"]._cache._d.clear()  # LIT's
  prompt_ids = len(ids) - TARGET_TOKENS
  prompt, target = engine.decode(ids[1:prompt_ids]), engine.decode(ids[prompt_ids:])
  example = {"id": "", "meta": {}, "data": {"prompt": prompt, "target": target}}
  return post(served.url, "/get_preds", {"inputs": [example]}, model="_gemma_salience")


FOIL = " and that is all I wanted to say about it."


def contrastive_call(engine, ids, mask):
  """Gradient salience of the target against a foil (salience/contrastive.py)."""
  foil_ids = engine.encode_continuation(FOIL)
  return methods.gradient_methods_run(
    engine, [(ids, mask[None], foil_ids)], methods.REGISTRY.values()
  )[0]


def load():
  group = models.load_model_group("gemma", "bundled", batch_size=8, max_length=4096)
  engine = group["gemma"].engine
  text = "\n\n".join(
    e["prompt"] + e["target"] for e in datasets.read_examples(datasets.sample_prompts_path())
  )
  return engine, text


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
  parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # internal: one variant's memory
  parser.add_argument("--tokens", type=int, default=512, help=argparse.SUPPRESS)
  parser.add_argument(
    "--lengths", default="80,400,1024,4096", help="input lengths of section 4, comma-separated"
  )
  parser.add_argument("--sections", default="1,2,3,4,5,6", help="sections to run, comma-separated")
  parser.add_argument(
    "--spans", type=int, default=0, help="section 6: the first N output sentences only (0: all)"
  )
  args = parser.parse_args()
  if args.threads:
    torch.set_num_threads(args.threads)
  engine, text = load()
  sections = {int(x) for x in args.sections.split(",")}
  lengths = [int(x) for x in args.lengths.split(",")]

  if args.memory_of:
    ids, mask = input_of_length(engine, text, args.tokens)
    fn = variants(engine, ids, mask)[args.memory_of]
    fn()  # warm-up: one-time allocations are not the variant's cost
    print(sampled_peak_mib(fn))
    return

  print(
    f"Bundled Gemma 3 270M, float32, torch threads={torch.get_num_threads()},"
    f" median of {args.repeats} after a warm-up; target = last {TARGET_TOKENS} tokens."
  )
  print("Peak MiB: resident memory above the loaded model, one call in a fresh process.\n")
  if 1 in sections:
    section_target_only(engine, text, args.repeats)
  if 2 in sections:
    section_masks(engine, text, args.repeats)
  if 3 in sections:
    section_contrastive(engine, text, args.repeats)
  if 4 in sections:
    section_per_call(engine, text, args.repeats, lengths, "cpu")
  if 5 in sections and torch.cuda.is_available():
    gpu = models.load_model_group(
      "gemma", "bundled", batch_size=8, max_length=4096, device="cuda", precision="float32"
    )["gemma"].engine
    section_per_call(gpu, text, args.repeats, lengths, torch.cuda.get_device_name())
  elif 5 in sections:
    print("\n5. GPU: no CUDA GPU visible here; skipped.")
  if 6 in sections:
    section_all_spans(engine, args.repeats, args.spans)


def section_target_only(engine, text, repeats):
  print("1. Target-only logits (ours) vs logits at every position (one salience call)")
  print("   full: plain log-softmax at every position; LIT-style: LIT 1.3's loss algorithm")
  print(
    f"{'tokens':>7} {'variant':<9} {'seconds':>8} {'ours faster':>12} {'max |diff|/max':>15}"
    f" {'peak MiB':>9}"
  )
  for n in (64, 512):
    ids, mask = input_of_length(engine, text, n)
    runs = variants(engine, ids, mask)
    t_ours, r_ours = timed(runs["ours"], repeats)
    r_ours = {k: v[0] for k, v in r_ours.items()}
    print(f"{n:>7} {'ours':<9} {t_ours:>8.3f} {'':>12} {'':>15} {peak_memory_mib('ours', n):>9.0f}")
    for name in ("full", "LIT-style"):
      t_ref, r_ref = timed(runs[name], repeats)
      diff = max(
        np.abs(r_ours[k] - r_ref[k]).max() / np.abs(r_ref[k]).max()
        for k in ("grad_l2", "grad_dot_input")
      )
      print(
        f"{n:>7} {name:<9} {t_ref:>8.3f} {t_ref / t_ours:>11.2f}x {diff:>15.1e}"
        f" {peak_memory_mib(name, n):>9.0f}"
      )


def section_masks(engine, text, repeats):
  print("\n2. Eight target masks of one 512-token input")
  ids, mask = input_of_length(engine, text, 512)
  runs = variants(engine, ids, mask)
  t_sep, separate = timed(runs["8 separate"], repeats)
  print(
    f"{'variant':<40} {'seconds':>8} {'vs separate':>12} {'peak MiB':>9} {'max |diff|/max':>15}"
  )
  for name in ("8 masks, loop", "8 masks, vmap"):
    t, res = timed(runs[name], repeats)
    diff = max(
      np.abs(a["grad_l2"] - b["grad_l2"]).max() / np.abs(b["grad_l2"]).max()
      for a, b in zip(res, separate)
    )
    label = f"one call, {name.split(', ')[1]} backward"
    print(
      f"{label:<40} {t:>8.3f} {t_sep / t:>11.2f}x {peak_memory_mib(name, 512):>9.0f} {diff:>15.1e}"
    )
  print(
    f"{'8 separate calls':<40} {t_sep:>8.3f} {1.0:>11.2f}x"
    f" {peak_memory_mib('8 separate', 512):>9.0f} {0:>15.1e}"
  )


def section_contrastive(engine, text, repeats):
  print("\n3. Contrastive salience (target vs a foil) against plain salience, 512 tokens")
  ids, mask = input_of_length(engine, text, 512)
  runs = variants(engine, ids, mask)
  t_plain, _ = timed(runs["ours"], repeats)
  t_con, _ = timed(runs["contrastive"], repeats)
  print(
    f"plain {t_plain:.3f} s, contrastive {t_con:.3f} s: {t_con / t_plain:.2f}x"
    f" (goal: at most 1.6x; the context runs once for both continuations)"
  )


def section_per_call(engine, text, repeats, lengths, device):
  from lit_seqsal.models import lit_models
  from tests.helpers import serve_lit

  print(
    f"\n4. Per-call cost on {device}: a whole request and the engine call vs the model's own"
    " work\n   (body: decoder forward+backward; body+head: plus LM head and log-softmax at"
    " the targets)"
  )
  group = lit_models.group_of(lit_models.make_model_group("gemma", engine)["gemma"])
  served = serve_lit(
    {
      "gemma": group.generation,
      "_gemma_salience": group.salience,
      "_gemma_tokenizer": group.tokenizer,
    }
  )
  try:
    print(
      f"{'tokens':>7} {'body s':>8} {'body+head s':>12} {'engine s':>9} {'request s':>10}"
      f" {'request/body':>13} {'request/body+head':>18} {'peak MiB':>9}"
    )
    for n in lengths:
      ids, mask = input_of_length(engine, text, n)
      runs = variants(engine, ids, mask)
      reps = repeats if n <= 1024 else 1
      t_body, _ = timed(runs["bare body"], reps)
      t_head, _ = timed(runs["bare body+head"], reps)
      t_engine, _ = timed(runs["ours"], reps)
      t_http, _ = timed(functools.partial(http_call, served, group, engine, ids, mask), reps)
      peak = peak_memory_mib("ours", n) if device == "cpu" else float("nan")
      print(
        f"{n:>7} {t_body:>8.3f} {t_head:>12.3f} {t_engine:>9.3f} {t_http:>10.3f}"
        f" {t_http / t_body:>12.2f}x {t_http / t_head:>17.2f}x {peak:>9.0f}"
      )
  finally:
    served.close()


def fewshot_mistake_with_its_generation(engine):
  """The fewshot-mistake prompt and the model's own greedy continuation of it."""
  (row,) = [
    e
    for e in datasets.read_examples(datasets.sample_prompts_path())
    if e["source"] == "fewshot-mistake"
  ]
  ids, _ = encode_prompt(engine, row)
  (generation,) = engine.generate([ids], [row.get("stop") or ()])
  return {"prompt": row["prompt"], "target": generation.text}


def section_all_spans(engine, repeats, limit):
  from lit_seqsal.batch.spans import explained_range

  example = fewshot_mistake_with_its_generation(engine)
  encoded = encode_example(engine, example)
  ids, num_prompt = list(encoded.ids), encoded.num_prompt_tokens
  tokens = engine.token_strings(ids)
  spans = [
    explained_range(tokens, a, b)
    for a, b in segmentation.segment_tokens(tokens, "sentences", num_prompt, len(ids))
    if "".join(tokens[a:b]).replace("▁", " ").strip()
  ]
  spans = spans[:limit] if limit else spans
  masks = np.zeros((len(spans), len(ids)), np.float32)
  for m, (a, b) in enumerate(spans):
    masks[m, a:b] = 1
  segments = len(occlusion.canonical_deletions(tokens, "sentences"))
  print(
    f"\n6. Occlusion of every output sentence: fewshot-mistake with its generation,"
    f" {len(ids)} tokens ({len(ids) - num_prompt} generated), {len(spans)} output"
    f" sentences{' (--spans)' if limit else ''}, {segments} sentences deleted;"
    f" batch_size={engine.batch_size}"
  )

  def per_span():
    return [attribution.occlusion(engine, [(ids, m[None])], "sentences")[0][0] for m in masks]

  def all_spans():
    return occlusion.all_spans(engine, [(ids, masks)], "sentences", outputs_from=[num_prompt])[0]

  def recomputed():  # the base class's path: every row from scratch
    engine._run_prefix = functools.partial(LMEngine._run_prefix, engine)
    engine._token_logprobs = functools.partial(LMEngine._token_logprobs, engine)
    try:
      return all_spans()
    finally:
      del engine._run_prefix, engine._token_logprobs

  def gradients():
    return methods.gradient_methods_run(engine, [(ids, masks)], methods.REGISTRY.values())

  t_grad, grads = timed(gradients, repeats)
  t_all, ours = timed(all_spans, repeats)
  t_recomputed, again = timed(recomputed, repeats)
  t_per_span, reference = timed(per_span, repeats)
  diff = max(float(np.abs(a.scores - b.scores).max()) for a, b in zip(ours, reference))
  diff_recomputed = max(float(np.abs(a.scores - b.scores).max()) for a, b in zip(ours, again))
  print(f"{'variant':<46} {'seconds':>8} {'vs gradients':>13}")
  for name, t in (
    ("gradient prefetch (grad_l2, grad_dot_input)", t_grad),
    ("all-spans occlusion", t_all),
    ("all-spans occlusion, rows recomputed (Keras)", t_recomputed),
    ("per-span occlusion, summed over the spans", t_per_span),
  ):
    print(f"{name:<46} {t:>8.2f} {t / t_grad:>12.2f}x")
  print(
    f"all-spans vs per-span: {t_per_span / t_all:.1f}x faster; cache reuse vs recompute:"
    f" {t_recomputed / t_all:.2f}x; max |score difference| {diff:.1e} (per-span),"
    f" {diff_recomputed:.1e} (recomputed). Goal: all-spans within 3x the gradient prefetch:"
    f" {'met' if t_all <= 3 * t_grad else 'NOT met'} ({t_all / t_grad:.2f}x)."
  )
  recommendation = next(
    (k for k, (a, b) in enumerate(spans) if "Recommendation" in "".join(tokens[a:b])),
    len(spans) - 1,
  )
  row = (ids, masks[recommendation][None])
  scores = grads[0]["grad_l2"][recommendation]
  t_check, record = timed(
    lambda: check.deletion_check(engine, row, scores, "sentences", method="grad_l2", signed=False),
    repeats,
  )
  a, b = spans[recommendation]
  print(
    f"deletion check of grad_l2 for {''.join(tokens[a:b]).replace('▁', ' ').strip()!r}:"
    f" {t_check:.2f} s ({t_check / t_grad:.2f}x the gradient prefetch; k = 1-3, top,"
    f" lowest and {check.DRAWS} random draws each), verdict {record['verdict']!r}"
  )


if __name__ == "__main__":
  main()
