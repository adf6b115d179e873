"""End to end on the bundled Gemma 3 270M: the walkthrough's fewshot-mistake prompt."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lit_seqsal import datasets
from lit_seqsal.components import interpreters

pytestmark = [pytest.mark.bundled, pytest.mark.slow]


@pytest.fixture(scope="module")
def menu():
  return {e["source"]: e for e in datasets.read_examples(datasets.sample_prompts_path())}


@pytest.fixture(scope="module")
def mistake_generation(bundled_group, menu):
  response = bundled_group["gemma"].predict([{"prompt": menu["fewshot-mistake"]["prompt"]}])[0][
    "response"
  ]
  return response.split("\n\n")[0]  # the model's answer for the new menu item


def _line_scores(tokens, scores):
  """Sums token scores per line (the walkthrough's 'Lines' granularity)."""
  lines, text, total = [], "", 0.0
  for tok, s in zip(tokens[1:], scores[1:]):
    if "\n" in tok:
      lines.append((text, total))
      text, total = "", 0.0
    else:
      text += tok.replace("▁", " ")
      total += s
  lines.append((text, total))
  return [(t, s) for t, s in lines if t]


def _recommendation_mask(tokens, prompt_len_chars):
  """Mask over the target's 'Recommendation: ...' line."""
  mask, pos, start = np.zeros(len(tokens)), 0, None
  text = "".join(t.replace("▁", " ") for t in tokens[1:])
  start = text.index("Recommendation", prompt_len_chars)
  for i, tok in enumerate(tokens[1:], start=1):
    if pos >= start and "\n" not in tok:
      mask[i] = 1
    pos += len(tok)
  return mask


def test_generation_continues_the_pattern(mistake_generation):
  assert "\nRecommendation:" in mistake_generation


def test_tokens_follow_contract_on_gemma(bundled_group, menu):
  ex = menu["fewshot-mistake"]
  tokens = bundled_group["_gemma_tokenizer"].predict([ex])[0]["tokens"]
  assert tokens[0] == "<bos>"
  assert "\n\n" in tokens and any(t.startswith("▁") for t in tokens)
  assert "".join(tokens[1:]).replace("▁", " ") == ex["prompt"] + ex["target"]


def test_recommendation_salience_lands_on_the_faulty_example(
  bundled_group, menu, mistake_generation
):
  ex = {"prompt": menu["fewshot-mistake"]["prompt"], "target": mistake_generation}
  tokens = bundled_group["_gemma_tokenizer"].predict([ex])[0]["tokens"]
  mask = _recommendation_mask(tokens, len(ex["prompt"]))
  out = bundled_group["_gemma_salience"].predict([ex | {"target_mask": mask.tolist()}])[0]
  assert len(out["tokens"]) == len(out["grad_l2"]) == len(out["grad_dot_input"])
  first_target = int(np.argmax(mask))
  assert np.all(out["grad_l2"][first_target + 1 :][mask[first_target + 1 :] == 1] >= 0)
  lines = _line_scores(out["tokens"], out["grad_l2"])
  # The three few-shot examples are lines 2..16 (five lines each).
  examples = lines[2:17]
  best = max(range(len(examples)), key=lambda i: examples[i][1])
  assert best < 5, f"expected the first (faulty) example to be most salient, got {examples[best]}"
  assert examples[best][0].startswith(("Analysis", "Recommendation"))


def test_matches_full_logits_reference_on_gemma(bundled_group, menu, mistake_generation):
  engine = bundled_group["gemma"].engine
  ex = {"prompt": menu["fewshot-mistake"]["prompt"], "target": mistake_generation}
  out = bundled_group["_gemma_salience"].predict([ex])[0]
  ids = engine.encode(ex["prompt"] + ex["target"])
  n_prompt = len(engine.encode(ex["prompt"]))
  embs = engine.model.get_input_embeddings()(torch.tensor([ids])).detach().requires_grad_(True)
  logits = engine.model(inputs_embeds=embs, use_cache=False).logits[0]  # every position
  token_lp = torch.log_softmax(logits[:-1].float(), -1)[
    torch.arange(len(ids) - 1), torch.tensor(ids[1:])
  ]
  (grad,) = torch.autograd.grad(token_lp[n_prompt - 1 :].sum(), embs)
  scale = out["grad_l2"].max()
  np.testing.assert_allclose(out["grad_l2"], grad[0].norm(dim=-1).numpy(), atol=1e-4 * scale)
  np.testing.assert_allclose(
    out["grad_dot_input"], (grad[0] * embs[0]).sum(-1).detach().numpy(), atol=1e-4 * scale
  )


def test_integrated_gradients_and_occlusion_on_gemma(bundled_group, menu, mistake_generation):
  """The interpreters on the bundled model, for the walkthrough's selection."""
  ex = {"prompt": menu["fewshot-mistake"]["prompt"], "target": mistake_generation}
  tokens = bundled_group["_gemma_tokenizer"].predict([ex])[0]["tokens"]
  selected = ex | {"target_mask": _recommendation_mask(tokens, len(ex["prompt"])).tolist()}
  model = bundled_group["gemma"]

  (ig,) = interpreters.IntegratedGradientsInterpreter().run([selected], model, None)
  change = ig["log_likelihood_change"]
  assert abs(change) > 1.0
  assert abs(ig["attribution_sum"] - change) <= 0.05 * abs(change)  # completeness, default steps

  (occ,) = interpreters.OcclusionInterpreter().run(
    [selected], model, None, config={"granularity": "lines"}
  )
  lines = [s for s in occ["segments"] if s["text"].strip()]
  assert lines[0]["text"].startswith("Analyze a menu item") and len(lines) > 16
  # Deleting the faulty example's recommendation makes the mistake less likely:
  # it is among the lines whose deletion costs the selection the most.
  ranked = sorted(lines, key=lambda s: -s["score"])
  faulty = next(s for s in lines if s["text"].startswith("Recommendation: You have to try it"))
  assert faulty in ranked[:3], [(s["text"][:40], round(s["score"], 2)) for s in ranked[:5]]


def test_why_you_have_to_try_it_and_not_avoid(bundled_group):
  """The walkthrough's question, contrastively: the recommendation "You have to
  try it." against "Avoid.", on the bundled Gemma."""
  from lit_seqsal.engine.encoding import encode_example
  from lit_seqsal.inputs import contiguous_span

  ex = next(e for e in datasets.read_examples(datasets.sample_prompts_path()) if e.get("foil"))
  ex = {k: ex[k] for k in ("prompt", "target", "foil")}
  engine = bundled_group["gemma"].engine
  encoded = encode_example(engine, ex)
  start, end = contiguous_span(encoded.mask)
  out = bundled_group["_gemma_salience"].predict([ex])[0]
  # Against a direct computation: two full-logit passes sharing one context tensor.
  emb = engine.model.get_input_embeddings()
  ids = list(encoded.ids)
  ctx = emb(torch.tensor(ids[:start])).detach().requires_grad_(True)

  def loglik(continuation):
    seq = ids[:start] + list(continuation)
    embs = torch.cat([ctx, emb(torch.tensor(list(continuation))).detach()])
    logits = engine.model(inputs_embeds=embs[None], use_cache=False).logits[0]
    lp = torch.log_softmax(logits[:-1].float(), -1)[
      torch.arange(len(seq) - 1), torch.tensor(seq[1:])
    ]
    return lp[start - 1 :].sum()

  (grad,) = torch.autograd.grad(loglik(ids[start:end]) - loglik(encoded.foil_ids), ctx)
  want = grad.norm(dim=-1).numpy()
  np.testing.assert_allclose(out["grad_l2"][:start], want, atol=1e-4 * want.max())
  assert out["alternatives"][0][0] == "▁You"  # the model's own first choice
  # Which example drove the difference: deleting the faulty example (onion soup,
  # "You have to try it.") changes it most, after the menu item itself.
  (occ,) = interpreters.OcclusionInterpreter().run(
    [ex], bundled_group["gemma"], None, config={"granularity": "paragraphs"}
  )
  ranked = sorted(occ["segments"], key=lambda s: -s["score"])
  examples = [s for s in ranked if "Quiche Lorraine" not in s["text"]]
  assert "Onion soup" in examples[0]["text"], [(s["text"][:50], s["score"]) for s in ranked]


def test_the_sample_chat_example_has_turns_on_the_bundled_model(bundled_group, menu):
  """Its prompt is in Gemma's chat format: the bundled Gemma (no chat template) tags the
  turns from the markers, so the client offers Turns; its end of turn stops generation."""
  engine = bundled_group["gemma"].engine
  assert not engine.uses_chat_template and engine.turn_markers == (
    "<start_of_turn>",
    "<end_of_turn>",
  )
  assert engine.tokenizer.convert_tokens_to_ids("<end_of_turn>") in engine.stop_ids
  ex = {k: v for k, v in menu["chat-cooking-assistant"].items() if k != "messages"}
  out = bundled_group["_gemma_tokenizer"].predict([ex])[0]
  tokens, turns = out["tokens"], out["token_turns"]

  def text(tag: str) -> str:
    return "".join(t for t, g in zip(tokens, turns) if g == tag).replace("▁", " ")

  assert text("0:user").endswith("Is a quiche a good choice for lunch?")
  assert text("1:model").startswith("No: a quiche is made with eggs")
  assert text("2:user") == "What could I order instead at a French bistro?"
  assert text("3:model") == ex["target"]
