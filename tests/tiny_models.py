"""Tiny causal LMs for tests: a BPE tokenizer trained here and a random Gemma 3."""

from __future__ import annotations

from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from lit_seqsal import datasets

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>"]


# The sample prompts the tiny tokenizers are trained on: a fixed set, so that
# adding sample prompts does not change the tiny models the tests check.
TRAINING_SOURCES = (
  "fewshot-mistake",
  "fewshot-fixed",
  "fewshot-constitution",
  "math-fewshot",
  "headline-generation",
  "ideas-with-principles",
)


def training_text() -> list[str]:
  lines = []
  for ex in datasets.read_examples(datasets.sample_prompts_path()):
    if ex["source"] in TRAINING_SOURCES:
      lines.append(ex["prompt"] + ex["target"])
  return lines


def build_tokenizer(vocab_size: int = 400) -> transformers.PreTrainedTokenizerFast:
  """SentencePiece-style BPE: '▁' marks word starts, newlines are their own tokens."""
  tok = Tokenizer(models.BPE(unk_token="<unk>"))
  tok.pre_tokenizer = pre_tokenizers.Sequence(
    [
      pre_tokenizers.Split("\n", behavior="isolated"),
      pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never"),
    ]
  )
  tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="never")
  trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False)
  tok.train_from_iterator(training_text(), trainer=trainer)
  bos = tok.token_to_id("<bos>")
  tok.post_processor = processors.TemplateProcessing(
    single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos)]
  )
  return transformers.PreTrainedTokenizerFast(
    tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
  )


def build_tiny_hf_model(out_dir: Path, seed: int = 0, arch: str = "gemma3") -> Path:
  """Saves a random tiny causal LM and its tokenizer as a Hugging Face directory.

  arch="gemma3" is the architecture we ship; arch="gpt2" computes entirely in
  the model's dtype (Gemma's RMSNorm upcasts to float32), so float64 finite
  differences are exact enough to check gradients to 1e-6.
  """
  tokenizer = build_tokenizer()
  torch.manual_seed(seed)
  if arch == "gpt2":
    config = transformers.GPT2Config(
      vocab_size=len(tokenizer),
      n_positions=512,
      n_embd=32,
      n_layer=2,
      n_head=2,
      initializer_range=0.3,
      bos_token_id=tokenizer.bos_token_id,
      eos_token_id=tokenizer.eos_token_id,
      pad_token_id=tokenizer.pad_token_id,
    )
    model = transformers.GPT2LMHeadModel(config)
    return _save(model, tokenizer, out_dir)
  config = transformers.Gemma3TextConfig(
    vocab_size=len(tokenizer),
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=16,
    query_pre_attn_scalar=16,
    max_position_embeddings=512,
    # A short window so that sliding attention is really exercised.
    sliding_window=8,
    layer_types=["sliding_attention", "full_attention"],
    initializer_range=0.3,
    pad_token_id=tokenizer.pad_token_id,
    bos_token_id=tokenizer.bos_token_id,
    eos_token_id=tokenizer.eos_token_id,
  )
  model = transformers.Gemma3ForCausalLM(config)
  return _save(model, tokenizer, out_dir)


def _save(model, tokenizer, out_dir) -> Path:
  out_dir = Path(out_dir)
  model.save_pretrained(out_dir)
  tokenizer.save_pretrained(out_dir)
  return out_dir


# A Gemma-style chat template (what instruction-tuned Gemma checkpoints ship).
CHAT_TEMPLATE = (
  "{{ bos_token }}{% for m in messages %}"
  "{% if m['role'] == 'system' %}{{ '<start_of_turn>system\\n' + m['content'] + '<end_of_turn>\\n' }}"
  "{% else %}{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else m['role'])"
  " + '\\n' + m['content'] + '<end_of_turn>\\n' }}{% endif %}{% endfor %}"
  "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)


def build_tiny_chat_model(model_dir, out_dir: Path) -> Path:
  """The tiny model with turn markers as special tokens and CHAT_TEMPLATE."""
  tok = transformers.AutoTokenizer.from_pretrained(model_dir)
  tok.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
  tok.chat_template = CHAT_TEMPLATE
  model = transformers.AutoModelForCausalLM.from_pretrained(model_dir)
  model.resize_token_embeddings(len(tok))
  return _save(model, tok, out_dir)


def transformers_engine_of(model_dir, precision: str = "float32", **kw):
  """A TransformersEngine on a saved model directory, built directly (no model group)."""
  from lit_seqsal.models import transformers_engine

  tok = transformers.AutoTokenizer.from_pretrained(model_dir)
  model = transformers.AutoModelForCausalLM.from_pretrained(model_dir)
  return transformers_engine.TransformersEngine(model, tok, precision=precision, **kw)
