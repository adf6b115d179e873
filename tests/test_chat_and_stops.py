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
  # A prompt already in the template's format is not wrapped again; its turns are
  # read from its markers, the same as the conversation's.
  templated = engine.tokenizer.apply_chat_template(
    CONVERSATION, tokenize=False, add_generation_prompt=True
  )
  raw = encode_example(engine, {"prompt": templated.removeprefix("<bos>"), "target": " A salad."})
  assert list(raw.ids[: raw.num_prompt_tokens]) == list(encoded.ids[: encoded.num_prompt_tokens])
  assert raw.turns == encoded.turns


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
  messages = json.loads(ex["messages"])
  roles = [m["role"] for m in messages]
  assert roles[0] == "system" and roles.count("user") == 2
  # Models without a template (the bundled Gemma) read it in Gemma's chat format.
  assert ex["prompt"] == "".join(text for _, text, _ in chat.gemma_pieces(messages))


def test_turn_markers_tag_a_prompt_in_the_chat_format():
  tokens = ["<bos>", "<start_of_turn>", "user", "\n", "Hi", "\u2581there", "<end_of_turn>", "\n"]
  tokens += [
    "<start_of_turn>",
    "model",
    "\n",
    "Hello",
    "<end_of_turn>",
    "\n",
    "<start_of_turn>",
    "model",
    "\n",
  ]
  tags = chat.tag_marked_turns(tokens, (chat.GEMMA_START, chat.GEMMA_END))
  assert tags == (
    ["0:template"] * 4
    + ["0:user", "0:user"]
    + ["0:template"] * 2
    + ["1:template"] * 3
    + ["1:model"]
    + ["1:template"] * 2
    + ["2:template"] * 3
  )
  assert chat.tag_marked_turns(["<bos>", "Hi"], (chat.GEMMA_START, chat.GEMMA_END)) is None


def test_a_model_without_a_template_gets_turns_for_a_prompt_in_its_chat_format(tiny_chat_model_dir):
  """A base model whose vocabulary has the turn markers (the bundled Gemma: chat_template
  none here) tags the turns of a prompt written in that format, and stops at a turn's end."""
  plain = models.load_model_group("b", tiny_chat_model_dir, max_length=256, chat_template="none")
  engine = plain["b"].engine
  assert not engine.uses_chat_template and engine.turn_markers == (chat.GEMMA_START, chat.GEMMA_END)
  assert engine.tokenizer.convert_tokens_to_ids(chat.GEMMA_END) in engine.stop_ids
  prompt = "".join(text for _, text, _ in chat.gemma_pieces(CONVERSATION))
  (out,) = plain["_b_tokenizer"].predict([{"prompt": prompt, "target": " A salad."}])
  tokens, turns = out["tokens"], out["token_turns"]

  def text(tag: str) -> str:
    return "".join(t for t, g in zip(tokens, turns) if g == tag).replace("\u2581", " ")

  # Gemma's format puts the system instruction in the first user turn.
  assert text("0:user") == CONVERSATION[0]["content"] + "\n\n" + CONVERSATION[1]["content"]
  assert text("1:model") == CONVERSATION[2]["content"]
  assert text("2:user") == CONVERSATION[3]["content"]
  assert text("3:model") == " A salad."
  assert all(g.endswith(":template") for t, g in zip(tokens, turns) if t.startswith("<"))
  # A plain prompt has no turns.
  (plain_out,) = plain["_b_tokenizer"].predict([{"prompt": "Hi", "target": " there"}])
  assert "token_turns" not in plain_out


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


# -- per-example max_new_tokens -------------------------------------------------


def test_an_example_may_ask_for_fewer_new_tokens(long_generator):
  gen = long_generator["g"]
  engine = gen.engine
  prompt = {"prompt": "Taste-likes: Cheese\nSuggestion: Onion soup\nAnalysis:"}
  ids = engine.encode(prompt["prompt"])
  assert engine.max_new_tokens == 24
  short, full = gen.predict([prompt | {"max_new_tokens": 5}, prompt])
  assert short["response"] == greedy_reference(engine, ids, 5)
  assert full["response"] == greedy_reference(engine, ids, 24)
  assert (
    len(engine.encode_continuation(short["response"]))
    <= 5
    < len(engine.encode_continuation(full["response"]))
  )
  # Bounded by the server's --max_new_tokens; a clear error names the field and the bound.
  from lit_seqsal import inputs

  with pytest.raises(inputs.InputError, match=r"'max_new_tokens' must be from 1 to 24 .*got 25"):
    gen.predict([prompt | {"max_new_tokens": 25}])
  with pytest.raises(
    inputs.InputError, match=r"'max_new_tokens' must be a whole number from 1 to 24"
  ):
    gen.predict([prompt | {"max_new_tokens": "many"}])
