"""Segmenting token strings into words, sentences, lines and paragraphs.

The same rules as the client's `segments.ts` (a test runs both on the same
tokens), so that occlusion removes exactly the segments a user sees. They work
from the token strings alone (lit_seqsal/tokens.py): `▁` marks a word start,
newlines stay `\\n`, and a token that shows no character (part of a character
split over tokens) joins the segment of the token after it.

Scripts written without spaces (Chinese, Japanese, Thai, ...): a word also
starts where ICU's word break iterator, with its dictionaries, puts one before
a letter or digit of such a script (or right after one); the client asks the
browser's ICU (`Intl.Segmenter`), this module ICU through icu4py: the same ICU
rules and data on both sides. A sentence also ends at 。！？ (with any closing
quotes or brackets after it), wherever they fall in a token.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from lit_seqsal import inputs
from lit_seqsal import tokens as token_display

# The client's granularities, less custom patterns (which stay client-side).
GRANULARITIES = ("tokens", "words", "sentences", "lines", "paragraphs")

_SENTENCE_END = re.compile(r"[.!?。！？][\"'”’)\]]*\s*$")
# A sentence ends in the token holding the last character of each match.
_SPACELESS_SENTENCE_END = re.compile(r"[。！？]+[」』）〕】》〉”’\"')\]]*")
# Scripts written without spaces between words (the same table as segments.ts).
SPACELESS_RANGES = (
  (0x0E00, 0x0EFF),  # Thai, Lao
  (0x1000, 0x109F),  # Myanmar
  (0x1780, 0x17FF),  # Khmer
  (0x3040, 0x30FF),  # Hiragana, Katakana
  (0x31F0, 0x31FF),  # Katakana phonetic extensions
  (0x3400, 0x4DBF),  # CJK unified ideographs extension A
  (0x4E00, 0x9FFF),  # CJK unified ideographs
  (0xF900, 0xFAFF),  # CJK compatibility ideographs
  (0xFF66, 0xFF9F),  # halfwidth Katakana
  (0x20000, 0x3FFFF),  # CJK unified ideographs extensions B and later
)
# ICU locale for word breaks (the client uses the same).
ICU_LOCALE = "en"


def check_granularity(granularity, field: str = "granularity") -> str:
  return inputs.one_of(granularity, field, GRANULARITIES, " (custom patterns are client-side only)")


def is_spaceless(char: str) -> bool:
  code = ord(char)
  return any(low <= code <= high for low, high in SPACELESS_RANGES)


def _is_word_char(char: str) -> bool:
  """A letter or a digit (JavaScript's [\\p{L}\\p{N}])."""
  return char.isalpha() or char.isnumeric()


@functools.lru_cache(maxsize=256)
def spaceless_word_starts(text: str) -> tuple[int, ...]:
  """Offsets in `text` where a word of a script without spaces starts: an ICU
  word boundary before a letter or digit, next to a character of such a script,
  not after whitespace (the `▁` rule has those)."""
  if not any(is_spaceless(c) for c in text):
    return ()
  from icu4py.breakers import WordBreaker

  # ICU counts UTF-16 code units; Python indexes code points.
  index_of_unit, unit = {}, 0
  for i, char in enumerate(text):
    index_of_unit[unit] = i
    unit += 2 if ord(char) > 0xFFFF else 1
  starts = []
  for start_unit, _ in WordBreaker(text, ICU_LOCALE).segments():
    p = index_of_unit.get(start_unit)
    if not p:
      continue
    before, after = text[p - 1], text[p]
    if (
      _is_word_char(after)
      and not before.isspace()
      and (is_spaceless(after) or is_spaceless(before))
    ):
      starts.append(p)
  return tuple(starts)


def _ends(texts: list[str], granularity: str) -> list[bool]:
  """ends[i]: a segment ends after token i."""
  n = len(texts)

  def next_starts_word(i: int) -> bool:
    """No token follows token i, or the next one starts with a space."""
    return i + 1 >= n or texts[i + 1].startswith(" ")

  if granularity == "tokens":
    ends = [True] * n
  elif granularity == "words":
    # A word ends before a token starting with a space, and at a newline.
    ends = [("\n" in t) or next_starts_word(i) for i, t in enumerate(texts)]
    _end_at(ends, texts, [p - 1 for p in spaceless_word_starts("".join(texts))])
  elif granularity == "lines":
    ends = ["\n" in t for t in texts]
  elif granularity == "paragraphs":
    # A blank line: "\n\n" in one token, or a newline token after a line end.
    ends = [
      ("\n\n" in t) or (t.startswith("\n") and i > 0 and texts[i - 1].endswith("\n"))
      for i, t in enumerate(texts)
    ]
  elif granularity == "sentences":
    ends = [
      ("\n" in t) or (bool(_SENTENCE_END.search(t)) and next_starts_word(i))
      for i, t in enumerate(texts)
    ]
    text = "".join(texts)
    _end_at(ends, texts, [m.end() - 1 for m in _SPACELESS_SENTENCE_END.finditer(text)])
  else:
    check_granularity(granularity)
  # A token that shows no character goes with the token after it.
  for i, t in enumerate(texts):
    if not t:
      ends[i] = False
  if n:
    ends[-1] = True
  return ends


def _end_at(ends: list[bool], texts: list[str], offsets: Sequence[int]) -> None:
  """Ends a segment after each token that holds one of the character `offsets`."""
  if not offsets:
    return
  token_ends, total = [], 0
  for t in texts:
    total += len(t)
    token_ends.append(total)
  token = 0
  for offset in sorted(offsets):
    while token_ends[token] <= offset:
      token += 1
    ends[token] = True


def segment_tokens(
  tokens: Sequence[str], granularity: str, start: int = 0, end: int | None = None
) -> list[tuple[int, int]]:
  """Token ranges [a, b) of the segments of tokens[start:end], in order.

  Boundaries are those of the whole sequence, cut at `start` and `end`.
  """
  check_granularity(granularity)
  end = len(tokens) if end is None else end
  ends = _ends([token_display.token_text(t) for t in tokens], granularity)
  segments, a = [], start
  for i in range(start, end):
    if ends[i] or i == end - 1:
      segments.append((a, i + 1))
      a = i + 1
  return segments
