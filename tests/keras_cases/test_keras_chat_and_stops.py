"""Gemma's turn format and stop sequences with a Keras model (one runtime per process)."""

from __future__ import annotations

import shutil

import pytest

from lit_seqsal import chat, models
from lit_seqsal.engine.encoding import encode_example
from tests.keras_cases.conftest import RUNTIME

CONVERSATION = [
  {"role": "system", "content": "Answer in one sentence."},
  {"role": "user", "content": "Is a cake fine?"},
  {"role": "model", "content": "No, it has eggs."},
  {"role": "user", "content": "What instead?"},
]


@pytest.fixture(scope="module")
def instruct_group(tiny_keras_dir, tmp_path_factory):
  """The tiny preset under an instruction-tuned name (Gemma's naming)."""
  path = tmp_path_factory.mktemp("presets") / "tiny_instruct_en"
  shutil.copytree(tiny_keras_dir, path)
  return models.load_model_group(
    "ti", str(path), dl_framework="kerasnlp", dl_runtime=RUNTIME, max_length=256, max_new_tokens=8
  )


def test_gemma_turn_format_with_turns_tagged(instruct_group, keras_group):
  engine = instruct_group["ti"].engine
  assert engine.uses_chat_template and not keras_group["tk"].engine.uses_chat_template
  encoded = encode_example(engine, {"prompt": "x", "messages": CONVERSATION, "target": " A salad."})
  tokens = engine.token_strings(encoded.ids)
  prompt_text = "".join(tokens[: encoded.num_prompt_tokens]).replace("▁", " ")
  assert prompt_text == (
    "<bos><start_of_turn>user\nAnswer in one sentence.\n\nIs a cake fine?<end_of_turn>\n"
    "<start_of_turn>model\nNo, it has eggs.<end_of_turn>\n<start_of_turn>user\nWhat instead?"
    "<end_of_turn>\n<start_of_turn>model\n"
  )
  for turn, message in enumerate(CONVERSATION):
    text = "".join(t for t, g in zip(tokens, encoded.turns) if g == f"{turn}:{message['role']}")
    assert text.replace("▁", " ") == message["content"]
  assert "".join(t for t, g in zip(tokens, encoded.turns) if g == "4:model") == "▁A▁salad."
  # A prompt already in Gemma's format is taken as it is; its turns come from its
  # markers (Gemma's format puts the system instruction in the first user turn).
  raw = encode_example(engine, {"prompt": prompt_text.removeprefix("<bos>"), "target": " A"})
  assert list(raw.ids[: raw.num_prompt_tokens]) == list(encoded.ids[: encoded.num_prompt_tokens])
  raw_tokens = engine.token_strings(raw.ids)

  def raw_text(tag: str) -> str:
    return "".join(t for t, g in zip(raw_tokens, raw.turns) if g == tag).replace("▁", " ")

  assert raw_text("0:user") == "Answer in one sentence.\n\nIs a cake fine?"
  assert raw_text("1:model") == "No, it has eggs."
  assert raw_text("2:user") == "What instead?"
  assert raw_text("3:model") == " A"
  # Salience and tokens carry the turns.
  (out,) = instruct_group["_ti_salience"].predict([{"prompt": "Is a cake fine?", "target": " No."}])
  assert len(out["token_turns"]) == len(out["tokens"]) == len(out["grad_l2"])
  assert out["token_turns"][1] == "0:template" and out["token_turns"][-1] == "1:model"
  assert f"1:{chat.TEMPLATE_ROLE}" in out["token_turns"]


def test_stop_sequences_on_keras(keras_group):
  gen = keras_group["tk"]
  prompt = {"prompt": "Taste-likes: Cheese\nSuggestion: Onion soup\nAnalysis:"}
  full = gen.predict([prompt])[0]["response"]
  assert len(full) > 6
  middle = full[len(full) // 2 - 2 : len(full) // 2 + 2]
  assert gen.predict([prompt | {"stop": [middle]}])[0]["response"] == full[: full.find(middle)]
  assert gen.predict([prompt | {"stop": full[:2]}])[0]["response"] == ""
  assert gen.predict([prompt | {"stop": ["\u2603never"]}])[0]["response"] == full
  # A stop sequence of one token ends keras-hub's sampling loop itself.
  assert len(gen.engine.encode_continuation("\n")) == 1
  if "\n" in full:
    assert gen.predict([prompt | {"stop": ["\n"]}])[0]["response"] == full[: full.find("\n")]
