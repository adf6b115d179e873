"""Choosing the Keras runtime (backend) before anything imports Keras.

Keras reads KERAS_BACKEND once, when it is first imported, and importing
TensorFlow imports Keras too. So the runtime is fixed by the first Keras model a
process loads; asking for another one later must fail loudly instead of silently
running on the wrong backend.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from absl import logging

from lit_seqsal import options
from lit_seqsal.errors import SetupError

# Runtimes we run Keras models on. JAX needs jax/jaxlib in the environment (an
# extra of this package); select() says how to install it.
KERAS_RUNTIMES = options.RUNTIMES_BY_FRAMEWORK[options.KERAS_FRAMEWORKS[0]]


class RuntimeMismatchError(SetupError, RuntimeError):
  """Keras is already running on another backend in this process."""


# What the Keras path needs beside the runtime (keras-hub's tokenizers use
# tensorflow-text on every backend): the `keras` extra of this package.
KERAS_PACKAGES = ("keras", "keras_hub", "tensorflow", "tensorflow_text")
INSTALL_KERAS = "pip install 'lit-seqsal[keras]'"


def missing_packages(runtime: str | None = None) -> list[str]:
  """Packages the Keras path (on `runtime`) needs that are not installed."""
  needed = KERAS_PACKAGES + (("jax",) if runtime == "jax" else ())
  return [name for name in needed if importlib.util.find_spec(name) is None]


def has_gpu(runtime: str) -> bool:
  """Whether Keras on `runtime` (already selected) sees a GPU."""
  if runtime == "tensorflow":
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))
  if runtime == "jax":
    import jax

    return any(d.platform == "gpu" for d in jax.devices())
  import torch

  return torch.cuda.is_available()


def _loaded_backend() -> str | None:
  if "keras" not in sys.modules:
    return None
  import keras

  return keras.backend.backend()


def select(runtime: str):
  """Makes Keras run on `runtime` and returns the keras module.

  Raises ValueError for an unknown or unavailable runtime and
  RuntimeMismatchError when Keras was already imported with another backend.
  """
  if runtime not in KERAS_RUNTIMES:
    raise SetupError(
      f"Unknown dl_runtime {runtime!r} for Keras; allowed values: {', '.join(KERAS_RUNTIMES)}."
    )
  loaded = _loaded_backend()
  if loaded is None:
    missing = missing_packages(runtime)
    if runtime == "jax" and missing == ["jax"]:
      raise SetupError(
        "dl_runtime='jax' needs JAX, which is not installed. Install it with"
        " `pip install 'lit-seqsal[jax]'` (CPU build), or use"
        " dl_runtime='tensorflow' or 'torch'."
      )
    if missing:
      raise SetupError(
        f"dl_framework=kerasnlp needs Keras and keras-hub (missing here:"
        f" {', '.join(missing)}). Install them with `{INSTALL_KERAS}`"
        f"{' (or [jax] for JAX)' if runtime == 'jax' else ''}, or load the model's Hugging"
        " Face checkpoint with --dl_framework=transformers."
      )
    env = os.environ.get("KERAS_BACKEND")
    if env and env != runtime:
      # Keras is not imported yet, so overriding is still safe; say so.
      logging.warning("KERAS_BACKEND=%s overridden by dl_runtime=%s.", env, runtime)
    os.environ["KERAS_BACKEND"] = runtime
    # TensorFlow's C++ INFO/WARNING lines (oneDNN, missing CUDA) are noise here.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    loaded = keras.backend.backend()
  if loaded != runtime:
    raise RuntimeMismatchError(
      f"Keras is already running on the {loaded!r} backend in this process"
      f" (something imported Keras or TensorFlow before), so dl_runtime="
      f"{runtime!r} cannot be used. Keras picks its backend once, at import."
      f" Restart the process or notebook kernel and load the {runtime!r} model"
      f" first, or set KERAS_BACKEND={runtime} before importing anything, or"
      f" use dl_runtime={loaded!r}."
    )
  import keras

  return keras
