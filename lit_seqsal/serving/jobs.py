"""Long work as jobs: start, poll progress, fetch the result, cancel.

Integrated gradients, occlusion, a salience map or a long generation can take
minutes on a CPU, longer than HTTP timeouts and proxies allow. A job runs
such a request in its own thread, inside a heavy `Work` (lit_seqsal/work/),
so light requests for the same model go first between its batches. Clients
poll `GET /seqsal/jobs/<id>` (lit_seqsal/serving/jobs_api.py) for progress and the
result; a job nobody polls for `job_ttl_s` is cancelled (its client went
away), and a finished job is forgotten after `result_ttl_s`. Jobs live in the
memory of the process that runs them (see docs/hosting.md, "Deployment", for
several workers).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from absl import logging

from lit_seqsal import errors, work
from lit_seqsal.work.admission import Gate
from lit_seqsal.work.limits import Limits

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
_FINISHED = (DONE, FAILED, CANCELLED)


class Job:
  """One job: its work (progress, cancel flag) and, once finished, its outcome."""

  def __init__(self, job_id: str, what: str, job_work: work.Work, request_id: str):
    self.id = job_id
    self.what = what
    self.work = job_work
    self.request_id = request_id
    self.state = QUEUED
    self.created = self.last_seen = time.monotonic()
    self.started: float | None = None
    self.finished: float | None = None
    self.result: object = None  # what the job's compute() returned
    self.error: dict | None = None
    self.ended = threading.Event()  # set once the job is done, failed or cancelled

  def status(self, with_result: bool = False) -> dict:
    now = time.monotonic()
    done, total = self.work.done, self.work.total
    # done and total are two fields another thread sets: keep the fraction in [0, 1].
    fraction = min(done / total, 1.0) if total else (1.0 if self.state == DONE else 0.0)
    elapsed = ((self.finished or now) - self.started) if self.started else 0.0
    remaining = None
    if self.state == RUNNING and 0 < fraction < 1:
      remaining = elapsed / fraction * (1 - fraction)
    out = {
      "id": self.id,
      "state": self.state,
      "what": self.what,
      "done": done,
      "total": total,
      "fraction": round(fraction, 4),
      "elapsed_s": round(elapsed, 2),
      "remaining_s": None if remaining is None else round(remaining, 1),
    }
    if self.error is not None:
      out["error"] = self.error
    if with_result and self.state == DONE:
      out["result"] = self.result
    return out


class JobManager:
  """Jobs of one server process, bounded by the limits' max_jobs and time limits."""

  def __init__(self, limits: Limits):
    self.limits = limits
    self._jobs: dict[str, Job] = {}
    self._lock = threading.Lock()
    self._reaper: threading.Thread | None = None

  def submit(
    self, compute: Callable[[], object], gate: Gate, *, request_id: str = "", what: str = "job"
  ) -> Job:
    """Starts `compute()` in a thread; 429 when max_jobs are queued or running, or
    the model's gate is full."""
    with self._lock:
      active = sum(j.state not in _FINISHED for j in self._jobs.values())
      if self.limits.max_jobs and active >= self.limits.max_jobs:
        raise errors.Busy(
          f"{active} jobs are running or queued, this server's limit"
          f" (--max_jobs). Try again when one has finished.",
          retry_after_s=10,
        )
      gate.enter()  # held until the job finishes; 429 if the model's queue is full
      job_work = work.Work(
        self.limits,
        priority=work.HEAVY,
        what="This job",
        time_limit_s=self.limits.job_time_limit_s,
        time_limit_flag="job_time_limit_s",
      )
      job = Job(uuid.uuid4().hex, what, job_work, request_id)
      self._jobs[job.id] = job
    threading.Thread(
      target=self._run, args=(job, compute, gate), daemon=True, name=f"lit-seqsal-job-{job.id[:8]}"
    ).start()
    self._ensure_reaper()
    return job

  def _run(self, job: Job, compute: Callable[[], object], gate: Gate) -> None:
    try:
      with work.running(job.work):
        job.state, job.started = RUNNING, time.monotonic()
        job.work.checkpoint()
        job.result = compute()
      job.state = DONE
    except errors.Stopped as e:
      job.state = CANCELLED
      job.error = errors.describe(e, job.request_id)["error"]
    except errors.ServingError as e:
      job.state = FAILED
      job.error = errors.describe(e, job.request_id)["error"]
    except Exception:  # noqa: BLE001 (a fault: logged with its traceback, reported as one)
      logging.exception("job %s (request %s) failed", job.id, job.request_id)
      job.state = FAILED
      job.error = errors.describe(
        errors.ServingError(
          f"Internal error in this job (request id {job.request_id}); the server log has the"
          " details."
        ),
        job.request_id,
      )["error"]
    finally:
      job.finished = time.monotonic()
      gate.leave()
      job.ended.set()
      logging.info(
        "job %s (request %s): %s in %.1f s",
        job.id,
        job.request_id,
        job.state,
        job.finished - (job.started or job.created),
      )

  def get(self, job_id: str) -> Job:
    with self._lock:
      job = self._jobs.get(job_id)
    if job is None:
      raise errors.NotFound(
        f"No job {job_id!r} on this server: it finished more than --result_ttl_s ago,"
        " was never started here, or runs on another server process."
      )
    job.last_seen = time.monotonic()
    return job

  def cancel(self, job_id: str, reason: str = "cancelled") -> Job:
    job = self.get(job_id)
    if job.state not in _FINISHED:
      job.work.cancel(reason)
    return job

  def _ensure_reaper(self) -> None:
    with self._lock:
      if self._reaper is None or not self._reaper.is_alive():
        self._reaper = threading.Thread(
          target=self._reap_forever, daemon=True, name="lit-seqsal-job-reaper"
        )
        self._reaper.start()

  def _reap_forever(self) -> None:
    while True:
      time.sleep(1.0)
      self.reap()

  def reap(self, now: float | None = None) -> None:
    """Cancels running jobs nobody polls; forgets finished ones after result_ttl_s."""
    now = time.monotonic() if now is None else now
    with self._lock:
      for job in list(self._jobs.values()):
        if job.state in _FINISHED:
          # finished is set just after the state (the job's thread may be between them).
          if job.finished is not None and now - job.finished > self.limits.result_ttl_s:
            del self._jobs[job.id]
        elif self.limits.job_ttl_s and now - job.last_seen > self.limits.job_ttl_s:
          job.work.cancel(
            f"expired: nobody asked for it for {self.limits.job_ttl_s:g} s (--job_ttl_s)"
          )
