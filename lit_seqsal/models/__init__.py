"""Model groups for LIT: configuration strings in, `{name: lit Model}` out."""

from __future__ import annotations

from collections.abc import Sequence

from absl import logging
from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

# "kerasnlp" is the name LIT and the walkthrough use; keras-hub is its new name.
KERAS_FRAMEWORKS = ("kerasnlp", "kerashub")
DL_FRAMEWORKS = ("transformers", *KERAS_FRAMEWORKS)
# Runtimes each framework runs on (transformers 5 has no TensorFlow models).
RUNTIMES_BY_FRAMEWORK = {
    "transformers": ("torch",),
    **{f: ("tensorflow", "torch", "jax") for f in KERAS_FRAMEWORKS},
}
DL_RUNTIMES = ("tensorflow", "torch", "jax")
PRECISIONS = ("float32", "bfloat16")
SAMPLERS = ("greedy", "top_k", "top_p", "random", "beam", "contrastive")
DEFAULT_SAMPLER = "greedy"

DEFAULT_MODELS = ("gemma3_270m:bundled",)
DEFAULT_DL_FRAMEWORK = "transformers"
# The first runtime of each framework: torch for transformers, tensorflow for
# Keras (as in LIT's own helper and the walkthrough).
DEFAULT_DL_RUNTIME = None
# float32 is exact; bfloat16 is faster only on GPUs and CPUs with native
# bfloat16 instructions (see README, "Precision"), and shifts scores by 1-3%.
DEFAULT_PRECISION = "float32"
DEFAULT_BATCH_SIZE = 4
DEFAULT_SEQUENCE_LENGTH = 1024
DEFAULT_MAX_NEW_TOKENS = 64


def _check_choice(value: str, allowed: Sequence[str], what: str) -> None:
  if value not in allowed:
    raise ValueError(f"Unknown {what} {value!r}; allowed values: {', '.join(allowed)}.")


def parse_model_spec(entry: str) -> tuple[str, str]:
  """'NAME:PATH' -> (NAME, PATH); splits on the first ':' only (paths may hold ':')."""
  name, sep, path = entry.partition(":")
  name, path = name.strip(), path.strip()
  if not sep or not name or not path:
    raise ValueError(
        f"Bad model entry {entry!r}: expected NAME:PATH, for example"
        " 'gemma3_270m:bundled' or 'mymodel:/path/to/hf_dir'."
    )
  if name.startswith("_"):
    raise ValueError(f"Bad model name {name!r}: names starting with '_' are reserved.")
  return name, path


def load_model_group(
    new_name: str,
    model_name_or_path: str,
    *,
    dl_framework: str = DEFAULT_DL_FRAMEWORK,
    dl_runtime: str | None = DEFAULT_DL_RUNTIME,
    precision: str = DEFAULT_PRECISION,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_length: int = DEFAULT_SEQUENCE_LENGTH,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    sampler: str = DEFAULT_SAMPLER,
) -> dict[str, lit_model.Model]:
  """Loads one LM and returns its three LIT models (see DESIGN.md)."""
  dl_runtime = runtime_for(dl_framework, dl_runtime)
  check_options(dl_framework, dl_runtime, precision, sampler)
  from lit_seqsal.models import lit_wrappers  # pylint: disable=g-import-not-at-top

  logging.info("Loading model %r from %r with %s on %s", new_name,
               model_name_or_path, dl_framework, dl_runtime)
  engine_kwargs = dict(precision=precision, batch_size=batch_size,
                       max_length=max_length, max_new_tokens=max_new_tokens)
  if dl_framework in KERAS_FRAMEWORKS:
    from lit_seqsal.models import keras_backend  # pylint: disable=g-import-not-at-top

    keras_backend.select(dl_runtime)  # before keras_lm imports keras
    from lit_seqsal.models import keras_lm  # pylint: disable=g-import-not-at-top

    engine = keras_lm.load_engine(model_name_or_path, sampler=sampler, **engine_kwargs)
  else:
    from lit_seqsal.models import transformers_lm  # pylint: disable=g-import-not-at-top

    engine = transformers_lm.load_engine(model_name_or_path, **engine_kwargs)
  return lit_wrappers.make_model_group(new_name, engine)


def runtime_for(dl_framework: str, dl_runtime: str | None) -> str:
  """The runtime to use: the one asked for, else the framework's default."""
  if dl_runtime:
    return dl_runtime
  _check_choice(dl_framework, DL_FRAMEWORKS, "dl_framework")
  return RUNTIMES_BY_FRAMEWORK[dl_framework][0]


def check_options(dl_framework: str, dl_runtime: str | None, precision: str,
                  sampler: str = DEFAULT_SAMPLER) -> None:
  """Clear errors for option combinations we cannot run, before any loading."""
  _check_choice(dl_framework, DL_FRAMEWORKS, "dl_framework")
  dl_runtime = runtime_for(dl_framework, dl_runtime)
  _check_choice(dl_runtime, RUNTIMES_BY_FRAMEWORK[dl_framework],
                f"dl_runtime for dl_framework={dl_framework}")
  _check_choice(precision, PRECISIONS, "precision")
  _check_choice(sampler, SAMPLERS, "sampler")
  if dl_framework == "transformers" and sampler != DEFAULT_SAMPLER:
    raise ValueError(
        f"sampler={sampler!r} is only available with the Keras frameworks;"
        " dl_framework=transformers generates greedily."
    )


def get_models(
    models_config: Sequence[str] | None = None,
    **kwargs,
) -> dict[str, lit_model.Model]:
  """Loads every 'NAME:PATH' entry; kwargs as for load_model_group."""
  # Check every entry before loading anything: loading takes a while.
  check_options(kwargs.get("dl_framework", DEFAULT_DL_FRAMEWORK),
                kwargs.get("dl_runtime", DEFAULT_DL_RUNTIME),
                kwargs.get("precision", DEFAULT_PRECISION),
                kwargs.get("sampler", DEFAULT_SAMPLER))
  entries = [parse_model_spec(e) for e in models_config or ()]
  names = [name for name, _ in entries]
  for name in names:
    if names.count(name) > 1:
      raise ValueError(f"Model name {name!r} is used twice in --models.")
  models: dict[str, lit_model.Model] = {}
  for name, path in entries:
    models |= load_model_group(name, path, **kwargs)
  return models


def get_model_loaders(
    *,
    dl_framework: str = DEFAULT_DL_FRAMEWORK,
    dl_runtime: str | None = DEFAULT_DL_RUNTIME,
    precision: str = DEFAULT_PRECISION,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_length: int = DEFAULT_SEQUENCE_LENGTH,
    sampler: str = DEFAULT_SAMPLER,
):
  """Loaders for LIT's 'Configure' menu: load another model group at run time."""
  dl_runtime = runtime_for(dl_framework, dl_runtime)

  def load(new_name: str, model_name_or_path: str, batch_size: int = batch_size,
           max_length: int = max_length, precision: str = precision,
           max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> lit_model.ModelMap:
    # LIT reads the return annotation to know this loader returns a model group.
    return load_model_group(
        new_name, model_name_or_path, dl_framework=dl_framework,
        dl_runtime=dl_runtime, precision=precision, batch_size=batch_size,
        max_length=max_length, max_new_tokens=max_new_tokens, sampler=sampler)

  load.__name__ = f"{dl_framework}_lm"
  spec: lit_types.Spec = {
      "model_name_or_path": lit_types.String(default="bundled"),
      "batch_size": lit_types.Integer(default=batch_size, min_val=1, max_val=64, required=False),
      "max_length": lit_types.Integer(default=max_length, min_val=2, max_val=32768, required=False),
      "max_new_tokens": lit_types.Integer(
          default=DEFAULT_MAX_NEW_TOKENS, min_val=1, max_val=4096, required=False),
      "precision": lit_types.CategoryLabel(vocab=list(PRECISIONS), default=precision, required=False),
  }
  label = ("Transformers LM" if dl_framework == "transformers"
           else f"Keras LM ({dl_runtime})")
  return {label: (load, spec)}
