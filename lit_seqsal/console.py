"""Messages to the person running lit-seqsal: a server's start, a notebook, a batch run."""

from __future__ import annotations

import logging as python_logging

from absl import logging


def _logging_shows_info() -> bool:
  """Whether absl's log handler is installed and shows INFO lines (a server or a
  command started with absl's app.run); not in a notebook or a plain script."""
  return logging.get_absl_handler() in python_logging.root.handlers and logging.level_info()


def say(msg: str) -> None:
  """User-facing progress of slow set-up (conversion, extraction, loading).

  Logged where the log is shown (a server, the batch command), else printed: a
  first run that sits silent for a minute looks hung, and absl logging is not
  shown in a notebook by default. Once either way.
  """
  if _logging_shows_info():
    logging.info(msg)
  else:
    print(f"[lit_seqsal] {msg}", flush=True)
