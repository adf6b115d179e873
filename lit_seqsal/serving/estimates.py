"""What a model request will cost, judged before it runs.

A request to a salience model (`/get_preds?model=_NAME_salience`) or to one of
our interpreters (`/get_interpretations`) knows its model work before running
it: the same unit policy cuts it (lit_seqsal/work/units.py), so the salience
model and the interpreters can count its units (`estimate`). The model's
measured speed (`LMEngine.throughput`: a warm-up at start, then every unit it
runs) turns that into seconds; a request whose estimate is over its time limit
(--request_time_limit_s, --job_time_limit_s for a job) is refused at once with
413, the estimate and the budget in the body, instead of being stopped when
the limit has passed. The limit stays the backstop: work that cannot be
estimated (generation, a plugin method without an estimate) runs and is
stopped there.
"""

from __future__ import annotations

from absl import logging

from lit_seqsal import contract, errors, work
from lit_seqsal.models import lit_models
from lit_seqsal.serving import lit_patches
from lit_seqsal.work import units
from lit_seqsal.work.limits import Limits

ASK_FOR_LESS = (
  "Ask for less: fewer integration steps (ig_steps), a coarser occlusion granularity,"
  " a shorter output or a shorter prompt"
)


def _request_advice(limits: Limits) -> str:
  job = (
    f", which may take up to {limits.job_time_limit_s:g} s (--job_time_limit_s)"
    if limits.job_time_limit_s
    else ""
  )
  return f"{ASK_FOR_LESS}; or run it as a job (POST /seqsal/jobs){job}."


def estimate_seconds(app, path: str, params: dict, body: dict) -> float | None:
  """Estimated compute seconds of a checked request, or None where unknown."""
  model = app.components.models.get(params.get("model"))
  group = lit_models.group_of(model) if model is not None else None
  if group is None:
    return None
  try:
    cost = _cost(app, group, model, path, params, body)
  except errors.ServingError:
    raise  # the request's own fault: the same answer it would get when run
  except Exception:  # noqa: BLE001 (no estimate: the time limit stays the backstop)
    logging.exception("Could not estimate the cost of a %s request", path)
    return None
  return None if cost is None else group.engine.throughput.seconds(cost)


def _cost(app, group, model, path: str, params: dict, body: dict) -> units.Cost | None:
  if path == "/get_preds" and params["model"] == contract.salience_model_name(group.name):
    return group.salience.estimate(lit_patches.model_inputs(app, body, params))
  if path == "/get_interpretations":
    interpreter = app.components.interpreters.get(params.get("interpreter"))
    estimate = getattr(interpreter, "estimate", None)
    if estimate is not None:
      return estimate(lit_patches.model_inputs(app, body, params), model, body.get("config"))
  return None


def judge_request(app, limits: Limits, path: str, params: dict, body: dict) -> None:
  """413 before any model work when the request's estimate is over its time limit."""
  if not limits.request_time_limit_s:
    return
  units.judge(
    estimate_seconds(app, path, params, body),
    limits.request_time_limit_s,
    "request_time_limit_s",
    advice=_request_advice(limits),
  )


def judge_job(app, limits: Limits, path: str, params: dict, body: dict) -> None:
  """413 before a job starts when its estimate is over the job time limit."""
  if not limits.job_time_limit_s:
    return
  with work.running(work.Work(limits)):  # the request budgets apply, as in the job
    estimate_s = estimate_seconds(app, path, params, body)
  units.judge(
    estimate_s,
    limits.job_time_limit_s,
    "job_time_limit_s",
    what="This job",
    advice=ASK_FOR_LESS + ".",
  )
