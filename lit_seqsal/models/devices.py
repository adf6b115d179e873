"""Where a model runs: `--device` and `--device_map`, and the precision that fits.

`auto` picks a CUDA GPU when one is visible, else Apple's MPS, else the CPU.
`--device_map=auto` shards a Transformers model that does not fit one GPU across
the visible GPUs (accelerate). Precision `auto` is bfloat16 on a GPU (half the
memory, and fast there) and float32 on a CPU (exact; see docs/benchmarks.md,
"Frameworks, runtimes and precision"). Keras models run where their runtime puts
them (docs/user-guide.md, "Keras (keras-hub) models").
"""

from __future__ import annotations

from lit_seqsal.options import check_device


def resolve_device(device: str) -> str:
  """The torch device a Transformers model goes to; a clear error if it is absent."""
  import torch

  check_device(device)
  if device == "auto":
    if torch.cuda.is_available():
      return "cuda"
    if torch.backends.mps.is_available():
      return "mps"
    return "cpu"
  if device.startswith("cuda"):
    if not torch.cuda.is_available():
      raise ValueError(
        f"--device={device}, but no CUDA GPU is visible to PyTorch"
        " (check the driver, CUDA_VISIBLE_DEVICES, and that torch is a CUDA"
        " build); use --device=auto or cpu."
      )
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
      raise ValueError(
        f"--device={device}, but only {torch.cuda.device_count()} CUDA GPU(s) are visible."
      )
  if device == "mps" and not torch.backends.mps.is_available():
    raise ValueError("--device=mps, but Apple's MPS is not available here; use auto or cpu.")
  return device


def default_precision(on_accelerator: bool) -> str:
  """bfloat16 on a GPU, float32 (exact) on a CPU."""
  return "bfloat16" if on_accelerator else "float32"
