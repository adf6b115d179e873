"""What a batch run explains, with which model and methods, and where the results go."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lit_seqsal import inputs, models
from lit_seqsal.batch import regions as regions_lib
from lit_seqsal.batch import spans as spans_lib
from lit_seqsal.contract import FieldNames
from lit_seqsal.options import ModelOptions
from lit_seqsal.salience import methods as methods_lib
from lit_seqsal.salience import segmentation

# Fields of a dataset record passed through to the models as they are: a
# contrastive `foil`, the generation's `stop` sequences, a conversation's
# `messages` (for chat templates).
PASS_THROUGH_FIELDS: tuple[str, ...] = (FieldNames.FOIL, FieldNames.STOP, FieldNames.MESSAGES)
DEFAULT_GRANULARITY = "sentences"


class BatchError(RuntimeError):
  """Stops the run: bad settings, a clashing results file, or an error under --strict."""


@dataclass(frozen=True)
class BatchConfig:
  """What to explain, with which model and methods, and where the results go."""

  models: tuple[str, ...]  # NAME:PATH, as the server's --models
  datasets: tuple[str, ...]  # sample_prompts or NAME:PATH, as the server's --datasets
  out: str
  options: ModelOptions = dataclasses.field(default_factory=ModelOptions)
  max_examples: int = 0  # per dataset; 0: all
  explain: str = "target"  # or "generation"
  span: str = ""  # regex selecting the output segment to explain; "": the whole output
  span_granularity: str = "lines"
  methods: tuple[str, ...] = ()  # () : the registry's default methods
  settings: tuple[tuple[str, object], ...] = ()  # method settings (ig_steps, ...)
  granularity: str = DEFAULT_GRANULARITY
  regions: tuple[str, ...] = ()
  strict: bool = False
  retry_errors: bool = False
  overwrite: bool = False
  chunk_size: int = 0  # examples per salience call; 0: options.batch_size
  foil: str = ""  # contrast every explained span with this text (an example's own foil wins)
  # The deletion check of this method's explanation of every example, at
  # `granularity` (lit_seqsal/salience/check.py); "": none.
  check: str = ""

  def checked(self) -> BatchConfig:
    """Errors for settings no example can run with, before any loading."""
    if not self.models:
      raise BatchError("--models is empty: name at least one model (NAME:PATH).")
    if not self.out:
      raise BatchError("--out is required: the results file (.jsonl) to write or resume.")
    inputs.one_of(self.explain, "explain", spans_lib.EXPLAIN_CHOICES)
    segmentation.check_granularity(self.granularity, "granularity")
    segmentation.check_granularity(self.span_granularity, "span_granularity")
    try:
      spans_lib.compile_selector(self.span)
    except Exception as e:  # re.error
      raise BatchError(f"--span {self.span!r} is not a valid regular expression ({e}).") from e
    regions_lib.parse_specs(self.regions)
    if self.strict:
      unknown = self.unknown_methods()
      if unknown:
        raise BatchError(
          f"Unknown method(s) {', '.join(unknown)} in --methods; allowed"
          f" values: {', '.join(methods_lib.REGISTRY)}."
        )
    if self.check and self.check not in methods_lib.REGISTRY:
      raise BatchError(
        f"Unknown method {self.check!r} in --check; allowed values:"
        f" {', '.join(methods_lib.REGISTRY)}."
      )
    for method in self.checked_methods():
      for setting in method.settings:
        setting.check(dict(self.settings).get(setting.name, setting.default))
    options = self.options.checked()
    for entry in self.models:
      # Each model's framework and what it needs installed, before any file is written.
      name, path = models.parse_model_spec(entry)
      models.options_for(path, options, name, say=False)
    return dataclasses.replace(self, options=options)

  @property
  def size(self) -> int:
    return self.chunk_size or self.options.batch_size

  def known_methods(self) -> tuple[methods_lib.Method, ...]:
    if not self.methods:
      return tuple(methods_lib.REGISTRY[n] for n in methods_lib.default_names())
    return tuple(
      methods_lib.REGISTRY[n] for n in dict.fromkeys(self.methods) if n in methods_lib.REGISTRY
    )

  def unknown_methods(self) -> tuple[str, ...]:
    return tuple(n for n in dict.fromkeys(self.methods) if n not in methods_lib.REGISTRY)

  def checked_methods(self) -> tuple[methods_lib.Method, ...]:
    """The known methods and the one --check names (its settings count too)."""
    extra = (methods_lib.REGISTRY[self.check],) if self.check in methods_lib.REGISTRY else ()
    return tuple(dict.fromkeys(self.known_methods() + extra))

  def method_settings(self) -> dict:
    """The settings the known methods (and --check's) read, with their defaults filled in."""
    given = dict(self.settings)
    return {
      s.name: given.get(s.name, s.default) for m in self.checked_methods() for s in m.settings
    }
