"""Model groups for LIT: configuration strings in, `{name: lit Model}` out."""

from __future__ import annotations

from collections.abc import Sequence

from absl import logging
from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

DL_FRAMEWORKS = ("transformers",)
DL_RUNTIMES = ("torch",)
PRECISIONS = ("float32", "bfloat16")

DEFAULT_MODELS = ("gemma3_270m:bundled",)
DEFAULT_DL_FRAMEWORK = "transformers"
DEFAULT_DL_RUNTIME = "torch"
# float32 is exact and, on CPUs without native bfloat16, also the faster one.
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
    dl_runtime: str = DEFAULT_DL_RUNTIME,
    precision: str = DEFAULT_PRECISION,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_length: int = DEFAULT_SEQUENCE_LENGTH,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
) -> dict[str, lit_model.Model]:
  """Loads one LM and returns its three LIT models (see DESIGN.md)."""
  _check_choice(dl_framework, DL_FRAMEWORKS, "dl_framework")
  _check_choice(dl_runtime, DL_RUNTIMES, f"dl_runtime for {dl_framework}")
  _check_choice(precision, PRECISIONS, "precision")
  from lit_seqsal.models import lit_wrappers  # pylint: disable=g-import-not-at-top
  from lit_seqsal.models import transformers_lm  # pylint: disable=g-import-not-at-top

  logging.info("Loading model %r from %r", new_name, model_name_or_path)
  engine = transformers_lm.load_engine(
      model_name_or_path,
      precision=precision,
      batch_size=batch_size,
      max_length=max_length,
      max_new_tokens=max_new_tokens,
  )
  return lit_wrappers.make_model_group(new_name, engine)


def get_models(
    models_config: Sequence[str] | None = None,
    **kwargs,
) -> dict[str, lit_model.Model]:
  """Loads every 'NAME:PATH' entry; kwargs as for load_model_group."""
  # Check every entry before loading anything: loading takes a while.
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
    dl_runtime: str = DEFAULT_DL_RUNTIME,
    precision: str = DEFAULT_PRECISION,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_length: int = DEFAULT_SEQUENCE_LENGTH,
):
  """Loaders for LIT's 'Configure' menu: load another model group at run time."""

  def load(new_name: str, model_name_or_path: str, batch_size: int = batch_size,
           max_length: int = max_length, precision: str = precision,
           max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> lit_model.ModelMap:
    # LIT reads the return annotation to know this loader returns a model group.
    return load_model_group(
        new_name, model_name_or_path, dl_framework=dl_framework,
        dl_runtime=dl_runtime, precision=precision, batch_size=batch_size,
        max_length=max_length, max_new_tokens=max_new_tokens)

  load.__name__ = f"{dl_framework}_lm"
  spec: lit_types.Spec = {
      "model_name_or_path": lit_types.String(default="bundled"),
      "batch_size": lit_types.Integer(default=batch_size, min_val=1, max_val=64, required=False),
      "max_length": lit_types.Integer(default=max_length, min_val=2, max_val=32768, required=False),
      "max_new_tokens": lit_types.Integer(
          default=DEFAULT_MAX_NEW_TOKENS, min_val=1, max_val=4096, required=False),
      "precision": lit_types.CategoryLabel(vocab=list(PRECISIONS), default=precision, required=False),
  }
  label = {"transformers": "Transformers LM"}.get(dl_framework, dl_framework)
  return {label: (load, spec)}
