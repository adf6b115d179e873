"""The unit of work a request, a job or a batch run is: `Work`, in a context variable.

Each HTTP request and each job runs inside a `Work` (a context variable, so the
code between the server and the engine needs no extra arguments). It carries
the server's budgets, a priority, a deadline, a cancel flag and progress. The
engine consults it once per model batch (lit_seqsal/work/model_lock.py), which
is where work is stopped (cancelled, expired, over its time limit) and where a
light request gets the model ahead of heavy work.
See docs/architecture.md, "Sharing a model".
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator

from lit_seqsal import errors
from lit_seqsal.work.limits import LOCAL, Limits

LIGHT, HEAVY = 0, 1  # priorities: lower runs first


class Work:
  """One request or job: budgets, priority, deadline, cancellation and progress."""

  def __init__(
    self,
    limits: Limits = LOCAL,
    *,
    priority: int = LIGHT,
    time_limit_s: float = 0,
    time_limit_flag: str = "request_time_limit_s",
    what: str = "This request",
    on_progress: Callable[[int, int], None] | None = None,
  ):
    self.limits = limits
    self.priority = priority
    self.what = what
    self.started = time.monotonic()
    self.time_limit_s = time_limit_s
    self.time_limit_flag = time_limit_flag
    self.cancel_reason = ""
    self._cancelled = threading.Event()
    self.done = 0
    self.total = 0
    self._on_progress = on_progress

  def cancel(self, reason: str = "cancelled") -> None:
    self.cancel_reason = reason
    self._cancelled.set()

  @property
  def cancelled(self) -> bool:
    return self._cancelled.is_set()

  @property
  def elapsed_s(self) -> float:
    return time.monotonic() - self.started

  def checkpoint(self) -> None:
    """Raises errors.Stopped if this work was cancelled or is over its time."""
    if self.cancelled:
      raise errors.Stopped(f"{self.what} was {self.cancel_reason}.")
    if self.time_limit_s and self.elapsed_s > self.time_limit_s:
      raise errors.Stopped(
        f"{self.what} needed more than this server's compute limit of"
        f" {self.time_limit_s:g} s (--{self.time_limit_flag}) and was stopped. Ask for"
        " less (fewer integration steps, a coarser occlusion granularity, a shorter"
        f" input){' or run it as a job' if self.priority == LIGHT else ''}."
      )

  def report(self, done: int, total: int) -> None:
    """Progress of the current computation (units done, units in all)."""
    self.done, self.total = done, total
    if self._on_progress is not None:
      self._on_progress(done, total)
    self.checkpoint()


_CURRENT: contextvars.ContextVar[Work | None] = contextvars.ContextVar(
  "lit_seqsal_work", default=None
)


def current() -> Work:
  """The work running in this context; outside any (a notebook, a script), a
  fresh light one with the local limits."""
  return _CURRENT.get() or Work()


@contextlib.contextmanager
def running(work: Work) -> Iterator[Work]:
  token = _CURRENT.set(work)
  try:
    yield work
  finally:
    _CURRENT.reset(token)


@contextlib.contextmanager
def heavy() -> Iterator[None]:
  """Marks what runs inside as heavy (costly methods, generation): light work
  waiting for the model goes first."""
  work = _CURRENT.get()
  if work is None:
    with running(Work(priority=HEAVY)):
      yield
    return
  before = work.priority
  work.priority = HEAVY
  try:
    yield
  finally:
    work.priority = before
