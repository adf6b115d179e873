/**
 * Segmenting model tokens into words, sentences, lines, paragraphs or
 * custom-pattern units, from the token strings alone (see docs/architecture.md: `▁` marks
 * a word start, newlines stay `\n`).
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
