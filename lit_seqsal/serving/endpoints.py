"""The paths this server answers, and what each of LIT's endpoints accepts.

Our client is served at `/`, LIT's own at `/lit/` (LIT_PREFIX), LIT's API at
its own paths (ENDPOINTS), and our endpoints under `/seqsal/`: jobs, the
server's description, and a batch run's results file.
"""

from __future__ import annotations

import dataclasses

LIT_PREFIX = "/lit"
JOBS_PATH = "/seqsal/jobs"
INFO_PATH = "/seqsal/info"
# The batch command's results file the server was started with (--results), for the
# client's dataset view (lit_seqsal/client/src/dataset_view.ts).
RESULTS_PATH = "/seqsal/results"


@dataclasses.dataclass(frozen=True)
class Endpoint:
  """What one of LIT's endpoints accepts (lit_nlp/app.py)."""

  params: tuple[str, ...] = ()  # query parameters it reads
  required: tuple[str, ...] = ()
  inputs: str = ""  # "indexed": LIT inputs (ids or {id, data, meta}); "data": bare examples
  needs_inputs: bool = False
  config: bool = False  # reads body["config"]
  hosted: bool = True  # offered in hosted mode
  model_work: bool = False  # runs a model: admission control and the time limit


ENDPOINTS = {
  "/get_info": Endpoint(),
  "/get_dataset": Endpoint(("dataset_name",), ("dataset_name",)),
  "/create_dataset": Endpoint(("dataset_name",), ("dataset_name",), config=True, hosted=False),
  "/create_model": Endpoint(("model_name",), ("model_name",), config=True, hosted=False),
  "/get_generated": Endpoint(
    ("model", "dataset_name", "generator"),
    ("model", "dataset_name", "generator"),
    "indexed",
    True,
    config=True,
    model_work=True,
  ),
  "/save_datapoints": Endpoint(
    ("dataset_name", "path"), ("dataset_name", "path"), "indexed", hosted=False
  ),
  "/load_datapoints": Endpoint(("dataset_name", "path"), ("dataset_name", "path"), hosted=False),
  "/annotate_new_data": Endpoint(("dataset_name",), ("dataset_name",), "indexed", True),
  # Keeps posted data in memory, unbounded: not for a public server.
  "/post_new_data": Endpoint(("dataset_name",), ("dataset_name",), "data", True, hosted=False),
  "/fetch_new_data": Endpoint(("saved_datapoints_id",), ("saved_datapoints_id",)),
  "/remove_new_data": Endpoint(("saved_datapoints_id",), ("saved_datapoints_id",), hosted=False),
  "/push_ui_state": Endpoint(("dataset_name",), ("dataset_name",), "indexed", True, config=True),
  "/get_preds": Endpoint(
    ("model", "dataset_name", "requested_types", "requested_fields"),
    ("model",),
    "indexed",
    True,
    model_work=True,
  ),
  "/get_interpretations": Endpoint(
    ("model", "dataset_name", "interpreter", "do_predict"),
    ("model", "dataset_name", "interpreter"),
    "indexed",
    True,
    config=True,
    model_work=True,
  ),
  "/get_metrics": Endpoint(
    ("model", "dataset_name", "metrics", "do_predict"),
    ("model", "dataset_name"),
    "indexed",
    True,
    config=True,
    model_work=True,
  ),
}
API_PATHS = frozenset(ENDPOINTS)
# Parameters every endpoint takes (LIT's serialisation switch).
COMMON_PARAMS = ("response_simple_json",)
# Endpoints whose errors from a loader (bad path, bad model) are the caller's.
LOADER_ENDPOINTS = ("/create_dataset", "/create_model", "/save_datapoints", "/load_datapoints")
# Endpoints whose components (interpreter, generator, metrics) are named by a parameter.
COMPONENT_PARAMS = {
  "/get_interpretations": "interpreter",
  "/get_generated": "generator",
  "/get_metrics": "metrics",
}
