/**
 * Token ranges, written once: how a range is compared and keyed, what part
 * of a selection is explained, its target mask, and which ranges a selection
 * asks for first and which are prefetched after it. No DOM (unit-tested in node).
 */

import {prefetchOrder} from './prefetch.js';
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
 * What a selection of output segments needs: `wanted`, the selection's own
 * explained range (asked for first, alone), and `background`, what each other
 * output segment explains, nearest the selection first (prefetch.prefetchOrder),
 * to prefetch for the next clicks.
 */
export function selectionRanges(tokens: readonly string[], output: readonly Segment[], range: TokenRange,
                                template?: readonly boolean[]): {wanted: TokenRange, background: TokenRange[]} {
  const wanted = explainedRange(tokens, range, template);
  const inside = output.map((seg, i) => (seg.start >= range.start && seg.end <= range.end ? i : -1))
      .filter((i) => i >= 0);
  const [lo, hi] = inside.length ? [inside[0], inside.at(-1)!] : [-1, -1];
  // The neighbours first, then the segments inside a selection of several.
  const inner = lo < 0 ? [] : Array.from({length: hi - lo + 1}, (_, k) => lo + k);
  const background = [...prefetchOrder(output.length, lo, hi), ...inner]
      .map((i) => explainedRange(tokens, output[i], template))
      .filter((r) => !sameRange(r, wanted));
  return {wanted, background};
}
