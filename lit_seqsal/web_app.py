"""The WSGI app: our client at `/`, LIT's own client at `/lit/`, LIT's API, our jobs.

`SalienceApp` is a `LitApp` that keeps LIT's endpoints (for both clients) and
puts around every request what a server open to the public needs (docs/
architecture.md, "Serving"):

- a request id, in the log line, in the `X-Request-Id` header and in errors;
- errors as JSON (lit_seqsal/errors.py) with a status that says whose fault it
  is, never a traceback or a server path (those go to the log, under the id);
- checks of every request before any work: allowed and required parameters,
  known names (404), the body's shape (400), the budgets (413), and in hosted
  mode no endpoint that reads or writes server paths or keeps data (403);
- admission control per model (429) and a `Work` per request with the
  server's budgets and time limit (lit_seqsal/work.py);
- long work as jobs (`/seqsal/jobs`, lit_seqsal/jobs.py) with progress and cancel;
- security headers (Content-Security-Policy, nosniff, frame ancestors).
"""

from __future__ import annotations

import dataclasses
import io
import json
import mimetypes
import os
import posixpath
import re
import time
import traceback
import uuid
from collections.abc import Callable

import lit_nlp
from absl import logging
from lit_nlp import app as lit_app
from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import types as lit_types
from lit_nlp.lib import serialize
from werkzeug import wrappers

from lit_seqsal import contract, errors, jobs, work
from lit_seqsal import limits as limits_lib
from lit_seqsal.batch import results as batch_results
from lit_seqsal.cache import ByteLRU
from lit_seqsal.models import lit_models
from lit_seqsal.salience import methods as methods_lib

# LIT's prebuilt web client, shipped inside the lit-nlp wheel; served at /lit/.
LIT_CLIENT_ROOT = os.path.join(os.path.dirname(lit_nlp.__file__), "client", "build", "default")
CLIENT_BUILD_DIR = os.path.join(os.path.dirname(__file__), "client", "build")
STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")
LIT_PREFIX = "/lit"
JOBS_PATH = "/seqsal/jobs"
INFO_PATH = "/seqsal/info"
# The batch command's results file the server was started with (--results), for the
# client's dataset view (lit_seqsal/client/src/dataset_view.ts).
RESULTS_PATH = "/seqsal/results"
# Loaded before LIT's client: shows our JSON errors in LIT's status bar.
LIT_ERRORS_SCRIPT = "lit_client_errors.js"
REQUEST_ID_KEY = "lit_seqsal.request_id"

MISSING_CLIENT_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lit-seqsal: client not built</title></head>
<body style="font-family: sans-serif; margin: 2em; max-width: 50em">
<h1>The lit-seqsal client is not built</h1>
<p>This server has no built client. Build it once with <code>make client</code> from
the repository root (or <code>npm ci &amp;&amp; npm run build</code> in
<code>lit_seqsal/client</code>; needs Node.js 20), then reload this page.</p>
<p>The models are loaded and LIT's API works. LIT's own client is available at
<a href="lit/">lit/</a>.</p>
</body></html>
"""


@dataclasses.dataclass(frozen=True)
class Endpoint:
  """What one of LIT's endpoints accepts (lit_nlp/app.py)."""
  params: tuple[str, ...] = ()  # query parameters it reads
  required: tuple[str, ...] = ()
  inputs: str = ""  # "indexed": LIT inputs (ids or {id, data, meta}); "data": bare examples
  needs_inputs: bool = False
  config: bool = False  # reads body["config"]
  hosted: bool = True  # offered in hosted mode
  model_work: bool = False  # runs a model: admission control and the time limit


_ENDPOINTS = {
    "/get_info": Endpoint(),
    "/get_dataset": Endpoint(("dataset_name",), ("dataset_name",)),
    "/create_dataset": Endpoint(("dataset_name",), ("dataset_name",), config=True, hosted=False),
    "/create_model": Endpoint(("model_name",), ("model_name",), config=True, hosted=False),
    "/get_generated": Endpoint(("model", "dataset_name", "generator"),
                               ("model", "dataset_name", "generator"), "indexed", True,
                               config=True, model_work=True),
    "/save_datapoints": Endpoint(("dataset_name", "path"), ("dataset_name", "path"), "indexed",
                                 hosted=False),
    "/load_datapoints": Endpoint(("dataset_name", "path"), ("dataset_name", "path"), hosted=False),
    "/annotate_new_data": Endpoint(("dataset_name",), ("dataset_name",), "indexed", True),
    # Keeps posted data in memory, unbounded: not for a public server.
    "/post_new_data": Endpoint(("dataset_name",), ("dataset_name",), "data", True, hosted=False),
    "/fetch_new_data": Endpoint(("saved_datapoints_id",), ("saved_datapoints_id",)),
    "/remove_new_data": Endpoint(("saved_datapoints_id",), ("saved_datapoints_id",),
                                 hosted=False),
    "/push_ui_state": Endpoint(("dataset_name",), ("dataset_name",), "indexed", True,
                               config=True),
    "/get_preds": Endpoint(("model", "dataset_name", "requested_types", "requested_fields"),
                           ("model",), "indexed", True, model_work=True),
    "/get_interpretations": Endpoint(("model", "dataset_name", "interpreter", "do_predict"),
                                     ("model", "dataset_name", "interpreter"), "indexed", True,
                                     config=True, model_work=True),
    "/get_metrics": Endpoint(("model", "dataset_name", "metrics", "do_predict"),
                             ("model", "dataset_name"), "indexed", True, config=True,
                             model_work=True),
}
API_PATHS = frozenset(_ENDPOINTS)
# Parameters every endpoint takes (LIT's serialisation switch).
_COMMON_PARAMS = ("response_simple_json",)
# Endpoints whose errors from a loader (bad path, bad model) are the caller's.
_LOADER_ENDPOINTS = ("/create_dataset", "/create_model", "/save_datapoints", "/load_datapoints")


def client_is_built(build_dir: str = CLIENT_BUILD_DIR) -> bool:
  return os.path.isfile(os.path.join(build_dir, "index.html")) and os.path.isfile(
      os.path.join(build_dir, "app.js"))


def _names(items) -> str:
  return ", ".join(sorted(items)) or "none"


class SalienceApp(lit_app.LitApp):
  """LitApp serving our client at `/`, LIT's at `/lit/`, with checks, limits and jobs."""

  def __init__(self, *args, seqsal_client_dir: str = CLIENT_BUILD_DIR, hosted: bool = False,
               limits: limits_lib.Limits | None = None, results_path: str = "", **kwargs):
    # Set before LitApp.__init__, which wraps every endpoint with make_handler.
    self.hosted = hosted
    self.results_path = results_path
    self.limits = limits or (limits_lib.HOSTED if hosted else limits_lib.LOCAL)
    if hosted:
      kwargs.update(demo_mode=True, model_loaders={}, dataset_loaders={})
      kwargs.update(_hosted_components(kwargs.get("models") or args[0],
                                       kwargs.get("interpreters")))
    if kwargs.get("client_root") is None:
      kwargs["client_root"] = LIT_CLIENT_ROOT
    self._lit_client_root = kwargs["client_root"]
    self._seqsal_client_dir = seqsal_client_dir
    self.jobs = jobs.JobManager(self.limits)
    self._gates: dict[str, work.Gate] = {}
    super().__init__(*args, **kwargs)
    self._bound_caches()
    if not client_is_built(seqsal_client_dir):
      logging.warning(
          "The lit-seqsal client is not built (%s): `/` shows how to build it"
          " (make client); LIT's client is at /lit/.", seqsal_client_dir)

  # -- memory ------------------------------------------------------------------

  def _bound_caches(self) -> None:
    """Byte limits for our salience caches and LIT's per-model prediction
    caches, and content keys in LIT's for examples without `_id`."""
    for wrapper in self._models.values():
      group = lit_models.group_of(wrapper)
      if group is not None and not getattr(group.salience.cache, "_bounded_by_app", False):
        group.salience.cache.max_bytes = self.limits.cache_mb << 20
        group.salience.cache._bounded_by_app = True  # pylint: disable=protected-access
      preds_cache = getattr(wrapper, "_cache", None)  # LIT's CachingModelWrapper
      if preds_cache is not None and not isinstance(getattr(preds_cache, "_d", None), LruDict):
        preds_cache._d = LruDict(ByteLRU(self.limits.lit_cache_mb << 20))  # pylint: disable=protected-access
        wrapper.key_fn = _content_key_fn(wrapper)

  # -- LIT's endpoints, checked -----------------------------------------------

  def make_handler(self, fn):
    """LIT's handler for `fn`, inside our checks, work context and JSON errors."""
    path = "/" + fn.__name__.lstrip("_")
    endpoint = _ENDPOINTS.get(path, Endpoint())
    lit_handler = super().make_handler(fn)

    def handler(app, request, environ):
      request_id = environ.get(REQUEST_ID_KEY, "")
      try:
        params = request.args.to_dict()
        if path == "/get_info" and params.pop("response_simple_json", None) is not None:
          # LIT cannot encode its own metadata the other way (an enum in it).
          request = wrappers.Request(dict(environ, QUERY_STRING=""))
        self._check_request(path, endpoint, params, request.get_data())
        if not endpoint.model_work:
          return self._run_lit(path, lit_handler, app, request, environ)
        request_work = work.Work(self.limits, time_limit_s=self.limits.request_time_limit_s)
        with self._gate(params["model"]).admit(), work.running(request_work):
          return self._run_lit(path, lit_handler, app, request, environ)
      except errors.ServingError as e:
        return error_response(e, request_id)
      except Exception:  # pylint: disable=broad-except
        return internal_error_response(request_id)

    return handler

  def _run_lit(self, path, lit_handler, app, request, environ):
    try:
      response = lit_handler(app, request, environ)
    except (ValueError, OSError, KeyError, TypeError) as e:
      if path not in _LOADER_ENDPOINTS or isinstance(e, errors.ServingError):
        raise
      raise errors.BadRequest(f"{path[1:]} failed: {e}") from e
    if path == "/create_model":
      self._bound_caches()
    return response

  def _gate(self, model: str) -> work.Gate:
    """The admission gate of the model group `model` belongs to (one per loaded LM)."""
    group = lit_models.group_of(self._models[model])
    key = group.name if group is not None else model
    if key not in self._gates:
      self._gates[key] = work.Gate(key, self.limits.queue_per_model)
    return self._gates[key]

  def _is_salience_model(self, model: str) -> bool:
    group = lit_models.group_of(self._models[model])
    return group is not None and model == contract.salience_model_name(group.name)

  def _check_request(self, path: str, endpoint: Endpoint, params: dict, raw: bytes) -> dict:
    """The parsed body, after every check a request gets before any work."""
    if self.hosted and not endpoint.hosted:
      raise errors.Forbidden(f"{path} is not available on this hosted demo.")
    if path == "/push_ui_state" and self.ui_state_tracker is None:
      raise errors.NotFound("/push_ui_state: this server does not sync UI state (it is"
                            " for notebooks).")
    allowed = endpoint.params + _COMMON_PARAMS
    unknown = sorted(set(params) - set(allowed))
    if unknown:
      raise errors.BadRequest(
          f"Unknown query parameter(s) {', '.join(map(repr, unknown))} for {path};"
          f" allowed: {_names(allowed)}.")
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

  def _check_names(self, path: str, params: dict) -> None:
    known = {
        "model": (self._models, "model"),
        "dataset_name": (self._dataset_loaders if path == "/create_dataset" else self._datasets,
                         "dataset loader" if path == "/create_dataset" else "dataset"),
        "model_name": (self._model_loaders, "model loader"),
        "interpreter": (self._interpreters, "interpreter"),
        "generator": (self._generators, "generator"),
        "saved_datapoints_id": (self._saved_datapoints, "saved datapoints id"),
    }
    for param, (names, what) in known.items():
      value = params.get(param)
      if value == "":
        raise errors.BadRequest(f"Query parameter {param!r} is empty.")
      if value and value not in names:
        listed = "" if param == "saved_datapoints_id" else f"; available: {_names(names)}"
        raise errors.NotFound(f"Unknown {what} {value!r}{listed}.")
    for metric in filter(None, params.get("metrics", "").split(",")):
      if metric not in self._metrics:
        raise errors.NotFound(f"Unknown metric {metric!r}; available: {_names(self._metrics)}.")
    for type_name in filter(None, params.get("requested_types", "").split(",")):
      cls = getattr(lit_types, type_name, None)
      if not (isinstance(cls, type) and issubclass(cls, lit_types.LitType)):
        raise errors.BadRequest(f"requested_types: {type_name!r} is not a LIT type name.")
    model = params.get("model")
    if model and path in ("/get_interpretations", "/get_metrics", "/get_generated"):
      dataset = self._datasets[params["dataset_name"]]
      components = {"/get_interpretations": [params.get("interpreter")],
                    "/get_generated": [params.get("generator")],
                    "/get_metrics": [m for m in params.get("metrics", "").split(",") if m]}[path]
      registry = {"/get_interpretations": self._interpreters, "/get_generated": self._generators,
                  "/get_metrics": self._metrics}[path]
      for name in components:
        component = registry[name]
        check = getattr(component, "is_compatible", None)
        if check is not None and not _compatible(check, self._models[model], dataset):
          raise errors.BadRequest(f"{name!r} does not apply to model {model!r}.")

  def _check_inputs(self, path: str, endpoint: Endpoint, params: dict, inputs) -> None:
    if not isinstance(inputs, list):
      raise errors.BadRequest("Field 'inputs' of the body must be a list.")
    if path == "/get_preds" and self._is_salience_model(params["model"]):
      self.limits.check("max_masks_per_request", len(inputs), "The number of inputs")
    elif endpoint.model_work:
      self.limits.check("max_examples_per_request", len(inputs), "The number of examples")
    dataset_name = params.get("dataset_name")
    index = self._datasets[dataset_name].index if dataset_name else None
    for i, ex in enumerate(inputs):
      if endpoint.inputs == "data":
        if not isinstance(ex, dict):
          raise errors.BadRequest(f"Input {i} must be an object with the example's fields.")
        continue
      if isinstance(ex, str):
        if index is None:
          raise errors.BadRequest(
              f"Input {i} is an example id; give 'dataset_name' to look it up.")
        if ex not in index:
          raise errors.NotFound(f"Input {i}: no example with id {ex!r} in dataset"
                                f" {dataset_name!r}.")
        continue
      if not isinstance(ex, dict) or not isinstance(ex.get("data"), dict):
        raise errors.BadRequest(
            f"Input {i} must be an example id or an object with 'data' (the example's"
            " fields), 'id' and 'meta'.")
      ex_id, data_id = ex.get("id"), ex["data"].get("_id")
      if ex_id is not None and not isinstance(ex_id, str):
        raise errors.BadRequest(f"Input {i}: 'id' must be a string.")
      if data_id is not None and not isinstance(data_id, str):
        raise errors.BadRequest(f"Input {i}: 'data._id' must be a string.")
      if "meta" in ex and not isinstance(ex["meta"], dict):
        raise errors.BadRequest(f"Input {i}: 'meta' must be an object.")
      if dataset_name and ex_id != data_id:
        raise errors.BadRequest(f"Input {i}: 'id' and 'data._id' must be equal (LIT's"
                                " convention for examples it caches).")
      if dataset_name:
        # LIT's metrics read the labels the model's outputs name (a generation's
        # target); its generators, the dataset's required fields.
        spec = self._datasets[dataset_name].spec()
        needed = set()
        if path == "/get_metrics":
          output_spec = self._models[params["model"]].output_spec()
          needed = {getattr(f, "parent", None) for f in output_spec.values()} & set(spec)
        elif path == "/get_generated":
          needed = {name for name, field in spec.items() if field.required}
        _check_fields(i, ex["data"], spec, needed)

  def _check_config(self, path: str, params: dict, config: dict | None) -> None:
    if path in ("/create_dataset", "/create_model"):
      if not config or not isinstance(config.get("new_name"), str) or not config["new_name"]:
        raise errors.BadRequest(f"{path} needs a config with a 'new_name'.")
      return
    owners = {"/get_interpretations": [self._interpreters.get(params.get("interpreter"))],
              "/get_generated": [self._generators.get(params.get("generator"))],
              "/get_metrics": [self._metrics[m] for m in params.get("metrics", "").split(",")
                               if m in self._metrics]}.get(path, [])
    for owner in filter(None, owners):
      if type(owner).__module__.startswith("lit_seqsal."):
        continue  # ours check their own configs, naming the allowed values
      spec = owner.config_spec() or {}
      missing = [k for k, t in spec.items() if t.required and k not in (config or {})]
      if missing and config is not None:
        raise errors.BadRequest(
            f"Config for {path[1:]} is missing {', '.join(map(repr, missing))};"
            f" its fields: {_names(spec)}.")
      for key, value in (config or {}).items():
        if key in spec:
          _check_config_value(key, value, spec[key])

  # -- routing ----  # -- routing -------------------------------------------------------------------

  def __call__(self, environ, start_response):
    request_id = uuid.uuid4().hex[:12]
    environ[REQUEST_ID_KEY] = request_id
    start = time.monotonic()
    path = environ.get("PATH_INFO", "") or "/"
    status_holder = {}

    def start_with_headers(status, headers, exc_info=None):
      status_holder["status"] = status
      headers = [(k, v) for k, v in headers if k.lower() not in _SECURITY_HEADER_NAMES]
      headers += self._security_headers(path, headers)
      headers.append(("X-Request-Id", request_id))
      return start_response(status, headers, exc_info)

    try:
      response = self._dispatch(environ, path, request_id)
    except errors.ServingError as e:
      response = error_response(e, request_id)
    except Exception:  # pylint: disable=broad-except
      response = internal_error_response(request_id)
    body = response(environ, start_with_headers)
    logging.info("request %s %s %s -> %s in %.2f s", request_id, environ.get("REQUEST_METHOD"),
                 path, status_holder.get("status", "?"), time.monotonic() - start)
    return body

  def _dispatch(self, environ, path: str, request_id: str):
    method = environ.get("REQUEST_METHOD", "GET")
    if method == "POST" or environ.get("CONTENT_LENGTH"):
      self._limit_body(environ)
    if path == LIT_PREFIX:
      # Relative URLs in LIT's page need the trailing slash.
      query = environ.get("QUERY_STRING", "")
      location = environ.get("SCRIPT_NAME", "") + LIT_PREFIX + "/" + (f"?{query}" if query else "")
      return wrappers.Response(status=301, headers={"Location": location})
    prefix = ""
    if path.startswith(LIT_PREFIX + "/"):
      prefix, path = LIT_PREFIX, path[len(LIT_PREFIX):]
      environ["PATH_INFO"] = path
      environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + LIT_PREFIX
    api_path = path.rstrip("/") or "/"
    if api_path in API_PATHS:
      if method not in ("GET", "POST"):
        raise errors.BadRequest(f"{api_path} takes GET or POST, not {method}.")
      return lambda env, start: self._wsgi_app(env, start)  # LIT's, through make_handler
    if not prefix and api_path == RESULTS_PATH:
      return self._results_file(method)
    if not prefix and (api_path == INFO_PATH or api_path.startswith(JOBS_PATH)):
      return self._jobs_api(environ, api_path, method, request_id)
    if method not in ("GET", "HEAD"):
      raise errors.BadRequest(f"{path} is a page or file: use GET, not {method}.")
    if prefix:
      return self._lit_client_file(path)
    return self._client_file(path)

  def _limit_body(self, environ) -> None:
    """413 for a body over --max_body_bytes; the body is read once, here."""
    limit = self.limits.max_body_bytes or (1 << 62)
    try:
      declared = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
      raise errors.BadRequest("Content-Length is not a number.") from None
    if declared > limit:
      raise errors.TooLarge(f"The request body is {declared} bytes, over this server's limit"
                            f" of {limit} bytes (--max_body_bytes).")
    stream = environ["wsgi.input"]
    data = stream.read(declared) if declared >= 0 else stream.read(limit + 1)
    if len(data) > limit:
      raise errors.TooLarge(f"The request body is over this server's limit of {limit} bytes"
                            " (--max_body_bytes).")
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))

  # -- static files ----------------------------------------------------------------

  def _client_file(self, path: str):
    if not client_is_built(self._seqsal_client_dir):
      return wrappers.Response(MISSING_CLIENT_PAGE, status=503,
                               content_type="text/html; charset=utf-8")
    return _static_file(self._seqsal_client_dir, path, "index.html")

  def _lit_client_file(self, path: str):
    if path.strip("/") == LIT_ERRORS_SCRIPT:
      return _static_file(STATIC_DIR, LIT_ERRORS_SCRIPT, LIT_ERRORS_SCRIPT)
    if path.strip("/") in ("", "index.html"):
      page = _read(os.path.join(self._lit_client_root, "static", "index.html")).decode("utf-8")
      page = page.replace('<script src="main.js">',
                          f'<script src="{LIT_ERRORS_SCRIPT}"></script>\n  <script src="main.js">', 1)
      return wrappers.Response(page, content_type="text/html; charset=utf-8",
                               headers={"Cache-Control": "no-cache"})
    return _static_file(self._lit_client_root, path, "static/index.html")

  def _security_headers(self, path: str, headers) -> list[tuple[str, str]]:
    out = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]
    # The notebook widget shows the page in an iframe of the notebook's origin;
    # a public demo may only be framed by itself.
    ancestors = "'self'" if self.hosted else "*"
    if self.hosted:
      out.append(("X-Frame-Options", "SAMEORIGIN"))
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    if content_type.startswith("text/html"):
      lit_page = path.startswith(LIT_PREFIX)
      fonts = " https://fonts.googleapis.com" if lit_page else ""
      out.append(("Content-Security-Policy",
                  "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none';"
                  f" style-src 'self' 'unsafe-inline'{fonts}; font-src 'self' data:"
                  f"{' https://fonts.gstatic.com' if lit_page else ''};"
                  " img-src 'self' data: blob:; connect-src 'self';"
                  f" frame-ancestors {ancestors}; form-action 'self'"))
    return out

  # -- the batch command's results (--results) --------------------------------------

  def _results_file(self, method: str):
    """The results file, streamed, up to its last complete line (a run may be writing it)."""
    if method not in ("GET", "HEAD"):
      raise errors.BadRequest(f"{RESULTS_PATH} takes GET, not {method}.")
    if not self.results_path:
      raise errors.NotFound("This server has no results file: start it with --results=FILE"
                            " (the output of python -m lit_seqsal.attribute).")
    try:
      end = batch_results.complete_length(self.results_path)
      f = open(self.results_path, "rb")  # pylint: disable=consider-using-with
    except OSError:
      raise errors.NotFound("The server's results file cannot be read.") from None

    def chunks():
      with f:
        f.seek(0)
        left = end
        while left > 0:
          data = f.read(min(left, 1 << 20))
          if not data:
            break
          left -= len(data)
          yield data

    return wrappers.Response(chunks(), content_type="application/x-ndjson; charset=utf-8",
                             headers={"Cache-Control": "no-cache"}, direct_passthrough=True)

  # -- jobs ------------------------------------------------------------------------

  def _jobs_api(self, environ, path: str, method: str, request_id: str):
    if path == INFO_PATH:
      return json_response({"hosted": self.hosted, "jobs": True,
                            "limits": dataclasses.asdict(self.limits),
                            "results": bool(self.results_path),
                            **methods_lib.describe_all()})
    if path == JOBS_PATH:
      if method != "POST":
        raise errors.BadRequest(f"{JOBS_PATH} takes POST (start a job).")
      return self._start_job(environ, request_id)
    match = re.fullmatch(re.escape(JOBS_PATH) + r"/([0-9a-f]{1,64})(/cancel)?", path)
    if not match:
      raise errors.NotFound(f"No such path: {path}.")
    job_id, cancel = match.groups()
    if cancel or method == "DELETE":
      if method not in ("POST", "DELETE"):
        raise errors.BadRequest("Cancel a job with POST .../cancel or DELETE.")
      return json_response({"job": self.jobs.cancel(job_id).status()})
    if method not in ("GET", "POST"):
      raise errors.BadRequest(f"{path} takes GET (poll), POST .../cancel or DELETE.")
    return json_response({"job": self.jobs.get(job_id).status(with_result=True)})

  def _start_job(self, environ, request_id: str):
    """Runs /get_preds (or /get_interpretations with `interpreter`) as a job."""
    request = wrappers.Request(environ)
    params = request.args.to_dict()
    path = "/get_interpretations" if "interpreter" in params else "/get_preds"
    endpoint = _ENDPOINTS[path]
    body = self._check_request(path, endpoint, params, request.get_data())
    run = {"/get_preds": self._get_preds, "/get_interpretations": self._get_interpretations}[path]
    if params.get("dataset_name"):
      body["inputs"] = self._reconstitute_inputs(body["inputs"], params["dataset_name"])
    kwargs = {k: v for k, v in params.items() if k not in _COMMON_PARAMS}

    def compute():  # plain JSON values, as /get_preds would answer
      return json.loads(serialize.to_json(run(body, **kwargs), simple=True))

    job = self.jobs.submit(compute, self._gate(params["model"]), request_id=request_id,
                           what=f"{params.get('interpreter') or 'prediction'} on {params['model']}")
    return json_response({"job": job.status()}, status=202)


def _content_key_fn(wrapper) -> Callable[[dict], tuple]:
  """LIT's cache key for an example, with its content hash where it has no `_id`.

  LIT's caching wrapper keys examples by `_id` and gives every example without
  one (what our client and API users send) the same key, None, and with it
  one shared lock around the whole predict call: a short salience request then
  waited for a running integrated-gradients job to finish (65 s in
  bench/bench_hosted.py). Keyed by content, different examples run side by
  side (the model lock still takes turns per batch) and repeats are cached.
  """
  name = wrapper._name  # pylint: disable=protected-access

  def key_fn(example: dict) -> tuple:
    return (name, example.get("_id") or lit_dataset.input_hash(example))

  return key_fn


class LruDict(dict):
  """The mapping inside LIT's prediction cache (PredsCache._d), bounded in bytes."""

  def __init__(self, lru: ByteLRU):
    super().__init__()
    self._lru = lru

  def __setitem__(self, key, value):
    self._lru.put(key, value)

  def __getitem__(self, key):
    value = self._lru.get(key, _MISSING)
    if value is _MISSING:
      raise KeyError(key)
    return value

  def get(self, key, default=None):
    return self._lru.get(key, default)

  def __contains__(self, key):
    return key in self._lru

  def __len__(self):
    return len(self._lru)

  def __iter__(self):
    return iter(())  # not persisted: LIT saves its cache only with a data_dir

  def clear(self):
    self._lru.clear()


_MISSING = object()
_SECURITY_HEADER_NAMES = frozenset(
    {"x-content-type-options", "referrer-policy", "x-frame-options", "content-security-policy"})


# LIT components a public demo offers beside our interpreters: generation
# metrics and text perturbations (their configs are typed, checked by
# _check_config_values). Not the embedding projections: each distinct config
# trains and keeps a projector over the whole dataset's generations.
_HOSTED_INTERPRETERS = ()
_HOSTED_GENERATORS = ("Scrambler", "Word Replacer")
_HOSTED_METRICS = ("bleu", "rouge", "exactmatch")


def _hosted_components(models, interpreters) -> dict:
  """LIT's default components, less those a public demo does not need."""
  from lit_nlp.components import core  # pylint: disable=g-import-not-at-top
  from lit_seqsal.components import interpreters as ours  # pylint: disable=g-import-not-at-top

  interpreters = interpreters if interpreters is not None else core.default_interpreters(models)
  keep = set(_HOSTED_INTERPRETERS) | {ours.SALIENCE_MAP, ours.INTEGRATED_GRADIENTS, ours.OCCLUSION}
  return dict(
      interpreters={k: v for k, v in interpreters.items() if k in keep},
      generators={k: v for k, v in core.default_generators().items() if k in _HOSTED_GENERATORS},
      metrics={k: v for k, v in core.default_metrics().items() if k in _HOSTED_METRICS})


def _check_fields(index: int, data: dict, spec: lit_types.Spec, needed: set[str]) -> None:
  """An example's text fields are texts, and the `needed` ones present."""
  for name, field in spec.items():
    if name not in data:
      if name in needed:
        raise errors.BadRequest(f"Input {index} has no field {name!r}, which this endpoint"
                                " needs.")
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
  elif isinstance(spec, (lit_types.StringLitType, lit_types.FieldMatcher)):
    if not isinstance(value, str):
      fail("a text")


def _compatible(check: Callable, model, dataset) -> bool:
  try:
    return bool(check(model, dataset))
  except Exception:  # pylint: disable=broad-except
    return False


def parse_body(raw: bytes) -> dict:
  """A request body as LIT reads it (serialize.from_json), or 400."""
  if not raw or not raw.strip():
    return {}
  try:
    body = serialize.from_json(raw.decode("utf-8"))
  except Exception as e:  # pylint: disable=broad-except
    raise errors.BadRequest(f"The request body is not valid JSON: {type(e).__name__}:"
                            f" {str(e)[:200]}") from None
  if not isinstance(body, dict):
    raise errors.BadRequest("The request body must be a JSON object, e.g."
                            ' {"inputs": [...], "config": {...}}.')
  return body


def json_response(payload, status: int = 200, headers: dict | None = None):
  return wrappers.Response(json.dumps(payload), status=status, headers=headers or {},
                           content_type="application/json; charset=utf-8")


def error_response(error: errors.ServingError, request_id: str):
  logging.info("request %s: %d %s: %s", request_id, error.status, error.kind, error)
  return json_response(errors.describe(error, request_id), error.status, error.headers())


def internal_error_response(request_id: str):
  logging.error("request %s failed:\n%s", request_id, traceback.format_exc())
  error = errors.ServingError(
      f"Internal error while serving this request (id {request_id}). The server log has"
      " the details under this id; please report it.")
  return json_response(errors.describe(error, request_id), 500)


def _read(path: str) -> bytes:
  with open(path, "rb") as f:
    return f.read()


def _static_file(root: str, path: str, index: str):
  """A file under `root` (never outside it), or a JSON 404."""
  rel = posixpath.normpath("/" + path.lstrip("/")).lstrip("/")
  if rel in ("", "."):
    rel = index
  full = os.path.realpath(os.path.join(root, rel))
  if not full.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(full):
    raise errors.NotFound(f"No such page or file: /{rel}.")
  content_type = mimetypes.guess_type(full)[0] or "application/octet-stream"
  if content_type.startswith("text/") or content_type == "application/javascript":
    content_type += "; charset=utf-8"
  return wrappers.Response(_read(full), content_type=content_type,
                           headers={"Cache-Control": "no-cache"})
