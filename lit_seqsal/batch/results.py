"""The results file: one JSON object per line, one line per example (or per error).

Lines are only ever appended whole: each batch's lines are written with one
`write` of complete lines (signals held back meanwhile) and flushed to disk, so
an interrupted run leaves every finished line intact. A run killed in the
middle of a write (power loss, SIGKILL) can at worst leave a last line without
its newline; `open_for_append` cuts it off before anything else is written, so
the file never keeps a corrupt line and the next run recomputes that example.
Readers (`read_records`) skip such a trailing fragment too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator

from absl import logging


class ResultsFileError(ValueError):
  """A results file that cannot be read; the message names the file and line."""


def record_key(record: dict) -> tuple[str, str]:
  """What identifies a record: (model, example id)."""
  return record.get("model", ""), record["id"]


def complete_length(path: str) -> int:
  """Bytes of `path` up to and including its last newline."""
  size = os.path.getsize(path)
  if size == 0:
    return 0
  with open(path, "rb") as f:
    pos, chunk = size, 1 << 16
    while pos > 0:
      start = max(0, pos - chunk)
      f.seek(start)
      data = f.read(pos - start)
      newline = data.rfind(b"\n")
      if newline >= 0:
        return start + newline + 1
      pos = start
  return 0


def iter_lines(path: str) -> Iterator[tuple[int, dict]]:
  """(line number, record) of every complete line, read one at a time; a trailing
  fragment (a write cut short) is skipped."""
  if not os.path.exists(path):
    return
  complete = complete_length(path)
  with open(path, "rb") as f:
    pos = 0
    for lineno, line in enumerate(f, start=1):
      pos += len(line)
      if pos > complete:
        break
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultsFileError(f"{path}, line {lineno}: not a valid JSON line ({e}).") from e
      if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        raise ResultsFileError(f"{path}, line {lineno}: not a results record (no 'id').")
      yield lineno, record


def latest_lines(path: str) -> dict[tuple[str, str], int]:
  """The line number of the last record of each (model, id)."""
  return {record_key(r): lineno for lineno, r in iter_lines(path)}


def iter_records(path: str) -> Iterator[dict]:
  """The records of a results file, the last one of each (model, id), in file order,
  one at a time (a file of many thousand examples need not fit in memory)."""
  keep = set(latest_lines(path).values())
  for lineno, record in iter_lines(path):
    if lineno in keep:
      yield record


def read_records(path: str) -> list[dict]:
  """All records of a results file (see iter_records)."""
  return list(iter_records(path))


def records_by_key(path: str, keys) -> dict[tuple[str, str], dict]:
  """The records of the given (model, id) keys."""
  keys = set(keys)
  return {record_key(r): r for r in iter_records(path) if record_key(r) in keys}


def dumps(record: dict) -> str:
  """One line of the file: compact JSON (floats written exactly), no newline inside."""
  return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
  """Delays SIGINT/SIGTERM (Ctrl-C, kill) until the block ends, in the main thread."""
  if threading.current_thread() is not threading.main_thread() or not hasattr(
    signal, "pthread_sigmask"
  ):
    yield
    return
  held = {signal.SIGINT, signal.SIGTERM}
  old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
  try:
    yield
  finally:
    signal.pthread_sigmask(signal.SIG_SETMASK, old)


class ResultsWriter:
  """Appends records to a results file, whole lines at a time."""

  def __init__(self, path: str):
    self.path = path
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    dropped = repair(path)
    if dropped:
      logging.warning(
        "%s: dropped an incomplete last line (%d bytes) left by an interrupted"
        " run; that example is computed again.",
        path,
        dropped,
      )
    self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

  def write(self, records: Iterable[dict]) -> None:
    data = "".join(dumps(r) + "\n" for r in records).encode("utf-8")
    if not data:
      return
    with _signals_held():
      view = memoryview(data)
      while view:
        written = os.write(self._fd, view)
        view = view[written:]
      os.fsync(self._fd)

  def close(self) -> None:
    if self._fd >= 0:
      os.close(self._fd)
      self._fd = -1

  def __enter__(self) -> ResultsWriter:
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def repair(path: str) -> int:
  """Cuts off an incomplete last line; returns the bytes dropped."""
  if not os.path.exists(path):
    return 0
  size = os.path.getsize(path)
  complete = complete_length(path)
  if complete < size:
    with open(path, "r+b") as f:
      f.truncate(complete)
  return size - complete


def rewrite(path: str, records: Iterable[dict]) -> None:
  """Replaces the file with `records`, atomically (a temporary file renamed over it)."""
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(prefix=".results-", suffix=".jsonl.tmp", dir=directory)
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      for record in records:
        f.write(dumps(record) + "\n")
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    raise
