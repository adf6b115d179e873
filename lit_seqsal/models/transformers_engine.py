"""Hugging Face Transformers (PyTorch) engine."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import torch
import transformers
from torch.utils import checkpoint as torch_checkpoint

from lit_seqsal import chat, options, work
from lit_seqsal import tokens as token_display
from lit_seqsal.engine import lengths
from lit_seqsal.engine.base import LMEngine, Prefix
from lit_seqsal.engine.batching import SalienceBatch
from lit_seqsal.models import autodiff, loading
from lit_seqsal.work import units

# Above this many tokens, a gradient call keeps only each decoder layer's input
# and recomputes the layer in the backward pass (activation checkpointing), so
# memory grows with the layers' inputs instead of all their activations: a
# 4,096-token prompt fits a laptop (docs/user-guide.md, long prompts).
CHECKPOINT_ABOVE_TOKENS = 2048
# float64 is not offered to users; tests use it for finite differences.
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float64": torch.float64}


def dtype_for(precision: str) -> torch.dtype:
  if precision not in PRECISIONS:
    raise ValueError(f"Unknown precision {precision!r}; allowed values: {', '.join(PRECISIONS)}.")
  return PRECISIONS[precision]


class TransformersEngine(LMEngine):
  """A causal LM from transformers, with salience from input-embedding gradients."""

  backend = "torch"

  def __init__(
    self,
    model: transformers.PreTrainedModel,
    tokenizer: transformers.PreTrainedTokenizerBase,
    *,
    precision: str = "float32",
    backward_mode: str = "loop",
    chat_template: str = "auto",
    device: str | None = None,
    **engine_kwargs,
  ):
    super().__init__(**(options.DEFAULTS.engine_kwargs() | engine_kwargs))
    if backward_mode not in autodiff.BACKWARD_MODES:
      raise ValueError(
        f"Unknown backward_mode {backward_mode!r}; allowed: {', '.join(autodiff.BACKWARD_MODES)}."
      )
    self.backward_mode = backward_mode
    self.precision = precision
    if model.dtype != dtype_for(precision):
      model = _moved(model, dtype_for(precision))
    if device is not None:  # not for a model accelerate sharded over several GPUs
      model = _moved(model, device)
    self.model = model.eval()
    # Gradients are only ever taken with respect to input embeddings.
    self.model.requires_grad_(False)
    # Inputs go where the embedding layer is (the first GPU of a sharded model);
    # results come back to the host only as numpy arrays.
    weight = self.model.get_input_embeddings().weight
    if not isinstance(weight, torch.Tensor):
      raise TypeError(f"{type(model).__name__}'s input embeddings have no weight tensor.")
    self.device = weight.device
    if self.device.type != "cpu":
      self.unit_tokens = units.ACCELERATOR_UNIT_TOKENS
    self.tokenizer = tokenizer
    if tokenizer.pad_token_id is None:
      tokenizer.pad_token = tokenizer.eos_token
    pad_id = _token_id(tokenizer.pad_token_id, "pad (or end-of-sequence)")
    if pad_id is None:
      raise ValueError("The tokenizer has neither a pad token nor an end-of-sequence token.")
    self.pad_id = pad_id
    self.bos_id = _token_id(tokenizer.bos_token_id, "beginning-of-sequence")
    # GPT-2 style byte-level BPE (Llama 3, Qwen, GPT-NeoX, OLMo) spells bytes as
    # printable stand-ins ("Ġ" a space); SentencePiece-style tokenizers (Gemma,
    # Llama 2, Mistral) spell text with "▁", like our contract, and bytes with
    # byte fallback ("<0xE7>"). Probe behaviour: a vocabulary scan misfires on
    # Gemma, whose multilingual vocabulary has tokens that start with "Ġ".
    self.byte_level = any(t.startswith("Ġ") for t in tokenizer.tokenize("a b c"))
    self.token_kind = token_display.BYTE_LEVEL if self.byte_level else token_display.SENTENCEPIECE
    # Whether the tokenizer writes a space before a text's first word that is not
    # in the text (SentencePiece's dummy prefix: Llama 2, Mistral).
    first = tokenizer.tokenize("a")
    self.dummy_prefix = bool(first) and token_display.token_text(
      token_display.display_tokens(first[:1], self.token_kind)[0]
    ).startswith(" ")
    eos_ids = [*_as_list(model.generation_config.eos_token_id), tokenizer.eos_token_id]
    self.stop_ids = frozenset(
      i for i in (_token_id(e, "end-of-sequence") for e in eos_ids) if i is not None
    )
    self._embedding = self.model.get_input_embeddings()
    self.turn_markers = self._find_turn_markers()
    turn_end = self._single_token(self.turn_markers[1]) if self.turn_markers else None
    if turn_end is not None:
      # A prompt in the chat format ends its turns there: so does the model's.
      self.stop_ids |= {turn_end}
    # Gemma 4's per-layer embeddings are looked up from the token ids; given only
    # input embeddings the model would look the ids up by exact match, which
    # integrated gradients' scaled embeddings never are. They are passed from
    # the ids instead (and, like the weights, never differentiated).
    self._per_layer = next(
      (
        m
        for m in self.model.modules()
        if getattr(m, "hidden_size_per_layer_input", 0) and hasattr(m, "get_per_layer_inputs")
      ),
      None,
    )
    self._turn_opener = ""
    self.checkpoint_above = CHECKPOINT_ABOVE_TOKENS
    self.uses_chat_template = chat_template == "auto" and bool(
      getattr(tokenizer, "chat_template", None)
    )
    if self.uses_chat_template:
      # Special tokens the template writes (role markers, turn delimiters): a
      # prompt that holds one is already in the template's format.
      probe = "lit-seqsal-probe"
      sample = _chat_text(tokenizer, [{"role": "user", "content": probe}])
      # (Whitespace kept as special tokens, as some SentencePiece conversions
      # do with "\n", marks nothing.)
      self.chat_markers = tuple(
        t
        for t in tokenizer.all_special_tokens
        if t in sample and t != tokenizer.bos_token and t.strip()
      )
      # Generation ends with the model's turn: at the marker the template puts
      # right after a turn's content (Gemma's <end_of_turn>, ChatML's <|im_end|>).
      before, after = sample.split(probe, 1)
      # The token that opens a turn (the first marker before the probe's content).
      openers = sorted((before.index(t), t) for t in self.chat_markers if t in before)
      self._turn_opener = openers[0][1] if openers else ""
      ends = sorted((after.index(t), t) for t in self.chat_markers if t in after)
      end_id = (
        _token_id(tokenizer.convert_tokens_to_ids(ends[0][1]), "end-of-turn") if ends else None
      )
      if end_id is not None:
        self.stop_ids |= {end_id}

  def model_shape(self) -> lengths.ModelShape | None:
    """From the model's configuration (Gemma, Llama and GPT-2 style names)."""
    config = self.model.config
    text = getattr(config, "text_config", None) or config

    def read(*names: str) -> int | None:
      for name in names:
        value = getattr(text, name, None)
        if isinstance(value, int) and value > 0:
          return value
      return None

    hidden = read("hidden_size", "n_embd", "d_model")
    layers = read("num_hidden_layers", "n_layer", "num_layers")
    heads = read("num_attention_heads", "n_head")
    if hidden is None or layers is None or heads is None:
      return None
    return lengths.ModelShape(
      layers=layers,
      hidden=hidden,
      intermediate=read("intermediate_size", "n_inner", "ffn_dim") or 4 * hidden,
      heads=heads,
      vocab=read("vocab_size") or 0,
      bytes_per_value=torch.finfo(self.model.dtype).bits // 8,
      context_window=read("max_position_embeddings", "n_positions", "max_sequence_length"),
      checkpoint_above=self.checkpoint_above,
    )

  def free_memory_bytes(self) -> int | None:
    """Free memory of the GPUs the model is on (CUDA), else the host's."""
    if self.device.type == "cuda":
      devices = {p.device for p in self.model.parameters() if p.device.type == "cuda"}
      return sum(torch.cuda.mem_get_info(d)[0] for d in devices)
    return super().free_memory_bytes()

  def _single_token(self, text: str) -> int | None:
    """The id of `text` when the tokenizer reads it as one token of its vocabulary."""
    ids = self.encode_continuation(text)
    return ids[0] if len(ids) == 1 and ids[0] != self.tokenizer.unk_token_id else None

  def _find_turn_markers(self) -> tuple[str, str] | None:
    """The first chat format (chat.TURN_MARKER_PAIRS) whose markers are tokens here."""
    for pair in chat.TURN_MARKER_PAIRS:
      if all(self._single_token(marker) is not None for marker in pair):
        return pair
    return None

  # -- tokens ---------------------------------------------------------------

  def encode(self, text: str) -> list[int]:
    ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]
    bos = self.tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
      ids = [bos] + ids  # e.g. GPT-2 adds no BOS; salience needs a context token.
    return ids

  def token_strings(self, ids: Sequence[int]) -> list[str]:
    ids = list(ids)
    pieces = self.tokenizer.convert_ids_to_tokens(ids)
    return token_display.display_tokens(
      pieces,
      self.token_kind,
      self.tokenizer.all_special_tokens,
      # A whole encoded text (it starts with BOS) starts with the dummy prefix.
      dummy_prefix=self.dummy_prefix and bool(ids) and ids[0] == self.bos_id is not None,
    )

  def decode(self, ids: Sequence[int]) -> str:
    text = self.tokenizer.decode(list(ids), skip_special_tokens=True)
    if not isinstance(text, str):  # one sequence of ids decodes to one text
      raise TypeError(f"The tokenizer decoded one sequence to {type(text).__name__}, not text.")
    return text

  def encode_chat(self, messages):
    text = _chat_text(self.tokenizer, list(messages))
    # The template writes its own BOS; tokenize the text as apply_chat_template does.
    encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return encoded["input_ids"], chat.tag_by_offsets(
      text, messages, encoded["offset_mapping"], self._turn_opener
    )

  # -- generation -----------------------------------------------------------

  @torch.no_grad()
  def _generate_ids(
    self, prompt_ids: Sequence[Sequence[int]], stop_sequences: Sequence[str], max_new_tokens: int
  ) -> list[list[int]]:
    width = max(len(ids) for ids in prompt_ids)
    input_ids = torch.full((len(prompt_ids), width), self.pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompt_ids), width), dtype=torch.long)
    for b, ids in enumerate(prompt_ids):  # left-pad so continuations line up
      input_ids[b, width - len(ids) :] = torch.tensor(list(ids))
      attention[b, width - len(ids) :] = 1
    # In transformers 5, generate() belongs to GenerationMixin (every causal LM
    # class has it), typed with a `self` protocol that pyright finds PreTrainedModel
    # does not satisfy; PreTrainedModel alone shows it as torch's Module.__getattr__.
    generate = cast(Callable[..., torch.Tensor], self.model.generate)
    out = generate(
      input_ids=input_ids.to(self.device),
      attention_mask=attention.to(self.device),
      max_new_tokens=min(max_new_tokens, self.max_length - width),
      do_sample=False,
      top_p=None,
      top_k=None,
      pad_token_id=self.pad_id,
      stopping_criteria=transformers.StoppingCriteriaList(
        [_WorkCheckpoint(self), _StopSequences(self, width, stop_sequences)]
      ),
    )
    return out[:, width:].tolist()

  # -- salience -------------------------------------------------------------

  def _per_token_inputs(self, ids) -> dict:
    """What a model looks up from the token ids besides the embeddings (Gemma 4)."""
    if self._per_layer is None:
      return {}
    lookup = getattr(self._per_layer, "get_per_layer_inputs")  # noqa: B009 (a Module attribute)
    with torch.no_grad():
      return {"per_layer_inputs": lookup(ids)}

  def target_logprobs(self, embs, ids, attention, labels, positions, top_k: int = 0):
    """Log-probabilities of `labels` at token `positions`, <float32>[B, K]; with
    `top_k`, also the top_k next tokens there (log-probabilities and ids).

    Logits (and the LM head) are computed only at positions - 1, which predict
    the tokens at `positions`; embs (and `ids`, the tokens they stand for) may
    stop right before max(positions).
    """
    out = self.model(
      inputs_embeds=embs,
      attention_mask=attention,
      logits_to_keep=positions - 1,
      use_cache=False,
      **self._per_token_inputs(ids),
    )
    logprobs = torch.log_softmax(out.logits.float(), dim=-1)  # [B, K, V]
    token_lp = logprobs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    if not top_k:
      return token_lp
    top = torch.topk(logprobs, top_k, dim=-1)
    return token_lp, top.values, top.indices

  def shared_prefix_logprobs(
    self, embs, prefix: int, ids, attention, labels, positions, top_k: int = 0
  ):
    """target_logprobs for rows that share their first `prefix` tokens: the
    prefix runs once (row 0's embeddings) and the rest of every row continues
    from its key/value cache, so a contrastive pair costs about one pass."""
    rows = embs.shape[0]
    before = positions - 1 < prefix  # predicted from the prefix's last states
    head = self.model(
      inputs_embeds=embs[:1, :prefix],
      attention_mask=attention[:1, :prefix],
      use_cache=True,
      **self._per_token_inputs(ids[:1, :prefix]),
      logits_to_keep=(positions - 1)[before]
      if before.any()
      else torch.tensor([prefix - 1], device=embs.device),
    )
    cache = head.cache
    cache.batch_repeat_interleave(rows)
    logits = [head.logits.expand(rows, -1, -1)] if before.any() else []
    if (~before).any():
      tail = self.model(
        inputs_embeds=embs[:, prefix:],
        attention_mask=attention,
        cache=cache,
        use_cache=True,
        logits_to_keep=(positions - 1)[~before] - prefix,
        **self._per_token_inputs(ids[:, prefix:]),
      )
      logits.append(tail.logits)
    logprobs = torch.log_softmax(torch.cat(logits, dim=1).float(), dim=-1)  # [B, K, V]
    token_lp = logprobs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    if not top_k:
      return token_lp
    top = torch.topk(logprobs, top_k, dim=-1)
    return token_lp, top.values, top.indices

  # -- forward passes over edited sequences (occlusion, the deletion check) -----

  def _tensor(self, array) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

  continues_prefixes = True

  @torch.no_grad()
  def _run_prefix(self, ids: list[int], positions: np.ndarray) -> Prefix:
    """One forward pass over ids[:max(positions)] that keeps its key/value cache.

    The cache is a plain `DynamicCache` (no sliding-window trimming), so rows
    may continue from any of its lengths; sliding-window layers still see only
    their window: the attention masks are built from absolute positions.
    """
    used = int(positions.max())
    cache = transformers.DynamicCache()
    out = self.model(
      input_ids=self._tensor([ids[:used]]),
      cache=cache,
      use_cache=True,
      logits_to_keep=self._tensor(positions - 1),
    )
    values = _label_logprobs(out.logits[0], self._tensor(np.asarray(ids)[positions]))
    return Prefix(tuple(ids), positions, values, state=out.cache, cached=used)

  @torch.no_grad()
  def _token_logprobs(
    self, rows: list[list[int]], positions: list[np.ndarray], prefix: Prefix | None
  ) -> list[np.ndarray]:
    """Rows continue from the prefix's cache at the longest length they all
    share (and before the first position any of them needs), so only the
    tokens after it run: a deletion at token p recomputes only what follows p.
    The LM head runs only at each row's own positions (`_head_at`)."""
    shared = 0
    state = None if prefix is None else cast(transformers.DynamicCache | None, prefix.state)
    if prefix is not None and state is not None:
      shared = min(
        min(prefix.shared_length(row) for row in rows), min(int(p.min()) for p in positions) - 1
      )
    tails = [row[shared : int(p.max())] for row, p in zip(rows, positions)]
    width = max(len(t) for t in tails)
    input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
    attention = np.zeros((len(rows), shared + width), dtype=np.int64)
    attention[:, :shared] = 1
    for b, tail in enumerate(tails):
      input_ids[b, : len(tail)] = tail
      attention[b, shared : shared + len(tail)] = 1
    cache = None
    if shared and state is not None:
      # The prefix's keys and values up to `shared`, once per row (a layer
      # without its own, e.g. one that shares another's, stays empty).
      kept = []
      for layer in state.layers:
        keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
        if keys is None or values is None or not keys.numel():
          kept.append((None, None))
        else:
          kept.append(
            (
              keys[:, :, :shared].expand(len(rows), -1, -1, -1),
              values[:, :, :shared].expand(len(rows), -1, -1, -1),
            )
          )
      cache = transformers.DynamicCache(ddp_cache_data=kept)
    which_row = np.concatenate([np.full(len(p), b) for b, p in enumerate(positions)])
    which_token = np.concatenate([p - 1 - shared for p in positions])
    with self._head_at(self._tensor(which_row), self._tensor(which_token)):
      out = self.model(
        input_ids=self._tensor(input_ids),
        attention_mask=self._tensor(attention),
        cache=cache,
        use_cache=cache is not None,
      )
    logits = out.logits
    if tuple(logits.shape[:2]) != (1, len(which_row)):
      raise RuntimeError(
        f"{type(self.model).__name__} reshapes its logits after the LM head; token"
        " log-probabilities of edited rows are not supported for it."
      )
    labels = self._tensor(np.concatenate([np.asarray(r)[p] for r, p in zip(rows, positions)]))
    values = _label_logprobs(logits[0], labels)
    return list(np.split(values, np.cumsum([len(p) for p in positions])[:-1]))

  @contextlib.contextmanager
  def _head_at(self, rows: torch.Tensor, tokens: torch.Tensor):
    """For one forward pass, the LM head sees only the hidden states at (rows,
    tokens): [1, N, hidden] instead of [B, T, hidden]. The model's own code
    after the head (Gemma's final soft-capping) still applies, and logits are
    computed only where some row needs them, not at the union of all rows'
    positions times every row."""
    head = self.model.get_output_embeddings()
    if head is None:
      raise RuntimeError(f"{type(self.model).__name__} has no output embeddings (LM head).")

    def gather(module, args):
      del module
      return (args[0][rows, tokens][None], *args[1:])

    handle = head.register_forward_pre_hook(gather)
    try:
      yield
    finally:
      handle.remove()

  def _embed(self, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
      embs = self._embedding(torch.as_tensor(ids, device=self.device))
    return embs.float().cpu().numpy()

  def _objectives(self, embs, batch: SalienceBatch, gradients: bool, alternatives: int):
    def tensor(array):
      return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    attention = tensor(batch.attention[:, : embs.shape[1]])
    ids = tensor(batch.ids[:, : embs.shape[1]])
    positions, labels = tensor(batch.positions), tensor(batch.labels)
    # float32 numpy holds bfloat16 values exactly, so this round trip is lossless.
    embs = tensor(embs).to(self.model.dtype)
    recompute = gradients and embs.shape[1] > self.checkpoint_above
    if 0 < batch.shared_prefix < embs.shape[1] and not recompute:
      forward = autodiff.with_aux(
        lambda e, *a: self.shared_prefix_logprobs(e, batch.shared_prefix, *a),
        ids,
        attention,
        labels,
        positions,
        alternatives,
      )
    else:
      forward = autodiff.with_aux(
        self.target_logprobs, ids, attention, labels, positions, alternatives
      )
    with self._recomputing_layers() if recompute else contextlib.nullcontext():
      return autodiff.objectives_and_gradients(
        self.backend,
        forward,
        embs,
        tensor(batch.weights),
        gradients=gradients,
        backward_mode=self.backward_mode,
      )

  @contextlib.contextmanager
  def _recomputing_layers(self):
    """Activation checkpointing of every decoder layer for one call. transformers
    checkpoints a layer only in training mode: only the layers themselves are
    switched (their dropout submodules stay in eval mode, so scores are the same)."""
    from transformers import modeling_layers

    layers = [
      m for m in self.model.modules() if isinstance(m, modeling_layers.GradientCheckpointingLayer)
    ]
    recompute = functools.partial(torch_checkpoint.checkpoint, use_reentrant=False)
    for layer in layers:
      layer.gradient_checkpointing, layer.training = True, True
      # transformers' own switch (gradient_checkpointing_enable) would put the
      # whole model in training mode; this sets only what the layers read.
      layer._gradient_checkpointing_func = recompute  # noqa: SLF001  # pyright: ignore[reportArgumentType]  # torch types Module.__setattr__ values as Tensor | Module; any value works
    try:
      yield
    finally:
      for layer in layers:
        layer.gradient_checkpointing, layer.training = False, False


class _WorkCheckpoint(transformers.StoppingCriteria):
  """After each generated token: lets waiting light work have the model first
  (a generation batch is one unit that cannot be cut), and stops a cancelled or
  overdue generation (lit_seqsal/work/context.py)."""

  def __init__(self, engine: TransformersEngine):
    self.engine = engine

  def __call__(self, input_ids, scores, **unused_kw):
    self.engine.lock.yield_to_lighter()
    work.current().checkpoint()
    return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class _StopSequences(transformers.StoppingCriteria):
  """Ends each row once its new text holds a stop sequence (even across tokens)."""

  def __init__(self, engine: TransformersEngine, width: int, stops: Sequence[str]):
    self.engine, self.width, self.stops = engine, width, tuple(stops)

  def __call__(self, input_ids, scores, **unused_kw):
    done = [
      bool(self.stops)
      and any(s in self.engine.decode(row[self.width :].tolist()) for s in self.stops)
      for row in input_ids
    ]
    return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


# Rows of logits turned into log-probabilities at a time: the log-softmax's
# float32 copy then stays small beside the logits themselves.
_SOFTMAX_ROWS = 128


def _label_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
  """log-softmax(logits[k])[labels[k]] for each row k of logits [N, V], as float32."""
  out = []
  for start in range(0, logits.shape[0], _SOFTMAX_ROWS):
    chunk = torch.log_softmax(logits[start : start + _SOFTMAX_ROWS].float(), dim=-1)
    out.append(chunk.gather(-1, labels[start : start + _SOFTMAX_ROWS, None])[:, 0])
  return torch.cat(out).cpu().numpy()


def _as_list(value) -> list:
  if value is None:
    return []
  return list(value) if isinstance(value, (list, tuple)) else [value]


def _token_id(value: object, what: str) -> int | None:
  """A tokenizer's special token id (None where it has none) as one int."""
  if value is None or isinstance(value, int):
    return value
  raise ValueError(f"The tokenizer's {what} token id is {value!r}, not one token id.")


def _chat_text(tokenizer: transformers.PreTrainedTokenizerBase, messages: list) -> str:
  """A conversation in the tokenizer's chat template, ending with the prompt for
  the model's turn, as text."""
  text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
  if not isinstance(text, str):  # tokenize=False gives the text
    raise TypeError(f"apply_chat_template returned {type(text).__name__}, not text.")
  return text


def _moved(
  model: transformers.PreTrainedModel, where: torch.dtype | str
) -> transformers.PreTrainedModel:
  """model.to(where): to a dtype or a device."""
  # transformers wraps PreTrainedModel.to with functools.wraps(torch.nn.Module.to),
  # which typeshed types as a callable that does not bind `self`; at run time it
  # is the ordinary method, returning the model.
  return cast(transformers.PreTrainedModel, cast(torch.nn.Module, model).to(where))


def load_engine(
  model_name_or_path: str,
  *,
  precision: str = "float32",
  device: str | None = None,
  device_map: str | None = None,
  **engine_kwargs,
) -> TransformersEngine:
  """Loads tokenizer and causal LM from a preset, directory, archive or 'bundled',
  onto `device`, or sharded over the visible GPUs with device_map="auto"."""
  dtype = dtype_for(precision)
  path = loading.resolve_model_path(model_name_or_path)
  with loading.load_errors(path, model_name_or_path, "a causal LM", (OSError, ValueError)):
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForCausalLM.from_pretrained(
      path, dtype=dtype, device_map=device_map
    )
  return TransformersEngine(model, tokenizer, precision=precision, device=device, **engine_kwargs)
