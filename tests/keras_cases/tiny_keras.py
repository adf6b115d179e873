"""Tiny keras-hub causal LMs for tests, saved as Keras presets.

A SentencePiece model is trained here on the sample prompts (Gemma's special
token layout: <pad>=0, <eos>=1, <bos>=2, <unk>=3; newlines kept as pieces), and a
random two-layer Gemma 3 backbone with a sliding window shorter than the prompts
is wrapped in a Gemma3CausalLM and saved with save_to_preset(), so tests load it
through the same public path as real presets.
"""

from __future__ import annotations

import io
from pathlib import Path

import keras
import keras_hub
import sentencepiece as spm

from tests import tiny_models

# Sliding-window layers are every layer but each 6th; 2 layers -> both sliding.
SLIDING_WINDOW = 8


def train_sentencepiece(vocab_size: int = 400) -> bytes:
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
    sentence_iterator=iter(tiny_models.training_text()),
    model_writer=model,
    vocab_size=vocab_size,
    model_type="bpe",
    pad_id=0,
    eos_id=1,
    bos_id=2,
    unk_id=3,
    pad_piece="<pad>",
    eos_piece="<eos>",
    bos_piece="<bos>",
    unk_piece="<unk>",
    user_defined_symbols=["\n\n", "\n", "<start_of_turn>", "<end_of_turn>"],
    normalization_rule_name="identity",
    remove_extra_whitespaces=False,
    add_dummy_prefix=False,
    byte_fallback=True,
    split_digits=True,
    minloglevel=2,
  )
  return model.getvalue()


def build_tiny_gemma3(out_dir: Path, seed: int = 0) -> Path:
  keras.utils.set_random_seed(seed)
  tokenizer = keras_hub.models.Gemma3Tokenizer(proto=train_sentencepiece(), has_vision_tokens=False)
  preprocessor = keras_hub.models.Gemma3CausalLMPreprocessor(
    tokenizer=tokenizer, sequence_length=128
  )
  backbone = keras_hub.models.Gemma3Backbone(
    vocabulary_size=tokenizer.vocabulary_size(),
    image_size=None,
    num_layers=2,
    num_query_heads=2,
    num_key_value_heads=1,
    hidden_dim=32,
    intermediate_dim=64,
    head_dim=16,
    use_sliding_window_attention=True,
    sliding_window_size=SLIDING_WINDOW,
    dtype="float32",
  )
  # Larger random weights than the default init, so salience is not flat.
  for var in backbone.weights:
    if "embeddings" in var.path:
      var.assign(keras.random.normal(var.shape, stddev=0.5, seed=seed))
  causal_lm = keras_hub.models.Gemma3CausalLM(backbone=backbone, preprocessor=preprocessor)
  causal_lm.save_to_preset(str(out_dir))
  return out_dir


def build_tiny_classifier(out_dir: Path) -> Path:
  """A Keras preset that is not a causal LM (a BERT text classifier)."""
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "menu", "cheese"]
  tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab)
  preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=16)
  backbone = keras_hub.models.BertBackbone(
    vocabulary_size=len(vocab),
    num_layers=1,
    num_heads=1,
    hidden_dim=8,
    intermediate_dim=16,
    max_sequence_length=16,
  )
  classifier = keras_hub.models.BertTextClassifier(
    backbone, num_classes=2, preprocessor=preprocessor
  )
  classifier.save_to_preset(str(out_dir))
  return out_dir


def build_tiny_gpt2(out_dir: Path) -> Path:
  """A causal LM of an architecture the Keras engine does not support."""
  vocab = {"<|endoftext|>": 0, "a": 1, "b": 2, "Ġ": 3, "Ġa": 4, "Ġb": 5}
  tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocab, merges=["Ġ a", "Ġ b"])
  preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=16)
  backbone = keras_hub.models.GPT2Backbone(
    vocabulary_size=len(vocab),
    num_layers=1,
    num_heads=1,
    hidden_dim=8,
    intermediate_dim=16,
    max_sequence_length=16,
  )
  keras_hub.models.GPT2CausalLM(backbone, preprocessor=preprocessor).save_to_preset(str(out_dir))
  return out_dir


def build_tiny_phi3(out_dir: Path, seed: int = 0) -> Path:
  """A tiny Phi-3 built in Keras (keras-hub converts no Phi-3 checkpoint), under
  an instruction-tuned name, with the SentencePiece model of tests/families.py
  (Phi-3's turn markers as pieces) kept beside it for the Hugging Face tokenizer."""
  from tests import families

  keras.utils.set_random_seed(seed)
  turns = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>"]
  proto = families.train_sentencepiece(specials=turns, layout="llama", dummy_prefix=True)
  tokenizer = keras_hub.models.Phi3Tokenizer(proto=proto)
  preprocessor = keras_hub.models.Phi3CausalLMPreprocessor(tokenizer, sequence_length=128)
  backbone = keras_hub.models.Phi3Backbone(
    vocabulary_size=tokenizer.vocabulary_size(),
    num_layers=2,
    hidden_dim=32,
    intermediate_dim=64,
    num_query_heads=2,
    num_key_value_heads=1,
    dtype="float32",
  )
  # Weights as large as the Hugging Face tiny models' (initializer_range=0.3), so
  # that salience is not flat.
  for i, var in enumerate(backbone.weights):
    if "embeddings" in var.path or "kernel" in var.path:
      var.assign(keras.random.normal(var.shape, stddev=0.3, seed=seed + i))
  out_dir = Path(out_dir) / "phi3_instruct_tiny"
  keras_hub.models.Phi3CausalLM(backbone=backbone, preprocessor=preprocessor).save_to_preset(
    str(out_dir)
  )
  (out_dir / "tokenizer.model").write_bytes(proto)
  return out_dir
