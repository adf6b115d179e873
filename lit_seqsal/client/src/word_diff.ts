/**
 * A word-level diff of two texts (the model's generation before and after a
 * prompt edit), with no DOM (unit-tested in node). Words are runs of
 * non-whitespace; the words both texts keep are a longest common subsequence
 * of their words, so as few words as possible are marked. Each text comes
 * back whole, in parts: joined, the parts are the text exactly; whitespace
 * between two changed words belongs to the change, any other whitespace is
 * unchanged.
 */

export interface DiffPart {
  /** 'same' in both texts, 'removed' from the first, 'added' in the second. */
  kind: 'same' | 'removed' | 'added';
  text: string;
}

export interface WordDiff {
  before: DiffPart[];
  after: DiffPart[];
  /** Words removed from the first text and added in the second. */
  removed: number;
  added: number;
}

/** The text as alternating runs: words (non-whitespace) and the whitespace between them. */
function pieces(text: string): Array<{word: boolean, text: string}> {
  return (text.match(/\s+|\S+/g) ?? []).map((t) => ({word: /\S/.test(t), text: t}));
}

/** The largest table of the longest common subsequence (16 MB): about 2,000 differing words each side. */
export const MAX_TABLE = 4_000_000;

/** Whether each word of `a` and of `b` is kept: a longest common subsequence of the two word lists. */
export function keptWords(a: readonly string[], b: readonly string[]): {a: boolean[], b: boolean[]} {
  const keepA = new Array<boolean>(a.length).fill(false);
  const keepB = new Array<boolean>(b.length).fill(false);
  // The common beginning and end first: the table then covers only what differs.
  let lo = 0;
  while (lo < a.length && lo < b.length && a[lo] === b[lo]) keepA[lo] = keepB[lo++] = true;
  let endA = a.length, endB = b.length;
  while (endA > lo && endB > lo && a[endA - 1] === b[endB - 1]) keepA[--endA] = keepB[--endB] = true;
  const n = endA - lo, m = endB - lo;
  // (Beyond MAX_TABLE cells, what lies between the common ends is marked changed.)
  if (n && m && n * m <= MAX_TABLE) {
    // lengths[i][j]: the longest common subsequence of a[lo + i:endA] and b[lo + j:endB].
    const width = m + 1;
    const lengths = new Uint32Array((n + 1) * width);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lengths[i * width + j] = a[lo + i] === b[lo + j] ? lengths[(i + 1) * width + j + 1] + 1 :
            Math.max(lengths[(i + 1) * width + j], lengths[i * width + j + 1]);
      }
    }
    for (let i = 0, j = 0; i < n && j < m;) {
      if (a[lo + i] === b[lo + j]) {
        keepA[lo + i++] = keepB[lo + j++] = true;
      } else if (lengths[(i + 1) * width + j] >= lengths[i * width + j + 1]) {
        i++;
      } else {
        j++;
      }
    }
  }
  return {a: keepA, b: keepB};
}

/** One text in parts: each word kept or `changed`; whitespace joins a change only between two changed words. */
function parts(text: string, kept: boolean[], changed: 'removed' | 'added'): DiffPart[] {
  const runs = pieces(text);
  const kinds: Array<DiffPart['kind']> = [];
  let w = 0;
  for (const run of runs) kinds.push(run.word ? (kept[w++] ? 'same' : changed) : 'same');
  runs.forEach((run, i) => {
    if (!run.word && kinds[i - 1] === changed && kinds[i + 1] === changed) kinds[i] = changed;
  });
  const out: DiffPart[] = [];
  runs.forEach((run, i) => {
    const last = out.at(-1);
    if (last && last.kind === kinds[i]) last.text += run.text;
    else out.push({kind: kinds[i], text: run.text});
  });
  return out;
}

export function wordDiff(before: string, after: string): WordDiff {
  const wordsA = pieces(before).filter((p) => p.word).map((p) => p.text);
  const wordsB = pieces(after).filter((p) => p.word).map((p) => p.text);
  const kept = keptWords(wordsA, wordsB);
  return {
    before: parts(before, kept.a, 'removed'),
    after: parts(after, kept.b, 'added'),
    removed: kept.a.filter((k) => !k).length,
    added: kept.b.filter((k) => !k).length,
  };
}
