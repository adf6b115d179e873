"""Messages to the person running lit-seqsal: a server's start, a notebook, a batch run."""

from __future__ import annotations

from absl import logging


def say(msg: str) -> None:
  """User-facing progress of slow set-up (conversion, extraction, loading).

  Printed as well as logged: a first run that sits silent for a minute looks
  hung, and absl logging is not shown in a notebook by default.
  """
  print(f"[lit_seqsal] {msg}", flush=True)
  logging.info(msg)
