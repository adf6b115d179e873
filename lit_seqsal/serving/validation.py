"""Every request's checks before any work: parameters, names, body, budgets.

Query parameters (allowed, required, known names → 404), the body (a JSON
object; `inputs` a list of example ids or `{id, data, meta}`; `config` an
object typed as its component's spec declares → 400), the request budgets
(lit_seqsal/work/limits.py → 413) and, in hosted mode, whether the endpoint is
offered (→ 403). Errors are the classes of lit_seqsal/errors.py.
"""

from __future__ import annotations

from collections.abc import Callable

from lit_nlp.api import types as lit_types
from lit_nlp.lib import serialize

from lit_seqsal import errors
from lit_seqsal.serving.endpoints import COMMON_PARAMS, COMPONENT_PARAMS, Endpoint
from lit_seqsal.serving.lit_patches import Components
from lit_seqsal.work.limits import Limits


class RequestChecks:
  """The checks of one server: its components, budgets and mode."""

  def __init__(
    self,
    components: Components,
    limits: Limits,
    *,
    hosted: bool,
    syncs_ui_state: bool,
    is_salience_model: Callable[[str], bool],
  ):
    self.components = components
    self.limits = limits
    self.hosted = hosted
    self.syncs_ui_state = syncs_ui_state
    self.is_salience_model = is_salience_model

  def check(self, path: str, endpoint: Endpoint, params: dict, raw: bytes) -> dict:
    """The parsed body, after every check a request gets before any work."""
    if self.hosted and not endpoint.hosted:
      raise errors.Forbidden(f"{path} is not available on this hosted demo.")
    if path == "/push_ui_state" and not self.syncs_ui_state:
      raise errors.NotFound(
        "/push_ui_state: this server does not sync UI state (it is for notebooks)."
      )
    allowed = endpoint.params + COMMON_PARAMS
    unknown = sorted(set(params) - set(allowed))
    if unknown:
      raise errors.BadRequest(
        f"Unknown query parameter(s) {', '.join(map(repr, unknown))} for {path};"
        f" allowed: {_names(allowed)}."
      )
    for name in endpoint.required:
      if not params.get(name):
        raise errors.BadRequest(f"Query parameter {name!r} is required for {path}.")
    self._check_names(path, params)
    body = parse_body(raw)
    inputs = body.get("inputs")
    if endpoint.needs_inputs and not inputs:
      raise errors.BadRequest(f"The body of {path} needs a non-empty list of 'inputs'.")
    if inputs is not None:
      if not endpoint.inputs:
        if inputs != []:  # LIT's client always sends a list, empty where unused
          raise errors.BadRequest(f"{path} takes no 'inputs'.")
      else:
        self._check_inputs(path, endpoint, params, inputs)
    config = body.get("config")
    if config is not None and not isinstance(config, dict):
      raise errors.BadRequest("Field 'config' of the body must be an object.")
    if endpoint.config:
      self._check_config(path, params, config)
    return body

  def _registry(self, path: str) -> dict:
    """The components an endpoint names by parameter: interpreters, generators, metrics."""
    c = self.components
    return {
      "/get_interpretations": c.interpreters,
      "/get_generated": c.generators,
      "/get_metrics": c.metrics,
    }[path]

  def _named_components(self, path: str, params: dict) -> list[str]:
    value = params.get(COMPONENT_PARAMS[path], "")
    return [v for v in value.split(",") if v] if path == "/get_metrics" else [value]

  def _check_names(self, path: str, params: dict) -> None:
    c = self.components
    known = {
      "model": (c.models, "model"),
      "dataset_name": (
        c.dataset_loaders if path == "/create_dataset" else c.datasets,
        "dataset loader" if path == "/create_dataset" else "dataset",
      ),
      "model_name": (c.model_loaders, "model loader"),
      "interpreter": (c.interpreters, "interpreter"),
      "generator": (c.generators, "generator"),
      "saved_datapoints_id": (c.saved_datapoints, "saved datapoints id"),
    }
    for param, (names, what) in known.items():
      value = params.get(param)
      if value == "":
        raise errors.BadRequest(f"Query parameter {param!r} is empty.")
      if value and value not in names:
        listed = "" if param == "saved_datapoints_id" else f"; available: {_names(names)}"
        raise errors.NotFound(f"Unknown {what} {value!r}{listed}.")
    for metric in filter(None, params.get("metrics", "").split(",")):
      if metric not in c.metrics:
        raise errors.NotFound(f"Unknown metric {metric!r}; available: {_names(c.metrics)}.")
    for type_name in filter(None, params.get("requested_types", "").split(",")):
      cls = getattr(lit_types, type_name, None)
      if not (isinstance(cls, type) and issubclass(cls, lit_types.LitType)):
        raise errors.BadRequest(f"requested_types: {type_name!r} is not a LIT type name.")
    model = params.get("model")
    if model and path in COMPONENT_PARAMS:
      dataset = c.datasets[params["dataset_name"]]
      registry = self._registry(path)
      for name in self._named_components(path, params):
        check = getattr(registry[name], "is_compatible", None)
        if check is not None and not _compatible(check, c.models[model], dataset):
          raise errors.BadRequest(f"{name!r} does not apply to model {model!r}.")

  def _check_inputs(self, path: str, endpoint: Endpoint, params: dict, inputs) -> None:
    if not isinstance(inputs, list):
      raise errors.BadRequest("Field 'inputs' of the body must be a list.")
    if path == "/get_preds" and self.is_salience_model(params["model"]):
      self.limits.check("max_masks_per_request", len(inputs), "The number of inputs")
    elif endpoint.model_work:
      self.limits.check("max_examples_per_request", len(inputs), "The number of examples")
    dataset_name = params.get("dataset_name")
    dataset = self.components.datasets[dataset_name] if dataset_name else None
    for i, ex in enumerate(inputs):
      if endpoint.inputs == "data":
        if not isinstance(ex, dict):
          raise errors.BadRequest(f"Input {i} must be an object with the example's fields.")
        continue
      if isinstance(ex, str):
        if dataset is None:
          raise errors.BadRequest(f"Input {i} is an example id; give 'dataset_name' to look it up.")
        if ex not in dataset.index:
          raise errors.NotFound(
            f"Input {i}: no example with id {ex!r} in dataset {dataset_name!r}."
          )
        continue
      if not isinstance(ex, dict) or not isinstance(ex.get("data"), dict):
        raise errors.BadRequest(
          f"Input {i} must be an example id or an object with 'data' (the example's"
          " fields), 'id' and 'meta'."
        )
      ex_id, data_id = ex.get("id"), ex["data"].get("_id")
      if ex_id is not None and not isinstance(ex_id, str):
        raise errors.BadRequest(f"Input {i}: 'id' must be a string.")
      if data_id is not None and not isinstance(data_id, str):
        raise errors.BadRequest(f"Input {i}: 'data._id' must be a string.")
      if "meta" in ex and not isinstance(ex["meta"], dict):
        raise errors.BadRequest(f"Input {i}: 'meta' must be an object.")
      if dataset is not None:
        if "id" not in ex:  # LIT reads it to check the ids (a KeyError there)
          raise errors.BadRequest(
            f"Input {i}: 'id' is missing; with 'dataset_name', an example object needs"
            " 'id' equal to 'data._id' (LIT's convention for examples it caches)."
          )
        if ex_id != data_id:
          raise errors.BadRequest(
            f"Input {i}: 'id' and 'data._id' must be equal (LIT's"
            " convention for examples it caches)."
          )
        _check_fields(i, ex["data"], dataset.spec(), self._needed_fields(path, params, dataset))

  def _needed_fields(self, path: str, params: dict, dataset) -> set[str]:
    """Dataset fields an endpoint reads from each example: LIT's metrics read the
    labels the model's outputs name (a generation's target); its generators,
    the dataset's required fields."""
    spec = dataset.spec()
    if path == "/get_metrics":
      output_spec = self.components.models[params["model"]].output_spec()
      parents = (getattr(f, "parent", None) for f in output_spec.values())
      return {p for p in parents if isinstance(p, str) and p in spec}
    if path == "/get_generated":
      return {name for name, field in spec.items() if field.required}
    return set()

  def _check_config(self, path: str, params: dict, config: dict | None) -> None:
    if path in ("/create_dataset", "/create_model"):
      if not config or not isinstance(config.get("new_name"), str) or not config["new_name"]:
        raise errors.BadRequest(f"{path} needs a config with a 'new_name'.")
      return
    if path not in COMPONENT_PARAMS:
      return
    registry = self._registry(path)
    for name in self._named_components(path, params):
      owner = registry.get(name)
      if owner is None or type(owner).__module__.startswith("lit_seqsal."):
        continue  # ours check their own configs, naming the allowed values
      spec = owner.config_spec() or {}
      missing = [k for k, t in spec.items() if t.required and k not in (config or {})]
      if missing and config is not None:
        raise errors.BadRequest(
          f"Config for {path[1:]} is missing {', '.join(map(repr, missing))};"
          f" its fields: {_names(spec)}."
        )
      for key, value in (config or {}).items():
        if key in spec:
          _check_config_value(key, value, spec[key])


def parse_body(raw: bytes) -> dict:
  """A request body as LIT reads it (serialize.from_json), or 400."""
  if not raw:
    return {}
  if not raw.strip():  # LIT would try to parse it, and fail
    raise errors.BadRequest(
      'The request body is blank: send no body, or a JSON object such as {"inputs": [...]}.'
    )
  try:
    body = serialize.from_json(raw.decode("utf-8"))
  except Exception as e:  # noqa: BLE001 (any parse failure is the caller's)
    raise errors.BadRequest(
      f"The request body is not valid JSON: {type(e).__name__}: {str(e)[:200]}"
    ) from None
  if not isinstance(body, dict):
    raise errors.BadRequest(
      'The request body must be a JSON object, e.g. {"inputs": [...], "config": {...}}.'
    )
  return body


def _names(items) -> str:
  return ", ".join(sorted(items)) or "none"


def _check_fields(index: int, data: dict, spec: lit_types.Spec, needed: set[str]) -> None:
  """An example's text fields are texts, and the `needed` ones present."""
  for name, field in spec.items():
    if name not in data:
      if name in needed:
        raise errors.BadRequest(f"Input {index} has no field {name!r}, which this endpoint needs.")
    elif isinstance(field, lit_types.StringLitType) and not isinstance(data[name], str):
      raise errors.BadRequest(f"Input {index}: field {name!r} must be a text.")


def _check_config_value(key: str, value, spec: lit_types.LitType) -> None:
  """A config value of the type its component's spec declares, or 400."""

  def fail(expected: str):
    raise errors.BadRequest(f"Config field {key!r} must be {expected}, got {value!r}"[:300] + ".")

  is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
  if isinstance(spec, (lit_types.Integer, lit_types.Scalar)):
    whole = isinstance(spec, lit_types.Integer)
    if not is_number or (whole and float(value) != int(value)):
      fail("a whole number" if whole else "a number")
    low, high = getattr(spec, "min_val", None), getattr(spec, "max_val", None)
    if (low is not None and value < low) or (high is not None and value > high):
      fail(f"between {low} and {high}")
  elif isinstance(spec, lit_types.Boolean):
    if not isinstance(value, bool):
      fail("true or false")
  elif isinstance(spec, (lit_types.MultiFieldMatcher, lit_types.SparseMultilabel)):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
      fail("a list of names")
  elif isinstance(spec, lit_types.CategoryLabel) and spec.vocab:
    if value not in spec.vocab:
      fail(f"one of {', '.join(map(str, spec.vocab))}")
  elif isinstance(spec, (lit_types.StringLitType, lit_types.FieldMatcher)) and not isinstance(
    value, str
  ):
    fail("a text")


def _compatible(check: Callable, model, dataset) -> bool:
  try:
    return bool(check(model, dataset))
  except Exception:  # noqa: BLE001 (a component that cannot tell does not apply)
    return False
