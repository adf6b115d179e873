"""Sharing a model: the priority lock, admission, jobs, time limits, bounded caches."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from lit_seqsal import errors, work
from lit_seqsal.serving import jobs
from lit_seqsal.serving.lit_patches import LruDict
from lit_seqsal.work import limits
from lit_seqsal.work.admission import Gate
from lit_seqsal.work.cache import ByteLRU
from lit_seqsal.work.model_lock import ModelLock


class _Holder:
  """A thread that holds `lock` until told to let go (events, no sleeps)."""

  def __init__(self, lock: ModelLock):
    self.holding, self.let_go = threading.Event(), threading.Event()
    self.thread = threading.Thread(target=self._hold, args=(lock,))
    self.thread.start()
    assert self.holding.wait(10)

  def _hold(self, lock):
    with lock:
      self.holding.set()
      self.let_go.wait(10)

  def release(self):
    self.let_go.set()
    self.thread.join()


def test_light_work_gets_the_model_before_queued_heavy_work():
  lock = ModelLock()
  order = []
  holder = _Holder(lock)

  def take(name, priority):
    with work.running(work.Work(priority=priority)), lock:
      order.append(name)

  threads = []
  for name, priority in (("heavy 1", work.HEAVY), ("heavy 2", work.HEAVY), ("light", work.LIGHT)):
    threads.append(threading.Thread(target=take, args=(name, priority)))
    threads[-1].start()
    assert lock.wait_for_waiters(len(threads), timeout=10)  # queued in this order
  holder.release()
  for t in threads:
    t.join()
  # The light request arrived last but goes first; heavy ones keep their order.
  assert order == ["light", "heavy 1", "heavy 2"]


def test_a_long_unit_yields_to_waiting_light_work_and_resumes():
  """Inside a unit that cannot be cut (a generation), the holder lets waiting
  light work go first, then holds the model again at the same depth."""
  lock = ModelLock()
  order = []

  def light():
    with work.running(work.Work(priority=work.LIGHT)), lock:
      order.append("light")

  def heavy_peer():
    with work.running(work.Work(priority=work.HEAVY)), lock:
      order.append("heavy peer")

  with work.running(work.Work(priority=work.HEAVY)), lock, lock:  # depth 2
    peer = threading.Thread(target=heavy_peer)
    peer.start()
    assert lock.wait_for_waiters(1, timeout=10)
    lock.yield_to_lighter()  # only heavy work waits: the holder keeps the model
    t = threading.Thread(target=light)
    t.start()
    assert lock.wait_for_waiters(2, timeout=10)
    order.append("heavy, token 1")
    lock.yield_to_lighter()
    assert order[-1] == "light" and lock.held  # the light work ran inside the lock
    order.append("heavy, token 2")
  t.join()
  peer.join()
  # The holder came back before the heavy work that waited longer.
  assert order == ["heavy, token 1", "light", "heavy, token 2", "heavy peer"]


def test_lock_is_reentrant_and_owned():
  lock = ModelLock()
  with lock, lock:
    assert lock.waiting == 0
  with pytest.raises(RuntimeError, match="does not hold"):
    lock.release()


def test_cancelled_or_overdue_work_stops_at_the_lock():
  lock = ModelLock()
  holder = _Holder(lock)
  waiting = work.Work(what="This job")
  outcome = {}

  def wait_for_lock():
    try:
      with work.running(waiting), lock:
        outcome["got"] = True
    except errors.Stopped as e:
      outcome["stopped"] = str(e)

  t = threading.Thread(target=wait_for_lock)
  t.start()
  assert lock.wait_for_waiters(1, timeout=10)
  waiting.cancel()
  t.join(timeout=5)
  assert outcome == {"stopped": "This job was cancelled."}
  assert lock.waiting == 0
  holder.release()
  overdue = work.Work(time_limit_s=10)
  overdue.started -= 11  # began 11 s ago
  with work.running(overdue), pytest.raises(errors.Stopped, match="--request_time_limit_s"):
    lock.acquire()


def test_heavy_marks_work_and_restores_it():
  job = work.Work()
  with work.running(job):
    with work.heavy():
      assert work.current().priority == work.HEAVY
    assert work.current().priority == work.LIGHT
  with work.heavy():  # outside any request: a heavy work of its own
    assert work.current().priority == work.HEAVY


def test_gate_admits_up_to_capacity():
  gate = Gate("m", 2)
  gate.enter()
  with gate.admit():
    with pytest.raises(errors.Busy, match="--queue_per_model") as busy:
      gate.enter()
    assert busy.value.headers()["Retry-After"]
  gate.leave()
  assert gate.inside == 0


def test_jobs_report_progress_finish_and_expire():
  manager = jobs.JobManager(limits.LOCAL.replace(job_ttl_s=0.5, result_ttl_s=1, max_jobs=1))
  gate = Gate("m", 4)
  reported, release = threading.Event(), threading.Event()

  def compute():
    work.current().report(1, 4)
    reported.set()
    release.wait(5)
    work.current().report(2, 4)
    return {"answer": 42}

  job = manager.submit(compute, gate, request_id="r1", what="test")
  assert reported.wait(5)
  status = manager.get(job.id).status()
  assert status["state"] == "running" and status["done"] == 1 and status["total"] == 4
  with pytest.raises(errors.Busy, match="--max_jobs"):
    manager.submit(compute, gate)
  release.set()
  assert job.ended.wait(5)
  assert manager.get(job.id).status(with_result=True)["result"] == {"answer": 42}
  assert gate.inside == 0
  manager.reap(now=time.monotonic() + 2)  # past result_ttl_s
  with pytest.raises(errors.NotFound):
    manager.get(job.id)
  # A running job nobody polls is cancelled at its next progress report.
  reported.clear()
  release.clear()
  job = manager.submit(compute, gate)
  assert reported.wait(5)
  manager.reap(now=time.monotonic() + 1)  # past job_ttl_s
  release.set()
  assert job.ended.wait(5)
  status = manager.get(job.id).status()
  assert status["state"] == "cancelled" and "expired" in status["error"]["message"]


def test_byte_lru_bounds_memory_not_just_entries():
  cache = ByteLRU(max_bytes=10_000, max_entries=1000)
  for i in range(20):
    cache.put(("k", i), np.zeros(500, np.float32))  # ~2 KB each
  assert cache.bytes <= 10_000 and 2 <= len(cache) < 20
  assert cache.get(("k", 19)) is not None and cache.get(("k", 0)) is None
  cache.get(("k", 16))  # recently used: kept when more arrive
  cache.put(("k", 20), np.zeros(500, np.float32))
  assert cache.get(("k", 16)) is not None
  cache.put("huge", np.zeros(10_000, np.float32))  # bigger than the cache: not kept
  assert "huge" not in cache and len(cache) > 0
  lit_dict = LruDict(ByteLRU(max_bytes=5_000))
  for i in range(10):
    lit_dict[("m", str(i))] = {"grad_l2": np.zeros(400, np.float32)}
  assert len(lit_dict) < 10 and lit_dict.get(("m", "9")) is not None
  with pytest.raises(KeyError):
    lit_dict[("m", "0")]
