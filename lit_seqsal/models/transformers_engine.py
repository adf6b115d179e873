"""Hugging Face Transformers (PyTorch) engine."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import transformers

from lit_seqsal import options, work
from lit_seqsal import tokens as token_display
from lit_seqsal.engine import LMEngine, SalienceBatch
from lit_seqsal.models import autodiff, loading

# float64 is not offered to users; tests use it for finite differences.
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float64": torch.float64}


def dtype_for(precision: str) -> torch.dtype:
  if precision not in PRECISIONS:
    raise ValueError(
        f"Unknown precision {precision!r}; allowed values: {', '.join(PRECISIONS)}."
    )
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
      **engine_kwargs,
  ):
    super().__init__(**(options.DEFAULTS.engine_kwargs() | engine_kwargs))
    if backward_mode not in autodiff.BACKWARD_MODES:
      raise ValueError(
          f"Unknown backward_mode {backward_mode!r}; allowed: {', '.join(autodiff.BACKWARD_MODES)}."
      )
    self.backward_mode = backward_mode
    self.precision = precision
    self.model = model.to(dtype_for(precision)).eval()
    # Gradients are only ever taken with respect to input embeddings.
    self.model.requires_grad_(False)
    self.device = next(self.model.parameters()).device
    self.tokenizer = tokenizer
    if tokenizer.pad_token_id is None:
      tokenizer.pad_token = tokenizer.eos_token
    self.pad_id = tokenizer.pad_token_id
    # GPT-2 style byte-level BPE spells a leading space as "Ġ"; SentencePiece
    # tokenizers (Gemma, Llama) already use "▁", like our contract.
    # Probe behaviour: a vocabulary scan misfires on Gemma, whose
    # multilingual vocabulary has tokens that happen to start with "Ġ".
    self.byte_level = any(t.startswith("Ġ") for t in tokenizer.tokenize("a b c"))
    self.stop_ids = frozenset(_as_list(model.generation_config.eos_token_id)) | {
        tokenizer.eos_token_id}
    self._embedding = self.model.get_input_embeddings()

  # -- tokens ---------------------------------------------------------------

  def encode(self, text: str) -> list[int]:
    ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]
    bos = self.tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
      ids = [bos] + ids  # e.g. GPT-2 adds no BOS; salience needs a context token.
    return ids

  def token_strings(self, ids: Sequence[int]) -> list[str]:
    pieces = self.tokenizer.convert_ids_to_tokens(list(ids))
    if self.byte_level:
      return token_display.display_byte_level(pieces, self.tokenizer.all_special_tokens)
    return [token_display.display_piece(t) for t in pieces]

  def decode(self, ids: Sequence[int]) -> str:
    return self.tokenizer.decode(list(ids), skip_special_tokens=True)

  # -- generation -----------------------------------------------------------

  @torch.no_grad()
  def _generate_ids(self, prompt_ids: Sequence[Sequence[int]]) -> list[list[int]]:
    width = max(len(ids) for ids in prompt_ids)
    input_ids = torch.full((len(prompt_ids), width), self.pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompt_ids), width), dtype=torch.long)
    for b, ids in enumerate(prompt_ids):  # left-pad so continuations line up
      input_ids[b, width - len(ids):] = torch.tensor(list(ids))
      attention[b, width - len(ids):] = 1
    out = self.model.generate(
        input_ids=input_ids.to(self.device),
        attention_mask=attention.to(self.device),
        max_new_tokens=min(self.max_new_tokens, self.max_length - width),
        do_sample=False,
        top_p=None,
        top_k=None,
        pad_token_id=self.pad_id,
        stopping_criteria=transformers.StoppingCriteriaList([_WorkCheckpoint()]),
    )
    return out[:, width:].tolist()

  # -- salience -------------------------------------------------------------

  def target_logprobs(self, embs, attention, labels, positions):
    """Log-probabilities of `labels` at token `positions`, <float32>[B, K].

    Logits (and the LM head) are computed only at positions - 1, which predict
    the tokens at `positions`; embs may stop right before max(positions).
    """
    out = self.model(
        inputs_embeds=embs,
        attention_mask=attention,
        logits_to_keep=positions - 1,
        use_cache=False,
    )
    logprobs = torch.log_softmax(out.logits.float(), dim=-1)  # [B, K, V]
    return logprobs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)

  def _embed(self, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
      embs = self._embedding(torch.as_tensor(ids, device=self.device))
    return embs.float().cpu().numpy()

  def _objectives(self, embs, batch: SalienceBatch, gradients: bool):
    def tensor(array):
      return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    attention = tensor(batch.attention[:, :embs.shape[1]])
    positions, labels = tensor(batch.positions), tensor(batch.labels)
    # float32 numpy holds bfloat16 values exactly, so this round trip is lossless.
    embs = tensor(embs).to(self.model.dtype)
    return autodiff.objectives_and_gradients(
        self.backend, lambda e: self.target_logprobs(e, attention, labels, positions),
        embs, tensor(batch.weights), gradients=gradients, backward_mode=self.backward_mode)


class _WorkCheckpoint(transformers.StoppingCriteria):
  """Stops a cancelled or overdue generation at the next token (lit_seqsal/work.py)."""

  def __call__(self, input_ids, scores, **unused_kw):
    work.current().checkpoint()
    return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def _as_list(value) -> list:
  if value is None:
    return []
  return list(value) if isinstance(value, (list, tuple)) else [value]


def load_engine(model_name_or_path: str, *, precision: str = "float32",
                **engine_kwargs) -> TransformersEngine:
  """Loads tokenizer and causal LM from a preset, directory, archive or 'bundled'."""
  dtype = dtype_for(precision)
  path = loading.resolve_model_path(model_name_or_path)
  with loading.load_errors(path, model_name_or_path, "a causal LM",
                           (OSError, ValueError)):
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
  return TransformersEngine(model, tokenizer, precision=precision, **engine_kwargs)
