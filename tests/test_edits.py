"""Drop it and regenerate: prompts edited by token ranges, in Python and over the API.

Expected prompts are built from the prompt text by what the chosen tokens say
(found by their content), not by the module's offset arithmetic.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lit_seqsal import edits, inputs
from lit_seqsal.engine.encoding import encode_example
from lit_seqsal.tokens import token_text
from tests.helpers import lit_example, post, post_error, serve_lit

PROMPT = (
  "Taste-likes: Cheese\nTaste-dislikes: Can't eat eggs\nSuggestion: Quiche Lorraine\nAnalysis:"
)
TARGET = " it has eggs in it."


def _tokens(group, prompt=PROMPT, target=TARGET):
  engine = group["tiny"].engine
  encoded = encode_example(engine, {"prompt": prompt, "target": target}, with_mask=False)
  return engine.token_strings(encoded.ids), encoded.num_prompt_tokens


def _locate(tokens, num_prompt, text, within=0):
  """(token, offset) of the `within`-th character of `text`, found in the prompt's
  tokens by content: the token holding that character."""
  joined = "".join(token_text(t) for t in tokens[1:num_prompt])
  at = joined.index(text) + within
  seen = 0
  for i in range(1, num_prompt):
    length = len(token_text(tokens[i]))
    if seen + length > at:
      return [i, at - seen]
    seen += length
  raise AssertionError(text)


def test_the_tokens_spell_the_prompt(tiny_group):
  tokens, num_prompt = _tokens(tiny_group)
  assert "".join(token_text(t) for t in tokens[1:num_prompt]) == PROMPT


@pytest.mark.parametrize(
  ("start_text", "start_in", "end_text", "end_in", "replacement"),
  [
    ("Cheese", 2, "eggs", 2, ""),  # both ends inside tokens ("Ch|eese" ... "eg|gs")
    ("Cheese", 0, "Cheese", 6, "Tomatoes"),  # a whole word replaced
    ("Lorraine", 3, "Lorraine", 3, " (with ham)"),  # an insertion inside a token
    ("Taste-dislikes", 0, "Suggestion", 0, ""),  # a whole line, at token starts
  ],
)
def test_edited_prompt_removes_or_replaces_exactly_the_ranges(
  tiny_group, start_text, start_in, end_text, end_in, replacement
):
  tokens, num_prompt = _tokens(tiny_group)
  start = _locate(tokens, num_prompt, start_text, start_in)
  end = (
    _locate(tokens, num_prompt, end_text, end_in)
    if end_in < len(end_text)
    else _locate(tokens, num_prompt, end_text, end_in - 1)
  )
  if end_in == len(end_text):  # the boundary just after the text's last character
    end = [end[0], end[1] + 1]
  a = PROMPT.index(start_text) + start_in
  b = PROMPT.index(end_text) + end_in
  edit = edits.apply(
    tokens, num_prompt, PROMPT, [{"start": start, "end": end, "text": replacement}]
  )
  assert edit.edited == PROMPT[:a] + replacement + PROMPT[b:]
  assert edit.original == PROMPT
  (change,) = edit.record["changes"]
  assert (change["start"], change["end"], change["removed"]) == (a, b, PROMPT[a:b])
  assert change["tokens"] == [start, end] and change["text"] == replacement


def test_several_ranges_at_once_and_token_index_boundaries(tiny_group):
  tokens, num_prompt = _tokens(tiny_group)
  line = _locate(tokens, num_prompt, "Suggestion")
  assert line[1] == 0  # a line starts a token
  end_of_line = _locate(tokens, num_prompt, "Analysis")
  cheese = _locate(tokens, num_prompt, "Cheese", 1)
  eggs_end = _locate(tokens, num_prompt, "eggs", 3)
  eggs_end[1] += 1
  given = [
    {"start": line[0], "end": end_of_line[0]},  # plain token indices, removed
    {"start": cheese, "end": eggs_end, "text": "X"},
  ]
  edit = edits.apply(tokens, num_prompt, PROMPT, json.dumps(given))  # JSON text works too
  expected = (
    PROMPT[: PROMPT.index("Cheese") + 1]
    + "X"
    + PROMPT[PROMPT.index("eggs") + 4 : PROMPT.index("Suggestion")]
    + PROMPT[PROMPT.index("Analysis") :]
  )
  assert edit.edited == expected
  assert [c["start"] for c in edit.record["changes"]] == sorted(
    c["start"] for c in edit.record["changes"]
  )


def test_bad_edits_are_clear_errors(tiny_group):
  tokens, num_prompt = _tokens(tiny_group)
  for bad, message in [
    ([], "non-empty list"),
    ("not json", "not valid JSON"),
    ([{"start": 1}], "needs 'start' and 'end'"),
    ([{"start": 0, "end": 2}], "outside the prompt.*token 0 is BOS"),
    ([{"start": 1, "end": num_prompt + 1}], "outside the prompt"),
    ([{"start": [2, 99], "end": 3}], "token 2 .* characters; offset 99"),
    ([{"start": 5, "end": 3}], "'end' comes before 'start'"),
    ([{"start": 2, "end": 6}, {"start": 4, "end": 8}], "overlap"),
    ([{"start": "a", "end": 3}], "token index or \\[token index, character offset\\]"),
    ([{"start": 1, "end": 2, "text": 5}], "'text' must be a text"),
  ]:
    with pytest.raises(inputs.InputError, match=message):
      edits.apply(tokens, num_prompt, PROMPT, bad)


def test_regenerate_through_the_generation_model_and_the_api(tiny_group):
  gen = tiny_group["tiny"]
  tokens, num_prompt = _tokens(tiny_group)
  start = _locate(tokens, num_prompt, "Cheese", 2)
  end = _locate(tokens, num_prompt, "eggs", 2)
  ex = {"prompt": PROMPT, "target": TARGET, "stop": ["\n"], "edits": [{"start": start, "end": end}]}
  (out,) = gen.predict([ex])
  edited = PROMPT[: PROMPT.index("Cheese") + 2] + PROMPT[PROMPT.index("eggs") + 2 :]
  assert out["edited_prompt"] == edited
  assert out["edit"]["edited_prompt"] == edited and out["edit"]["original_prompt"] == PROMPT
  (plain,) = gen.predict([{"prompt": edited, "stop": ["\n"]}])
  assert out["response"] == plain["response"]
  np.testing.assert_allclose(out["prompt_embeddings"], plain["prompt_embeddings"], rtol=1e-6)
  assert "edited_prompt" not in plain

  served = serve_lit(dict(tiny_group))
  try:
    (answer,) = post(served.url, "/get_preds", {"inputs": [lit_example(**ex)]}, model="tiny")
    assert answer["edited_prompt"] == edited and answer["response"] == plain["response"]
    assert (
      answer["edit"]["changes"][0]["removed"]
      == PROMPT[PROMPT.index("Cheese") + 2 : PROMPT.index("eggs") + 2]
    )
    message = post_error(
      served.url,
      "/get_preds",
      {"inputs": [lit_example(**dict(ex, edits=[{"start": 0, "end": 3}]))]},
      model="tiny",
    )
    assert "edits" in message and "outside the prompt" in message
  finally:
    served.close()
