"""The batch command's chunks on a Ray cluster (`--ray`, `--ray_address`).

Each worker is a Ray actor that loads the models once (`run.load_groups`) and
computes chunks with the same function as a local run (`run.compute_chunk`),
so the records are the same; they come back to the driver, which writes them
to the one results file as they arrive (results.py), so a Ray run resumes
exactly like a local one. `--num_workers`, `--cpus_per_worker` and
`--gpus_per_worker` are the actors' count and Ray resources. A worker that
dies (a node lost, a process killed, out of memory) is restarted by Ray
(`max_restarts`), which reloads its model, and its chunks are retried
(`max_task_retries`); if it keeps dying, the run stops and a rerun resumes.

Ray is an optional extra: `pip install 'lit-seqsal[ray]'`.
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from absl import logging

from lit_seqsal.batch import chunk as chunk_lib
from lit_seqsal.batch import config as config_lib
from lit_seqsal.batch import examples as examples_lib
from lit_seqsal.batch import run as run_lib

if TYPE_CHECKING:
  from ray.actor import ActorHandle

INSTALL_HINT = (
  "--ray needs Ray, an optional extra of lit-seqsal: pip install"
  " 'lit-seqsal[ray]' (or, in a source checkout, pip install -e '.[ray]')."
)


@dataclass(frozen=True)
class RayOptions:
  address: str = ""  # "": a local cluster (started here unless this process has one)
  num_workers: int = 1
  cpus_per_worker: float = 1.0
  gpus_per_worker: float = 0.0
  max_restarts: int = 3  # per worker
  in_flight_per_worker: int = 2  # chunks queued at each worker (keeps it busy)


def require_ray():
  try:
    import ray
    import ray.exceptions  # RayError and its kinds, caught around remote calls
  except ImportError as e:
    raise config_lib.BatchError(INSTALL_HINT) from e
  return ray


class Worker:
  """One Ray actor: the models, loaded once, and chunks computed on them."""

  def __init__(self, config: config_lib.BatchConfig):
    self.config = config
    self.groups = chunk_lib.load_groups(config)

  def pid(self) -> int:
    return os.getpid()

  def compute(self, chunk: list[examples_lib.Task]) -> list[dict]:
    return chunk_lib.compute_chunk(self.groups, chunk, self.config)


# The running workers' process ids, in order (for diagnostics and the tests).
worker_pids: list[int] = []


def _package_parent() -> str:
  """The directory holding the lit_seqsal package this driver runs."""
  return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _local_env() -> dict:
  """Workers of a local cluster import the same lit_seqsal as the driver."""
  path = os.pathsep.join(p for p in (_package_parent(), os.environ.get("PYTHONPATH", "")) if p)
  return {"env_vars": {"PYTHONPATH": path}}


def _connect(ray, opts: RayOptions) -> bool:
  """Connects to the cluster; returns whether this call started it (and must stop it)."""
  if ray.is_initialized():
    return False
  import logging as py_logging

  if opts.address:
    ray.init(address=opts.address, logging_level=py_logging.WARNING)
    return True
  need = opts.num_workers * opts.cpus_per_worker
  cpus = max(os.cpu_count() or 1, int(need + 0.999))
  if need > (os.cpu_count() or 1):
    logging.warning(
      "%d workers x %g CPUs oversubscribe this machine's %d CPUs.",
      opts.num_workers,
      opts.cpus_per_worker,
      os.cpu_count() or 1,
    )
  ray.init(
    num_cpus=cpus,
    include_dashboard=False,
    log_to_driver=False,
    object_store_memory=256 << 20,
    logging_level=py_logging.WARNING,
  )
  return True


def _check_resources(ray, opts: RayOptions) -> None:
  available = ray.cluster_resources()
  for what, per_worker in (("CPU", opts.cpus_per_worker), ("GPU", opts.gpus_per_worker)):
    need = per_worker * opts.num_workers
    have = available.get(what, 0)
    if need > have:
      message = (
        f"{opts.num_workers} workers x {per_worker:g} {what}s need {need:g} {what}s;"
        f" the Ray cluster has {have:g}."
      )
      if not opts.address:
        raise config_lib.BatchError(message + " Lower --num_workers or the per-worker resources.")
      logging.warning("%s Workers wait until the cluster grows.", message)


def _cause(error: BaseException) -> BaseException:
  """The exception a Ray task raised (Ray wraps it)."""
  cause = getattr(error, "cause", None)
  return cause if isinstance(cause, BaseException) else error


def executor(opts: RayOptions | dict) -> run_lib.Executor:
  """A run_lib.run executor on Ray; checks first that Ray is installed (else says how)."""
  require_ray()
  opts = opts if isinstance(opts, RayOptions) else RayOptions(**opts)
  return lambda config, chunks, write, on_ready: run_on_ray(
    config, chunks, write, opts, on_ready=on_ready
  )


def run_on_ray(
  config: config_lib.BatchConfig,
  chunks: Sequence[list[examples_lib.Task]],
  write: Callable[[list[dict]], None],
  opts: RayOptions,
  on_ready: Callable[[], None] | None = None,
) -> None:
  """Computes the chunks on Ray workers and writes each chunk's records as it comes."""
  if not chunks:
    return
  ray = require_ray()
  if opts.num_workers < 1:
    raise config_lib.BatchError(f"--num_workers must be at least 1, got {opts.num_workers}.")
  started = _connect(ray, opts)
  workers = []
  try:
    _check_resources(ray, opts)
    actor = ray.remote(Worker).options(
      num_cpus=opts.cpus_per_worker,
      num_gpus=opts.gpus_per_worker,
      max_restarts=opts.max_restarts,
      max_task_retries=-1,
      **({} if opts.address else {"runtime_env": _local_env()}),
    )
    workers = [actor.remote(config) for _ in range(min(opts.num_workers, len(chunks)))]
    try:  # waits for every worker to load its models: a bad path fails here, once
      worker_pids[:] = ray.get([w.pid.remote() for w in workers])
    except ray.exceptions.RayError as e:
      raise config_lib.BatchError(f"A Ray worker could not start: {_cause(e)}") from e
    logging.info("%d Ray workers ready (pids %s)", len(workers), worker_pids)
    if on_ready is not None:
      on_ready()

    todo = collections.deque(chunks)
    in_flight: dict = {}

    def submit(w: int) -> None:
      if todo:
        chunk = todo.popleft()
        in_flight[workers[w].compute.remote(chunk)] = (w, chunk)

    for _ in range(opts.in_flight_per_worker):
      for w in range(len(workers)):
        submit(w)
    while in_flight:
      ready, _ = ray.wait(list(in_flight), num_returns=1)
      w, _chunk = in_flight.pop(ready[0])
      try:
        records = ray.get(ready[0])
      except ray.exceptions.RayTaskError as e:
        cause = _cause(e)
        if isinstance(cause, config_lib.BatchError):
          raise config_lib.BatchError(str(cause)) from None
        raise
      except ray.exceptions.RayActorError as e:
        raise config_lib.BatchError(
          f"Ray worker {w} died more than {opts.max_restarts} times ({e}); rerun the same"
          " command to resume."
        ) from e
      write(records)
      submit(w)
  finally:
    for w in workers:
      # A worker that is already gone is fine: we are shutting down.
      with contextlib.suppress(Exception):
        # ray types .remote() as `ActorHandle | type[Worker]` so that the actor's
        # methods type-check; what it returns is always an ActorHandle.
        ray.kill(cast("ActorHandle", w))
    worker_pids.clear()
    if started:
      ray.shutdown()
