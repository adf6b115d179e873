"""Everything that reaches into LIT's private internals, in one place.

LIT 1.3's `LitApp` keeps its components in private attributes and its caching
wrapper keys predictions by example id. We read the components (`components`),
run LIT's own endpoint functions for jobs (`run_endpoint`), read a request's
examples as LIT's handlers will (`model_inputs`), and change LIT's prediction
cache in three ways (`bound_caches`): bounded in bytes, keyed by content for
examples without an `_id`, and safe for requests on several threads (its
table of per-example prediction locks). When LIT changes, this is the file to
look at (tests/test_server.py, tests/test_work.py and tests/test_concurrency.py
cover each of them).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Mapping

from lit_nlp import app as lit_app
from lit_nlp.api import dataset as lit_dataset
from lit_nlp.api import types as lit_types
from lit_nlp.lib import caching

from lit_seqsal.models import lit_models
from lit_seqsal.work.cache import ByteLRU
from lit_seqsal.work.limits import Limits


@dataclasses.dataclass(frozen=True)
class Components:
  """What a LitApp serves, by name. The mappings are LIT's own (it adds to them
  in place when a model or dataset is loaded at run time)."""

  models: dict
  datasets: dict
  dataset_loaders: dict
  model_loaders: dict
  interpreters: dict
  generators: Mapping
  metrics: Mapping
  saved_datapoints: dict


def components(app: lit_app.LitApp) -> Components:
  return Components(
    models=app._models,
    datasets=app._datasets,
    dataset_loaders=app._dataset_loaders,
    model_loaders=app._model_loaders,
    interpreters=app._interpreters,
    generators=app._generators,
    metrics=app._metrics,
    saved_datapoints=app._saved_datapoints,
  )


def run_endpoint(app: lit_app.LitApp, path: str, body: dict, params: dict):
  """LIT's own /get_preds or /get_interpretations on a parsed body (for jobs),
  example ids looked up in the named dataset as LIT's handler does."""
  run = {"/get_preds": app._get_preds, "/get_interpretations": app._get_interpretations}[path]
  if params.get("dataset_name"):
    body = dict(body, inputs=app._reconstitute_inputs(body["inputs"], params["dataset_name"]))
  return run(body, **params)


def model_inputs(app: lit_app.LitApp, body: dict, params: dict) -> list:
  """The examples LIT's /get_preds or /get_interpretations hands the model: each
  input's `data`, example ids looked up in the named dataset."""
  inputs = body.get("inputs") or []
  if params.get("dataset_name"):
    inputs = app._reconstitute_inputs(inputs, params["dataset_name"])
  return [ex["data"] for ex in inputs]


def bound_caches(app: lit_app.LitApp, limits: Limits) -> None:
  """Byte limits for our salience caches and LIT's per-model prediction caches,
  content keys in LIT's for examples without `_id`, and thread-safe prediction
  locks (thread_safe_pred_locks). Idempotent: called again after a model is
  loaded at run time."""
  for wrapper in app._models.values():
    group = lit_models.group_of(wrapper)
    if group is not None and not getattr(group.salience.cache, "bound_by_server", False):
      group.salience.cache.max_bytes = limits.cache_mb << 20
      group.salience.cache.bound_by_server = True
    preds_cache = getattr(wrapper, "_cache", None)  # LIT's CachingModelWrapper
    if preds_cache is not None and not isinstance(getattr(preds_cache, "_d", None), LruDict):
      preds_cache._d = LruDict(ByteLRU(limits.lit_cache_mb << 20))
      wrapper.key_fn = content_key_fn(wrapper)
      thread_safe_pred_locks(preds_cache)


def thread_safe_pred_locks(preds_cache) -> None:
  """LIT's PredsCache keeps a table of prediction locks (one per set of examples
  being predicted) that its wrapper reads and changes from every request's
  thread without a lock: `pred_lock_key` iterates over the table while another
  thread adds to it ("dictionary changed size during iteration") and two
  threads may delete the same entry (KeyError), both a 500. Each of the three
  methods that touch the table runs under one lock here."""
  if getattr(preds_cache, "_seqsal_locked", False):
    return
  table_lock = threading.RLock()
  for name in ("pred_lock_key", "get_pred_lock", "delete_pred_lock"):
    method = getattr(preds_cache, name)

    @functools.wraps(method)
    def locked(*args, _method=method, **kwargs):
      with table_lock:
        return _method(*args, **kwargs)

    setattr(preds_cache, name, locked)
  preds_cache._seqsal_locked = True


def content_key_fn(wrapper) -> Callable[..., caching.CacheKey]:
  """LIT's cache key for an example, with its content hash where it has no `_id`.

  LIT's caching wrapper keys examples by `_id` and gives every example without
  one (what our client and API users send) the same key, None, and with it
  one shared lock around the whole predict call: a short salience request then
  waited for a running integrated-gradients job to finish. Keyed by content,
  different examples run side by side (the model lock still takes turns per
  unit of work) and repeats are cached.
  """
  name = wrapper._name

  def key_fn(example: lit_types.JsonDict) -> caching.CacheKey:
    return (name, example.get("_id") or lit_dataset.input_hash(example))

  return key_fn


class LruDict(dict):
  """The mapping inside LIT's prediction cache (PredsCache._d), bounded in bytes."""

  def __init__(self, lru: ByteLRU):
    super().__init__()
    self._lru = lru

  def __setitem__(self, key, value):
    self._lru.put(key, value)

  def __getitem__(self, key):
    value = self._lru.get(key, _MISSING)
    if value is _MISSING:
      raise KeyError(key)
    return value

  def get(self, key, default=None):
    return self._lru.get(key, default)

  def __contains__(self, key):
    return key in self._lru

  def __len__(self):
    return len(self._lru)

  def __iter__(self):
    return iter(())  # not persisted: LIT saves its cache only with a data_dir

  def clear(self):
    self._lru.clear()


_MISSING = object()
