"""The registry of salience methods: each method declared once, here.

A `Method` says what a client and the server need to know about it: its name
(the output field of `_NAME_salience`), whether its scores are signed, whether
it is costly and so computed only when an input asks for it, its settings (the
request fields it reads, with defaults and bounds), and how it is computed:
either as a reduction of the input-embedding gradient (computed together with
every other gradient method, one backward pass per mask) or by its own compute
function over the engine primitives.

The LIT specs (lit_seqsal/contract.py), the salience model's dispatch and cache
keys (lit_seqsal/models/lit_models.py), the interpreters' signed/unsigned
choice (lit_seqsal/components/interpreters.py), the client's method menu (it
reads the specs) and docs/reference.md's method table (`markdown_table`, checked by a
test) all derive from `REGISTRY`. Adding a method is adding one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from lit_nlp.api import types as lit_types

from lit_seqsal import cli, inputs
from lit_seqsal.contract import FieldNames
from lit_seqsal.engine.base import LMEngine
from lit_seqsal.engine.batching import Row
from lit_seqsal.salience import attribution, check, gradients, occlusion, segmentation
from lit_seqsal.work import units
from lit_seqsal.work.cache import ByteLRU
from lit_seqsal.work.progress import ProgressCallback

# (engine, rows, *setting values, progress=, context=) -> per row
# <float32>[num_masks, num_tokens].
Compute = Callable[..., list[np.ndarray]]
# (engine, rows, *setting values, context=) -> the model work `compute` will do (units.Cost).
Estimate = Callable[..., units.Cost]


@dataclass(frozen=True)
class RunContext:
  """What a compute function may use beside the rows and settings (all optional)."""

  # Kept by the caller per model (the salience model's byte-bounded cache): for
  # intermediate results that later requests reuse (occlusion's deletion tables).
  cache: ByteLRU | None = None
  # Per row, where its output starts (the first token after the prompt).
  outputs_from: Sequence[int] | None = None


@dataclass(frozen=True)
class Setting:
  """A request field a method reads, with its default and allowed values."""

  name: str  # input field of `_NAME_salience`
  default: int | str
  help: str
  choices: tuple[str, ...] = ()  # a choice setting; else a whole number in [low, high]
  low: int = 1
  high: int = 1
  unit: str = ""  # for error messages: " of integration steps"
  note: str = ""  # appended to the allowed values in error messages
  config_name: str = ""  # the interpreter's config key, where it differs from `name`
  # "granularity": a client sets it to the granularity its view shows.
  follows: str = ""

  @property
  def config_key(self) -> str:
    return self.config_name or self.name

  def check(self, value, field: str | None = None):
    """The value if allowed; else InputError naming the field and allowed values."""
    field = field or self.name
    if self.choices:
      return inputs.one_of(value, field, self.choices, self.note)
    return inputs.whole_number(
      value, field, self.low, self.high, what=self.unit, default=self._whole_default
    )

  def value_in(self, example: Mapping, field: str | None = None):
    value = example.get(field or self.name)
    return self.check(self.default if inputs.is_empty(value) else value, field)

  def whole_number_in(self, example: Mapping, field: str | None = None) -> int:
    """value_in for a whole-number setting."""
    value = self.value_in(example, field)
    if not isinstance(value, int):
      raise TypeError(f"Setting {self.name!r} is a choice, not a whole number.")
    return value

  def choice_in(self, example: Mapping, field: str | None = None) -> str:
    """value_in for a choice setting."""
    value = self.value_in(example, field)
    if not isinstance(value, str):
      raise TypeError(f"Setting {self.name!r} is a whole number, not a choice.")
    return value

  @property
  def _whole_default(self) -> int:
    if not isinstance(self.default, int):
      raise TypeError(f"Setting {self.name!r} is a whole number; its default must be one.")
    return self.default

  @property
  def _choice_default(self) -> str:
    if not isinstance(self.default, str):
      raise TypeError(f"Setting {self.name!r} is a choice; its default must be a text.")
    return self.default

  def describe(self) -> dict:
    """What a client needs to offer the setting (/seqsal/info)."""
    out = {
      "name": self.name,
      "default": self.default,
      "help": self.help,
      "follows": self.follows or None,
    }
    if self.choices:
      out["choices"] = list(self.choices)
    else:
      out["low"], out["high"] = self.low, self.high
    return out

  def lit_type(self) -> lit_types.LitType:
    if self.choices:
      return lit_types.CategoryLabel(
        vocab=list(self.choices), default=self._choice_default, required=False
      )
    return lit_types.Integer(
      default=self._whole_default, min_val=self.low, max_val=self.high, required=False
    )


@dataclass(frozen=True)
class Method:
  """One salience method (see the module docstring)."""

  name: str
  label: str  # what a person calls it (the client's menu)
  description: str  # one plain line: what a dark (or coloured) part means
  signed: bool
  measures: str  # what the score means (docs/reference.md)
  cost: str  # model passes per explained span (docs/reference.md)
  on_request: bool = False  # costly: computed only when an input lists it
  settings: tuple[Setting, ...] = ()
  # Whether it explains a contrastive row (span vs foil, salience/contrastive.py).
  contrastive: bool = True
  # Whether the spans of one output share its work: one request for all of
  # them costs about what one span costs, and after one span the others cost
  # little (occlusion's deletion table). A client prefetches every span of an
  # output for such a method, as it does for the gradient methods.
  shares_spans: bool = False
  from_gradients: gradients.Reduction | None = None
  compute: Compute | None = None
  # The model work of `compute`, known before it runs (a hosted server refuses
  # work over its time limit at once); None: not judged before it runs.
  estimate: Estimate | None = None

  def __post_init__(self):
    if (self.from_gradients is None) == (self.compute is None):
      raise ValueError(f"Method {self.name!r} needs exactly one of from_gradients, compute.")

  # While it runs, what the model does, for a progress line; {units} and
  # {granularity} are filled in by the client for a setting that follows the view.
  work_note: str = ""

  def describe(self) -> dict:
    """The method as a client sees it (/seqsal/info): names, words and properties."""
    return {
      "name": self.name,
      "label": self.label,
      "description": self.description,
      "signed": self.signed,
      "on_request": self.on_request,
      "contrastive": self.contrastive,
      "shares_spans": self.shares_spans,
      "measures": self.measures,
      "cost": self.cost,
      "settings": [s.describe() for s in self.settings],
      "work_note": self.work_note or None,
    }

  def settings_of(self, example: dict) -> tuple:
    """The checked values of this method's settings in `example`, in order."""
    return tuple(s.value_in(example) for s in self.settings)

  def run(
    self,
    engine: LMEngine,
    rows: Sequence[Row],
    settings: tuple = (),
    *,
    progress: ProgressCallback | None = None,
    context: RunContext | None = None,
  ) -> list[np.ndarray]:
    """Scores per row, <float32>[num_masks, num_tokens] (rows may be contrastive)."""
    if self.from_gradients is not None:
      return [r[self.name] for r in gradient_methods_run(engine, rows, [self])]
    if self.compute is None:  # __post_init__ rules this out
      raise ValueError(f"Method {self.name!r} has neither from_gradients nor compute.")
    return self.compute(engine, rows, *settings, progress=progress, context=context or RunContext())

  def model_work(
    self,
    engine: LMEngine,
    rows: Sequence[Row],
    settings: tuple = (),
    *,
    context: RunContext | None = None,
  ) -> units.Cost | None:
    """The model work of run(engine, rows, settings, context=context), before it
    runs (None: unknown)."""
    if self.from_gradients is not None:
      return gradients.gradient_cost(engine, rows)
    if self.estimate is None:
      return None
    return self.estimate(engine, rows, *settings, context=context or RunContext())


def _integrated_gradients(engine, rows, steps, *, progress=None, context=None):
  del context  # nothing to reuse between calls
  return [
    r.scores for r in attribution.integrated_gradients(engine, rows, steps=steps, progress=progress)
  ]


def _integrated_gradients_cost(engine, rows, steps, *, context):
  del context  # nothing to reuse between calls
  return attribution.integrated_gradients_cost(engine, rows, steps)


def _occlusion_cost(engine, rows, granularity, *, context):
  return occlusion.all_spans_cost(
    engine, rows, granularity, outputs_from=context.outputs_from, cache=context.cache
  )


def _occlusion(engine, rows, granularity, *, progress=None, context=None):
  """All-spans occlusion (lit_seqsal/salience/occlusion.py): the same scores as
  deleting each segment for each span on its own, from one set of deletions
  per input, cached in the context's cache."""
  context = context or RunContext()
  results = occlusion.all_spans(
    engine,
    rows,
    granularity,
    outputs_from=context.outputs_from,
    cache=context.cache,
    progress=progress,
  )
  return [np.stack([o.scores for o in per_mask]) for per_mask in results]


IG_STEPS = Setting(
  FieldNames.IG_STEPS,
  attribution.DEFAULT_IG_STEPS,
  "Gauss-Legendre integration points",
  low=1,
  high=attribution.MAX_IG_STEPS,
  unit=" of integration steps",
)
OCCLUSION_GRANULARITY = Setting(
  FieldNames.OCCLUSION_GRANULARITY,
  attribution.DEFAULT_OCCLUSION_GRANULARITY,
  "the units deleted one at a time",
  choices=segmentation.GRANULARITIES,
  note=" (custom patterns are client-side only)",
  config_name="granularity",
  follows="granularity",
)

REGISTRY: dict[str, Method] = {
  m.name: m
  for m in (
    Method(
      FieldNames.GRAD_L2,
      label="Gradient norm",
      description="How strongly the selected span's probability reacts to each part:"
      " darker = more sensitive (no direction).",
      signed=False,
      measures="size of the gradient at each token (unsigned)",
      cost="1 forward + 1 backward, shared by all spans of an output",
      from_gradients=gradients.l2_norm,
    ),
    Method(
      FieldNames.GRAD_DOT_INPUT,
      label="Gradient × input",
      description="A first-order estimate of each part's push toward (+) or away"
      " from (−) the selected span.",
      signed=True,
      measures="gradient · embedding: first-order effect of the token (signed)",
      cost="as above",
      from_gradients=gradients.dot_input,
    ),
    Method(
      FieldNames.INTEGRATED_GRADIENTS,
      label="Integrated gradients",
      description="Each part's share of the change in the span's log-probability"
      " from a faded-out prompt to the real one: + toward the span, − away; the"
      " shares add up to that change.",
      signed=True,
      on_request=True,
      measures="the gradient integrated from a baseline to the input, · (input −"
      " baseline); signed; sums to the log-likelihood change",
      cost="`ig_steps` forward + backward passes, batched",
      settings=(IG_STEPS,),
      compute=_integrated_gradients,
      estimate=_integrated_gradients_cost,
      work_note="the model runs forward and backward at each integration step",
    ),
    Method(
      FieldNames.OCCLUSION,
      label="Occlusion (deletion)",
      description="How much the span's log-probability drops when the part is"
      " deleted: + it helped the span, − it worked against it.",
      signed=True,
      on_request=True,
      measures="log-likelihood of the target minus that with the segment deleted; signed",
      cost="one forward pass per segment of the input, shared by all spans of an output"
      " (each runs only the tokens after its segment), batched",
      settings=(OCCLUSION_GRANULARITY,),
      shares_spans=True,
      compute=_occlusion,
      estimate=_occlusion_cost,
      work_note="the model runs once without each of the {units} {granularity}"
      " before the selection",
    ),
  )
}
# The method a client shows first (the walkthrough's and LIT's default).
DEFAULT_METHOD = FieldNames.GRAD_L2
# The method a client shows first at a granularity, where it is not
# DEFAULT_METHOD: the most faithful method that is cheap enough there
# (bench/bench_faithfulness.py; docs/methods.md, "Which method to trust").
# Empty: occlusion is the most faithful at sentences but not cheap enough to
# show first on a CPU (all spans of an output cost 4x their gradient prefetch
# on a 230-token prompt, and grow with the segments before the span).
DEFAULT_METHOD_BY_GRANULARITY: dict[str, str] = {}

# The deletion check of an explanation (lit_seqsal/salience/check.py): input
# field `check` names the method, `check_granularity` the segments it ranks.
CHECK_GRANULARITY = Setting(
  FieldNames.CHECK_GRANULARITY,
  "sentences",
  "the segments the deletion check ranks and deletes",
  choices=segmentation.GRANULARITIES,
  note=" (custom patterns are client-side only)",
  follows="granularity",
)


@dataclass(frozen=True)
class CheckRequest:
  """An input's request for the deletion check of its explanation."""

  method: Method
  settings: tuple  # the method's settings in the input
  granularity: str

  @property
  def key(self) -> tuple:
    return ("check", self.method.name, self.settings, self.granularity, check.DRAWS, check.SEED)


def check_requested(example: dict) -> CheckRequest | None:
  """The deletion check an input asks for (field `check`: a method name), or None."""
  name = example.get(FieldNames.CHECK)
  if inputs.is_empty(name) or name == "":
    return None
  if not isinstance(name, str) or name not in REGISTRY:
    raise inputs.InputError(
      f"Field {FieldNames.CHECK!r} names the method whose explanation to check;"
      f" got {name!r}, allowed values: {', '.join(REGISTRY)}."
    )
  method = REGISTRY[name]
  if example.get(FieldNames.FOIL) is not None and not method.contrastive:
    raise inputs.InputError(f"Method {name} has no contrastive form to check with a 'foil'.")
  granularity = CHECK_GRANULARITY.choice_in(example)
  return CheckRequest(method, method.settings_of(example), granularity)


def register(method: Method) -> Method:
  """Adds a method (from a plugin or a notebook) before the server is built."""
  if method.name in REGISTRY:
    raise ValueError(f"A salience method named {method.name!r} is already registered.")
  REGISTRY[method.name] = method
  return method


def default_names() -> tuple[str, ...]:
  """What `_NAME_salience` returns for an input that lists no methods."""
  return tuple(m.name for m in REGISTRY.values() if not m.on_request)


def on_request_names() -> tuple[str, ...]:
  return tuple(m.name for m in REGISTRY.values() if m.on_request)


def gradient_methods() -> tuple[Method, ...]:
  """The methods computed together from one gradient pass."""
  return tuple(m for m in REGISTRY.values() if m.from_gradients is not None)


def gradient_names() -> tuple[str, ...]:
  return tuple(m.name for m in gradient_methods())


def get(name: str, field: str = FieldNames.SALIENCE_METHODS) -> Method:
  if name not in REGISTRY:
    raise inputs.InputError(
      f"Field {field!r} names unknown method(s) {name!r}; allowed values: {', '.join(REGISTRY)}."
    )
  return REGISTRY[name]


def requested(example: dict) -> tuple[Method, ...]:
  """The methods an input asks for in `salience_methods` (default: default_names())."""
  names = example.get(FieldNames.SALIENCE_METHODS)
  if inputs.is_empty(names):
    chosen = tuple(REGISTRY[n] for n in default_names())
  else:
    if isinstance(names, str):
      names = [n.strip() for n in names.split(",")]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
      raise inputs.InputError(
        f"Field {FieldNames.SALIENCE_METHODS!r} must be a list of method names;"
        f" allowed values: {', '.join(REGISTRY)}."
      )
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
      raise inputs.InputError(
        f"Field {FieldNames.SALIENCE_METHODS!r} names unknown method(s)"
        f" {', '.join(map(repr, unknown))}; allowed values: {', '.join(REGISTRY)}."
      )
    chosen = tuple(REGISTRY[n] for n in dict.fromkeys(names))
  if example.get(FieldNames.FOIL) is not None:
    plain_only = [m.name for m in chosen if not m.contrastive]
    if plain_only:
      raise inputs.InputError(
        f"Method(s) {', '.join(plain_only)} have no contrastive form; with a 'foil' ask"
        " for: " + ", ".join(m.name for m in REGISTRY.values() if m.contrastive) + "."
      )
  return chosen


def gradient_reductions(methods: Iterable[Method] | None = None) -> dict[str, gradients.Reduction]:
  methods = REGISTRY.values() if methods is None else methods
  return {m.name: m.from_gradients for m in methods if m.from_gradients is not None}


def gradient_methods_run(
  engine: LMEngine, rows: Sequence[Row], methods: Iterable[Method], *, alternatives: int = 0
) -> list[dict[str, Any]]:
  """Every gradient method of `methods` from one gradient pass per row batch
  (and the model's top `alternatives` next tokens, key gradients.ALTERNATIVES)."""
  return gradients.gradient_salience(
    engine, rows, gradient_reductions(methods), alternatives=alternatives
  )


def default_method_by_granularity() -> dict[str, str]:
  """The method a client shows first at each granularity the server segments
  by (DEFAULT_METHOD where DEFAULT_METHOD_BY_GRANULARITY says nothing)."""
  for granularity, name in DEFAULT_METHOD_BY_GRANULARITY.items():
    if granularity not in segmentation.GRANULARITIES:
      raise ValueError(
        f"DEFAULT_METHOD_BY_GRANULARITY names {granularity!r}; granularities:"
        f" {', '.join(segmentation.GRANULARITIES)}."
      )
    if name not in REGISTRY:
      raise ValueError(f"The default method at {granularity} is {name!r}, which is not registered.")
  return {
    g: DEFAULT_METHOD_BY_GRANULARITY.get(g, DEFAULT_METHOD) for g in segmentation.GRANULARITIES
  }


def describe_all() -> dict:
  """Every registered method as a client sees it, the one to show first (and
  at each granularity), and the deletion check (its request fields and
  thresholds)."""
  return {
    "methods": [m.describe() for m in REGISTRY.values()],
    "default_method": DEFAULT_METHOD,
    "default_method_by_granularity": default_method_by_granularity(),
    "check": {
      "field": FieldNames.CHECK,
      "settings": [CHECK_GRANULARITY.describe()],
      **check.describe(),
    },
  }


def markdown_table() -> str:
  """docs/reference.md's method table."""
  rows = []
  for m in REGISTRY.values():
    settings = (
      ", ".join(
        f"`{s.name}` ({', '.join(s.choices) if s.choices else f'{s.low}–{s.high}'};"
        f" default {s.default})"
        for s in m.settings
      )
      or "–"
    )
    computed = "when asked (`salience_methods`)" if m.on_request else "always"
    computed += "; contrastive with `foil`" if m.contrastive else ""
    rows.append((f"`{m.name}`", m.measures, m.cost, computed, settings))
  return cli.markdown_table(
    ("method", "what it measures", "cost per explained span", "computed", "settings"), rows
  )
