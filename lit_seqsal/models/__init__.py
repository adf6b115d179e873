"""Model groups for LIT: configuration strings and `ModelOptions` in, `{name: lit Model}` out.

Each `NAME:PATH` entry becomes the three LIT models of lit_seqsal/models/
lit_models.py over one engine: lit_seqsal/models/transformers_engine.py or
lit_seqsal/models/keras_engine.py, picked by `ModelOptions.dl_framework` or,
with dl_framework=auto, by the path (`choose_framework`).
"""

from __future__ import annotations

from collections.abc import Sequence

from lit_nlp.api import model as lit_model
from lit_nlp.api import types as lit_types

from lit_seqsal import console
from lit_seqsal import options as options_lib
from lit_seqsal.errors import SetupError
from lit_seqsal.models import devices, keras_backend, loading
from lit_seqsal.options import ModelOptions


def parse_model_spec(entry: str) -> tuple[str, str]:
  """'NAME:PATH' -> (NAME, PATH); splits on the first ':' only (paths may hold ':')."""
  name, sep, path = entry.partition(":")
  name, path = name.strip(), path.strip()
  if not sep or not name or not path:
    raise SetupError(
      f"Bad model entry {entry!r}: expected NAME:PATH, for example"
      " 'gemma3_270m:bundled' or 'mymodel:/path/to/hf_dir'."
    )
  if name.startswith("_"):
    raise SetupError(f"Bad model name {name!r}: names starting with '_' are reserved.")
  return name, path


def choose_framework(model_name_or_path: str, opts: ModelOptions) -> str:
  """The framework a model runs on: the one asked for or, with dl_framework=auto,
  Keras (kerasnlp) for what only keras-hub loads (a keras-hub preset name, a
  kaggle:// handle, a Keras preset directory: loading.is_keras_path), else
  transformers. Quiet: for keys and plans; `options_for` says it at load."""
  if not opts.is_auto:
    return opts.dl_framework
  return (
    options_lib.KERAS_FRAMEWORKS[0]
    if loading.is_keras_path(model_name_or_path)
    else ("transformers")
  )


def options_for(
  model_name_or_path: str, opts: ModelOptions, name: str = "", *, say: bool = True
) -> ModelOptions:
  """`opts` for one model, with its framework chosen (choose_framework) and checked.

  With dl_framework=auto, a Keras path is said at load, or, without the keras
  extra, refused at once with what to install (instead of handing a keras-hub
  preset name to the Hugging Face Hub, which cannot know it).
  """
  framework = choose_framework(model_name_or_path, opts)
  if framework == "transformers" and model_name_or_path.strip() in loading.keras_preset_names():
    raise SetupError(
      f"Model {name or model_name_or_path!r}: {model_name_or_path!r} is a keras-hub preset"
      " name, which transformers cannot load: use --dl_framework=kerasnlp (or leave"
      " --dl_framework out: auto picks Keras for it), or give the Hugging Face name of the"
      " checkpoint (owner/name, such as google/gemma-2-2b-it)."
    )
  if opts.is_auto and framework in options_lib.KERAS_FRAMEWORKS:
    runtime = opts.dl_runtime or options_lib.RUNTIMES_BY_FRAMEWORK[framework][0]
    missing = keras_backend.missing_packages(runtime)
    what = (
      "a keras-hub preset name"
      if model_name_or_path.strip() in loading.keras_preset_names()
      else "a Keras preset"
    )
    if missing:
      raise SetupError(
        f"Model {name or model_name_or_path!r}: {model_name_or_path!r} is {what}, which only"
        f" the Keras framework loads, and Keras is not installed here (missing:"
        f" {', '.join(missing)}). Install the `keras` extra (`{keras_backend.INSTALL_KERAS}`)"
        " and run again (--dl_framework=kerasnlp is then picked for it), or load the"
        " model's Hugging Face checkpoint (owner/name, or a local directory) with"
        " --dl_framework=transformers."
      )
    if say:
      console.say(
        f"{model_name_or_path!r} is {what}: loading {name or model_name_or_path!r} with Keras"
        f" (--dl_framework={framework}; pass --dl_framework=transformers for a Hugging Face"
        " checkpoint instead)."
      )
  return opts.for_framework(framework)


def load_engine(model_name_or_path: str, opts: ModelOptions, name: str = ""):
  """The engine of one LM, with the framework, runtime and device `opts` name
  (dl_framework=auto: the path's, `options_for`); an automatic max_length
  (opts.max_length None) is worked out now, once loaded."""
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
  opts = options_for(model_name_or_path, opts.checked(), name) if opts.is_auto else opts.checked()
  kwargs = dict(chat_template=opts.chat_template, **opts.engine_kwargs())
  if opts.is_keras:
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
      raise SetupError(f"Model name {name!r} is used twice in --models.")
  # Each model's framework (and what it needs installed), before any loading.
  resolved = [(name, path, options_for(path, opts, name)) for name, path in entries]
  models: dict[str, lit_model.Model] = {}
  for name, path, model_opts in resolved:
    models |= load_model_group(name, path, model_opts)
  return models


# The "Configure" menu's loader with --dl_framework=auto (the default).
AUTO_LOADER = "LM (Transformers, or Keras for keras-hub presets)"
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
  if opts.is_auto:
    label = AUTO_LOADER
  elif opts.is_keras:
    label = f"Keras LM ({opts.runtime})"
  else:
    label = "Transformers LM"
  return {label: (load, spec)}
