"""Token strings as the contract shows them (docs/architecture.md, "The model group").

- `▁` marks a word start (a token whose text starts with a space), newlines
  stay `\\n`;
- joined, with `▁` read as a space, the token strings spell exactly the text
  the tokens cover. A character whose UTF-8 bytes are split over several
  tokens (byte-level BPE: Llama 3, Qwen, GPT-NeoX; SentencePiece byte
  fallback: `<0xE7>`) is shown once, by the token holding its last byte; the
  tokens before it that hold no whole character show an empty string.
  Special tokens (`<bos>`, turn markers) show as they are.

Segmenting into words, sentences, lines and paragraphs works from these strings
alone (lit_seqsal/salience/segmentation.py and the client's segments.ts), so
every tokenizer's pieces are brought to this one spelling here.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterable, Sequence

_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
WORD_START = "▁"
# Token kinds of `display_tokens`: how a token's piece stands for bytes of text.
BYTE_LEVEL = "byte_level"  # GPT-2's printable stand-ins for bytes ("Ġ" a space)
SENTENCEPIECE = "sentencepiece"  # text with "▁" for spaces, "<0xNN>" byte fallback


def display_piece(piece: str) -> str:
  """One SentencePiece piece on its own (an alternative next token, say): a
  byte-fallback piece such as `<0x0A>` becomes the character it encodes."""
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


def piece_bytes(piece: str, kind: str) -> bytes:
  """The bytes of text a (non-special) token piece stands for."""
  if kind == BYTE_LEVEL:
    table = _byte_level_decoder()
    return b"".join(bytes([table[c]]) if c in table else c.encode("utf-8") for c in piece)
  if kind == SENTENCEPIECE:
    match = _BYTE_PIECE.fullmatch(piece)
    return bytes([int(match.group(1), 16)]) if match else piece.encode("utf-8")
  raise ValueError(f"Unknown token kind {kind!r}; allowed: {BYTE_LEVEL}, {SENTENCEPIECE}.")


def display_tokens(
  pieces: Sequence[str], kind: str, special: Iterable[str] = (), dummy_prefix: bool = False
) -> list[str]:
  """Token pieces of one tokenizer `kind` in our spelling (see the module doc).

  Bytes are decoded across tokens as one UTF-8 stream: each token shows the
  characters completed within it. Bytes that never complete a character (a
  sequence cut short) show as U+FFFD on the token that holds them.
  `dummy_prefix`: the tokenizer put a `▁` before the text's first word that is
  not in the text (SentencePiece's add_dummy_prefix: Llama 2, Mistral); it is
  left out of the first piece, or of the second after a special first one (BOS).
  """
  special = set(special)
  decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
  out: list[str] = []
  last_text = -1  # index in `out` of the latest non-special token
  strip_at = (1 if pieces and pieces[0] in special else 0) if dummy_prefix else -1
  for index, piece in enumerate(pieces):
    if piece in special:
      if last_text >= 0:  # bytes left hanging before a special token
        out[last_text] += decoder.decode(b"", final=True)
      decoder.reset()
      out.append(piece)
      continue
    raw = piece_bytes(piece, kind)
    if index == strip_at:
      spacer = WORD_START.encode("utf-8") if kind == SENTENCEPIECE else b" "
      raw = raw.removeprefix(spacer)
    out.append(decoder.decode(raw))
    last_text = len(out) - 1
  if last_text >= 0:
    out[last_text] += decoder.decode(b"", final=True)
  if kind == BYTE_LEVEL:
    out = [WORD_START + t[1:] if t.startswith(" ") and t not in special else t for t in out]
  return out


def display_byte_level(tokens: Sequence[str], special: Iterable[str] = ()) -> list[str]:
  """GPT-2 style byte-level BPE pieces ("Ġ" a space, "Ċ" a newline) in our spelling."""
  return display_tokens(tokens, BYTE_LEVEL, special)


def token_text(token: str) -> str:
  """The text a token string stands for (`▁` back to a space)."""
  return token.replace(WORD_START, " ")
