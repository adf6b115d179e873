/**
 * Segmenting model tokens into words, sentences, lines, paragraphs or
 * custom-pattern units, from the token strings alone (see docs/architecture.md: `▁` marks
 * a word start, newlines stay `\n`, and a token that shows no character, part of
 * a character split over tokens, joins the segment of the token after it).
 *
 * Scripts written without spaces (Chinese, Japanese, Thai, ...): a word also
 * starts where ICU's word breaks (`Intl.Segmenter`, with its dictionaries) put
 * one before a letter or digit of such a script or right after one; a sentence
 * also ends at 。！？ wherever it falls in a token. The server applies the same
 * rules with the same ICU (lit_seqsal/salience/segmentation.py).
 */

/**
 * 'turns' (one segment per conversation turn) needs the model's token_turns
 * and is segmented in turns.ts; the others from the token strings alone.
 */
export type Granularity = 'tokens' | 'words' | 'sentences' | 'lines' | 'paragraphs' | 'turns' | 'custom';

export const GRANULARITIES: readonly Granularity[] =
    ['tokens', 'words', 'sentences', 'lines', 'paragraphs', 'turns', 'custom'];

/** Token indices [start, end) into prompt + output (end exclusive). */
export interface TokenRange {
  start: number;
  end: number;
}

/** A run of tokens [start, end) and the text it shows. */
export interface Segment extends TokenRange {
  text: string;
}

/** The text a token shows: `▁` is a space. */
export function tokenText(token: string): string {
  return token.replace(/▁/g, ' ');
}

const SENTENCE_END = /[.!?。！？]["'”’)\]]*\s*$/;
// A sentence ends in the token holding the last character of each match.
const SPACELESS_SENTENCE_END = /[。！？]+[」』）〕】》〉”’"')\]]*/g;
// Scripts written without spaces between words (the same table as segmentation.py).
const SPACELESS_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x0E00, 0x0EFF],  // Thai, Lao
  [0x1000, 0x109F],  // Myanmar
  [0x1780, 0x17FF],  // Khmer
  [0x3040, 0x30FF],  // Hiragana, Katakana
  [0x31F0, 0x31FF],  // Katakana phonetic extensions
  [0x3400, 0x4DBF],  // CJK unified ideographs extension A
  [0x4E00, 0x9FFF],  // CJK unified ideographs
  [0xF900, 0xFAFF],  // CJK compatibility ideographs
  [0xFF66, 0xFF9F],  // halfwidth Katakana
  [0x20000, 0x3FFFF],  // CJK unified ideographs extensions B and later
];
// ICU locale for word breaks (the server uses the same).
const ICU_LOCALE = 'en';

function isSpaceless(codePoint: number): boolean {
  return SPACELESS_RANGES.some(([low, high]) => low <= codePoint && codePoint <= high);
}

const WORD_CHAR = /[\p{L}\p{N}]/u;
const SPACE = /\s/u;
let wordSegmenter: Intl.Segmenter | undefined;

/**
 * Offsets (UTF-16, as JavaScript indexes strings) where a word of a script
 * without spaces starts: an ICU word boundary before a letter or digit, next to
 * a character of such a script, not after whitespace (the `▁` rule has those).
 */
export function spacelessWordStarts(text: string): number[] {
  let any = false;
  for (const char of text) {
    if (isSpaceless(char.codePointAt(0)!)) {
      any = true;
      break;
    }
  }
  if (!any) return [];
  wordSegmenter ??= new Intl.Segmenter(ICU_LOCALE, {granularity: 'word'});
  const starts: number[] = [];
  for (const {index} of wordSegmenter.segment(text)) {
    if (index === 0) continue;
    const after = text.codePointAt(index)!;
    const low = text.charCodeAt(index - 1);
    const before = low >= 0xDC00 && low <= 0xDFFF && index >= 2 ?
        text.codePointAt(index - 2)! : low;
    const afterChar = String.fromCodePoint(after);
    if (WORD_CHAR.test(afterChar) && !SPACE.test(String.fromCodePoint(before)) &&
        (isSpaceless(after) || isSpaceless(before))) {
      starts.push(index);
    }
  }
  return starts;
}

/** Ends a segment after each token that holds one of the character `offsets`. */
function endAt(ends: boolean[], texts: readonly string[], offsets: number[]) {
  if (offsets.length === 0) return;
  const tokenEnds: number[] = [];
  let total = 0;
  for (const t of texts) tokenEnds.push(total += t.length);
  let token = 0;
  for (const offset of [...offsets].sort((a, b) => a - b)) {
    while (tokenEnds[token] <= offset) token++;
    ends[token] = true;
  }
}

/**
 * Where each segment ends: ends[i] is true when a segment ends after token i.
 * The last token always ends a segment.
 */
function segmentEnds(tokens: readonly string[], granularity: Granularity, pattern?: RegExp): boolean[] {
  const n = tokens.length;
  const texts = tokens.map(tokenText);
  const ends = new Array<boolean>(n).fill(false);
  if (n === 0) return ends;
  switch (granularity) {
    case 'tokens':
      ends.fill(true);
      break;
    case 'words':
      for (let i = 0; i < n; i++) {
        const next = texts[i + 1];
        // A word ends before a token that starts with a space, and at a newline
        // (newline tokens stay with the word before them).
        ends[i] = texts[i].includes('\n') || next === undefined || next.startsWith(' ');
      }
      endAt(ends, texts, spacelessWordStarts(texts.join('')).map((p) => p - 1));
      break;
    case 'lines':
      for (let i = 0; i < n; i++) ends[i] = texts[i].includes('\n');
      break;
    case 'paragraphs':
      for (let i = 0; i < n; i++) {
        // A blank line: "\n\n" in one token, or a newline token after a line end.
        ends[i] = texts[i].includes('\n\n') ||
            (texts[i].startsWith('\n') && i > 0 && texts[i - 1].endsWith('\n'));
      }
      break;
    case 'sentences':
      for (let i = 0; i < n; i++) {
        const next = texts[i + 1];
        // Newline tokens after the punctuation stay with the sentence.
        const punctuationEnd = SENTENCE_END.test(texts[i]) && (next === undefined || next.startsWith(' '));
        ends[i] = texts[i].includes('\n') || punctuationEnd;
      }
      endAt(ends, texts,
          [...texts.join('').matchAll(SPACELESS_SENTENCE_END)].map((m) => m.index! + m[0].length - 1));
      break;
    case 'custom': {
      if (!pattern) throw new Error('A custom granularity needs a pattern.');
      // A segment ends in the token holding the last character of each match.
      const offsets: number[] = [];  // end offset of each token in the joined text
      let total = 0;
      for (const t of texts) offsets.push(total += t.length);
      const text = texts.join('');
      const flags = pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g';
      const re = new RegExp(pattern.source, flags);
      let match: RegExpExecArray | null;
      let token = 0;
      while ((match = re.exec(text)) !== null) {
        if (match[0].length === 0) {  // empty matches mark nothing; step over them
          re.lastIndex++;
          continue;
        }
        const last = match.index + match[0].length - 1;
        while (offsets[token] <= last) token++;
        ends[token] = true;
      }
      break;
    }
    case 'turns':
      throw new Error('Turns are segmented from the model\'s token_turns (turns.ts).');
    default:
      throw new Error(`Unknown granularity ${String(granularity)}`);
  }
  // A token that shows no character goes with the token after it.
  for (let i = 0; i < n; i++) if (texts[i] === '') ends[i] = false;
  ends[n - 1] = true;
  return ends;
}

/** Splits token indices [from, to) of `tokens` into non-empty segments. */
export function segmentTokens(
    tokens: readonly string[], granularity: Granularity, pattern?: RegExp,
    from = 0, to = tokens.length): Segment[] {
  const ends = segmentEnds(tokens, granularity, pattern);
  const segments: Segment[] = [];
  let start = from;
  for (let i = from; i < to; i++) {
    if (ends[i] || i === to - 1) {
      segments.push({start, end: i + 1, text: tokens.slice(start, i + 1).map(tokenText).join('')});
      start = i + 1;
    }
  }
  return segments;
}

/** Parses a user's pattern; returns an error message instead of throwing. */
export function parsePattern(source: string): {pattern?: RegExp, error?: string} {
  if (!source) return {error: 'Enter a regular expression.'};
  try {
    return {pattern: new RegExp(source, 'gu')};
  } catch (e) {
    return {error: `Invalid regular expression: ${(e as Error).message}`};
  }
}
