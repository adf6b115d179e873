"""Admission control: how many requests and jobs may wait for one model (429 beyond)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from lit_seqsal import errors


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
          " Try again in a few seconds."
        )
      self._inside += 1

  def leave(self) -> None:
    with self._lock:
      self._inside -= 1

  @property
  def inside(self) -> int:
    return self._inside
