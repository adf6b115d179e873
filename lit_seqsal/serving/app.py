"""The WSGI app: our client at `/`, LIT's own client at `/lit/`, LIT's API, our jobs.

`SalienceApp` is a `LitApp` that keeps LIT's endpoints (for both clients) and
puts around every request what a server open to the public needs (docs/
architecture.md, "Serving"). It holds construction, routing and the call; each
part has its own home in this package:

- which paths exist and what LIT's endpoints accept: endpoints.py;
- the checks every request gets before any work: validation.py;
- errors as JSON with a request id, security headers: responses.py;
- static files (our client, LIT's client and its page): static_files.py;
- jobs and the server's description (/seqsal/jobs, /seqsal/info): jobs_api.py;
- the batch command's results file (/seqsal/results): results_api.py;
- what reaches into LIT's private internals: lit_patches.py;
- what a hosted demo offers of LIT's components: hosted.py;
- what a request will cost, judged before it runs: estimates.py.

Each model request runs inside a `Work` (lit_seqsal/work/) with the server's
budgets and time limit, behind its model's admission gate (429 when full),
after its estimated cost was judged against its time limit (413). Requests
arrive on several threads (lit_seqsal/serving/http_servers.py, gunicorn's
gthread workers): what they share is thread-safe (the model lock, the gates,
the byte-bounded caches, the jobs table, LIT's prediction cache as
lit_patches.py leaves it).
"""

from __future__ import annotations

import io
import threading
import time
import uuid

from absl import logging
from lit_nlp import app as lit_app
from werkzeug import wrappers

from lit_seqsal import contract, errors, work
from lit_seqsal.models import lit_models
from lit_seqsal.serving import endpoints, estimates, jobs, lit_patches, responses, static_files
from lit_seqsal.serving.endpoints import API_PATHS, INFO_PATH, JOBS_PATH, LIT_PREFIX, RESULTS_PATH
from lit_seqsal.serving.hosted import hosted_components
from lit_seqsal.serving.jobs_api import JobsApi
from lit_seqsal.serving.results_api import results_file
from lit_seqsal.serving.validation import RequestChecks
from lit_seqsal.work import limits as limits_lib
from lit_seqsal.work.admission import Gate

REQUEST_ID_KEY = "lit_seqsal.request_id"


class SalienceApp(lit_app.LitApp):
  """LitApp serving our client at `/`, LIT's at `/lit/`, with checks, limits and jobs."""

  def __init__(
    self,
    *args,
    seqsal_client_dir: str = static_files.CLIENT_BUILD_DIR,
    hosted: bool = False,
    limits: limits_lib.Limits | None = None,
    results_path: str = "",
    **kwargs,
  ):
    # Set before LitApp.__init__, which wraps every endpoint with make_handler.
    self.hosted = hosted
    self.results_path = results_path
    self.limits = limits or (limits_lib.HOSTED if hosted else limits_lib.LOCAL)
    if hosted:
      kwargs.update(demo_mode=True, model_loaders={}, dataset_loaders={})
      kwargs.update(hosted_components(kwargs.get("models") or args[0], kwargs.get("interpreters")))
    if kwargs.get("client_root") is None:
      kwargs["client_root"] = static_files.LIT_CLIENT_ROOT
    self._lit_client_root = kwargs["client_root"]
    self._seqsal_client_dir = seqsal_client_dir
    self.jobs = jobs.JobManager(self.limits)
    self._gates: dict[str, Gate] = {}
    self._gates_lock = threading.Lock()
    super().__init__(*args, **kwargs)
    self.components = lit_patches.components(self)
    self.checks = RequestChecks(
      self.components,
      self.limits,
      hosted=hosted,
      syncs_ui_state=self.ui_state_tracker is not None,
      is_salience_model=self._is_salience_model,
    )
    self.jobs_api = JobsApi(
      self.jobs,
      self.limits,
      hosted,
      results_path,
      self.checks.check,
      lambda path, body, params: lit_patches.run_endpoint(self, path, body, params),
      self._gate,
      lambda path, params, body: estimates.judge_job(self, self.limits, path, params, body),
      self._speeds,
      self._describe_groups,
    )
    lit_patches.bound_caches(self, self.limits)
    if self.limits.request_time_limit_s or self.limits.job_time_limit_s:
      self._measure_speeds()
    if not static_files.client_is_built(seqsal_client_dir):
      logging.warning(
        "The lit-seqsal client is not built (%s): `/` shows how to build it"
        " (make client); LIT's client is at /lit/.",
        seqsal_client_dir,
      )

  # -- LIT's endpoints, checked -----------------------------------------------

  def make_handler(self, fn):
    """LIT's handler for `fn`, inside our checks, work context and JSON errors."""
    path = "/" + fn.__name__.lstrip("_")
    endpoint = endpoints.ENDPOINTS.get(path, endpoints.Endpoint())
    lit_handler = super().make_handler(fn)

    def handler(app, request, environ):
      request_id = environ.get(REQUEST_ID_KEY, "")
      try:
        params = request.args.to_dict()
        if path == "/get_info" and params.pop("response_simple_json", None) is not None:
          # LIT cannot encode its own metadata the other way (an enum in it).
          request = wrappers.Request(dict(environ, QUERY_STRING=""))
        body = self.checks.check(path, endpoint, params, request.get_data())
        if not endpoint.model_work:
          return self._run_lit(path, lit_handler, app, request, environ)
        request_work = work.Work(self.limits, time_limit_s=self.limits.request_time_limit_s)
        with self._gate(params["model"]).admit(), work.running(request_work):
          estimates.judge_request(self, self.limits, path, params, body)
          return self._run_lit(path, lit_handler, app, request, environ)
      except errors.ServingError as e:
        return responses.error_response(e, request_id)
      except Exception:  # noqa: BLE001 (a 500 with the traceback in the log only)
        return responses.internal_error_response(request_id)

    return handler

  def _run_lit(self, path, lit_handler, app, request, environ):
    try:
      response = lit_handler(app, request, environ)
    except (ValueError, OSError, KeyError, TypeError) as e:
      if path not in endpoints.LOADER_ENDPOINTS or isinstance(e, errors.ServingError):
        raise
      raise errors.BadRequest(f"{path[1:]} failed: {e}") from e
    if path == "/create_model":
      lit_patches.bound_caches(self, self.limits)
    return response

  def _gate(self, model: str) -> Gate:
    """The admission gate of the model group `model` belongs to (one per loaded LM)."""
    group = lit_models.group_of(self.components.models[model])
    key = group.name if group is not None else model
    with self._gates_lock:  # two first requests on two threads: one gate
      if key not in self._gates:
        self._gates[key] = Gate(key, self.limits.queue_per_model)
      return self._gates[key]

  def _groups(self) -> dict[str, lit_models.ModelGroup]:
    groups = (lit_models.group_of(m) for m in self.components.models.values())
    return {g.name: g for g in groups if g is not None}

  def _measure_speeds(self) -> None:
    """A first measurement of each model's speed, for the cost estimates of
    requests and jobs (lit_seqsal/serving/estimates.py)."""
    for name, group in self._groups().items():
      if group.engine.throughput.speeds() is None:
        start = time.monotonic()
        group.engine.measure_speed()
        logging.info(
          "Measured the speed of %s in %.1f s: %s",
          name,
          time.monotonic() - start,
          group.engine.throughput.describe(),
        )

  def _speeds(self) -> dict[str, dict]:
    """/seqsal/info's measured speed of each model (units.Throughput.describe)."""
    return {name: g.engine.throughput.describe() for name, g in self._groups().items()}

  def _describe_groups(self) -> dict:
    """Each model group by name, as GET /seqsal/info describes it."""
    return {name: group.describe() for name, group in self._groups().items()}

  def _is_salience_model(self, model: str) -> bool:
    group = lit_models.group_of(self.components.models[model])
    return group is not None and model == contract.salience_model_name(group.name)

  # -- routing -------------------------------------------------------------------

  def __call__(self, environ, start_response):
    request_id = uuid.uuid4().hex[:12]
    environ[REQUEST_ID_KEY] = request_id
    start = time.monotonic()
    path = environ.get("PATH_INFO", "") or "/"
    status_holder = {}

    def start_with_headers(status, headers, exc_info=None):
      status_holder["status"] = status
      headers = [(k, v) for k, v in headers if k.lower() not in responses.SECURITY_HEADER_NAMES]
      headers += responses.security_headers(headers, hosted=self.hosted)
      headers.append(("X-Request-Id", request_id))
      return start_response(status, headers, exc_info)

    try:
      response = self._dispatch(environ, path, request_id)
    except errors.ServingError as e:
      response = responses.error_response(e, request_id)
    except Exception:  # noqa: BLE001 (a 500 with the traceback in the log only)
      response = responses.internal_error_response(request_id)
    body = response(environ, start_with_headers)
    logging.info(
      "request %s %s %s -> %s in %.2f s",
      request_id,
      environ.get("REQUEST_METHOD"),
      path,
      status_holder.get("status", "?"),
      time.monotonic() - start,
    )
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
      prefix, path = LIT_PREFIX, path[len(LIT_PREFIX) :]
      environ["PATH_INFO"] = path
      environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + LIT_PREFIX
    api_path = path.rstrip("/") or "/"
    if api_path in API_PATHS:
      if method not in ("GET", "POST"):
        raise errors.BadRequest(f"{api_path} takes GET or POST, not {method}.")
      return lambda env, start: self._wsgi_app(env, start)  # LIT's, through make_handler
    if not prefix and api_path == RESULTS_PATH:
      return results_file(self.results_path, method)
    if not prefix and (api_path == INFO_PATH or api_path.startswith(JOBS_PATH)):
      return self.jobs_api.handle(environ, api_path, method, request_id)
    if method not in ("GET", "HEAD"):
      raise errors.BadRequest(f"{path} is a page or file: use GET, not {method}.")
    if prefix:
      return static_files.lit_client_file(self._lit_client_root, path, self._seqsal_client_dir)
    return static_files.client_file(self._seqsal_client_dir, path)

  def _limit_body(self, environ) -> None:
    """413 for a body over --max_body_bytes; the body is read once, here."""
    limit = self.limits.max_body_bytes or (1 << 62)
    try:
      declared = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
      raise errors.BadRequest("Content-Length is not a number.") from None
    if declared > limit:
      raise errors.TooLarge(
        f"The request body is {declared} bytes, over this server's limit"
        f" of {limit} bytes (--max_body_bytes)."
      )
    stream = environ["wsgi.input"]
    data = stream.read(declared) if declared >= 0 else stream.read(limit + 1)
    if len(data) > limit:
      raise errors.TooLarge(
        f"The request body is over this server's limit of {limit} bytes (--max_body_bytes)."
      )
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
