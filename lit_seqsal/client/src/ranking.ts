/**
 * The ranked segments shown beside the text, with no DOM (unit-tested in
 * node): the segments a view colours (the prompt's, and the output's before
 * the selection; never the chat template's own, nor the selection itself),
 * ranked as the deletion check ranks them (highest score first: for a signed
 * method the most supportive first, so that "the top k" means the same here,
 * in the check and in "drop and regenerate"), each with its share of the
 * total and a bar on the view's colour scale (diverging from the middle for a
 * signed or contrastive view).
 */

import type {PaneView} from './pane_view.js';
import type {Segment, TokenRange} from './segments.js';

export type SegmentRole = 'prompt' | 'output';

export interface RankedSegment {
  role: SegmentRole;
  /** Its index among the pane's prompt or output segments (the chip's data-i). */
  index: number;
  /** 1 for the first. */
  rank: number;
  /** What the list shows: the text with its whitespace folded, shortened. */
  label: string;
  /** The whole text (a tooltip). */
  text: string;
  /** The segment's summed score, as its chip's tooltip says. */
  value: number;
  /**
   * Its share of the total: value / the sum of the values (unsigned), or
   * value / the sum of |values| (signed: a negative share lowered the span).
   */
  share: number;
  /** The bar, as fractions of its track: from `from` to `to`; a signed view's zero is the middle (0.5). */
  bar: {from: number, to: number, negative: boolean};
  range: TokenRange;
}

export interface Ranking {
  /** Every ranked segment, first first. */
  entries: RankedSegment[];
  /** What the shares are of: the sum of the values (signed: of their sizes). */
  total: number;
  signed: boolean;
}

/** Longest label, in characters, before it is cut with "…". */
export const LABEL_CHARS = 60;

/** A segment's text on one line: whitespace folded, shortened; whitespace alone made visible. */
export function segmentLabel(text: string, max = LABEL_CHARS): string {
  const folded = text.replace(/\s+/g, ' ').trim();
  if (!folded) return text.replace(/\n/g, '↵').replace(/ /g, '␣') || '∅';
  return folded.length > max ? `${folded.slice(0, max - 1).trimEnd()}…` : folded;
}

/**
 * The view's scored segments, ranked: highest value first (ties: the earlier
 * segment first, the prompt before the output). Empty without scores
 * (`hasScores` false) or a selection.
 */
export function rankSegments(view: PaneView, hasScores = true): Ranking {
  const signed = view.signed;
  if (!hasScores || view.lo < 0) return {entries: [], total: 0, signed};
  const candidates: Array<{role: SegmentRole, index: number, seg: Segment, value: number, order: number}> = [];
  view.prompt.forEach((seg, index) => {
    if (!view.promptTemplate[index]) {
      candidates.push({role: 'prompt', index, seg, value: view.promptValues[index], order: index});
    }
  });
  view.output.forEach((seg, index) => {
    if (index < view.lo && view.coloured[index]) {
      candidates.push({role: 'output', index, seg, value: view.outputValues[index], order: view.prompt.length + index});
    }
  });
  let total = 0;
  for (const c of candidates) total += signed ? Math.abs(c.value) : c.value;
  candidates.sort((a, b) => b.value - a.value || a.order - b.order);
  const max = view.max > 0 ? view.max : 1;
  const entries = candidates.map((c, i): RankedSegment => {
    const size = Math.min(1, Math.abs(c.value) / max);
    const half = size / 2;
    const bar = !signed ? {from: 0, to: size, negative: false} :
        c.value < 0 ? {from: 0.5 - half, to: 0.5, negative: true} : {from: 0.5, to: 0.5 + half, negative: false};
    const text = c.seg.text;
    return {role: c.role, index: c.index, rank: i + 1, label: segmentLabel(text), text, value: c.value,
            share: total ? c.value / total : 0, bar, range: {start: c.seg.start, end: c.seg.end}};
  });
  return {entries, total, signed};
}

/** The first `k` prompt segments of a ranking (what "drop the top k" drops), by their indices. */
export function topPromptSegments(ranking: Ranking, k: number): number[] {
  return ranking.entries.filter((e) => e.role === 'prompt').slice(0, Math.max(0, k)).map((e) => e.index);
}

/** A share as a percentage: "23%", "4.5%", "<0.1%", "-12%". */
export function formatShare(share: number): string {
  const percent = Math.abs(share) * 100;
  const sign = share < 0 ? '-' : '';
  if (percent === 0) return '0%';
  if (percent < 0.1) return `${sign}<0.1%`;
  if (percent < 10) return `${sign}${Number(percent.toFixed(1))}%`;
  return `${sign}${Math.round(percent)}%`;
}
