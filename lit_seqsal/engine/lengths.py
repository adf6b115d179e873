"""How long a prompt a loaded model takes: `--sequence_length=auto` (the default).

The longest prompt + target is the model's context window (its configuration's
`max_position_embeddings`), bounded by what one salience pass fits in the
memory free once the model is loaded. The gradient pass of one output span
keeps activations for the backward pass; its peak memory is estimated from
the model's shape (docs/user-guide.md, "Long prompts"), in values of the
model's precision:

- per token, below the activation-checkpointing threshold: every decoder
  layer's activations, `layers * (6 * intermediate + 12 * hidden)`; above it
  only each layer's input is kept, and one layer is recomputed at a time:
  `(layers + 1) * hidden + 6 * intermediate + 12 * hidden`;
- per pair of tokens: one layer's attention scores and their softmax,
  `2 * heads` (attention on a CPU materialises them);
- once: a copy of the embedding matrix (`vocab * hidden`) and the
  log-probabilities over the vocabulary at SCORED_POSITIONS target positions,
  three copies.

Measured on Gemma 3 270M in float32 on a 2-core CPU (growth of the peak
resident memory over one gradient pass, one mask; estimate in brackets):
512 tokens 0.62 GiB (1.5), 1,024 tokens 1.3 GiB (2.2), 2,048 tokens 2.7 GiB
(3.7); with checkpointing 3,072 tokens 0.96 GiB (1.5), 4,096 tokens 1.2 GiB
(1.8). The estimate errs high; the length chosen also leaves the other half
of the free memory to everything else (caches, a second request).
"""

from __future__ import annotations

import dataclasses
import os

# Share of the memory free at load time that one salience pass may take.
AUTO_FRACTION = 0.5
# The automatic length is a multiple of this, and at least this.
LENGTH_STEP = 512
# Target positions whose logits (over the whole vocabulary) one pass keeps.
SCORED_POSITIONS = 64
# Without a context window in the model's configuration.
FALLBACK_CONTEXT = 32768


@dataclasses.dataclass(frozen=True)
class ModelShape:
  """What the memory of a salience pass depends on, read from a model's configuration."""

  layers: int
  hidden: int
  intermediate: int
  heads: int
  vocab: int
  bytes_per_value: int
  context_window: int | None = None  # positions the model was trained for
  checkpoint_above: int | None = None  # activation checkpointing above this many tokens


def salience_pass_bytes(shape: ModelShape, tokens: int) -> int:
  """Estimated peak memory of one gradient pass over `tokens` tokens (module docstring)."""
  layer = 6 * shape.intermediate + 12 * shape.hidden
  if shape.checkpoint_above is not None and tokens > shape.checkpoint_above:
    per_token = (shape.layers + 1) * shape.hidden + layer
  else:
    per_token = shape.layers * layer
  attention = 2 * shape.heads * tokens * tokens
  once = shape.vocab * shape.hidden + 3 * SCORED_POSITIONS * shape.vocab
  return shape.bytes_per_value * (per_token * tokens + attention + once)


def host_available_bytes() -> int | None:
  """Memory this process may still use: the kernel's MemAvailable, within a
  container's memory limit (cgroup v2 or v1); None where neither is known."""
  candidates = []
  try:
    with open("/proc/meminfo", encoding="ascii") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          candidates.append(int(line.split()[1]) * 1024)
  except OSError:
    pass
  for limit_file, usage_file in (
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
  ):
    try:
      with open(limit_file, encoding="ascii") as f:
        limit = f.read().strip()
      with open(usage_file, encoding="ascii") as f:
        usage = int(f.read().strip())
    except (OSError, ValueError):
      continue
    if limit.isdigit() and int(limit) < 1 << 60:
      candidates.append(max(0, int(limit) - usage))
    break
  if not candidates:
    try:
      candidates.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
      return None
  return min(candidates)


@dataclasses.dataclass(frozen=True)
class AutoLength:
  """The length chosen, and why (printed when the server starts)."""

  length: int
  context_window: int | None
  pass_bytes: int | None  # estimated memory of a salience pass at `length`
  available_bytes: int | None  # None if unknown

  def explain(self) -> str:
    window = (
      f"the model reads up to {self.context_window:,}"
      if self.context_window
      else "no context window in its configuration"
    )
    if self.available_bytes is None or self.pass_bytes is None:
      return f"{self.length:,} tokens ({window}; free memory unknown)."
    need, free = self.pass_bytes / 2**30, self.available_bytes / 2**30
    return (
      f"{self.length:,} tokens ({window}; a salience pass over {self.length:,} tokens needs"
      f" about {need:.1f} GiB by our estimate, of {free:.1f} GiB free now)."
      " Set --sequence_length to change it."
    )


def auto_length(shape: ModelShape, available_bytes: int | None, ceiling: int) -> AutoLength:
  """The longest prompt + target for `--sequence_length=auto`: the context window
  (else FALLBACK_CONTEXT), at most `ceiling`, and at most what fits AUTO_FRACTION
  of `available_bytes` (a multiple of LENGTH_STEP, at least LENGTH_STEP)."""
  window = shape.context_window
  longest = min(window or FALLBACK_CONTEXT, ceiling)
  if available_bytes is None:
    return AutoLength(longest, window, None, None)
  budget = AUTO_FRACTION * available_bytes
  low, high = 0, longest  # the largest length whose pass fits the budget
  while low < high:
    mid = (low + high + 1) // 2
    if salience_pass_bytes(shape, mid) <= budget:
      low = mid
    else:
      high = mid - 1
  fitting = max(LENGTH_STEP, low // LENGTH_STEP * LENGTH_STEP) if low < longest else longest
  length = min(longest, fitting)
  return AutoLength(length, window, salience_pass_bytes(shape, length), available_bytes)
