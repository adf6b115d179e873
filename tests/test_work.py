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


def _hold(lock: ModelLock, seconds: float, started: threading.Event):
  with lock:
    started.set()
    time.sleep(seconds)


def test_light_work_gets_the_model_before_queued_heavy_work():
  lock = ModelLock()
  order, started = [], threading.Event()
  holder = threading.Thread(target=_hold, args=(lock, 0.3, started))
  holder.start()
  started.wait()

  def take(name, priority, delay):
    time.sleep(delay)
    with work.running(work.Work(priority=priority)), lock:
      order.append(name)

  threads = [
    threading.Thread(target=take, args=("heavy 1", work.HEAVY, 0.0)),
    threading.Thread(target=take, args=("heavy 2", work.HEAVY, 0.05)),
    threading.Thread(target=take, args=("light", work.LIGHT, 0.1)),
  ]
  for t in threads:
    t.start()
  for t in threads + [holder]:
    t.join()
  # The light request arrived last but goes first; heavy ones keep their order.
  assert order == ["light", "heavy 1", "heavy 2"]


def test_lock_is_reentrant_and_owned():
  lock = ModelLock()
  with lock, lock:
    assert lock.waiting == 0
  with pytest.raises(RuntimeError, match="does not hold"):
    lock.release()


def test_cancelled_or_overdue_work_stops_at_the_lock():
  lock = ModelLock()
  started = threading.Event()
  holder = threading.Thread(target=_hold, args=(lock, 1.0, started))
  holder.start()
  started.wait()
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
  time.sleep(0.1)
  waiting.cancel()
  t.join(timeout=2)
  assert outcome == {"stopped": "This job was cancelled."}
  assert lock.waiting == 0
  holder.join()
  overdue = work.Work(time_limit_s=0.01)
  time.sleep(0.02)
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
  release = threading.Event()

  def compute():
    work.current().report(1, 4)
    release.wait(5)
    work.current().report(2, 4)
    return {"answer": 42}

  job = manager.submit(compute, gate, request_id="r1", what="test")
  time.sleep(0.1)
  status = manager.get(job.id).status()
  assert status["state"] == "running" and status["done"] == 1 and status["total"] == 4
  with pytest.raises(errors.Busy, match="--max_jobs"):
    manager.submit(compute, gate)
  release.set()
  time.sleep(0.2)
  assert manager.get(job.id).status(with_result=True)["result"] == {"answer": 42}
  assert gate.inside == 0
  manager.reap(now=time.monotonic() + 2)  # past result_ttl_s
  with pytest.raises(errors.NotFound):
    manager.get(job.id)
  # A running job nobody polls is cancelled at its next progress report.
  release.clear()
  job = manager.submit(compute, gate)
  time.sleep(0.1)
  manager.reap(now=time.monotonic() + 1)  # past job_ttl_s
  release.set()
  time.sleep(0.2)
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
