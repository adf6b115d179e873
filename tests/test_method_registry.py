"""The method registry: one entry adds a method everywhere it is offered."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lit_seqsal import inputs, models
from lit_seqsal.components import interpreters
from lit_seqsal.engine.encoding import encode_example
from lit_seqsal.salience import methods
from tests.client_code import run_client_script
from tests.helpers import get, lit_example, post, serve_lit

PROMPT = "Suggestion: Onion soup\nAnalysis:"
TARGET = " it has onions. Avoid."


def _max_abs(grads: np.ndarray, embs: np.ndarray) -> np.ndarray:
  del embs
  return np.abs(grads).max(-1)


# The throwaway method: the largest gradient component of each token.
GRAD_MAX = methods.Method(
  "grad_max",
  label="Largest gradient component",
  description="The largest single component of each part's gradient.",
  signed=False,
  measures="largest gradient component (unsigned)",
  cost="as grad_l2",
  from_gradients=_max_abs,
)


@pytest.fixture
def with_grad_max(monkeypatch):
  monkeypatch.setitem(methods.REGISTRY, GRAD_MAX.name, GRAD_MAX)
  return GRAD_MAX


def test_one_entry_is_served_end_to_end(with_grad_max, tiny_model_dir):
  group = models.load_model_group("reg", tiny_model_dir, batch_size=2, max_length=256)
  served = serve_lit(group)
  try:
    info = post(served.url, "/get_info")
    out_spec = info["models"]["_reg_salience"]["spec"]["output"]
    assert out_spec["grad_max"]["__name__"] == "TokenScores" and out_spec["grad_max"]["required"]
    assert (
      "grad_max" in info["models"]["_reg_salience"]["spec"]["input"]["salience_methods"]["vocab"]
    )
    meta = info["interpreters"][interpreters.SALIENCE_MAP]["metaSpec"]
    assert meta["grad_max"]["signed"] is False
    # Our client's menu: name, words and properties from the registry.
    served_info = get(served.url, "/seqsal/info")
    assert served_info["default_method_by_granularity"] == methods.default_method_by_granularity()
    described = {m["name"]: m for m in served_info["methods"]}
    assert list(described) == [*methods.REGISTRY]
    assert described["grad_max"] | {"settings": None} == {
      "name": "grad_max",
      "label": "Largest gradient component",
      "description": "The largest single component of each part's gradient.",
      "signed": False,
      "on_request": False,
      "contrastive": True,
      "shares_spans": False,
      "measures": "largest gradient component (unsigned)",
      "cost": "as grad_l2",
      "settings": None,
      "work_note": None,
    }

    (pred,) = post(
      served.url,
      "/get_preds",
      {"inputs": [lit_example(PROMPT, TARGET)]},
      model="_reg_salience",
      dataset_name="sample_prompts",
    )
    assert set(pred) == {"tokens", "alternatives", "grad_l2", "grad_dot_input", "grad_max"}
    # Independent reference: plain autograd through the Hugging Face model, full logits.
    engine = group["reg"].engine
    encoded = encode_example(engine, {"prompt": PROMPT, "target": TARGET})
    ids = list(encoded.ids)
    embs = engine.model.get_input_embeddings()(torch.tensor(ids)).detach().requires_grad_(True)
    logits = engine.model(inputs_embeds=embs[None], use_cache=False).logits[0]
    lp = torch.log_softmax(logits[:-1], -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    (grad,) = torch.autograd.grad((lp * torch.tensor(encoded.mask[1:])).sum(), embs)
    want = grad.abs().max(-1).values.numpy()
    assert want.max() > 0
    np.testing.assert_allclose(pred["grad_max"], want, rtol=1e-4, atol=1e-5 * want.max())

    # Asked for alone, through the request field; cached with the others.
    (alone,) = group["_reg_salience"].predict(
      [{"prompt": PROMPT, "target": TARGET, "salience_methods": ["grad_max"]}]
    )
    assert set(alone) == {"tokens", "alternatives", "grad_max"}
  finally:
    served.close()


def test_registry_lookups_and_errors():
  assert methods.default_names() == ("grad_l2", "grad_dot_input")
  assert methods.on_request_names() == ("integrated_gradients", "occlusion")
  with pytest.raises(inputs.InputError, match=r"unknown method.*'lime'.*allowed values: grad_l2"):
    methods.requested({"salience_methods": ["lime"]})
  assert [m.name for m in methods.requested({"salience_methods": "occlusion, grad_l2"})] == [
    "occlusion",
    "grad_l2",
  ]
  with pytest.raises(ValueError, match="already registered"):
    methods.register(methods.REGISTRY["grad_l2"])
  with pytest.raises(ValueError, match="exactly one of"):
    methods.Method("broken", label="", description="", signed=False, measures="", cost="")
  steps = methods.IG_STEPS
  assert steps.value_in({}) == 64 and steps.value_in({"ig_steps": 8.0}) == 8
  with pytest.raises(inputs.InputError, match=r"'ig_steps'.*between 1 and 512, got 513"):
    steps.value_in({"ig_steps": 513})
  described = methods.describe_all()
  assert described["default_method"] == "grad_l2"
  occlusion = next(m for m in described["methods"] if m["name"] == "occlusion")
  # Occlusion's spans share one deletion table (a client prefetches them); IG's do not.
  assert [m["name"] for m in described["methods"] if m["shares_spans"]] == ["occlusion"]
  assert (
    occlusion["signed"]
    and occlusion["on_request"]
    and occlusion["settings"]
    == [
      {
        "name": "occlusion_granularity",
        "default": "sentences",
        "follows": "granularity",
        "help": "the units deleted one at a time",
        "choices": ["tokens", "words", "sentences", "lines", "paragraphs"],
      }
    ]
  )


def test_default_method_per_granularity(monkeypatch):
  """/seqsal/info says which method a client shows first at each granularity:
  grad_l2 at every one until the faithfulness benchmark decides otherwise."""
  assert methods.describe_all()["default_method_by_granularity"] == {
    "tokens": "grad_l2",
    "words": "grad_l2",
    "sentences": "grad_l2",
    "lines": "grad_l2",
    "paragraphs": "grad_l2",
  }
  monkeypatch.setattr(methods, "DEFAULT_METHOD_BY_GRANULARITY", {"sentences": "occlusion"})
  by_granularity = methods.describe_all()["default_method_by_granularity"]
  assert by_granularity["sentences"] == "occlusion"
  assert {g: m for g, m in by_granularity.items() if g != "sentences"} == dict.fromkeys(
    ("tokens", "words", "lines", "paragraphs"), "grad_l2"
  )
  assert methods.describe_all()["default_method"] == "grad_l2"
  monkeypatch.setattr(methods, "DEFAULT_METHOD_BY_GRANULARITY", {"sentences": "lime"})
  with pytest.raises(ValueError, match=r"'lime', which is not registered"):
    methods.describe_all()
  monkeypatch.setattr(methods, "DEFAULT_METHOD_BY_GRANULARITY", {"custom": "grad_l2"})
  with pytest.raises(ValueError, match=r"names 'custom'; granularities: tokens, words"):
    methods.describe_all()


def test_the_client_tests_fixture_is_the_registry():
  """The client's unit tests read the methods from a fixture written like
  /seqsal/info; it must stay what the registry serves."""
  script = (
    "import {SERVER_DEFAULT_BY_GRANULARITY, SERVER_DEFAULT_METHOD, SERVER_METHODS}"
    " from './test/server_methods.ts';"
    "console.log(JSON.stringify({methods: SERVER_METHODS, default_method: SERVER_DEFAULT_METHOD,"
    " default_method_by_granularity: SERVER_DEFAULT_BY_GRANULARITY}));"
  )
  described = methods.describe_all()
  assert run_client_script(script, None) == {
    k: described[k] for k in ("methods", "default_method", "default_method_by_granularity")
  }
