"""Model groups for LIT: configuration strings and `ModelOptions` in, `{name: lit Model}` out.

Each `NAME:PATH` entry becomes the three LIT models of lit_seqsal/models/
lit_models.py over one engine: lit_seqsal/models/transformers_engine.py or
lit_seqsal/models/keras_engine.py, picked by `ModelOptions.dl_framework`.
"""

from __future__ import annotations

from collections.abc import Sequence

from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

from lit_seqsal import console
from lit_seqsal import options as options_lib
from lit_seqsal.models import devices
from lit_seqsal.options import ModelOptions


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


def load_engine(model_name_or_path: str, opts: ModelOptions, name: str = ""):
  """The engine of one LM, with the framework, runtime and device `opts` name; an
  automatic max_length (opts.max_length None) is worked out now, once loaded."""
  engine = _load_engine(model_name_or_path, opts, name)
  length = engine.max_length
  if engine.auto_length is not None:
    console.say(
      f"{name or model_name_or_path!r}: --sequence_length=auto: {engine.auto_length.explain()}"
    )
  elif opts.max_length is None:
    console.say(f"{name or model_name_or_path!r}: --sequence_length=auto: {length:,} tokens.")
  return engine


def _load_engine(model_name_or_path: str, opts: ModelOptions, name: str):
  opts = opts.checked()
  kwargs = dict(chat_template=opts.chat_template, **opts.engine_kwargs())
  if opts.is_keras:
    from lit_seqsal.models import keras_backend

    keras_backend.select(opts.runtime)  # before keras_engine imports keras
    on_gpu = keras_backend.has_gpu(opts.runtime)
    precision = opts.precision if opts.precision != "auto" else devices.default_precision(on_gpu)
    console.say(
      f"Loading {name or model_name_or_path!r} with keras-hub on {opts.runtime}"
      f" ({'GPU' if on_gpu else 'CPU'}), {precision}."
    )
    from lit_seqsal.models import keras_engine

    return keras_engine.load_engine(
      model_name_or_path, sampler=opts.sampler, precision=precision, **kwargs
    )
  from lit_seqsal.models import transformers_engine

  sharded = opts.device_map == "auto"
  device = "cuda" if sharded else devices.resolve_device(opts.device)
  precision = (
    opts.precision if opts.precision != "auto" else devices.default_precision(device != "cpu")
  )
  where = "the visible GPUs (sharded)" if sharded else device
  console.say(f"Loading {name or model_name_or_path!r} with transformers on {where}, {precision}.")
  return transformers_engine.load_engine(
    model_name_or_path,
    precision=precision,
    device=None if sharded else device,
    device_map="auto" if sharded else None,
    **kwargs,
  )


def load_model_group(
  new_name: str, model_name_or_path: str, opts: ModelOptions | None = None, **option_overrides
) -> dict[str, lit_model.Model]:
  """Loads one LM and returns its three LIT models (docs/architecture.md).

  Options come from `opts` (default: ModelOptions()) with keyword overrides,
  e.g. load_model_group("gemma", "bundled", dl_framework="kerasnlp").
  """
  opts = (opts or options_lib.DEFAULTS).replace(**option_overrides).checked()
  from lit_seqsal.models import lit_models

  return lit_models.make_model_group(new_name, load_engine(model_name_or_path, opts, new_name))


def get_models(
  models_config: Sequence[str] | None, opts: ModelOptions | None = None, **option_overrides
) -> dict[str, lit_model.Model]:
  """Loads every 'NAME:PATH' entry with the same options."""
  # Check everything before loading anything: loading takes a while.
  opts = (opts or options_lib.DEFAULTS).replace(**option_overrides).checked()
  entries = [parse_model_spec(e) for e in models_config or ()]
  names = [name for name, _ in entries]
  for name in names:
    if names.count(name) > 1:
      raise ValueError(f"Model name {name!r} is used twice in --models.")
  models: dict[str, lit_model.Model] = {}
  for name, path in entries:
    models |= load_model_group(name, path, opts)
  return models


# Options a visitor may change per model in LIT's "Configure" menu.
_LOADER_OPTIONS = ("batch_size", "max_length", "max_new_tokens", "precision", "device")


def get_model_loaders(opts: ModelOptions | None = None):
  """Loaders for LIT's 'Configure' menu: load another model group at run time."""
  opts = (opts or options_lib.DEFAULTS).checked()
  fields = {f.name: f for f in options_lib.option_fields()}

  def load(new_name: str, model_name_or_path: str, **overrides) -> lit_model.ModelMap:
    # LIT reads the return annotation to know this loader returns a model group.
    set_values = {k: v for k, v in overrides.items() if v is not None}
    if set_values.get("max_length") == 0:  # the menu's "auto"
      set_values["max_length"] = None
    return load_model_group(new_name, model_name_or_path, opts, **set_values)

  load.__name__ = f"{opts.dl_framework}_lm"
  spec: lit_types.Spec = {"model_name_or_path": lit_types.String(default="bundled")}
  for name in _LOADER_OPTIONS:
    meta, default = fields[name].metadata, getattr(opts, name)
    if "choices" in meta:
      spec[name] = lit_types.CategoryLabel(
        vocab=list(meta["choices"]), default=default, required=False
      )
    elif isinstance(default, str):
      spec[name] = lit_types.String(default=default, required=False)
    elif name == "max_length":  # 0: auto (LIT's menu has no empty number)
      spec[name] = lit_types.Integer(
        default=default or 0, min_val=0, max_val=meta["max"], required=False
      )
    else:
      spec[name] = lit_types.Integer(
        default=default, min_val=meta["min"], max_val=meta["max"], required=False
      )
  label = "Transformers LM" if opts.dl_framework == "transformers" else f"Keras LM ({opts.runtime})"
  return {label: (load, spec)}
