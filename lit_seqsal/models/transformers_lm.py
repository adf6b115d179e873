"""Hugging Face Transformers (PyTorch) engine for the LIT model group."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import numpy as np
import torch
import transformers

from lit_seqsal import contract
from lit_seqsal.models.lit_wrappers import Generation, LMEngine

# float64 is not offered to users; tests use it for finite differences.
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float64": torch.float64}
BACKWARD_MODES = ("loop", "vmap")


@functools.lru_cache(maxsize=1)
def _byte_level_decoder() -> dict[str, int]:
  """Inverse of GPT-2's byte-to-printable-character table."""
  printable = (
      list(range(ord("!"), ord("~") + 1))
      + list(range(ord("¡"), ord("¬") + 1))
      + list(range(ord("®"), ord("ÿ") + 1))
  )
  chars = list(printable)
  extra = 0
  for b in range(256):
    if b not in printable:
      printable.append(b)
      chars.append(256 + extra)
      extra += 1
  return {chr(c): b for b, c in zip(printable, chars)}


def dtype_for(precision: str) -> torch.dtype:
  if precision not in PRECISIONS:
    raise ValueError(
        f"Unknown precision {precision!r}; allowed values: {', '.join(PRECISIONS)}."
    )
  return PRECISIONS[precision]


class TransformersEngine(LMEngine):
  """A causal LM from transformers, with salience from input-embedding gradients."""

  def __init__(
      self,
      model: transformers.PreTrainedModel,
      tokenizer: transformers.PreTrainedTokenizerBase,
      *,
      batch_size: int = 4,
      max_length: int = 512,
      max_new_tokens: int = 64,
      precision: str = "float32",
      backward_mode: str = "loop",
  ):
    super().__init__(batch_size=batch_size, max_length=max_length, max_new_tokens=max_new_tokens)
    if backward_mode not in BACKWARD_MODES:
      raise ValueError(
          f"Unknown backward_mode {backward_mode!r}; allowed: {', '.join(BACKWARD_MODES)}."
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
    self._byte_level = any(t.startswith("Ġ") for t in tokenizer.tokenize("a b c"))
    self._special_tokens = set(tokenizer.all_special_tokens)
    self._stop_ids = set(_as_list(model.generation_config.eos_token_id)) | {
        tokenizer.eos_token_id, self.pad_id}
    self._embed = self.model.get_input_embeddings()

  # -- tokens ---------------------------------------------------------------

  def encode(self, text: str) -> list[int]:
    ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]
    bos = self.tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
      ids = [bos] + ids  # e.g. GPT-2 adds no BOS; salience needs a context token.
    return ids

  def token_strings(self, ids: Sequence[int]) -> list[str]:
    tokens = self.tokenizer.convert_ids_to_tokens(list(ids))
    if self._byte_level:
      table = _byte_level_decoder()
      out = []
      for tok in tokens:
        if tok in self._special_tokens:
          out.append(tok)
          continue
        raw = bytes(table.get(c, ord("?")) for c in tok)
        text = raw.decode("utf-8", errors="replace")
        out.append("▁" + text[1:] if text.startswith(" ") else text)
      return out
    return [contract.display_piece(t) for t in tokens]

  # -- generation -----------------------------------------------------------

  @torch.no_grad()
  def generate(self, prompt_ids: Sequence[Sequence[int]]) -> list[Generation]:
    encoded = [list(ids) for ids in prompt_ids]
    width = max(len(e) for e in encoded)
    input_ids = torch.full((len(encoded), width), self.pad_id, dtype=torch.long)
    attention = torch.zeros((len(encoded), width), dtype=torch.long)
    for b, ids in enumerate(encoded):  # left-pad so continuations line up
      input_ids[b, width - len(ids):] = torch.tensor(ids)
      attention[b, width - len(ids):] = 1
    max_new = min(self.max_new_tokens, self.max_length - width)
    out = self.model.generate(
        input_ids=input_ids.to(self.device),
        attention_mask=attention.to(self.device),
        max_new_tokens=max_new,
        do_sample=False,
        top_p=None,
        top_k=None,
        pad_token_id=self.pad_id,
    )
    new_tokens = out[:, width:]
    results = []
    for b, ids in enumerate(encoded):
      gen = new_tokens[b].tolist()
      cut = next((k for k, t in enumerate(gen) if t in self._stop_ids), len(gen))
      gen = gen[:cut]
      text = self.tokenizer.decode(gen, skip_special_tokens=True)
      prompt_emb = self._mean_embedding(ids)
      resp_emb = self._mean_embedding(gen) if gen else np.zeros_like(prompt_emb)
      results.append(Generation(text, prompt_emb, resp_emb))
    return results

  def _mean_embedding(self, ids: Sequence[int]) -> np.ndarray:
    emb = self._embed(torch.tensor(list(ids), device=self.device))
    return emb.float().mean(0).cpu().numpy()

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

  def embed(self, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
      embs = self._embed(torch.as_tensor(ids, device=self.device))
    return embs.float().cpu().numpy()

  def objectives(self, embs, batch, *, gradients):
    attention = torch.from_numpy(batch.attention[:, :embs.shape[1]]).to(self.device)
    positions = torch.from_numpy(batch.positions).to(self.device)
    labels = torch.from_numpy(batch.labels).to(self.device)
    weights = torch.from_numpy(batch.weights).to(self.device)
    # float32 numpy holds bfloat16 values exactly, so this round trip is lossless.
    embs = torch.from_numpy(np.ascontiguousarray(embs)).to(self.device, self.model.dtype)
    if not gradients:
      with torch.no_grad():
        token_lp = self.target_logprobs(embs, attention, labels, positions)
        return torch.einsum("bk,bmk->bm", token_lp, weights).cpu().numpy(), None
    embs.requires_grad_(True)
    with torch.enable_grad():
      token_lp = self.target_logprobs(embs, attention, labels, positions)
      objectives = torch.einsum("bk,bmk->bm", token_lp, weights)  # [B, M]
      grads = self._grads(objectives, embs)  # [M, B, used, H]
    return objectives.detach().cpu().numpy(), grads.float().cpu().numpy()

  def _grads(self, objectives: torch.Tensor, embs: torch.Tensor) -> torch.Tensor:
    """d objectives[:, m].sum() / d embs for every mask m, stacked: [M, B, T, H].

    Rows of a batch are independent, so summing over the batch gives each row
    its own gradient. Masks share the forward pass: either one backward per mask
    over the retained graph ("loop"), or one vmapped backward ("vmap").
    """
    num_masks = objectives.shape[1]
    if self.backward_mode == "vmap" and num_masks > 1:
      eye = torch.eye(num_masks, dtype=objectives.dtype, device=objectives.device)
      grad_outputs = eye.unsqueeze(1).expand(num_masks, *objectives.shape)
      (grads,) = torch.autograd.grad(
          objectives, embs, grad_outputs=grad_outputs, is_grads_batched=True
      )
      return grads
    grads = []
    for m in range(num_masks):
      (g,) = torch.autograd.grad(
          objectives[:, m].sum(), embs, retain_graph=m < num_masks - 1
      )
      grads.append(g)
    return torch.stack(grads)


def _as_list(value) -> list:
  if value is None:
    return []
  return list(value) if isinstance(value, (list, tuple)) else [value]


def load_engine(
    model_name_or_path: str,
    *,
    precision: str = "float32",
    **engine_kwargs,
) -> TransformersEngine:
  """Loads tokenizer and causal LM from a preset, directory, archive or 'bundled'."""
  from lit_seqsal.models import loading  # pylint: disable=g-import-not-at-top

  dtype = dtype_for(precision)
  path = loading.resolve_model_path(model_name_or_path)
  is_local = os.path.isdir(path)
  try:
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
  except (OSError, ValueError) as e:
    if is_local:
      raise ValueError(
          f"Could not load a causal LM from {path!r} (from {model_name_or_path!r}):"
          f" {e}"
      ) from e
    raise loading.preset_error(model_name_or_path, e) from e
  return TransformersEngine(model, tokenizer, precision=precision, **engine_kwargs)
