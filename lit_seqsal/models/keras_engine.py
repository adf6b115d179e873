"""Keras (keras-hub, formerly KerasNLP) engine.

Runs on TensorFlow, PyTorch or JAX: the forward pass uses keras.ops only; the
gradient with respect to the input embeddings is taken with each runtime's own
autodiff (lit_seqsal/models/autodiff.py). On TensorFlow and JAX the forward
and backward passes run compiled by XLA, one program per bucket of input
shapes (`salience_shape`); on PyTorch, op by op.

Import this module only after keras_backend.select() has fixed the runtime.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any, cast

import keras
import keras_hub
import numpy as np
from keras import ops

from lit_seqsal import chat, options
from lit_seqsal import tokens as token_display
from lit_seqsal.engine import lengths
from lit_seqsal.engine.base import LMEngine
from lit_seqsal.engine.batching import SalienceBatch
from lit_seqsal.errors import SetupError
from lit_seqsal.models import autodiff, keras_families, loading

# keras-hub samples every row of a batch from the shortest prompt's end on:
# prompts whose lengths differ by this much or more run in separate calls.
GENERATE_GROUP_SPREAD = 32
# On TensorFlow and JAX keras-hub compiles its sampling loop once per input
# shape (7 s for the bundled model); rounding widths up to a multiple of this
# lets prompts of similar length share one compiled loop, for a few extra
# sampling steps. PyTorch runs eagerly, so it gets exact widths.
COMPILED_WIDTH_BUCKET = 16
# Runtimes on which salience (KerasEngine.objectives) runs compiled by default:
# every runtime that can (bench/bench_first_page.py --eager empties it).
COMPILED_RUNTIMES = autodiff.COMPILABLE
# Compiled salience pads every input to a bucket of shapes so that one program
# serves many inputs (each new bucket costs a compilation: 10-30 s for the
# bundled model on a 2-core CPU). Widths (tokens the model runs on) and target
# positions round up to one of BUCKET_STEPS evenly spaced values per octave
# (padding at most 1/BUCKET_STEPS of the work: 231 -> 240, 1000 -> 1024);
# rows and masks round up to a power of two (rows at most batch_size; padded
# masks have zero gradients, autodiff.Compiled).
BUCKET_STEPS = 8
MIN_WIDTH = 32
MIN_POSITIONS = 16


def bucket(n: int, floor: int, steps_per_octave: int) -> int:
  """The smallest of floor and, above it, `steps_per_octave` evenly spaced values
  per octave (multiples of a power of two) that is at least n."""
  if n <= floor:
    return floor
  octave = 1 << ((n - 1).bit_length() - 1)  # the largest power of two below n
  step = max(octave // steps_per_octave, 1)
  return -(-n // step) * step


def _to_list(tensor) -> list[int]:
  return [int(t) for t in np.asarray(ops.convert_to_numpy(tensor)).reshape(-1)]


class KerasEngine(LMEngine):
  """A keras-hub causal LM of a family in keras_families.FAMILIES, with salience
  from embedding gradients."""

  def __init__(
    self,
    causal_lm: keras_hub.models.CausalLM,
    *,
    sampler: str | keras_hub.samplers.Sampler = "greedy",
    chat_template: str = "auto",
    instruction_tuned: bool = False,
    compiled: bool | None = None,
    **engine_kwargs,
  ):
    """`compiled`: run salience compiled (default: on COMPILED_RUNTIMES)."""
    super().__init__(**(options.DEFAULTS.engine_kwargs() | engine_kwargs))
    backbone = causal_lm.backbone
    if backbone is None:
      raise SetupError(f"The Keras {type(causal_lm).__name__} has no backbone attached.")
    preprocessor = causal_lm.preprocessor
    if preprocessor is None:
      raise SetupError("The Keras CausalLM has no preprocessor (tokenizer) attached.")
    self.family = keras_families.family_of(causal_lm)
    self.lm = causal_lm
    # Gradients are only ever taken with respect to input embeddings.
    self.lm.trainable = False
    self.backbone = backbone
    self.tokenizer = tokenizer = preprocessor.tokenizer
    self.backend = keras.backend.backend()
    self.precision = keras.backend.standardize_dtype(self.backbone.compute_dtype)
    self.bos_id = _token_id(tokenizer, "start_token_id")
    end_id = _token_id(tokenizer, "end_token_id")
    pad_id = _token_id(tokenizer, "pad_token_id")
    self.pad_id = pad_id if pad_id is not None else (end_id if end_id is not None else 0)
    vocabulary = set(tokenizer.get_vocabulary())
    self.special_tokens = tuple(getattr(tokenizer, "special_tokens", None) or ())
    self.token_kind = (
      token_display.BYTE_LEVEL
      if isinstance(tokenizer, keras_hub.tokenizers.BytePairTokenizer)
      else token_display.SENTENCEPIECE
    )
    first = [tokenizer.id_to_token(i) for i in _to_list(tokenizer.tokenize("a"))[:1]]
    self.dummy_prefix = bool(first) and token_display.token_text(
      token_display.display_tokens(first, self.token_kind)[0]
    ).startswith(" ")
    fmt = self.family.chat_format
    # The family's turn format, for its instruction-tuned presets (base models
    # have the same special tokens in their vocabulary but are not chat models).
    self.uses_chat_template = (
      chat_template == "auto" and instruction_tuned and fmt is not None and fmt.end in vocabulary
    )
    self.chat_format = fmt if self.uses_chat_template else None
    self.chat_markers = self.chat_format.markers() if self.chat_format is not None else ()
    stop_ids = {end_id} if end_id is not None else set()
    if fmt is not None and fmt.end in vocabulary:
      stop_ids.add(int(tokenizer.token_to_id(fmt.end)))
    self.stop_ids = frozenset(stop_ids)
    # A prompt written in the family's chat format gets its turns tagged
    # (chat.tag_marked_turns), base models too (their vocabulary has the markers).
    opening = fmt.open.get("*") if fmt is not None else None
    pair = (opening[0][1], fmt.end) if fmt is not None and opening else None
    if pair in chat.TURN_MARKER_PAIRS and set(pair) <= vocabulary:
      self.turn_markers = pair
    self.set_sampler(sampler)
    self._compiled = None
    if self.backend in autodiff.COMPILABLE:
      self._compiled = autodiff.Compiled(self.backend, self._stateless_target_logprobs)
    elif compiled:
      raise ValueError(
        f"Compiled salience runs on {' or '.join(autodiff.COMPILABLE)}, not {self.backend}."
      )
    # Tests and benchmarks may switch this at any time.
    self.compiled = self.backend in COMPILED_RUNTIMES if compiled is None else compiled

  @property
  def traces(self) -> int:
    """How many salience programs were compiled (one per new bucket of shapes)."""
    return self._compiled.traces if self._compiled else 0

  def set_sampler(self, sampler: str | keras_hub.samplers.Sampler) -> None:
    """Greedy by default; any keras-hub sampler (name or instance) otherwise."""
    if isinstance(sampler, str) and sampler not in options.SAMPLERS:
      raise ValueError(
        f"Unknown sampler {sampler!r}; allowed values: {', '.join(options.SAMPLERS)}."
      )
    # compile() also drops the compiled generate function. keras-hub has no
    # annotations: pyright infers `str` from the default, but it takes a name or
    # a Sampler.
    self.lm.compile(sampler=cast(Any, sampler))
    self.sampler = sampler

  # -- tokens ---------------------------------------------------------------

  def encode(self, text: str) -> list[int]:
    ids = _to_list(self.tokenizer.tokenize(text)) if text else []
    return ids if self.bos_id is None else [self.bos_id, *ids]

  def encode_continuation(self, text: str) -> list[int]:
    ids = _to_list(self.tokenizer.tokenize(text)) if text else []
    if self.dummy_prefix and ids and self.tokenizer.id_to_token(ids[0]) == token_display.WORD_START:
      ids = ids[1:]  # the prefix SentencePiece puts before a text, as a token of its own
    return ids

  def token_strings(self, ids: Sequence[int]) -> list[str]:
    ids = [int(i) for i in ids]
    return token_display.display_tokens(
      [self.tokenizer.id_to_token(i) for i in ids],
      self.token_kind,
      self.special_tokens,
      # A whole encoded text (it starts with BOS) starts with the dummy prefix.
      dummy_prefix=self.dummy_prefix and self.bos_id is not None and ids[:1] == [self.bos_id],
    )

  def model_shape(self) -> lengths.ModelShape | None:
    """From the backbone (keras-hub's backbones do not say their context window)."""
    b = self.backbone
    try:
      return lengths.ModelShape(
        layers=int(b.num_layers),
        hidden=int(b.hidden_dim),
        intermediate=int(b.intermediate_dim),
        heads=int(b.num_query_heads),
        vocab=int(b.vocabulary_size),
        bytes_per_value=np.dtype(self.precision).itemsize if self.precision != "bfloat16" else 2,
      )
    except (AttributeError, TypeError):
      return None

  def encode_chat(self, messages):
    """The conversation in the family's turn format. Its markers that are special
    tokens go in as those; the text between them (template text and contents) is
    tokenized a run at a time, as a whole conversation's text would be, and each
    token is tagged by where its characters fall (chat.tag_by_offsets)."""
    fmt = self.chat_format
    if fmt is None:
      raise NotImplementedError(f"{type(self.lm).__name__} has no chat format here.")
    vocabulary = set(self.tokenizer.get_vocabulary())
    ids, offsets = [], []
    rendered, run = "", ""

    def flush():
      nonlocal rendered, run
      if not run:
        return
      run_ids = _to_list(self.tokenizer.tokenize(run))
      pieces = [self.tokenizer.id_to_token(i) for i in run_ids]
      # The prefix SentencePiece puts before a text: a token of its own is left
      # out; merged into the first token, it is left out of its string.
      dummy = self.dummy_prefix
      if dummy and pieces[:1] == [token_display.WORD_START]:
        run_ids, pieces, dummy = run_ids[1:], pieces[1:], False
      strings = token_display.display_tokens(
        pieces, self.token_kind, self.special_tokens, dummy_prefix=dummy
      )
      position = len(rendered)
      for i, string in zip(run_ids, strings):
        end = position + len(token_display.token_text(string))
        ids.append(i)
        offsets.append((position, end))
        position = end
      rendered += run
      run = ""

    for kind, text, _ in chat.turn_pieces(fmt, messages):
      if kind == "marker" and text in vocabulary:
        flush()
        ids.append(int(self.tokenizer.token_to_id(text)))
        offsets.append((len(rendered), len(rendered) + len(text)))
        rendered += text
      else:
        run += text
    flush()
    opener = next((t for k, t in fmt.pieces("open", "user") if k == "marker"), "")
    tags = chat.tag_by_offsets(rendered, messages, offsets, opener)
    if self.bos_id is not None:
      ids, tags = [self.bos_id, *ids], ["0:template", *tags]
    return ids, tags

  def decode(self, ids: Sequence[int]) -> str:
    text = self.tokenizer.detokenize(np.asarray(list(ids), dtype=np.int32))
    if not isinstance(text, str):
      text = np.asarray(ops.convert_to_numpy(text)).item()
      text = text.decode("utf-8") if isinstance(text, bytes) else str(text)
    return text

  def _embedding_tensor(self, ids):
    """Input embeddings as the decoder blocks see them (keras_families: Gemma scales them)."""
    return self.family.embed(self.backbone, ids)

  # -- generation -----------------------------------------------------------

  def _generate_ids(
    self, prompt_ids: Sequence[Sequence[int]], stop_sequences: Sequence[str], max_new_tokens: int
  ) -> list[list[int]]:
    # keras-hub's compiled sampler stops at token ids only: stop sequences of
    # one token become stop ids; generate() cuts at the others afterwards.
    stop_ids = set(self.stop_ids)
    for text in stop_sequences:
      ids = self.encode_continuation(text)
      if len(ids) == 1:
        stop_ids.add(ids[0])
    encoded = [list(ids) for ids in prompt_ids]
    order = sorted(range(len(encoded)), key=lambda b: len(encoded[b]))
    groups: list[list[int]] = []
    # On TensorFlow and JAX keras-hub's compiled sampling loop runs 4-5x
    # slower on a batch of 4 short prompts than on each alone (measured on the
    # bundled model: 65 s against 14-16 s for 4 x 64 tokens), so there every
    # prompt gets its own call; on PyTorch similar lengths share one.
    spread = GENERATE_GROUP_SPREAD if self.backend == "torch" else 0
    for b in order:
      if groups and len(encoded[b]) - len(encoded[groups[-1][0]]) < spread:
        groups[-1].append(b)
      else:
        groups.append([b])
    results: list[list[int]] = [[] for _ in encoded]
    for rows in groups:
      for b, new_ids in zip(
        rows, self._generate_group([encoded[b] for b in rows], stop_ids, max_new_tokens)
      ):
        results[b] = new_ids
    return results

  def _bucket(self, num_tokens: int) -> int:
    step = 1 if self.backend == "torch" else COMPILED_WIDTH_BUCKET
    return -(-num_tokens // step) * step

  def _generate_group(
    self, encoded: list[list[int]], stop_ids: set[int], max_new_tokens: int
  ) -> list[list[int]]:
    longest = max(len(e) for e in encoded)
    width = min(self._bucket(longest) + max_new_tokens, self.max_length)
    # keras-hub's sampling loop ends once every row holds a stop token after its
    # prompt: the positions still to generate must not be filled with one (a
    # tokenizer whose padding is its end token).
    fill = min(set(range(len(stop_ids) + 1)) - stop_ids) if self.pad_id in stop_ids else self.pad_id
    # One row where the loop is compiled (_generate_ids).
    token_ids = np.full((len(encoded), width), fill, dtype=np.int32)
    padding_mask = np.zeros((len(encoded), width), dtype=bool)
    for b, ids in enumerate(encoded):
      # keras-hub generates into the padded positions after each prompt.
      token_ids[b, : len(ids)] = ids
      padding_mask[b, : len(ids)] = True
    # keras-hub has no annotations: pyright infers this function's type from the
    # tf.function stub (no arguments) in one of its branches.
    generate = cast(Callable[..., Any], self.lm.make_generate_function())
    out = generate(
      {
        "token_ids": ops.convert_to_tensor(token_ids),
        "padding_mask": ops.convert_to_tensor(padding_mask),
      },
      stop_token_ids=sorted(stop_ids),
    )
    out_ids = np.asarray(ops.convert_to_numpy(out["token_ids"]))
    return [
      out_ids[b, len(ids) : len(ids) + max_new_tokens].tolist() for b, ids in enumerate(encoded)
    ]

  # -- salience -------------------------------------------------------------

  def target_logprobs(self, embs, ids, padding_mask, labels, positions, top_k: int = 0):
    """Log-probabilities of `labels` at token `positions`, <float32>[B, K]; with
    `top_k`, also the top_k next tokens there (log-probabilities and ids).

    The decoder runs on `embs` (`ids`, the tokens they stand for, feed what a
    family looks up per token besides, such as Gemma 4's per-layer embeddings);
    the LM head (final norm, reverse embedding over the whole vocabulary) only at
    positions - 1, which predict the tokens at `positions`.
    """
    x = self.family.decode(self.backbone, embs, ids, padding_mask)
    x = ops.take(x, positions - 1, axis=1)  # [B, K, H]
    logits = self.family.lm_head(self.lm, x)
    logprobs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    token_lp = ops.squeeze(ops.take_along_axis(logprobs, labels[..., None], axis=-1), -1)
    if not top_k:
      return token_lp
    # Keras has no annotations: pyright infers top_k's result from every backend,
    # one of which may return None; it returns (values, indices).
    top_values, top_ids = cast(tuple[Any, Any], ops.top_k(logprobs, top_k))
    return token_lp, top_values, top_ids

  def _embed(self, ids: np.ndarray) -> np.ndarray:
    embs = self._embedding_tensor(ops.convert_to_tensor(np.asarray(ids, dtype=np.int32)))
    return np.asarray(ops.convert_to_numpy(ops.cast(embs, "float32")))

  def _stateless_target_logprobs(self, state, *args):
    """target_logprobs with the backbone's weights `state` as arguments (JAX);
    with state None, read from the variables (TensorFlow)."""
    if state is None:
      return self.target_logprobs(*args)
    with keras.StatelessScope(state_mapping=list(zip(self.backbone.variables, state))):
      return self.target_logprobs(*args)

  def salience_shape(
    self, rows: int, width: int, positions: int, masks: int
  ) -> tuple[int, int, int, int]:
    """The bucket (rows, width, positions, masks) compiled salience pads to."""
    return (
      min(1 << (rows - 1).bit_length(), max(rows, self.batch_size)),
      bucket(width, MIN_WIDTH, BUCKET_STEPS),
      bucket(positions, MIN_POSITIONS, BUCKET_STEPS),
      1 << (masks - 1).bit_length(),
    )

  def _objectives(self, embs, batch: SalienceBatch, gradients: bool, alternatives: int):
    if self.compiled:
      return self._compiled_objectives(embs, batch, gradients, alternatives)
    used = embs.shape[1]
    ids = ops.convert_to_tensor(batch.ids[:, :used].astype(np.int32))
    padding_mask = ops.convert_to_tensor(batch.attention[:, :used].astype(bool))
    positions = ops.convert_to_tensor(batch.positions.astype(np.int32))
    labels = ops.convert_to_tensor(batch.labels.astype(np.int32))
    # float32 numpy holds bfloat16 values exactly, so this round trip is lossless.
    embs = ops.convert_to_tensor(embs, dtype=self.backbone.compute_dtype)
    return autodiff.objectives_and_gradients(
      self.backend,
      autodiff.with_aux(self.target_logprobs, ids, padding_mask, labels, positions, alternatives),
      embs,
      ops.convert_to_tensor(batch.weights),
      gradients=gradients,
    )

  def _compiled_objectives(self, embs, batch: SalienceBatch, gradients: bool, alternatives: int):
    """_objectives through the compiled program of the input's bucket.

    Padding changes no result: extra rows repeat row 0 with zero weights, extra
    tokens come after every real one (right padding; causal attention keeps real
    tokens from seeing them) and are masked out, extra target positions repeat
    the last one with zero weights, extra masks are all zero (zero gradients).
    The outputs are cut back to the real sizes.
    """
    if self._compiled is None:
      raise ValueError(
        f"Compiled salience runs on {' or '.join(autodiff.COMPILABLE)}, not {self.backend}."
      )
    rows, used, hidden = embs.shape
    num_positions, num_masks = batch.positions.size, batch.weights.shape[1]
    b, w, k, m = self.salience_shape(rows, used, num_positions, num_masks)
    take = np.concatenate([np.arange(rows), np.zeros(b - rows, np.int64)])
    padded = np.zeros((b, w, hidden), np.float32)
    padded[:, :used] = embs[take]
    padding_mask = np.zeros((b, w), bool)
    padding_mask[:, :used] = batch.attention[take, :used]
    ids = np.full((b, w), self.pad_id, np.int32)
    ids[:, :used] = batch.ids[take, :used]
    positions = np.full(k, batch.positions[-1], np.int32)
    positions[:num_positions] = batch.positions
    labels = batch.labels[take][:, np.minimum(np.arange(k), num_positions - 1)].astype(np.int32)
    weights = np.zeros((b, m, k), np.float32)
    weights[:rows, :num_masks, :num_positions] = batch.weights
    state = None
    if self.backend == "jax":
      state = [v.value for v in self.backbone.variables]
    out = self._compiled(
      state,
      ops.convert_to_tensor(padded, dtype=self.backbone.compute_dtype),
      ops.convert_to_tensor(weights),
      num_masks,
      [ops.convert_to_tensor(a) for a in (ids, padding_mask, labels, positions)],
      gradients=gradients,
      top_k=alternatives,
    )
    out.values = out.values[:rows, :num_masks]
    if out.grads is not None:
      out.grads = out.grads[:num_masks, :rows, :used]
    if alternatives:
      top_logprobs, top_ids = out.checked_alternatives()
      out.top_logprobs = top_logprobs[:rows, :num_positions]
      out.top_ids = top_ids[:rows, :num_positions]
    return out


def task_class(path: str):
  """The keras-hub task to load `path` with: the one its task.json names (a
  saved task, or a Kaggle preset), else the plain causal LM of its backbone's
  family (keras_families), else CausalLM (which says what it found). CausalLM's
  own choice can be wrong: two tasks share Gemma4Backbone, and it picks the
  assistant (a drafter that needs other arguments)."""
  from keras_hub.src.utils import preset_utils

  if preset_utils.check_file_exists(path, preset_utils.TASK_CONFIG_FILE):
    name = preset_utils.load_json(path, preset_utils.TASK_CONFIG_FILE).get("registered_name")
    cls = keras.saving.get_registered_object(name) if name else None
    if isinstance(cls, type) and issubclass(cls, keras_hub.models.CausalLM):
      return cls
    return keras_hub.models.CausalLM
  family = keras_families.family_of_class(
    preset_utils.get_preset_loader(path).check_backbone_class()
  )
  if family is not None:
    return getattr(keras_hub.models, family.causal_lm)
  return keras_hub.models.CausalLM


def load_causal_lm(path: str, precision: str, source: str):
  """keras-hub CausalLM from a preset name, Keras preset dir or HF directory."""
  if precision not in options.PRECISIONS:
    raise SetupError(
      f"Unknown precision {precision!r}; allowed values: {', '.join(options.PRECISIONS)}."
    )
  # keras-hub raises many types; all mean "cannot load".
  with loading.load_errors(
    path,
    source,
    "a Keras causal LM",
    hint=". Expected a keras-hub CausalLM preset directory (a task saved with"
    " save_to_preset) or a Hugging Face model directory that keras-hub can convert.",
  ):
    return task_class(path).from_preset(path, dtype=precision)


def has_chat_template(path: str) -> bool:
  """A Hugging Face directory whose tokenizer has a chat template."""
  config = os.path.join(path, "tokenizer_config.json")
  if os.path.isfile(config):
    with open(config, encoding="utf-8") as f:
      if json.load(f).get("chat_template"):
        return True
  return os.path.isfile(os.path.join(path, "chat_template.jinja"))


def load_engine(
  model_name_or_path: str, *, precision: str = "float32", **engine_kwargs
) -> KerasEngine:
  """Loads a keras-hub CausalLM from a preset, directory, archive or 'bundled'."""
  path = loading.resolve_model_path(model_name_or_path)
  causal_lm = load_causal_lm(path, precision, model_name_or_path)
  family = keras_families.family_of(causal_lm)
  name = os.path.basename(model_name_or_path.rstrip("/")).lower()
  return KerasEngine(
    causal_lm,
    instruction_tuned=family.instruction_tuned(name) or has_chat_template(path),
    **engine_kwargs,
  )


def _token_id(tokenizer, attribute: str) -> int | None:
  value = getattr(tokenizer, attribute, None)
  return None if value is None else int(value)
