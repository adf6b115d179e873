"""Progress of long computations: one mechanism for logs, jobs, notebooks and terminals.

Every long computation (a salience map, integrated gradients, occlusion,
generation for many prompts, a batch run over a dataset) counts its units of
work with a `Progress`. It reports to the current request's or job's `Work`
(lit_seqsal/work/context.py: job progress, and the checkpoint where cancelled
or overdue work stops), to an optional callback, and either to the log (at
most every couple of seconds) or, given a `stream`, as one progress line with
rate and ETA (redrawn in place on a terminal). Units may weigh differently
(examples of different lengths): the ETA then weighs what is left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from absl import logging

from lit_seqsal.work import context

# Called with (units done, units in all) after each step.
ProgressCallback = Callable[[int, int], None]

_LOG_EVERY_S = 2.0


def duration(seconds: float) -> str:
  """'1h02m', '3m05s' or '7s'."""
  seconds = int(max(0, seconds))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
  """Counts units of work (masks, integration steps, deletions, prompts, examples).

  Args:
    what: what is being done, for the log.
    total: units in all.
    callback: called with (done, total) after each step.
    stream: draw a progress line there (a terminal: redrawn in place; else a
      line every `log_every_s`) instead of logging.
    unit: what a unit is, in the progress line ("examples").
    total_weight: the units' summed weight (default: one each), for the ETA.
    done_before: units done by an earlier run (resuming), shown, not counted.
  """

  def __init__(
    self,
    what: str,
    total: int,
    callback: ProgressCallback | None = None,
    *,
    stream=None,
    unit: str = "units",
    total_weight: int | None = None,
    done_before: int = 0,
    log_every_s: float | None = None,
    width: int = 24,
  ):
    self.what = what
    self.total = max(total, 0)
    self.done = self.weight = self.errors = 0
    self.total_weight = max(total_weight if total_weight is not None else self.total, 1)
    self.done_before = done_before
    self.unit = unit
    self._callback = callback
    self._stream = stream
    self._tty = stream is not None and hasattr(stream, "isatty") and stream.isatty()
    self._every_s = (
      log_every_s if log_every_s is not None else (_LOG_EVERY_S if stream is None else 10.0)
    )
    self._width = width
    self.start = self._last = time.monotonic()
    context.current().report(0, self.total)
    if stream is not None:
      self._draw(force=True)

  def start_clock(self) -> None:
    """Counts rate and ETA from now (after the models are loaded, say)."""
    self.start = time.monotonic()

  def advance(self, units: int, weight: int | None = None, errors: int = 0) -> None:
    self.done = min(self.total, self.done + units)
    self.weight += units if weight is None else weight
    self.errors += errors
    if self._callback is not None:
      self._callback(self.done, self.total)
    if self._stream is not None:
      self._draw(force=self.done >= self.total)
    else:
      self._log()
    context.current().report(self.done, self.total)

  def line(self) -> str:
    """'[#####...] 3/10 examples 30% | 0.12 examples/s | ETA 1m02s'."""
    elapsed = time.monotonic() - self.start
    rate = self.done / elapsed if elapsed > 0 else 0.0
    fraction = self.done / self.total if self.total else 1.0
    filled = round(fraction * self._width)
    if self.done >= self.total:
      eta = f"in {duration(elapsed)}"
    elif self.weight:
      eta = f"ETA {duration(elapsed * (self.total_weight - self.weight) / self.weight)}"
    else:
      eta = "ETA ?"
    before = f" (+{self.done_before} done before)" if self.done_before else ""
    errors = f", {self.errors} errors" if self.errors else ""
    short = "ex" if self.unit == "examples" else self.unit
    return (
      f"[{'#' * filled}{'.' * (self._width - filled)}] {self.done}/{self.total}"
      f" {self.unit}{before} {100 * fraction:.0f}% | {rate:.2f} {short}/s | {eta}{errors}"
    )

  def _log(self) -> None:
    now = time.monotonic()
    if self.done >= self.total or now - self._last >= self._every_s:
      self._last = now
      logging.info(
        "%s: %d/%d (%.0f%%) in %.1f s",
        self.what,
        self.done,
        self.total,
        100.0 * self.done / max(self.total, 1),
        now - self.start,
      )

  def _draw(self, force: bool = False) -> None:
    now = time.monotonic()
    stream = self._stream or sys.stderr
    if self._tty:
      if force or now - self._last >= 0.2:
        stream.write("\r" + self.line() + ("\n" if self.done >= self.total else ""))
        stream.flush()
        self._last = now
    elif force or now - self._last >= self._every_s:
      stream.write(self.line() + "\n")
      stream.flush()
      self._last = now
