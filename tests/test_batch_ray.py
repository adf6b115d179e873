"""The batch command on a local Ray cluster started here (2 CPUs, 2 workers): the same
records as a local run, and no example lost when a worker is killed mid-run."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path

import pytest
import torch

from lit_seqsal.batch import config as config_lib
from lit_seqsal.batch import ray_run
from lit_seqsal.batch import results as results_lib
from lit_seqsal.batch import run as run_lib
from lit_seqsal.models import lit_models
from tests.batch_data import OPTIONS, template_examples, write_jsonl
from tests.helpers import REPO

pytestmark = [pytest.mark.slow]

RAY_OPTIONS = {"num_workers": 2, "cpus_per_worker": 1}
# Integrated gradients makes each chunk slow enough for a worker to die mid-chunk.
SETTINGS = dict(
  span="^Recommendation:",
  regions=("blocks:^Suggestion:",),
  methods=("grad_l2", "grad_dot_input", "integrated_gradients"),
  settings=(("ig_steps", 8),),
)


@pytest.fixture(scope="module")
def local_ray():
  import ray  # in the test extra, `.[test]`

  ray.init(
    num_cpus=2,
    include_dashboard=False,
    log_to_driver=False,
    object_store_memory=128 << 20,
    runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
  )
  yield ray
  ray.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
  return write_jsonl(tmp_path_factory.mktemp("ray_data") / "menu.jsonl", template_examples(9) * 2)


@pytest.fixture(scope="module")
def local_records(tiny_group, tiny_model_dir, data, tmp_path_factory):
  config = config_lib.BatchConfig(
    models=(f"tiny:{tiny_model_dir}",),
    datasets=(f"menu:{data}",),
    out=str(tmp_path_factory.mktemp("local") / "r.jsonl"),
    options=OPTIONS,
    **SETTINGS,
  )
  groups = {"tiny": lit_models.group_of(tiny_group["tiny"])}
  # Each worker has 1 CPU, so Ray runs it with one thread; float32 sums come out the
  # same to the last bit only with the same number of threads (they differ by ~1e-7
  # of the largest score otherwise), so the local reference runs on one thread too.
  threads = torch.get_num_threads()
  torch.set_num_threads(1)
  try:
    run_lib.run(config, groups=groups, stream=io.StringIO())
  finally:
    torch.set_num_threads(threads)
  return by_key(results_lib.read_records(config.out))


def by_key(records):
  return {(r["model"], r["id"]): r for r in records}


def ray_config(tiny_model_dir, data, out) -> config_lib.BatchConfig:
  return config_lib.BatchConfig(
    models=(f"tiny:{tiny_model_dir}",),
    datasets=(f"menu:{data}",),
    out=str(out),
    options=OPTIONS,
    **SETTINGS,
  )


def test_ray_gives_the_same_records_as_a_local_run(
  local_ray, local_records, tiny_model_dir, data, tmp_path
):
  config = ray_config(tiny_model_dir, data, tmp_path / "ray.jsonl")
  result = run_lib.run(config, executor=ray_run.executor(RAY_OPTIONS), stream=io.StringIO())
  assert result.computed == 18 and not result.errors
  lines = Path(config.out).read_text().splitlines()
  assert len(lines) == 18
  assert by_key(json.loads(line) for line in lines) == local_records  # order aside
  assert not ray_run.worker_pids  # the workers are gone


def test_a_worker_killed_mid_run_loses_no_example(
  local_ray, local_records, tiny_model_dir, data, tmp_path
):
  config = ray_config(tiny_model_dir, data, tmp_path / "killed.jsonl")
  killed = []

  def kill_a_worker(records):
    if not killed:
      killed.append(ray_run.worker_pids[0])
      os.kill(killed[0], signal.SIGKILL)  # a worker process this test's cluster started

  result = run_lib.run(
    config,
    executor=ray_run.executor(RAY_OPTIONS | {"max_restarts": 2}),
    on_chunk=kill_a_worker,
    stream=io.StringIO(),
  )
  assert killed and result.computed == 18
  lines = Path(config.out).read_text().splitlines()
  assert len(lines) == 18 and len({json.loads(line)["id"] for line in lines}) == 18
  assert by_key(json.loads(line) for line in lines) == local_records
