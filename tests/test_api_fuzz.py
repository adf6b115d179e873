"""Property-based fuzzing of every endpoint's query parameters and JSON body.

Whatever a visitor sends, a hosted server answers with JSON: never a 500,
never a traceback or a server path, and it keeps answering good requests.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lit_seqsal.serving import app as web_app
from lit_seqsal.serving import endpoints
from tests.helpers import lit_example

# Names the fuzzer draws from: real ones (so requests get past the name checks
# and reach the models) and junk.
MODELS = ["tiny", "_tiny_salience", "_tiny_tokenizer", "nope", ""]
DATASETS = ["sample_prompts", "nope", ""]
INTERPRETERS = [
  "sequence_salience",
  "LM Integrated Gradients",
  "LM Segment Occlusion",
  "pca",
  "umap",
  "nearest neighbors",
  "classification",
  "Grad L2 Norm",
  "LIME",
  "nope",
]
GENERATORS = ["Scrambler", "Word Replacer", "Hotflip", "nope", ""]
METRICS = ["", "bleu", "rouge", "exactmatch", "bleu,rouge", "nope", "regression"]
PATHS = sorted(endpoints.API_PATHS) + [
  endpoints.JOBS_PATH,
  endpoints.INFO_PATH,
  endpoints.JOBS_PATH + "/00ff",
  "/lit/get_preds",
  "/nope",
]

scalars = st.one_of(
  st.none(),
  st.booleans(),
  st.integers(-3, 600),
  st.floats(allow_nan=False),
  st.text(max_size=12),
  st.sampled_from(["grad_l2", "occlusion", "words", "integrated_gradients", "<b>x</b>"]),
)
json_values = st.recursive(
  scalars,
  lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
  ),
  max_leaves=12,
)
example_fields = st.fixed_dictionaries(
  {
    "prompt": st.one_of(
      st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40), json_values
    )
  },
  optional={
    "target": st.one_of(st.text(max_size=20), json_values),
    "target_mask": st.one_of(st.lists(st.sampled_from([0, 1, 2, 0.5]), max_size=30), json_values),
    "salience_methods": st.one_of(
      st.lists(
        st.sampled_from(["grad_l2", "grad_dot_input", "integrated_gradients", "occlusion", "lime"]),
        max_size=3,
      ),
      json_values,
    ),
    "ig_steps": st.one_of(st.integers(-2, 600), json_values),
    "occlusion_granularity": st.one_of(st.sampled_from(["words", "lines", "clauses"]), json_values),
  },
)


@st.composite
def lit_inputs(draw):
  """LIT inputs: {id, data, meta} with data._id == id (mostly), ids, or junk."""
  data = draw(example_fields)
  ex_id = draw(st.one_of(st.text(max_size=6), json_values))
  if draw(st.sampled_from([True, True, True, False])):  # hypothesis favours the first
    data["_id"] = ex_id
  objects = [{"id": ex_id, "data": data, "meta": {}}] * 4 + [{"data": data, "meta": {}}]
  return draw(st.sampled_from(objects + [ex_id, data]))


inputs = st.one_of(
  st.lists(lit_inputs(), max_size=4), st.lists(lit_inputs(), max_size=4), json_values
)
configs = st.one_of(
  st.dictionaries(
    st.sampled_from(
      ["granularity", "ig_steps", "chunk_size", "target_text", "new_name", "path", "x"]
    ),
    json_values,
    max_size=3,
  ),
  json_values,
)
good_inputs = st.lists(lit_inputs(), min_size=1, max_size=4)
bodies = st.one_of(
  st.fixed_dictionaries({"inputs": good_inputs}, optional={"config": configs}),
  st.fixed_dictionaries({"inputs": good_inputs}, optional={"config": configs}),
  st.fixed_dictionaries({}, optional={"inputs": inputs, "config": configs}),
  json_values,
)
VALUES = {
  "model": st.sampled_from(MODELS),
  "dataset_name": st.sampled_from(DATASETS),
  "interpreter": st.sampled_from(INTERPRETERS),
  "generator": st.sampled_from(GENERATORS),
  "metrics": st.sampled_from(METRICS),
  "requested_types": st.sampled_from(["", "TokenScores", "Nope", "Tokens,LitType", "__class__"]),
  "requested_fields": st.text(max_size=10),
  "do_predict": st.sampled_from(["0", "1", "x"]),
  "saved_datapoints_id": st.text(max_size=6),
  "model_name": st.text(max_size=6),
  "path": st.sampled_from(["/tmp/x.jsonl", "../../etc/passwd"]),
  "response_simple_json": st.sampled_from(["0", "1"]),
  "progress_indicator": st.text(max_size=4),  # not a parameter: LIT would call it
}


@st.composite
def requests(draw):
  """A path, and mostly the query parameters that path reads, sometimes others."""
  path = draw(st.sampled_from(PATHS))
  endpoint = endpoints.ENDPOINTS.get(path.removeprefix(endpoints.LIT_PREFIX))
  allowed = list(endpoint.params) if endpoint else ["model", "dataset_name", "interpreter"]
  names = draw(st.lists(st.sampled_from(allowed + ["response_simple_json"]), unique=True))
  if endpoint and draw(st.sampled_from([True] * 9 + [False])):  # mostly with the required ones
    names = sorted(set(names) | set(endpoint.required))
  if draw(st.sampled_from([False] * 9 + [True])):
    names.append(draw(st.sampled_from(sorted(VALUES))))
  query = {name: draw(VALUES[name]) for name in names}
  method = draw(st.sampled_from(["POST"] * 6 + ["GET", "DELETE"]))
  return path, method, query


@pytest.fixture(scope="module")
def hosted_client(tiny_model_dir):
  from werkzeug.test import Client

  from lit_seqsal import datasets, models
  from lit_seqsal.serving import lit_server as server
  from lit_seqsal.work import limits

  group = models.load_model_group("tiny", tiny_model_dir, batch_size=4, max_length=128)
  app = web_app.SalienceApp(
    **server.app_kwargs(group, datasets.get_datasets(["sample_prompts"])),
    hosted=True,
    limits=limits.HOSTED.replace(max_ig_steps=4, max_occlusion_units=40, max_map_outputs=8),
  )
  return Client(app)


def _assert_clean(response):
  assert response.status_code != 500, response.get_data(as_text=True)[:2000]
  text = response.get_data(as_text=True)
  if response.status_code >= 400:
    body = json.loads(text)
    assert set(body["error"]) >= {"status", "message", "request_id"}
    assert body["error"]["status"] == response.status_code
    assert "Traceback" not in text and "site-packages" not in text and ".py" not in text, text


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=requests(), body=bodies, raw=st.one_of(st.none(), st.none(), st.binary(max_size=40)))
def test_fuzzed_requests_never_fail_on_the_server(hosted_client, request, body, raw):
  path, method, query = request
  data = raw if raw is not None else json.dumps(body).encode()
  response = hosted_client.open(path, method=method, query_string=query, data=data)
  _assert_clean(response)


def test_a_blank_body_is_a_clear_400(hosted_client):
  """Whitespace alone is no JSON: LIT would fail parsing it (found by the fuzzer)."""
  response = hosted_client.post(
    "/get_dataset", query_string={"dataset_name": "sample_prompts"}, data=b"\t"
  )
  _assert_clean(response)
  assert response.status_code == 400 and "blank" in response.get_json()["error"]["message"]


def test_an_example_without_id_is_a_clear_400(hosted_client):
  """With a dataset, LIT reads each example object's 'id' (found by `make demo`)."""
  example = lit_example()
  del example["id"], example["data"]["_id"]  # neither: the ids' check passed, LIT then failed
  response = hosted_client.post(
    "/get_preds",
    query_string={"model": "_tiny_salience", "dataset_name": "sample_prompts"},
    data=json.dumps({"inputs": [example]}),
  )
  _assert_clean(response)
  assert response.status_code == 400
  assert "Input 0: 'id' is missing" in response.get_json()["error"]["message"]


def test_good_requests_still_served_after_fuzzing(hosted_client):
  response = hosted_client.post(
    "/get_preds",
    query_string={"model": "_tiny_salience"},
    data=json.dumps({"inputs": [lit_example()]}),
  )
  assert response.status_code == 200
  (pred,) = response.get_json()
  assert len(pred["tokens"]) == len(pred["grad_l2"]) > 3
