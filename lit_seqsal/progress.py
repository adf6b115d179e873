"""Progress of long computations, for logs, notebooks and job status.

Every long computation (a salience map, integrated gradients, occlusion,
generation for many prompts) counts its units of work with a `Progress`. It
logs at most every couple of seconds, reports to the current request's or
job's `Work` (lit_seqsal/work.py: job progress, and the checkpoint where
cancelled or overdue work stops), and to an optional callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from absl import logging

from lit_seqsal import work

# Called with (units done, units in all) after each batch.
ProgressCallback = Callable[[int, int], None]

_LOG_EVERY_S = 2.0


class Progress:
  """Counts units of work (masks, integration steps, occluded segments, prompts)."""

  def __init__(self, what: str, total: int, callback: ProgressCallback | None = None):
    self.what = what
    self.total = max(total, 0)
    self.done = 0
    self._callback = callback
    self._start = self._last_log = time.monotonic()
    work.current().report(0, self.total)

  def advance(self, units: int) -> None:
    self.done = min(self.total, self.done + units)
    if self._callback is not None:
      self._callback(self.done, self.total)
    now = time.monotonic()
    if self.done >= self.total or now - self._last_log >= _LOG_EVERY_S:
      self._last_log = now
      logging.info("%s: %d/%d (%.0f%%) in %.1f s", self.what, self.done, self.total,
                   100.0 * self.done / max(self.total, 1), now - self._start)
    work.current().report(self.done, self.total)
