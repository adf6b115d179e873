"""Token strings as the contract shows them: `▁` marks a word start, newlines stay `\\n`.

Segmenting into words, sentences, lines and paragraphs works from these strings
alone (lit_seqsal/salience/segmentation.py and the client's segments.ts), so
every tokenizer's pieces are brought to this one spelling here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
WORD_START = "▁"


def display_piece(piece: str) -> str:
  """A SentencePiece piece as shown to users: byte-fallback pieces such as
  `<0x0A>` become the character they encode, so newlines stay newlines."""
  return _BYTE_PIECE.sub(lambda m: chr(int(m.group(1), 16)), piece)


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


def display_byte_level(tokens: Sequence[str], special: Iterable[str] = ()) -> list[str]:
  """GPT-2 style byte-level BPE pieces ("Ġ" a space, "Ċ" a newline) in our spelling."""
  table = _byte_level_decoder()
  special = set(special)
  out = []
  for tok in tokens:
    if tok in special:
      out.append(tok)
      continue
    raw = bytes(table.get(c, ord("?")) for c in tok)
    text = raw.decode("utf-8", errors="replace")
    out.append(WORD_START + text[1:] if text.startswith(" ") else text)
  return out


def token_text(token: str) -> str:
  """The text a token string stands for (`▁` back to a space)."""
  return token.replace(WORD_START, " ")
