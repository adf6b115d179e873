"""The unit of work a request or a job is, and how it shares a model with others.

Each HTTP request and each job runs inside a `Work` (a context variable, so the
code between the server and the engine needs no extra arguments). It carries
the server's budgets, a priority, a deadline, a cancel flag and progress. The
engine consults it once per model batch (`ModelLock`), which is where work is
stopped (cancelled, expired, over its time limit) and where a light request
gets the model ahead of a heavy job: it waits for at most the batch running
now. `Gate` bounds how many requests and jobs wait for one model.
See docs/architecture.md, "Sharing a model".
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator

from lit_seqsal import errors
from lit_seqsal.limits import LOCAL, Limits

LIGHT, HEAVY = 0, 1  # priorities: lower runs first


class Work:
  """One request or job: budgets, priority, deadline, cancellation and progress."""

  def __init__(self, limits: Limits = LOCAL, *, priority: int = LIGHT,
               time_limit_s: float = 0, time_limit_flag: str = "request_time_limit_s",
               what: str = "This request",
               on_progress: Callable[[int, int], None] | None = None):
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
          f" input){' or run it as a job' if self.priority == LIGHT else ''}.")

  def report(self, done: int, total: int) -> None:
    """Progress of the current computation (units done, units in all)."""
    self.done, self.total = done, total
    if self._on_progress is not None:
      self._on_progress(done, total)
    self.checkpoint()


_CURRENT: contextvars.ContextVar[Work | None] = contextvars.ContextVar(
    "lit_seqsal_work", default=None)


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


class ModelLock:
  """A reentrant lock on one model that hands it over by priority, then in order.

  Held for one model batch at a time. When it is released, the waiting thread
  with the lowest (priority, arrival) gets it: a light request queued behind a
  heavy job's batches waits for the batch in progress only. Waiting and
  acquiring are checkpoints of the current work (cancel, time limit).
  """

  def __init__(self):
    self._cond = threading.Condition(threading.Lock())
    self._owner: int | None = None
    self._depth = 0
    self._queue: list[tuple[int, int, int]] = []  # (priority, ticket, thread id)
    self._tickets = 0

  def __enter__(self):
    self.acquire()
    return self

  def __exit__(self, *exc):
    self.release()

  def acquire(self) -> None:
    me = threading.get_ident()
    work = current()
    with self._cond:
      if self._owner == me:
        self._depth += 1
        return
    work.checkpoint()
    with self._cond:
      self._tickets += 1
      entry = (work.priority, self._tickets, me)
      self._queue.append(entry)
      try:
        while self._owner is not None or min(self._queue) != entry:
          self._cond.wait(timeout=0.5)
          if work.cancelled or (work.time_limit_s and work.elapsed_s > work.time_limit_s):
            raise _StopWaiting()
      except _StopWaiting:
        self._queue.remove(entry)
        self._cond.notify_all()
        work.checkpoint()
        raise
      self._queue.remove(entry)
      self._owner, self._depth = me, 1

  def release(self) -> None:
    with self._cond:
      if self._owner != threading.get_ident():
        raise RuntimeError("ModelLock released by a thread that does not hold it.")
      self._depth -= 1
      if self._depth == 0:
        self._owner = None
        self._cond.notify_all()

  @property
  def waiting(self) -> int:
    return len(self._queue)


class _StopWaiting(Exception):
  pass


class Gate:
  """Admission control for one model: at most `capacity` requests and jobs
  waiting for it or using it; the next one gets errors.Busy (429)."""

  def __init__(self, name: str, capacity: int):
    self.name = name
    self.capacity = capacity
    self._inside = 0
    self._lock = threading.Lock()

  @contextlib.contextmanager
  def admit(self) -> Iterator[None]:
    self.enter()
    try:
      yield
    finally:
      self.leave()

  def enter(self) -> None:
    with self._lock:
      if self.capacity and self._inside >= self.capacity:
        raise errors.Busy(
            f"Model {self.name!r} is busy: {self._inside} requests are waiting for it or"
            f" using it (this server's limit is {self.capacity}, --queue_per_model)."
            " Try again in a few seconds.")
      self._inside += 1

  def leave(self) -> None:
    with self._lock:
      self._inside -= 1

  @property
  def inside(self) -> int:
    return self._inside
