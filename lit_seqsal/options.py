"""How a model is loaded and run: one set of options, their allowed values and defaults.

The demo server's flags, the notebook widget's keyword arguments, LIT's
"Configure" loaders and the engines all read `ModelOptions`; add an option here
and it reaches all of them.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from lit_seqsal import cli
from lit_seqsal.errors import SetupError

# "kerasnlp" is the name LIT and the walkthrough use; keras-hub is its new name.
KERAS_FRAMEWORKS = ("kerasnlp", "kerashub")
DL_FRAMEWORKS = ("transformers", *KERAS_FRAMEWORKS)
# Not a framework: the one each model's path calls for (models.choose_framework):
# Keras for a keras-hub preset, transformers for anything else.
AUTO_FRAMEWORK = "auto"
FRAMEWORK_CHOICES = (AUTO_FRAMEWORK, *DL_FRAMEWORKS)
# Runtimes each framework runs on (transformers 5 has no TensorFlow models); the
# first is the framework's default (as in LIT's own helper and the walkthrough).
RUNTIMES_BY_FRAMEWORK = {
  "transformers": ("torch",),
  **dict.fromkeys(KERAS_FRAMEWORKS, ("tensorflow", "torch", "jax")),
}
DL_RUNTIMES = ("tensorflow", "torch", "jax")
PRECISIONS = ("float32", "bfloat16")
PRECISION_CHOICES = ("auto", *PRECISIONS)
SAMPLERS = ("greedy", "top_k", "top_p", "random", "beam", "contrastive")
CHAT_TEMPLATES = ("auto", "none")
DEVICE_MAPS = ("none", "auto")
DEVICES_HELP = "auto, cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")

DEFAULT_MODELS = ("gemma3_270m:bundled",)
MAX_SEQUENCE_LENGTH = 32768
# LIT's notebook helper loads Keras models by default; so does ours.
NOTEBOOK_DL_FRAMEWORK = "kerasnlp"


def _choice(allowed: Sequence[str]) -> dict:
  return {"choices": tuple(allowed)}


@dataclasses.dataclass(frozen=True)
class ModelOptions:
  """Options of one loaded model. Field metadata: the command-line flag, its help."""

  dl_framework: str = dataclasses.field(
    default=AUTO_FRAMEWORK,
    metadata={
      **_choice(FRAMEWORK_CHOICES),
      "help": "Library that loads and runs the models: transformers (PyTorch) or"
      " kerasnlp/kerashub (keras-hub on TensorFlow, PyTorch or JAX); auto: kerasnlp for"
      " a keras-hub preset name (such as gemma2_instruct_2b_en), a kaggle://, hf://,"
      " gs:// or modelscope:// handle or a Keras preset directory, transformers for"
      " anything else (said at load).",
    },
  )
  dl_runtime: str | None = dataclasses.field(
    default=None,
    metadata={
      **_choice(DL_RUNTIMES),
      "help": "Deep learning runtime the models run on; default: torch for transformers,"
      " tensorflow for kerasnlp.",
    },
  )
  # float32 is exact; bfloat16 is faster only on GPUs and CPUs with native
  # bfloat16 instructions (see docs/benchmarks.md), and shifts scores by 1-3%.
  precision: str = dataclasses.field(
    default="auto",
    metadata={
      **_choice(PRECISION_CHOICES),
      "help": "Floating point precision of the model weights and activations; auto:"
      " bfloat16 on a GPU, float32 on a CPU.",
    },
  )
  device: str = dataclasses.field(
    default="auto",
    metadata={
      "help": "Where a Transformers model runs: auto (a CUDA GPU, else Apple's MPS, else"
      " the CPU), cpu, cuda, cuda:N or mps. Keras models follow their runtime."
    },
  )
  device_map: str = dataclasses.field(
    default="none",
    metadata={
      **_choice(DEVICE_MAPS),
      "help": "auto: shard a Transformers model that does not fit one GPU across the visible"
      " GPUs (accelerate).",
    },
  )
  batch_size: int = dataclasses.field(
    default=4, metadata={"min": 1, "max": 64, "help": "Examples per model batch."}
  )
  max_length: int | None = dataclasses.field(
    default=None,
    metadata={
      "flag": "sequence_length",
      "min": 2,
      "max": MAX_SEQUENCE_LENGTH,
      "default_text": "auto",
      "help": "Maximum tokens of prompt + target (salience) or prompt + generation; auto (the"
      " default): the model's context window, within what one salience pass fits in the"
      " memory free once the model is loaded (docs/user-guide.md, long prompts).",
    },
  )
  max_new_tokens: int = dataclasses.field(
    default=64, metadata={"min": 1, "max": 4096, "help": "Maximum tokens generated per prompt."}
  )
  sampler: str = dataclasses.field(
    default="greedy",
    metadata={
      **_choice(SAMPLERS),
      "help": "How the Keras frameworks pick generated tokens (keras-hub samplers);"
      " transformers always generates greedily.",
    },
  )
  chat_template: str = dataclasses.field(
    default="auto",
    metadata={
      **_choice(CHAT_TEMPLATES),
      "help": "auto: prompts of a model whose tokenizer has a chat template (instruction-tuned"
      " models) go in as a user turn, targets and generations as the model's turn;"
      " none: prompts go in as they are.",
    },
  )
  stop_sequences: tuple[str, ...] = dataclasses.field(
    default=(),
    metadata={
      "list": True,
      "help": "Texts that end a generation at their first occurrence (comma-separated; Python"
      " escapes such as \\n are understood); examples may add their own ('stop').",
    },
  )

  @property
  def runtime(self) -> str:
    """The runtime to use: the one asked for, else the framework's default."""
    if self.dl_runtime:
      return self.dl_runtime
    if self.is_auto:
      raise ValueError("dl_framework=auto has no runtime before a model picks its framework.")
    _check_choice(self.dl_framework, DL_FRAMEWORKS, "dl_framework")
    return RUNTIMES_BY_FRAMEWORK[self.dl_framework][0]

  @property
  def is_keras(self) -> bool:
    return self.dl_framework in KERAS_FRAMEWORKS

  @property
  def is_auto(self) -> bool:
    """The framework is each model's own (models.choose_framework)."""
    return self.dl_framework == AUTO_FRAMEWORK

  def for_framework(self, framework: str) -> ModelOptions:
    """These options for a model that runs on `framework`, checked."""
    return dataclasses.replace(self, dl_framework=framework).checked()

  def checked(self) -> ModelOptions:
    """These options with the runtime filled in; clear errors for values or
    combinations we cannot run, before any loading. With dl_framework=auto, what
    depends on the framework is checked when a model picks it (for_framework)."""
    _check_choice(self.dl_framework, FRAMEWORK_CHOICES, "dl_framework")
    if self.is_auto:
      if self.dl_runtime is not None:
        _check_choice(self.dl_runtime, DL_RUNTIMES, "dl_runtime")
      self._check_framework_free()
      return self
    runtime = self.runtime
    _check_choice(
      runtime,
      RUNTIMES_BY_FRAMEWORK[self.dl_framework],
      f"dl_runtime for dl_framework={self.dl_framework}",
    )
    self._check_framework_free()
    if self.is_keras and (self.device != "auto" or self.device_map != "none"):
      raise SetupError(
        "--device and --device_map apply to dl_framework=transformers; a Keras model runs"
        " where its runtime puts it (pick a GPU with CUDA_VISIBLE_DEVICES; see"
        " docs/user-guide.md)."
      )
    if not self.is_keras and self.sampler != "greedy":
      raise SetupError(
        f"sampler={self.sampler!r} is only available with the Keras frameworks;"
        " dl_framework=transformers generates greedily."
      )
    return dataclasses.replace(self, dl_runtime=runtime)

  def _check_framework_free(self) -> None:
    """The checks that do not depend on the framework."""
    _check_choice(self.precision, PRECISION_CHOICES, "precision")
    check_device(self.device)
    _check_choice(self.device_map, DEVICE_MAPS, "device_map")
    _check_choice(self.sampler, SAMPLERS, "sampler")
    for field in dataclasses.fields(self):
      low, high = field.metadata.get("min"), field.metadata.get("max")
      value = getattr(self, field.name)
      if low is not None and value is not None and not low <= value <= high:
        raise SetupError(f"{field.name} must be between {low} and {high}, got {value!r}.")

  def replace(self, **changes) -> ModelOptions:
    return dataclasses.replace(self, **changes)

  def engine_kwargs(self) -> dict:
    """What every engine's base (LMEngine) takes: batching, lengths, stops."""
    return dict(
      batch_size=self.batch_size,
      max_length=self.max_length,
      max_new_tokens=self.max_new_tokens,
      stop_sequences=tuple(self.stop_sequences),
    )


DEFAULTS = ModelOptions()


def option_fields() -> tuple[dataclasses.Field, ...]:
  return dataclasses.fields(ModelOptions)


def flag_name(field: dataclasses.Field) -> str:
  return field.metadata.get("flag", field.name)


def check_device(device: str) -> str:
  """A `--device` value we know (whether it is present is models/devices.py's check)."""
  if not isinstance(device, str) or not _DEVICE.fullmatch(device):
    raise SetupError(f"Unknown device {device!r}; allowed values: {DEVICES_HELP}.")
  return device


def _check_choice(value: str, allowed: Sequence[str], what: str) -> None:
  if value not in allowed:
    raise SetupError(f"Unknown {what} {value!r}; allowed values: {', '.join(allowed)}.")


def define_flags() -> None:
  """absl flags for every option (the demo server and the batch command)."""
  for field in option_fields():
    meta = field.metadata
    cli.define_flag(
      flag_name(field),
      field.default,
      meta["help"],
      choices=meta.get("choices", ()),
      low=meta.get("min"),
      high=meta.get("max"),
      is_list=meta.get("list", False),
    )


def define_source_flags(max_examples_default: int, max_examples_help: str):
  """--models, --datasets and --max_examples, as the demo server and the batch
  command share them; returns the three flag holders."""
  from absl import flags

  from lit_seqsal import datasets

  models = flags.DEFINE_list(
    "models",
    list(DEFAULT_MODELS),
    "Models to load, as NAME:PATH. PATH is a local Hugging Face directory or Keras"
    " preset directory, a .tar.gz archive of one, a preset name (a keras-hub"
    " preset such as gemma2_instruct_2b_en, which loads with Keras, or a Hugging"
    " Face Hub name such as google/gemma-3-270m), or 'bundled' (Gemma 3 270M"
    " shipped with lit-seqsal).",
  )
  data = flags.DEFINE_list(
    "datasets",
    list(datasets.DEFAULT_DATASETS),
    "Datasets, as 'sample_prompts' or NAME:PATH with a .jsonl file (objects with"
    " 'prompt' and optional 'target', 'source', 'foil', 'stop' and 'messages') or a"
    " .txt file (one prompt per line).",
  )
  max_examples = flags.DEFINE_integer(
    "max_examples", max_examples_default, max_examples_help, lower_bound=0
  )
  return models, data, max_examples


def from_flags(values: Mapping | None = None) -> ModelOptions:
  """Options from the absl flags defined by define_flags() (or a mapping of them)."""
  if values is None:
    from absl import flags

    values = {flag_name(f): flags.FLAGS[flag_name(f)].value for f in option_fields()}
  # Values as given (flags or a mapping); ModelOptions.checked() checks them.
  given: dict[str, Any] = {f.name: values[flag_name(f)] for f in option_fields()}
  given["stop_sequences"] = tuple(unescape(s) for s in given["stop_sequences"] or ())
  return ModelOptions(**given)


def markdown_table() -> str:
  """docs/reference.md's table of model flags: one home for their defaults and values."""
  rows = []
  for field in option_fields():
    default = field.default
    shown = field.metadata.get("default_text") or (
      (", ".join(default) or "none")
      if isinstance(default, tuple)
      else ("per framework" if default is None else default)
    )
    choices = field.metadata.get("choices")
    allowed = f" Values: {', '.join(choices)}." if choices else ""
    rows.append((f"`--{flag_name(field)}`", f"`{shown}`", f"{field.metadata['help']}{allowed}"))
  return cli.markdown_table(("flag", "default", "meaning"), rows)


def unescape(text: str) -> str:
  """A command-line text with Python escapes (\\n, \\t) turned into characters."""
  return codecs.decode(text.encode("latin-1", "backslashreplace"), "unicode_escape")
