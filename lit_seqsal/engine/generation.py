"""What every framework's generation shares: batching prompts, cutting at stops.

A framework generates raw token ids (`LMEngine._generate_ids`); the base
engine groups prompts into batches (same stop sequences, similar lengths),
cuts each generation at the first stop token or stop sequence, and returns
`Generation`s with the text and mean embeddings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Generation:
  text: str
  prompt_embedding: np.ndarray  # mean input embedding over prompt tokens
  response_embedding: np.ndarray  # mean input embedding over generated tokens


def batches(
  prompts: Sequence[Sequence[int]], keys: Sequence[tuple], batch_size: int
) -> list[list[int]]:
  """Indices of prompts in generation batches: the same key (stop sequences and
  token limit), similar lengths (padding a short prompt to a long one's width
  costs a generation step per padded position), at most batch_size each."""
  order = sorted(range(len(prompts)), key=lambda i: (keys[i], len(prompts[i])))
  chunks: list[list[int]] = []
  for i in order:
    if chunks and len(chunks[-1]) < batch_size and keys[chunks[-1][0]] == keys[i]:
      chunks[-1].append(i)
    else:
      chunks.append([i])
  return chunks


def cut_at_stop_ids(new_ids: Sequence[int], stop_ids: frozenset[int]) -> list[int]:
  """Generated ids up to (not including) the first stop token."""
  new_ids = [int(t) for t in new_ids]
  cut = next((k for k, t in enumerate(new_ids) if t in stop_ids), len(new_ids))
  return new_ids[:cut]


def cut_at_stop_sequence(
  decode: Callable[[Sequence[int]], str], new_ids: Sequence[int], stops: Sequence[str]
) -> tuple[list[int], str]:
  """Generated ids up to the token that completes the first stop sequence, and
  the text before that sequence. Matched on the decoded text, so a stop
  sequence split across tokens (or inside one) is found all the same."""
  text = decode(new_ids) if new_ids else ""
  found = [i for i in (text.find(s) for s in stops) if i >= 0]
  if not found:
    return list(new_ids), text
  # The shortest prefix of tokens whose text holds a stop sequence.
  k = next(k for k in range(1, len(new_ids) + 1) if any(s in decode(new_ids[:k]) for s in stops))
  return list(new_ids[:k]), text[: min(found)]
