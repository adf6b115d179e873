"""A LIT example to token ids and the mask of tokens to explain.

`encode_example` is how the LIT models, the interpreters, the batch command,
the benchmarks and the tests all turn an example (prompt, target, optional
`target_mask`, `foil`, `messages`) into what an engine computes on. It checks
the example against the engine's own length limit; a server's budgets are
checked by the callers that serve requests (lit_seqsal/models/lit_models.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lit_seqsal import chat, inputs
from lit_seqsal.engine.base import LMEngine
from lit_seqsal.engine.batching import Row


@dataclass(frozen=True)
class EncodedExample:
  ids: tuple[int, ...]  # prompt + target, BOS first
  num_prompt_tokens: int  # how many of them belong to the prompt alone
  mask: np.ndarray | None  # <float32>[len(ids)]: tokens to explain (with_mask=True)
  foil_ids: tuple[int, ...] | None = None  # the `foil`'s tokens, for contrastive salience
  # With a chat template: "<turn>:<role>" per token ("template" for its own tokens).
  turns: tuple[str, ...] | None = None

  def checked_mask(self) -> np.ndarray:
    """The mask; an error for an example encoded without one (with_mask=False)."""
    if self.mask is None:
      raise ValueError("This example was encoded without a mask (with_mask=False).")
    return self.mask

  @property
  def longest(self) -> int:
    """Tokens of the longest sequence the model will read: the input, or the
    context plus the foil."""
    if self.foil_ids is None:
      return len(self.ids)
    start, _ = inputs.contiguous_span(self.checked_mask())
    return max(len(self.ids), start + len(self.foil_ids))

  @property
  def row(self) -> Row:
    """The example as a salience row (contrastive when it has a foil)."""
    if self.foil_ids is None:
      return (list(self.ids), self.checked_mask()[None])
    return (list(self.ids), self.checked_mask()[None], list(self.foil_ids))


def encode_prompt(
  engine: LMEngine, example: dict, index: int = 0
) -> tuple[list[int], tuple[str, ...] | None]:
  """Token ids of an example's prompt as the model sees it (in its chat template
  when it has one: lit_seqsal/chat.py), and the tokens' turn tags if templated."""
  prompt = inputs.prompt_of(example, index=index)
  conversation = (
    chat.conversation_of(example, engine.chat_markers) if engine.uses_chat_template else None
  )
  if conversation is None:
    return engine.encode(prompt), None
  ids, tags = engine.encode_chat(conversation)
  return list(ids), tuple(tags)


def encode_example(
  engine: LMEngine, example: dict, index: int = 0, *, with_mask: bool = True
) -> EncodedExample:
  """Token ids of an example's prompt + target and, with `with_mask`, the checked
  mask of tokens to explain (its `target_mask`, else every target token).

  Raises inputs.InputError for a missing or empty prompt, a bad mask, or an
  input over the engine's length limit.
  """
  prompt = inputs.prompt_of(example, index=index)
  target = inputs.target_of(example)
  prompt_ids, turns = encode_prompt(engine, example, index)
  if turns is not None:
    # The target is the model's turn, which the template's generation prompt opened.
    target_ids = engine.encode_continuation(target) if target else []
    model_turn = turns[-1].split(":")[0]
    ids, num_prompt = prompt_ids + target_ids, len(prompt_ids)
    turns = turns + (f"{model_turn}:model",) * len(target_ids)
  elif target:
    ids = engine.encode(prompt + target)
    # Tokens may merge across the prompt/target boundary; count as prompt only
    # the shared prefix, so a merged boundary token is part of the target.
    num_prompt = next(
      (k for k, (a, b) in enumerate(zip(prompt_ids, ids)) if a != b), min(len(prompt_ids), len(ids))
    )
  else:
    ids, num_prompt = prompt_ids, len(prompt_ids)
  if not with_mask:
    return EncodedExample(tuple(ids), num_prompt, None, turns=turns)
  inputs.check_length(len(ids), engine.max_length, "Prompt + target")
  mask = inputs.target_mask_for(example, len(ids), num_prompt)
  foil = inputs.foil_of(example)
  if foil is None:
    return EncodedExample(tuple(ids), num_prompt, mask, turns=turns)
  start, _ = inputs.contiguous_span(mask)
  # The foil replaces the span's text: if the span starts a word, so does the foil.
  if engine.token_strings([ids[start]])[0].startswith("▁") and not foil[:1].isspace():
    foil = " " + foil
  foil_ids = engine.encode_continuation(foil)
  inputs.check_length(start + len(foil_ids), engine.max_length, "The context plus the foil")
  return EncodedExample(tuple(ids), num_prompt, mask, tuple(foil_ids), turns)
