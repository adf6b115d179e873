"""The bundled sample prompts and user dataset files."""

from __future__ import annotations

import collections
import json

import pytest

from lit_seqsal import datasets


def test_sample_prompts_contents():
  data = datasets.get_datasets(["sample_prompts"])["sample_prompts"]
  by_source = collections.defaultdict(list)
  for ex in data.examples:
    by_source[ex["source"]].append(ex)
    assert ex["prompt"].strip()
  for source in ("fewshot-mistake", "fewshot-fixed", "fewshot-constitution"):
    assert len(by_source[source]) == 1, source
  mistake = by_source["fewshot-mistake"][0]["prompt"]
  fixed = by_source["fewshot-fixed"][0]["prompt"]
  constitution = by_source["fewshot-constitution"][0]["prompt"]
  # The walkthrough's copy-paste mistake, and its fix.
  assert "which you don't like.\nRecommendation: You have to try it." in mistake
  assert "which you don't like.\nRecommendation: Avoid." in fixed
  assert fixed == mistake.replace(
    "you don't like.\nRecommendation: You have to try it.",
    "you don't like.\nRecommendation: Avoid.",
    1,
  )
  assert constitution.startswith(
    "Analyze a menu item in a restaurant.\n\n* The analysis should be brief"
  )
  assert all(
    p.endswith("Suggestion: Quiche Lorraine\nAnalysis:") for p in (mistake, fixed, constitution)
  )
  for source in ("math-fewshot", "headline-generation", "ideas-with-principles"):
    assert len(by_source[source]) >= 3, source
  assert set(data.spec()) == {"source", "prompt", "target", "stop"}


def test_jsonl_and_txt_files(tmp_path):
  jl = tmp_path / "mine.jsonl"
  jl.write_text(
    '{"prompt": "Hello", "target": " world"}\n\n{"prompt": "Bye", "source": "s", "extra": 1}\n'
  )
  txt = tmp_path / "lines.txt"
  txt.write_text("first prompt\n\nsecond prompt\n")
  loaded = datasets.get_datasets([f"a:{jl}", f"b:{txt}"], max_examples=10)
  assert [ex["prompt"] for ex in loaded["a"].examples] == ["Hello", "Bye"]
  assert loaded["a"].examples[0] == {"source": "", "prompt": "Hello", "target": " world"}
  assert [ex["prompt"] for ex in loaded["b"].examples] == ["first prompt", "second prompt"]
  assert len(datasets.get_datasets([f"a:{jl}"], max_examples=1)["a"]) == 1


def test_an_edited_example_keeps_what_was_changed(tmp_path):
  edit = {"original_prompt": "A B", "edited_prompt": "A", "changes": [{"start": 1, "end": 3}]}
  jl = tmp_path / "edited.jsonl"
  jl.write_text(json.dumps({"prompt": "A", "edit": edit}) + "\n")
  (example,) = datasets.get_datasets([f"e:{jl}"])["e"].examples
  assert example["edit"] == edit


@pytest.mark.parametrize(
  ("content", "message"),
  [
    ('{"prompt": "ok"}\n{"prompt": "broken"\n', r"line 2: not valid JSON"),
    ('{"prompt": "ok"}\n\n["a list"]\n', r"line 3: expected a JSON object, got list"),
    ('{"target": "no prompt"}\n', r"line 1: missing the required field 'prompt'"),
    ('{"prompt": 42}\n', r"line 1: field 'prompt' must be a string, got int"),
    ('{"prompt": "x", "target": ["y"]}\n', r"line 1: field 'target' must be a string"),
    ('{"prompt": "  "}\n', r"line 1: field 'prompt' is empty"),
    ('{"prompt": "x", "edit": "removed"}\n', r"line 1: field 'edit' must be an object"),
  ],
)
def test_malformed_jsonl_names_file_and_line(tmp_path, content, message):
  path = tmp_path / "bad.jsonl"
  path.write_text(content)
  with pytest.raises(datasets.DatasetFileError, match=message) as err:
    datasets.get_datasets([f"bad:{path}"])
  assert str(path) in str(err.value)


def test_bad_dataset_configs(tmp_path):
  with pytest.raises(datasets.DatasetFileError, match="does not exist"):
    datasets.get_datasets([f"x:{tmp_path}/missing.jsonl"])
  (tmp_path / "data.csv").write_text("a,b\n")
  with pytest.raises(datasets.DatasetFileError, match="unsupported format"):
    datasets.get_datasets([f"x:{tmp_path}/data.csv"])
  with pytest.raises(ValueError, match="NAME:PATH"):
    datasets.get_datasets(["no_colon"])


def test_loader_for_configure_menu(tmp_path):
  (tmp_path / "p.txt").write_text("one\n")
  cls, spec = datasets.get_dataset_loaders()["prompt_file"]
  assert "path" in spec
  assert cls(path=str(tmp_path / "p.txt")).examples[0]["prompt"] == "one"
