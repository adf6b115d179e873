"""A least-recently-used cache bounded by bytes as well as by entries.

Salience results are arrays whose size grows with the input (a 4,000-token
input's scores are 16 KB per method and mask), so an entry count alone does not
bound memory on a server that many visitors use.
"""

from __future__ import annotations

import collections
import sys
import threading
from collections.abc import Hashable

import numpy as np


def size_of(value) -> int:
  """Approximate bytes held by a cached value (arrays, strings, lists, dicts of them)."""
  if isinstance(value, np.ndarray):
    return value.nbytes + 112
  if isinstance(value, (list, tuple)):
    return sys.getsizeof(value) + sum(size_of(v) for v in value)
  if isinstance(value, dict):
    return sys.getsizeof(value) + sum(size_of(k) + size_of(v) for k, v in value.items())
  return sys.getsizeof(value)


class ByteLRU:
  """Thread-safe LRU mapping with `max_bytes` and `max_entries` limits."""

  def __init__(self, max_bytes: int = 256 << 20, max_entries: int = 100_000):
    self.max_bytes = max_bytes
    self.max_entries = max_entries
    self.bound_by_server = False  # a server set max_bytes from its --cache_mb
    self._items: collections.OrderedDict = collections.OrderedDict()
    self._bytes = 0
    self._lock = threading.Lock()

  def __len__(self) -> int:
    return len(self._items)

  def __contains__(self, key: Hashable) -> bool:
    with self._lock:
      return key in self._items

  @property
  def bytes(self) -> int:
    return self._bytes

  def stats(self) -> tuple[int, int]:
    """(bytes, entries), read together (another thread may be between the two)."""
    with self._lock:
      return self._bytes, len(self._items)

  def get(self, key: Hashable, default=None):
    with self._lock:
      if key not in self._items:
        return default
      self._items.move_to_end(key)
      return self._items[key][0]

  def put(self, key: Hashable, value) -> None:
    size = size_of(value) + size_of(key)
    with self._lock:
      if key in self._items:
        self._bytes -= self._items.pop(key)[1]
      if size > self.max_bytes:
        return  # larger than the whole cache: not worth evicting everything for
      self._items[key] = (value, size)
      self._bytes += size
      while self._bytes > self.max_bytes or len(self._items) > self.max_entries:
        _, (_, evicted) = self._items.popitem(last=False)
        self._bytes -= evicted

  def clear(self) -> None:
    with self._lock:
      self._items.clear()
      self._bytes = 0
