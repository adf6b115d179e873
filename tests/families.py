"""Tiny random causal LMs of every family we support, built here, and the matrix of
what the tests prove for each (docs/models.md's table is generated from it).

Each family gets a tokenizer of its kind trained here on the sample prompts
plus text in Chinese, Japanese, emoji and accented Latin (byte-level BPE as
Llama 3, Qwen, GPT-NeoX and OLMo; SentencePiece with byte fallback as Gemma,
Mistral and Phi-3), its special tokens and a chat template written like the
family's own, and a two-layer model with random weights, saved as a Hugging
Face directory. keras-hub converts most of them (`KERAS_FROM_HF`); the Keras
tests build the others in Keras (tests/keras_cases/tiny_keras.py).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from tests import tiny_models

# Text in scripts and symbols whose characters byte-level tokens split.
MULTILINGUAL = (
  "我喜欢吃苹果。今天天气很好！你呢？",
  "中文的句子没有空格。每个字都是一个音节。",
  "今日は良い天気ですね。明日も晴れるでしょう！",
  "東京の桜はとても綺麗です。",
  "Café crème, naïve façade, señor, Ærøskøbing.",
  "Emoji: 😀 🎉 👍🏽 ❤️ and 🇯🇵 flags.",
)
# Prompts the spelling tests check (not in the training text, so some of their
# characters are split over byte tokens).
SPELLING_PROMPTS = (
  "北京是中国的首都。上海是最大的城市！",
  "日本語の文章には空白がありません。漢字とひらがなを使います。",
  "Smile 😀😂🤖 and wave 👋🏿 at the café in Zürich.",
  "Ærø, Øresund and Ångström: déjà vu.",
)


# Prompts for the generation tests: with random weights some end at once.
GENERATION_PROMPTS = (
  "Taste-likes: Cheese\nSuggestion: Onion soup\nAnalysis:",
  "Headline:",
  "今天天气",
  "Recommendation: Avoid. Why?",
)
CONVERSATION = [
  {"role": "user", "content": "Is a cake fine?"},
  {"role": "assistant", "content": "No, it has eggs."},
  {"role": "user", "content": "What instead? 用中文。"},
]


def assert_generation_stops(gen) -> None:
  """A generation model (either framework) ends its response where a stop
  sequence starts, and a stop sequence that never occurs changes nothing."""
  # Random weights: some prompts end at once; take the first that goes on.
  prompts = [{"prompt": p} for p in GENERATION_PROMPTS]
  prompt, full = next(
    ((p, r["response"]) for p, r in zip(prompts, gen.predict(prompts)) if len(r["response"]) >= 2),
    (None, ""),
  )
  assert prompt is not None, "every generation ended at once"
  middle = full[len(full) // 2 : len(full) // 2 + (2 if len(full) > 4 else 1)]
  assert gen.predict([prompt | {"stop": [middle]}])[0]["response"] == full[: full.find(middle)]
  assert gen.predict([prompt | {"stop": ["\u2603never"]}])[0]["response"] == full


def assert_chat_matches(engine, tokenizer) -> None:
  """An engine encodes CONVERSATION as the Hugging Face `tokenizer`'s chat
  template does, and tags each turn's tokens with its turn and role."""
  ids, tags = engine.encode_chat(CONVERSATION)
  theirs = tokenizer.apply_chat_template(
    CONVERSATION, tokenize=True, add_generation_prompt=True, return_dict=True
  )["input_ids"]
  assert list(ids) == list(theirs)
  tokens = engine.token_strings(ids)
  for turn, message in enumerate(CONVERSATION):
    # A token holding template text and content (Mistral's "[INST] " + "Is" as
    # "▁Is") is the template's: a turn's tokens are its content, less at most
    # such a first token.
    text = "".join(t for t, g in zip(tokens, tags) if g == f"{turn}:{message['role']}")
    text = text.replace("▁", " ").strip()
    assert text and message["content"].endswith(text)
    assert len(message["content"]) - len(text) <= 2, (text, message)


def training_text() -> list[str]:
  return tiny_models.training_text() + list(MULTILINGUAL) * 3


# -- tokenizers ---------------------------------------------------------------


def byte_level_tokenizer(bos: str | None, eos: str, pad: str, specials=(), vocab_size: int = 700):
  """GPT-2 style byte-level BPE (Llama 3, Qwen, GPT-NeoX, OLMo)."""
  import transformers
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

  tok = Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
  tok.decoder = decoders.ByteLevel()
  names = list(dict.fromkeys([t for t in (bos, eos, pad, *specials) if t]))
  trainer = trainers.BpeTrainer(
    vocab_size=vocab_size,
    special_tokens=names,
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    show_progress=False,
  )
  tok.train_from_iterator(training_text(), trainer=trainer)
  if bos:
    tok.post_processor = processors.TemplateProcessing(
      single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, tok.token_to_id(bos))]
    )
  else:
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
  extra = [t for t in specials if t not in (bos, eos, pad)]
  return transformers.PreTrainedTokenizerFast(
    tokenizer_object=tok,
    bos_token=bos,
    eos_token=eos,
    pad_token=pad,
    additional_special_tokens=extra,
  )


def train_sentencepiece(
  *, specials=(), layout="gemma", dummy_prefix: bool = False, vocab_size: int = 500
) -> bytes:
  """A SentencePiece BPE model with byte fallback. layout "gemma": <pad>=0,
  <eos>=1, <bos>=2, <unk>=3 (Gemma); "llama": <unk>=0, <s>=1, </s>=2 (Llama 2,
  Mistral, Phi-3), with `dummy_prefix` as those add a space before a text."""
  import sentencepiece as spm

  ids = (
    dict(pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>")
    | dict(bos_piece="<bos>", unk_piece="<unk>")
    if layout == "gemma"
    else dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1, bos_piece="<s>", eos_piece="</s>")
  )
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
    sentence_iterator=iter(training_text()),
    model_writer=model,
    vocab_size=vocab_size,
    model_type="bpe",
    user_defined_symbols=["\n\n", "\n", *specials],
    normalization_rule_name="identity",
    remove_extra_whitespaces=False,
    add_dummy_prefix=dummy_prefix,
    byte_fallback=True,
    split_digits=True,
    character_coverage=1.0,
    minloglevel=2,
    **ids,
  )
  return model.getvalue()


def sentencepiece_tokenizer(out_dir: Path, proto: bytes, cls: str, **tokens):
  """A Hugging Face tokenizer converted from a SentencePiece model (kept in
  `out_dir` as tokenizer.model, which keras-hub's converters read)."""
  import transformers

  out_dir.mkdir(parents=True, exist_ok=True)
  (out_dir / "tokenizer.model").write_bytes(proto)
  config = {"tokenizer_class": cls, **tokens}
  (out_dir / "tokenizer_config.json").write_text(json.dumps(config))
  return transformers.AutoTokenizer.from_pretrained(out_dir)


# -- chat templates, written like each family's own -----------------------------

GEMMA_TEMPLATE = tiny_models.CHAT_TEMPLATE.replace(
  # Gemma's own: a system message opens the first user turn.
  "{% if m['role'] == 'system' %}{{ '<start_of_turn>system\\n' + m['content'] + '<end_of_turn>\\n' }}",
  "{% if m['role'] == 'system' %}{{ '<start_of_turn>user\\n' + m['content'] + '\\n\\n' }}",
)
GEMMA4_TEMPLATE = (
  "{{ bos_token }}{% for m in messages %}{{ '<|turn>' + ('model' if m['role'] == 'assistant'"
  " else m['role']) + '\\n' + m['content'] + '<turn|>\\n' }}{% endfor %}"
  "{% if add_generation_prompt %}{{ '<|turn>model\\n' }}{% endif %}"
)
LLAMA3_TEMPLATE = (
  "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] +"
  " '<|end_header_id|>\\n\\n' + m['content'] + '<|eot_id|>' }}{% endfor %}"
  "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
  "{% endif %}"
)
CHATML_TEMPLATE = (
  "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] +"
  " '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
  "{% endif %}"
)
PHI3_TEMPLATE = (
  "{{ bos_token }}{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] +"
  " '<|end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
MISTRAL_TEMPLATE = (
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}"
  "{{ '[INST] ' + m['content'] + ' [/INST]' }}{% else %}{{ m['content'] + eos_token }}"
  "{% endif %}{% endfor %}"
)


# -- the families ---------------------------------------------------------------


@dataclass(frozen=True)
class Case:
  """One family as the tests build it."""

  name: str  # as the docs table shows it
  key: str
  tokenizer_kind: str  # "byte_level" or "sentencepiece"
  chat: bool = True  # an instruction-tuned form with a chat template is tested
  keras: str = ""  # "hf": keras-hub converts the HF directory; "native": built in Keras
  image_text: bool = False  # the image-text class (Gemma 3, Gemma 4)
  notes: str = ""
  extra: dict = field(default_factory=dict)


CASES = (
  Case("Gemma 2", "gemma2", "sentencepiece", keras="hf"),
  Case("Gemma 3", "gemma3", "sentencepiece", keras="hf"),
  Case("Gemma 3 (image-text)", "gemma3_it", "sentencepiece", chat=False, image_text=True),
  Case("Gemma 4", "gemma4", "sentencepiece", keras="hf"),
  Case("Gemma 4 (image-text)", "gemma4_it", "sentencepiece", chat=False, image_text=True),
  Case("Llama 3", "llama", "byte_level", keras="hf"),
  Case("Mistral", "mistral", "sentencepiece", keras="hf"),
  Case("Qwen 2", "qwen2", "byte_level", keras="hf"),
  Case("Qwen 3", "qwen3", "byte_level", keras="hf"),
  Case("Phi-3", "phi3", "sentencepiece", keras="native"),
  Case("GPT-NeoX (Pythia)", "gpt_neox", "byte_level", chat=False),
  Case("OLMo 2", "olmo2", "byte_level", chat=False),
  Case("GPT-2", "gpt2", "byte_level", chat=False),
)
BY_KEY = {c.key: c for c in CASES}
SLIDING_WINDOW = 8  # shorter than the test prompts, so sliding attention is exercised

_SMALL = dict(
  hidden_size=32,
  intermediate_size=64,
  num_hidden_layers=2,
  num_attention_heads=2,
  num_key_value_heads=1,
  max_position_embeddings=512,
  initializer_range=0.3,
)


def _tokenizer(key: str, out_dir: Path):
  if key.startswith(("gemma2", "gemma3")):
    proto = train_sentencepiece(specials=["<start_of_turn>", "<end_of_turn>"])
    tok = sentencepiece_tokenizer(
      out_dir, proto, "GemmaTokenizer", bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"
    )
    tok.chat_template = GEMMA_TEMPLATE
    return tok
  if key.startswith("gemma4"):
    proto = train_sentencepiece(specials=["<|turn>", "<turn|>"])
    tok = sentencepiece_tokenizer(
      out_dir, proto, "GemmaTokenizer", bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"
    )
    media = ["<|image>", "<image|>", "<|image|>", "<|video|>", "<|audio|>"]
    tok.add_special_tokens(
      {"additional_special_tokens": ["<|turn>", "<turn|>", *(media if key == "gemma4_it" else [])]}
    )
    tok.chat_template = GEMMA4_TEMPLATE
    return tok
  if key == "mistral":
    proto = train_sentencepiece(specials=["[INST]", "[/INST]"], layout="llama", dummy_prefix=True)
    tok = sentencepiece_tokenizer(
      out_dir, proto, "LlamaTokenizer", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    tok.add_special_tokens({"additional_special_tokens": ["[INST]", "[/INST]"]})
    tok.chat_template = MISTRAL_TEMPLATE
    return tok
  if key == "phi3":
    turns = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>"]
    proto = train_sentencepiece(specials=turns, layout="llama", dummy_prefix=True)
    tok = sentencepiece_tokenizer(
      out_dir, proto, "LlamaTokenizer", bos_token="<s>", eos_token="<|endoftext|>"
    )
    tok.add_special_tokens({"additional_special_tokens": turns})
    tok.chat_template = PHI3_TEMPLATE
    return tok
  if key == "llama":
    tok = byte_level_tokenizer(
      "<|begin_of_text|>",
      "<|end_of_text|>",
      "<|end_of_text|>",
      ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    )
    tok.chat_template = LLAMA3_TEMPLATE
    return tok
  if key in ("qwen2", "qwen3"):
    tok = byte_level_tokenizer(
      None, "<|endoftext|>", "<|endoftext|>", ["<|im_start|>", "<|im_end|>"]
    )
    tok.chat_template = CHATML_TEMPLATE
    return tok
  if key in ("gpt_neox", "olmo2", "gpt2"):
    return byte_level_tokenizer("<|endoftext|>", "<|endoftext|>", "<|padding|>")
  raise ValueError(key)


def _config(key: str, tok):
  import transformers

  ids = dict(
    vocab_size=len(tok),
    pad_token_id=tok.pad_token_id,
    bos_token_id=tok.bos_token_id,
    eos_token_id=tok.eos_token_id,
  )
  gemma = dict(_SMALL, head_dim=16, **ids)
  if key == "gemma2":
    # Soft-capping of logits and attention, alternating sliding-window layers.
    return transformers.Gemma2ForCausalLM, transformers.Gemma2Config(
      **gemma,
      query_pre_attn_scalar=16,
      sliding_window=SLIDING_WINDOW,
      final_logit_softcapping=5.0,
      attn_logit_softcapping=5.0,
      layer_types=["sliding_attention", "full_attention"],
    )
  if key in ("gemma3", "gemma3_it"):
    text = transformers.Gemma3TextConfig(
      **gemma,
      query_pre_attn_scalar=16,
      sliding_window=SLIDING_WINDOW,
      # Gemma 3's pattern (five sliding layers, then a global one) as keras-hub
      # converts it: the first two layers slide. (Gemma 2 here alternates.)
      layer_types=["sliding_attention", "sliding_attention"],
    )
    if key == "gemma3":
      return transformers.Gemma3ForCausalLM, text
    vision = transformers.SiglipVisionConfig(
      hidden_size=16,
      intermediate_size=32,
      num_hidden_layers=1,
      num_attention_heads=2,
      image_size=28,
      patch_size=14,
    )
    return transformers.Gemma3ForConditionalGeneration, transformers.Gemma3Config(
      text_config=text.to_dict(),
      vision_config=vision.to_dict(),
      mm_tokens_per_image=4,
      boi_token_index=tok.bos_token_id,
      eoi_token_index=tok.eos_token_id,
      image_token_index=tok.unk_token_id,
      **{k: v for k, v in ids.items() if k != "vocab_size"},
    )
  if key in ("gemma4", "gemma4_it"):
    text = transformers.Gemma4TextConfig(
      **gemma,
      sliding_window=SLIDING_WINDOW,
      layer_types=["sliding_attention", "full_attention"],
      # Per-layer embeddings (Gemma 4's small models): looked up from token ids.
      hidden_size_per_layer_input=8,
      vocab_size_per_layer_input=len(tok),
      global_head_dim=16,
    )
    if key == "gemma4":
      return transformers.Gemma4ForCausalLM, text
    vision = transformers.Gemma4VisionConfig(
      hidden_size=16,
      intermediate_size=32,
      num_hidden_layers=1,
      num_attention_heads=2,
      num_key_value_heads=2,
      head_dim=8,
    )
    media = {
      f"{name}_token_id": tok.convert_tokens_to_ids(token)
      for name, token in [
        ("boi", "<|image>"),
        ("eoi", "<image|>"),
        ("image", "<|image|>"),
        ("video", "<|video|>"),
        ("audio", "<|audio|>"),
      ]
    }
    return transformers.Gemma4ForConditionalGeneration, transformers.Gemma4Config(
      text_config=text.to_dict(), vision_config=vision.to_dict(), audio_config=None, **media
    )
  if key == "llama":
    return transformers.LlamaForCausalLM, transformers.LlamaConfig(**_SMALL, head_dim=16, **ids)
  if key == "mistral":
    return transformers.MistralForCausalLM, transformers.MistralConfig(
      **_SMALL, head_dim=16, sliding_window=SLIDING_WINDOW, **ids
    )
  if key == "qwen2":
    return transformers.Qwen2ForCausalLM, transformers.Qwen2Config(**_SMALL, **ids)
  if key == "qwen3":
    return transformers.Qwen3ForCausalLM, transformers.Qwen3Config(**_SMALL, head_dim=16, **ids)
  if key == "phi3":
    return transformers.Phi3ForCausalLM, transformers.Phi3Config(**_SMALL, **ids)
  if key == "gpt_neox":
    small = {k: v for k, v in _SMALL.items() if k != "num_key_value_heads"}
    return transformers.GPTNeoXForCausalLM, transformers.GPTNeoXConfig(**small, **ids)
  if key == "olmo2":
    return transformers.Olmo2ForCausalLM, transformers.Olmo2Config(**_SMALL, **ids)
  if key == "gpt2":
    return transformers.GPT2LMHeadModel, transformers.GPT2Config(
      n_positions=512, n_embd=32, n_layer=2, n_head=2, initializer_range=0.3, **ids
    )
  raise ValueError(key)


def build_hf(key: str, out_dir: Path, seed: int = 0) -> Path:
  """Saves the tiny model of family `key` and its tokenizer as a Hugging Face directory."""
  import torch

  out_dir = Path(out_dir)
  tok = _tokenizer(key, out_dir)
  cls, config = _config(key, tok)
  torch.manual_seed(seed)
  model = cls(config)
  if key == "mistral":
    # keras-hub 0.32's Mistral converter rounds every weight to float16: weights
    # that float16 holds exactly are the same on both frameworks.
    with torch.no_grad():
      for parameter in model.parameters():
        parameter.copy_(parameter.half().float())
  model.save_pretrained(out_dir)
  tok.save_pretrained(out_dir)
  if key == "gemma4":
    # transformers 5.25 writes the full-attention layers' head size into
    # per_layer_config only; keras-hub 0.32's converter reads global_head_dim
    # (as Gemma 4's published config.json files have it).
    config = json.loads((out_dir / "config.json").read_text())
    config["global_head_dim"] = 16
    (out_dir / "config.json").write_text(json.dumps(config))
    # The converter reads a processor's config even for a text-only model.
    (out_dir / "processor_config.json").write_text("{}")
  return out_dir


# -- what the tests prove, per family, framework and runtime ----------------------

CAPABILITIES = ("salience", "generation", "chat template", "compiled")
KERAS_RUNTIMES = ("tensorflow", "torch", "jax")


def matrix() -> list[tuple[str, str, str, tuple[str, ...]]]:
  """(family, framework, runtime, capabilities) for every cell a test proves:
  tests/test_families.py (Transformers) and tests/keras_cases/test_families.py
  (Keras, each runtime) are parametrised over the same CASES."""
  rows = []
  for case in CASES:
    caps = ("salience", "generation") + (("chat template",) if case.chat else ())
    rows.append((case.name, "transformers", "torch", caps))
    if case.keras:
      for runtime in KERAS_RUNTIMES:
        compiled = ("compiled",) if runtime in ("tensorflow", "jax") else ()
        rows.append((case.name, "keras-hub", runtime, caps + compiled))
  return rows


def markdown_table() -> str:
  """docs/models.md's table of supported models (a test keeps it equal)."""
  lines = [
    "| family | framework | runtime | " + " | ".join(CAPABILITIES) + " |",
    "|---|---|---|" + "---|" * len(CAPABILITIES),
  ]
  for family, framework, runtime, caps in matrix():
    marks = " | ".join("yes" if c in caps else "" for c in CAPABILITIES)
    lines.append(f"| {family} | {framework} | {runtime} | {marks} |")
  return "\n".join(lines)
