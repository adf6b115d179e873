"""Bad input gets clear errors; tokens follow the contract; loading paths work."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest

from lit_seqsal import contract, errors, inputs, models, options
from lit_seqsal.models import keras_backend, loading
from lit_seqsal.salience import methods

PROMPT = "Suggestion: Onion soup\nAnalysis:"
TARGET = " it has onions.\nRecommendation: Avoid."


def test_group_names_and_specs(tiny_group):
  assert set(tiny_group) == {"tiny", "_tiny_salience", "_tiny_tokenizer"}
  sal = tiny_group["_tiny_salience"]
  assert set(sal.input_spec()) == {
    "prompt",
    "target",
    "target_mask",
    "salience_methods",
    "occlusion_granularity",
    "ig_steps",
    "foil",
    "messages",
    "check",
    "check_granularity",
  }
  assert not any(sal.input_spec()[k].required for k in set(sal.input_spec()) - {"prompt"})
  assert sal.input_spec()["check"].vocab == list(methods.REGISTRY)
  out = sal.output_spec()
  # The check's record: a JSON object in a type LIT's client leaves alone.
  assert type(out["check"]) is contract.JsonRecord and not out["check"].required
  gen = tiny_group["tiny"]
  assert {"edits"} <= set(gen.input_spec()) and not gen.input_spec()["edits"].required
  assert {"edited_prompt", "edit"} <= set(gen.output_spec())
  for method in ("grad_l2", "grad_dot_input", "integrated_gradients", "occlusion"):
    assert out[method].align == "tokens"
  # Required: always returned; not required: computed when asked for.
  assert out["grad_l2"].required and not out["occlusion"].required
  assert tiny_group["tiny"].output_spec()["response"].parent == "target"


def test_tokens_contract(tiny_group):
  ex = {"prompt": "Analyze a menu item.\n\nTaste-likes: Cheese", "target": " Avoid it."}
  tokens = tiny_group["_tiny_tokenizer"].predict([ex])[0]["tokens"]
  sal = tiny_group["_tiny_salience"].predict([ex])[0]
  assert tokens == sal["tokens"]
  assert tokens[0] == "<bos>"
  assert "\n" in tokens  # newlines kept as \n
  assert any(t.startswith("▁") for t in tokens)  # word starts marked
  assert "".join(tokens[1:]).replace("▁", " ") == ex["prompt"] + ex["target"]
  assert len(sal["grad_l2"]) == len(sal["grad_dot_input"]) == len(tokens)


def test_byte_level_tokens_are_cleaned(tiny_group):
  engine = tiny_group["tiny"].engine
  saved = engine.token_kind
  try:
    engine.token_kind = "byte_level"
    # GPT-2 byte-level spellings: "Ġ" is a space, "Ċ" a newline.
    engine.tokenizer.convert_ids_to_tokens = lambda ids: ["ĠHello", "Ċ", "world"]
    assert engine.token_strings([0, 1, 2]) == ["▁Hello", "\n", "world"]
  finally:
    engine.token_kind = saved
    del engine.tokenizer.convert_ids_to_tokens


def test_generation_is_greedy_and_padding_invariant(tiny_group):
  gen = tiny_group["tiny"]
  alone = gen.predict([{"prompt": PROMPT}])[0]["response"]
  batch = gen.predict([{"prompt": "Hi"}, {"prompt": PROMPT}, {"prompt": PROMPT * 4}])
  assert batch[1]["response"] == alone
  assert alone == gen.predict([{"prompt": PROMPT}])[0]["response"]
  assert batch[1]["prompt_embeddings"].shape == (32,)


@pytest.mark.parametrize(
  ("example", "message"),
  [
    ({"prompt": ""}, "'prompt'"),
    ({"prompt": "   \n"}, "empty"),
    ({"target": "x"}, "'prompt'"),
    ({"prompt": "Hi", "target": ""}, "Nothing to explain"),
    ({"prompt": "Hi"}, "Nothing to explain"),
    ({"prompt": "Hi", "target": " there", "target_mask": [0, 1]}, "tokens"),
    ({"prompt": "Hi", "target": " there", "target_mask": [0, 0, 0, 0, 0]}, "selects no target"),
    ({"prompt": "Hi", "target": " there", "target_mask": [1, 0, 0, 0, 0]}, "selects no target"),
    ({"prompt": "Hi", "target": " there", "target_mask": [0, 2, 0, 0, 0]}, "0 and 1"),
    ({"prompt": "Hi", "target": 5}, "'target'"),
  ],
)
def test_bad_salience_inputs(tiny_group, example, message):
  sal = tiny_group["_tiny_salience"]
  if "target_mask" in example:  # make the mask length match except where tested
    n = len(tiny_group["_tiny_tokenizer"].predict([example])[0]["tokens"])
    if message != "tokens":
      example["target_mask"] = (example["target_mask"] + [0] * n)[:n]
  with pytest.raises(inputs.InputError, match=message):
    sal.predict([example])


def test_too_long_inputs_are_refused_with_limits(tiny_model_dir):
  group = models.load_model_group("short", tiny_model_dir, max_length=16)
  long_prompt = "Taste-likes: Cheese and more cheese " * 10
  with pytest.raises(inputs.InputError, match=r"maximum of 16 tokens"):
    group["_short_salience"].predict([{"prompt": long_prompt, "target": " yes"}])
  with pytest.raises(inputs.InputError, match=r"maximum of 16 tokens"):
    group["short"].predict([{"prompt": long_prompt}])
  # The model still works for inputs that fit.
  assert group["short"].predict([{"prompt": "Hi"}])[0]["response"] is not None


def test_config_errors():
  with pytest.raises(ValueError, match=r"dl_framework.*allowed values: auto, transformers"):
    models.load_model_group("x", "bundled", dl_framework="tensorflowhub")
  with pytest.raises(ValueError, match=r"precision.*float32, bfloat16"):
    models.load_model_group("x", "bundled", precision="float16")
  with pytest.raises(FileNotFoundError, match="does not exist"):
    models.get_models(["x:/no/such/model_dir"])
  with pytest.raises(ValueError, match="expected NAME:PATH"):
    models.get_models(["just_a_name"])
  with pytest.raises(ValueError, match="used twice"):
    models.get_models(["a:/no/x", "a:/no/y"])
  # Framework/runtime/sampler combinations are checked before any loading.
  with pytest.raises(
    ValueError,
    match=r"dl_runtime for dl_framework=transformers 'tensorflow'"
    ".*allowed values: torch",
  ):
    models.get_models(["x:/no/x"], dl_framework="transformers", dl_runtime="tensorflow")
  with pytest.raises(ValueError, match=r"dl_framework=kerasnlp 'theano'.*tensorflow, torch, jax"):
    models.get_models(["x:/no/x"], dl_framework="kerasnlp", dl_runtime="theano")
  with pytest.raises(ValueError, match="sampler='top_k' is only available with the Keras"):
    models.get_models(["x:/no/x"], sampler="top_k")
  assert options.ModelOptions(dl_framework="kerasnlp").runtime == "tensorflow"
  assert options.ModelOptions(dl_framework="transformers").runtime == "torch"


def test_directory_that_is_not_a_model(tmp_path):
  (tmp_path / "notes.txt").write_text("hello")
  with pytest.raises(ValueError, match="Could not load a causal LM"):
    models.load_model_group("x", str(tmp_path))


def test_tar_gz_archive_loads_same_model(tiny_model_dir, tiny_group, tmp_path, monkeypatch):
  monkeypatch.setenv("LIT_SEQSAL_CACHE", str(tmp_path / "cache"))
  archive = tmp_path / "tiny.tar.gz"
  with tarfile.open(archive, "w:gz") as tar:
    tar.add(tiny_model_dir, arcname="tiny_model")
  group = models.load_model_group("arch", str(archive))
  ex = {"prompt": PROMPT, "target": TARGET}
  got = group["_arch_salience"].predict([ex])[0]
  want = tiny_group["_tiny_salience"].predict([ex])[0]
  np.testing.assert_allclose(got["grad_l2"], want["grad_l2"], rtol=1e-6)
  # Extracted once into the cache; loading again reuses that directory.
  models.load_model_group("again", str(archive))
  assert len(list((tmp_path / "cache" / "archives").iterdir())) == 1


# -- which framework a model runs on -------------------------------------------


def test_keras_hub_preset_names_pick_keras():
  """Without --dl_framework, what only keras-hub loads goes to Keras; the rest to
  transformers; an explicit framework always wins. The preset names are keras-hub's
  own (read offline from its package, or the snapshot of them we ship)."""
  auto = options.ModelOptions()
  assert auto.is_auto and auto.checked().is_auto
  for keras_path in (
    "gemma2_instruct_2b_en",  # the walkthrough's preset
    "gemma3_instruct_1b",
    "llama3_8b_en",
    "kaggle://keras/gemma2/keras/gemma2_instruct_2b_en/1",
    "hf://keras/gemma-2-2b",
  ):
    assert models.choose_framework(keras_path, auto) == "kerasnlp", keras_path
  for hf_path in ("google/gemma-2-2b-it", "bundled", "gpt2", "./some/dir"):
    assert models.choose_framework(hf_path, auto) == "transformers", hf_path
  given = options.ModelOptions(dl_framework="kerashub")
  assert models.choose_framework("google/gemma-2-2b-it", given) == "kerashub"
  assert loading.snapshot_keras_presets() <= loading.keras_preset_names()
  # A keras-hub name never goes to the Hugging Face Hub (which cannot know it).
  with pytest.raises(errors.SetupError, match=r"keras-hub preset name, which transformers cannot"):
    models.get_models(["g:gemma2_instruct_2b_en"], dl_framework="transformers")


def test_keras_preset_directory_picks_keras(tmp_path, tiny_model_dir):
  preset = tmp_path / "preset"
  preset.mkdir()
  # What keras-hub's save_to_preset writes beside the weights.
  (preset / "metadata.json").write_text(json.dumps({"keras_version": "3.15.1"}))
  assert models.choose_framework(str(preset), options.ModelOptions()) == "kerasnlp"
  assert models.choose_framework(tiny_model_dir, options.ModelOptions()) == "transformers"


def test_preset_without_the_keras_extra_fails_at_once(monkeypatch):
  monkeypatch.setattr(keras_backend, "missing_packages", lambda runtime=None: ["keras_hub"])
  with pytest.raises(errors.SetupError) as err:
    models.get_models(["g:/no/such/dir", "gemma2_2b_it:gemma2_instruct_2b_en"])
  message = str(err.value)
  assert "pip install 'lit-seqsal[keras]'" in message and "--dl_framework" in message
  assert "'gemma2_instruct_2b_en' is a keras-hub preset name" in message
  # The notebook widget follows the same rule (its default without Keras is auto).
  from lit_seqsal import notebook

  with pytest.raises(errors.SetupError, match=r"lit-seqsal\[keras\]"):
    notebook.make_notebook_widget(["sample_prompts"], ["gemma2_2b_it:gemma2_instruct_2b_en"])
