"""Every family on Transformers, each a tiny random model built here (tests/families.py)
and loaded as a user would (`--models=NAME:DIR`): salience against the model's
own full-logits forward, generation stopping at stop sequences, chat templates,
the model's alternatives, and token strings that spell prompts in any script.

The fast tier keeps one family (Llama 3: byte-level tokens, a chat template);
the others are slow. docs/models.md's table is generated from tests/families.py
(test_docs_table_is_the_tested_matrix keeps it so).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch

from lit_seqsal import models
from lit_seqsal.engine import batching
from lit_seqsal.engine.encoding import encode_example
from lit_seqsal.salience import segmentation
from tests import families
from tests.client_code import assert_client_segments_alike

REPO = Path(__file__).resolve().parent.parent
FAST = ("llama",)
PROMPT = (
  "Taste-likes: 奶酪 (cheese)\nTaste-dislikes: Can't eat eggs 🥚\nSuggestion: Quiche\nAnalysis:"
)
TARGET = " it has eggs in it. 不要吃！\nRecommendation: Avoid."


def _params(cases):
  return [
    pytest.param(c.key, id=c.key, marks=() if c.key in FAST else pytest.mark.slow) for c in cases
  ]


@pytest.fixture(scope="module")
def family_dir(tmp_path_factory):
  @functools.cache
  def get(key: str) -> str:
    return str(families.build_hf(key, tmp_path_factory.mktemp(key)))

  return get


@pytest.fixture(scope="module")
def family_group(family_dir):
  @functools.cache
  def get(key: str) -> dict:
    entry = f"{key}:{family_dir(key)}"  # as --models=NAME:DIR
    return models.get_models([entry], batch_size=2, max_length=256, max_new_tokens=12)

  return get


def _reference(engine, ids, mask):
  """The objective's gradient from the model's own forward on inputs_embeds with
  full logits (no positions picked, no per-layer inputs passed), in float32."""
  model = engine.model
  embs = model.get_input_embeddings()(torch.tensor([ids])).detach().requires_grad_(True)
  logits = model(inputs_embeds=embs, use_cache=False).logits[0].float()
  logprobs = torch.log_softmax(logits, -1)
  positions = np.nonzero(mask)[0]
  objective = sum(logprobs[p - 1, ids[p]] for p in positions)
  (grad,) = torch.autograd.grad(objective, embs)
  grad, embs = grad[0].double(), embs[0].detach().double()
  return grad.norm(dim=-1).numpy(), (grad * embs).sum(-1).numpy(), logprobs.detach()


@pytest.mark.parametrize("key", _params(families.CASES))
def test_salience_matches_the_models_full_forward(key, family_group):
  group = family_group(key)
  sal = group[f"_{key}_salience"]
  engine = sal.engine
  ex = {"prompt": PROMPT, "target": TARGET}
  encoded = encode_example(engine, ex)
  ids, mask = list(encoded.ids), encoded.mask
  (out,) = sal.predict([ex])
  want_l2, want_dot, logprobs = _reference(engine, ids, mask)
  for got, want in ((out["grad_l2"], want_l2), (out["grad_dot_input"], want_dot)):
    assert np.abs(want).max() > 0
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())
  # The model's alternatives: the top of its full softmax at each target position.
  batch = batching.pack([(ids, mask[None])], engine.pad_id)
  top = engine.objectives(
    engine.embed(batch.ids[:, : batch.used]), batch, gradients=False, alternatives=3
  )
  want_top = torch.topk(logprobs[batch.positions - 1], 3)
  np.testing.assert_array_equal(top.top_ids[0], want_top.indices.numpy())
  np.testing.assert_allclose(top.top_logprobs[0], want_top.values.numpy(), atol=1e-4)
  # Integrated gradients run too (Gemma 4: per-layer inputs from the ids).
  (ig,) = sal.predict([ex | {"salience_methods": ["integrated_gradients"], "ig_steps": 4}])
  assert np.isfinite(ig["integrated_gradients"]).all() and ig["integrated_gradients"].any()


@pytest.mark.parametrize("key", _params(families.CASES))
def test_generation_stops_at_stop_sequences(key, family_group):
  gen = family_group(key)[key]
  families.assert_generation_stops(gen)


@pytest.mark.parametrize("key", _params([c for c in families.CASES if c.chat]))
def test_chat_template_is_the_tokenizers(key, family_group):
  engine = family_group(key)[key].engine
  assert engine.uses_chat_template
  families.assert_chat_matches(engine, engine.tokenizer)


# -- token strings spell the text; words and sentences in any script ---------------

SPELLING_KEYS = ("llama", "gemma3")  # a byte-level and a SentencePiece tokenizer


@pytest.mark.parametrize("key", SPELLING_KEYS)
def test_token_strings_spell_the_text(key, family_group):
  engine = family_group(key)[key].engine
  split = 0
  for prompt in families.SPELLING_PROMPTS:
    ids = engine.encode(prompt)
    tokens = engine.token_strings(ids)
    start = 1 if engine.bos_id is not None and ids[0] == engine.bos_id else 0
    assert "".join(tokens[start:]).replace("▁", " ") == prompt
    assert "\ufffd" not in "".join(tokens)
    split += tokens.count("")  # tokens holding part of a character
  assert split > 0  # the test texts do split characters over tokens


def test_client_and_server_segment_alike(family_group):
  token_lists = []
  for key in SPELLING_KEYS:
    engine = family_group(key)[key].engine
    texts = [*families.SPELLING_PROMPTS, *families.MULTILINGUAL, PROMPT + TARGET]
    token_lists += [engine.token_strings(engine.encode(t)) for t in texts]
  assert_client_segments_alike(token_lists)


@pytest.mark.parametrize("key", SPELLING_KEYS)
def test_a_chinese_paragraph_has_two_sentences_and_words(key, family_group):
  engine = family_group(key)[key].engine
  paragraph = "北京是中国的首都。上海是最大的城市！"
  tokens = engine.token_strings(engine.encode(paragraph))
  start = 1 if tokens[0] in engine.tokenizer.all_special_tokens else 0

  def texts(granularity):
    segments = segmentation.segment_tokens(tokens, granularity, start)
    return ["".join(tokens[a:b]) for a, b in segments]

  assert texts("sentences") == ["北京是中国的首都。", "上海是最大的城市！"]
  words = texts("words")
  assert len(words) > 2 and "".join(words) == paragraph
  assert all(w for w in texts("tokens"))  # no segment without a character


def test_docs_table_is_the_tested_matrix():
  docs = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
  assert families.markdown_table() in docs, (
    "docs/models.md's table is out of date: paste the output of"
    " `python -c 'from tests import families; print(families.markdown_table())'`"
  )
