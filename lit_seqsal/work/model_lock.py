"""The lock on one loaded model, handed over by priority, then in order of arrival.

Held for one model batch at a time. When it is released, the waiting thread
with the lowest (priority, arrival) gets it: a light request queued behind
heavy work waits for the unit in progress only. Waiting and acquiring are
checkpoints of the current `Work` (cancel, time limit).
See docs/architecture.md, "Sharing a model".
"""

from __future__ import annotations

import threading

from lit_seqsal.work.context import current


class ModelLock:
  """A reentrant lock on one model (see the module docstring)."""

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
