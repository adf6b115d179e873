"""`/seqsal/jobs` (start, poll, cancel) and `/seqsal/info` (what this server offers).

A job runs LIT's `/get_preds` (or `/get_interpretations` with `interpreter`)
in a thread (lit_seqsal/serving/jobs.py), after the same checks as the request
itself; clients poll it for progress and the result, and may cancel it.
`/seqsal/info` says whether the server is hosted, its budgets, whether it has
a results file, each model group's lengths and generation limits, and every
salience method as the client shows it (the method registry,
lit_seqsal/salience/methods.py).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable

from lit_nlp.lib import serialize
from werkzeug import wrappers

from lit_seqsal import errors
from lit_seqsal.salience import methods as methods_lib
from lit_seqsal.serving.endpoints import COMMON_PARAMS, ENDPOINTS, INFO_PATH, JOBS_PATH
from lit_seqsal.serving.jobs import JobManager
from lit_seqsal.serving.responses import json_response
from lit_seqsal.work.admission import Gate
from lit_seqsal.work.limits import Limits

_JOB_PATH = re.compile(re.escape(JOBS_PATH) + r"/([0-9a-f]{1,64})(/cancel)?")


@dataclasses.dataclass
class JobsApi:
  """Our endpoints of one server; the app hands it its checks and LIT's runner."""

  jobs: JobManager
  limits: Limits
  hosted: bool
  results_path: str
  # (path, endpoint, params, raw body) -> checked body (validation.RequestChecks.check)
  check: Callable
  # (path, body, params) -> LIT's answer (lit_patches.run_endpoint on the app)
  run: Callable
  gate: Callable[[str], Gate]  # model name -> its admission gate
  # (path, params, body) -> None, or TooLarge when the job's estimate is over
  # --job_time_limit_s (estimates.judge_job)
  judge: Callable
  speeds: Callable[[], dict]  # each model group's measured speed
  groups: Callable[[], dict] = dict  # group name -> its description (ModelGroup.describe)

  def handle(self, environ, path: str, method: str, request_id: str):
    if path == INFO_PATH:
      return json_response(
        {
          "hosted": self.hosted,
          "jobs": True,
          "limits": dataclasses.asdict(self.limits),
          "results": bool(self.results_path),
          "speed": self.speeds(),
          "models": self.groups(),
          **methods_lib.describe_all(),
        }
      )
    if path == JOBS_PATH:
      if method != "POST":
        raise errors.BadRequest(f"{JOBS_PATH} takes POST (start a job).")
      return self._start(environ, request_id)
    match = _JOB_PATH.fullmatch(path)
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

  def _start(self, environ, request_id: str):
    """Runs /get_preds (or /get_interpretations with `interpreter`) as a job."""
    request = wrappers.Request(environ)
    params = request.args.to_dict()
    path = "/get_interpretations" if "interpreter" in params else "/get_preds"
    body = self.check(path, ENDPOINTS[path], params, request.get_data())
    kwargs = {k: v for k, v in params.items() if k not in COMMON_PARAMS}
    self.judge(path, params, body)

    def compute():  # plain JSON values, as /get_preds would answer
      return json.loads(serialize.to_json(self.run(path, body, kwargs), simple=True))

    job = self.jobs.submit(
      compute,
      self.gate(params["model"]),
      request_id=request_id,
      what=f"{params.get('interpreter') or 'prediction'} on {params['model']}",
    )
    return json_response({"job": job.status()}, status=202)
