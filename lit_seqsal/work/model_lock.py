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
    self._wait_turn(me, work.priority, work)

  def _wait_turn(self, me: int, priority: int, work=None, *, first: bool = False) -> None:
    """Queues and takes the lock in turn (`first`: before others of its
    priority); with `work`, stops (errors.Stopped) when it is cancelled or over
    its time while waiting."""
    with self._cond:
      self._tickets += 1
      entry = (priority, 0 if first else self._tickets, me)
      self._queue.append(entry)
      self._cond.notify_all()  # for wait_for_waiters
      try:
        while self._owner is not None or min(self._queue) != entry:
          self._cond.wait(timeout=0.5)
          if work is not None and (
            work.cancelled or (work.time_limit_s and work.elapsed_s > work.time_limit_s)
          ):
            raise _StopWaiting()
      except _StopWaiting:
        self._queue.remove(entry)
        self._cond.notify_all()
        assert work is not None  # only work stops waiting
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

  def yield_to_lighter(self) -> None:
    """Inside a long unit that cannot be cut (a generation), by the thread that
    holds the lock: if work of a higher priority waits, lets it have the model
    first, then takes it back (at the same depth), and checks the current work
    (errors.Stopped when cancelled or over its time, still holding the lock, so
    the holder's `with` releases it as usual)."""
    me = threading.get_ident()
    work = current()
    with self._cond:
      if self._owner != me or not self._queue or min(self._queue)[0] >= work.priority:
        return
      depth, self._owner, self._depth = self._depth, None, 0
      self._cond.notify_all()
    self._wait_turn(me, work.priority, first=True)  # back before others of its priority
    with self._cond:
      self._depth = depth
    work.checkpoint()

  def wait_for_waiters(self, count: int = 1, timeout: float | None = None) -> bool:
    """Blocks until at least `count` threads wait for the lock (or `timeout`);
    whether they do. For tests and tools that order threads by events."""
    with self._cond:
      return self._cond.wait_for(lambda: len(self._queue) >= count, timeout)

  @property
  def waiting(self) -> int:
    return len(self._queue)

  @property
  def held(self) -> bool:
    return self._owner is not None


class _StopWaiting(Exception):
  pass
