/**
 * Token ranges, written once: how a range is compared and keyed, what part
 * of a selection is explained, its target mask, and which ranges go in one
 * batch and in which requests. No DOM (unit-tested in node).
 */

import type {Segment, TokenRange} from './segments.js';

export function sameRange(a: TokenRange, b: TokenRange): boolean {
  return a.start === b.start && a.end === b.end;
}

/** A range as one key part ("start:end"): the caches' and the pane's. */
export function rangeKey(range: TokenRange): string {
  return `${range.start}:${range.end}`;
}

/**
 * The part of a selected range that is explained: whitespace-only tokens at
 * its ends (the newlines that sentences and lines keep) are layout, and their
 * prediction would dominate the explanation; so are the chat template's own
 * tokens (`template[i]`, see turns.ts). A range of nothing else is explained
 * as it is.
 */
export function explainedRange(tokens: readonly string[], range: TokenRange, template?: readonly boolean[]):
    TokenRange {
  const blank = (i: number) => !!template?.[i] || tokens[i].replace(/▁/g, ' ').trim() === '';
  let {start, end} = range;
  while (end - 1 > start && blank(end - 1)) end--;
  while (start < end - 1 && blank(start)) start++;
  return blank(start) && end - start === 1 ? range : {start, end};
}

/** The target mask of `range` over `length` tokens (BOS, token 0, is never a target). */
export function maskFor(length: number, range: TokenRange): number[] {
  const mask = new Array<number>(length).fill(0);
  for (let i = Math.max(1, range.start); i < Math.min(length, range.end); i++) mask[i] = 1;
  return mask;
}

/**
 * The ranges to fetch in one batch for a selection: what each output segment
 * explains (so that the next click costs nothing), plus the selection's own
 * when no segment explains the same (it spans several); `wanted` is the
 * selection's.
 */
export function batchRanges(tokens: readonly string[], output: readonly Segment[], range: TokenRange,
                            template?: readonly boolean[]): {ranges: TokenRange[], wanted: TokenRange} {
  const wanted = explainedRange(tokens, range, template);
  const ranges = output.map((seg) => explainedRange(tokens, seg, template));
  if (!ranges.some((r) => sameRange(r, wanted))) ranges.push(wanted);
  return {ranges, wanted};
}

/**
 * The requests for `ranges`, at most `size` masks each: first the one with
 * `first` and the ranges nearest it (the next click is likely close by), then
 * the rest in order.
 */
export function chunkRanges(ranges: readonly TokenRange[], first: TokenRange, size: number): TokenRange[][] {
  const n = Math.max(1, Math.floor(size));
  const rest = ranges.filter((r) => !sameRange(r, first));
  const wanted = rest.length < ranges.length ? [first] : [];
  const byDistance = rest.map((r, i) => ({r, i, d: Math.abs(r.start - first.start) + Math.abs(r.end - first.end)}))
      .sort((a, b) => a.d - b.d || a.i - b.i);
  const near = new Set(byDistance.slice(0, n - wanted.length).map((x) => x.i));
  const chunks = [[...wanted, ...rest.filter((_, i) => near.has(i))]];
  const others = rest.filter((_, i) => !near.has(i));
  for (let i = 0; i < others.length; i += n) chunks.push(others.slice(i, i + n));
  return chunks.filter((c) => c.length);
}
