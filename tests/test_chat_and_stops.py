"""Chat templates (prompts as conversations, turns tagged) and stop sequences."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lit_seqsal import chat, datasets, models
from lit_seqsal.engine.encoding import encode_example
from tests.helpers import greedy_reference

CONVERSATION = [
  {"role": "system", "content": "Answer in one sentence."},
  {"role": "user", "content": "I cannot eat eggs. Is a cake fine?"},
  {"role": "model", "content": "No, it is made with eggs."},
  {"role": "user", "content": "What instead?"},
]


@pytest.fixture(scope="module")
def chat_group(tiny_chat_model_dir):
  return models.load_model_group("c", tiny_chat_model_dir, max_length=256, max_new_tokens=8)


def _template_ids(tokenizer, messages):
  ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
  return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


def test_prompt_goes_in_as_a_user_turn_with_turns_tagged(chat_group):
  engine = chat_group["c"].engine
  assert engine.uses_chat_template and "<start_of_turn>" in engine.chat_markers
  ex = {"prompt": "Is a cake fine?", "target": " No."}
  encoded = encode_example(engine, ex)
  want = _template_ids(engine.tokenizer, [{"role": "user", "content": ex["prompt"]}])
  assert list(encoded.ids[: encoded.num_prompt_tokens]) == want
  (tok_out,) = chat_group["_c_tokenizer"].predict([ex])
  (sal_out,) = chat_group["_c_salience"].predict([ex])
  tokens, turns = tok_out["tokens"], tok_out["token_turns"]
  assert sal_out["tokens"] == tokens and sal_out["token_turns"] == turns
  assert len(turns) == len(tokens) == len(sal_out["grad_l2"])
  # The tokens shown are what the model saw.
  assert tokens == engine.token_strings(encoded.ids)

  def text(tag: str) -> str:
    return "".join(t for t, g in zip(tokens, turns) if g == tag).replace("▁", " ")

  assert text("0:user") == ex["prompt"]
  assert text("1:model") == ex["target"]
  markers = [t for t, g in zip(tokens, turns) if g.endswith(":template")]
  assert "<start_of_turn>" in markers and "<end_of_turn>" in markers and tokens[0] in markers
  # A turn's closing marker belongs to it, the next turn's opening to the next.
  assert turns[tokens.index("<end_of_turn>")] == "0:template"
  assert turns[len(tokens) - 1 - tokens[::-1].index("<start_of_turn>")] == "1:template"
  # The target is the model's turn: explained by default, as without a template.
  assert np.nonzero(encoded.mask)[0][0] == encoded.num_prompt_tokens


def test_a_conversation_is_wrapped_once_with_its_roles(chat_group):
  engine = chat_group["c"].engine
  ex = {
    "prompt": chat.render_plain(CONVERSATION),
    "messages": json.dumps(CONVERSATION),
    "target": " A salad.",
  }
  encoded = encode_example(engine, ex)
  assert list(encoded.ids[: encoded.num_prompt_tokens]) == _template_ids(
    engine.tokenizer, CONVERSATION
  )
  tokens = engine.token_strings(encoded.ids)
  for turn, message in enumerate(CONVERSATION):
    text = "".join(t for t, g in zip(tokens, encoded.turns) if g == f"{turn}:{message['role']}")
    assert text.replace("▁", " ") == message["content"]
  assert encoded.turns[-1] == "4:model"
  # A prompt already in the template's format is not wrapped again.
  templated = engine.tokenizer.apply_chat_template(
    CONVERSATION, tokenize=False, add_generation_prompt=True
  )
  raw = encode_example(engine, {"prompt": templated.removeprefix("<bos>"), "target": " A salad."})
  assert raw.turns is None
  assert list(raw.ids[: raw.num_prompt_tokens]) == list(encoded.ids[: encoded.num_prompt_tokens])


def test_generation_uses_the_template_and_stops_at_the_end_of_turn(chat_group):
  engine = chat_group["c"].engine
  end_of_turn = engine.tokenizer.convert_tokens_to_ids("<end_of_turn>")
  assert end_of_turn in engine.stop_ids
  (out,) = chat_group["c"].predict([{"prompt": "Is a cake fine?"}])
  prompt_ids, _ = engine.encode_chat([{"role": "user", "content": "Is a cake fine?"}])
  assert out["response"] == greedy_reference(engine, prompt_ids, engine.max_new_tokens)
  assert "<end_of_turn>" not in out["response"]


def test_chat_template_none_and_models_without_one_take_prompts_as_they_are(
  tiny_chat_model_dir, tiny_group
):
  plain = models.load_model_group("p", tiny_chat_model_dir, max_length=256, chat_template="none")
  engine = plain["p"].engine
  assert not engine.uses_chat_template
  encoded = encode_example(engine, {"prompt": "Is a cake fine?", "target": " No."})
  assert encoded.turns is None and list(encoded.ids) == engine.encode("Is a cake fine? No.")
  assert not tiny_group["tiny"].engine.uses_chat_template  # no template in its tokenizer
  (out,) = tiny_group["_tiny_tokenizer"].predict([{"prompt": "Hi", "target": " there"}])
  assert "token_turns" not in out


def test_sample_chat_example_has_a_system_instruction_and_two_user_turns():
  ex = next(e for e in datasets.read_examples(datasets.sample_prompts_path()) if e.get("messages"))
  roles = [m["role"] for m in json.loads(ex["messages"])]
  assert roles[0] == "system" and roles.count("user") == 2
  assert ex["prompt"].endswith("Model:")  # how models without a template see it


# -- stop sequences -------------------------------------------------------------


@pytest.fixture(scope="module")
def long_generator(tiny_model_dir):
  return models.load_model_group("g", tiny_model_dir, max_length=256, max_new_tokens=24)


def test_stop_sequences_end_generation_at_the_first_match(long_generator):
  gen = long_generator["g"]
  engine = gen.engine
  prompt = {"prompt": "Taste-likes: Cheese\nSuggestion: Onion soup\nAnalysis:"}
  full = gen.predict([prompt])[0]["response"]
  new_ids = engine.encode_continuation(full)
  pieces = [engine.decode(new_ids[:k]) for k in range(len(new_ids) + 1)]
  # A stop sequence made of the end of one token and the start of the next.
  k = len(new_ids) // 2
  boundary = len(pieces[k])
  across = full[boundary - 2 : boundary + 2] if boundary >= 2 else full[:4]
  assert len(across) >= 3 and full.find(across) >= 0
  cut = gen.predict([prompt | {"stop": [across]}])[0]["response"]
  assert cut == full[: full.find(across)]
  # One at the very start: nothing is left.
  assert gen.predict([prompt | {"stop": full[:3]}])[0]["response"] == ""
  # None found: the whole generation.
  assert gen.predict([prompt | {"stop": ["\u2603never\u2603"]}])[0]["response"] == full
  # Prompts with different stops in one call keep their own.
  both = gen.predict([prompt | {"stop": [across]}, prompt])
  assert [b["response"] for b in both] == [cut, full]


def test_server_wide_stop_sequences(tiny_model_dir, long_generator):
  prompt = {"prompt": "Taste-likes: Cheese\nSuggestion: Onion soup\nAnalysis:"}
  full = long_generator["g"].predict([prompt])[0]["response"]
  stop = full[len(full) // 2 : len(full) // 2 + 3]
  group = models.load_model_group(
    "s", tiny_model_dir, max_length=256, max_new_tokens=24, stop_sequences=(stop,)
  )
  assert group["s"].predict([prompt])[0]["response"] == full[: full.find(stop)]


def test_stop_sequences_on_the_command_line_understand_escapes():
  from lit_seqsal import options

  assert options.unescape("\\n\\n") == "\n\n" and options.unescape("Q:") == "Q:"


def test_bad_stop_field_is_a_clear_error(long_generator):
  from lit_seqsal import inputs

  with pytest.raises(inputs.InputError, match="'stop' must be a text or a list"):
    long_generator["g"].predict([{"prompt": "Hi", "stop": [3]}])
