/**
 * The deletion check of an explanation as a person reads it, with no DOM
 * (unit-tested in node): one plain sentence built from the record's numbers
 * ("Removing the 3 top sentences lowers P(Recommendation: …) from 0.62 to
 * 0.04; removing 3 random sentences: to 0.55 (±0.05)"), the verdict and its
 * meaning, the numbers per k, and a small chart of them. The record is the
 * salience model's `check` field (lit_seqsal/salience/check.py; its fields
 * in docs/reference.md, "The deletion check"). With a foil the objective is
 * log P(span) − log P(foil) and there are no probabilities (`prob` null): the
 * words and the chart say so.
 */

import {unitWord} from './pane_view.js';
import type {Granularity} from './segments.js';

/** The span's objective after some segments are deleted. */
export interface CheckOutcome {
  /** Token ranges [start, end) of the deleted segments. */
  segments: Array<[number, number]>;
  log_prob: number;
  /** null with a foil. */
  prob: number | null;
  /** log_prob of the whole input minus this one (nats). */
  drop: number;
}

export interface CheckRandom {
  drop_mean: number;
  drop_std: number;
  log_prob_mean: number;
  log_prob_std: number;
  prob_mean: number | null;
  prob_std: number | null;
  draws: CheckOutcome[];
}

export interface CheckByK {
  k: number;
  top: CheckOutcome;
  lowest: CheckOutcome;
  random: CheckRandom;
  excess: number;
  threshold: number;
  beats_random: boolean;
}

export type Verdict = 'supported' | 'weak' | 'not supported';

/** The `check` record (docs/reference.md). */
export interface CheckRecord {
  method: string;
  granularity: string;
  signed: boolean;
  contrastive: boolean;
  objective: string;
  span: {start: number, end: number, text: string};
  log_prob: number;
  prob: number | null;
  segments: number;
  draws: number;
  seed: number;
  by_k: CheckByK[];
  verdict: Verdict | null;
  meaning: string;
  thresholds: {min_excess_nats: number, standard_errors: number};
}

/** The check as GET /seqsal/info describes it (`check`). */
export interface CheckInfo {
  field: string;
  settings: Array<{name: string, default: string, choices?: string[], follows?: string | null}>;
  ks: number[];
  draws: number;
  verdicts: Record<string, string>;
}

/** The granularities the check segments by (its `check_granularity` setting's choices). */
export function checkGranularities(info: CheckInfo | undefined): string[] {
  return info?.settings.find((s) => s.follows === 'granularity')?.choices ?? [];
}

/**
 * A number as the sentence shows it: two decimals, or two significant digits
 * for a small one (0.0041), "0" for zero.
 */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const text = Math.abs(x) >= 0.01 ? x.toFixed(2) : x.toPrecision(2);
  return text.replace('-', '−');
}

/** The text of the explained span as the sentence quotes it: on one line, shortened. */
export function spanText(text: string, max = 60): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1).trimEnd()}…` : t;
}

/** What the numbers are of: "P(span)", or "log P(span) − log P(foil)" with a foil. */
export function objectiveName(record: CheckRecord, foil = ''): string {
  const span = spanText(record.span.text);
  if (!record.contrastive) return `P(${span})`;
  return `log P(${span}) − log P(${spanText(foil) || 'foil'})`;
}

/** The values the sentence and the chart show: probabilities, or the objective with a foil. */
export function shownValues(record: CheckRecord, entry: CheckByK):
    {before: number, top: number, lowest: number, randomMean: number, randomSpread: number} {
  if (!record.contrastive && record.prob !== null && entry.top.prob !== null && entry.random.prob_mean !== null) {
    return {before: record.prob, top: entry.top.prob, lowest: entry.lowest.prob ?? Math.exp(entry.lowest.log_prob),
            randomMean: entry.random.prob_mean, randomSpread: entry.random.prob_std ?? 0};
  }
  return {before: record.log_prob, top: entry.top.log_prob, lowest: entry.lowest.log_prob,
          randomMean: entry.random.log_prob_mean, randomSpread: entry.random.log_prob_std};
}

/**
 * The check in one sentence, for the largest k it tried: what deleting the k
 * top-ranked segments does to the span's probability (or, with a foil, to
 * the difference of log-probabilities), and what deleting k random ones does
 * on average (± their standard deviation).
 */
export function checkSentence(record: CheckRecord, foil = ''): string {
  const entry = record.by_k.at(-1);
  const granularity = record.granularity as Granularity;
  if (!entry) {
    return `There are fewer than two ${unitWord(2, granularity)} before the span: nothing to compare with.`;
  }
  const {k} = entry;
  const v = shownValues(record, entry);
  const what = objectiveName(record, foil);
  const top = k === 1 ? `the top ${unitWord(1, granularity)}` : `the ${k} top ${unitWord(k, granularity)}`;
  const verb = v.top < v.before ? 'lowers' : v.top > v.before ? 'raises' : 'leaves';
  const change = verb === 'leaves' ? `leaves ${what} at ${formatNumber(v.before)}` :
      `${verb} ${what} from ${formatNumber(v.before)} to ${formatNumber(v.top)}`;
  return `Removing ${top} ${change}; removing ${k} random ${unitWord(k, granularity)}: to ` +
      `${formatNumber(v.randomMean)} (±${formatNumber(v.randomSpread)})`;
}

const VERDICT_LABELS: Record<Verdict, string> = {
  'supported': 'Supported', 'weak': 'Weak', 'not supported': 'Not supported',
};

/** The verdict's label ("Supported", …; "No verdict" without one) and its one-line meaning. */
export function verdictText(record: CheckRecord): {label: string, meaning: string, kind: string} {
  const label = record.verdict ? VERDICT_LABELS[record.verdict] ?? record.verdict : 'No verdict';
  return {label, meaning: record.meaning, kind: record.verdict ? record.verdict.replace(' ', '-') : 'none'};
}

/** One row of the numbers per k, as the sentence words them. */
export interface CheckRow {
  k: number;
  top: string;
  random: string;
  lowest: string;
  beatsRandom: boolean;
}

export function checkRows(record: CheckRecord): CheckRow[] {
  return record.by_k.map((entry) => {
    const v = shownValues(record, entry);
    return {k: entry.k, top: formatNumber(v.top), lowest: formatNumber(v.lowest),
            random: `${formatNumber(v.randomMean)} ± ${formatNumber(v.randomSpread)}`,
            beatsRandom: entry.beats_random};
  });
}

/** One bar of the chart: the value after a deletion; heights as fractions of the plot. */
export interface ChartBar {
  kind: 'top' | 'random' | 'lowest';
  value: number;
  /** Where the bar's ends are, from the bottom of the plot (0) to its top (1). */
  y0: number;
  y1: number;
  /** The random draws' spread (mean ± standard deviation), clipped to the plot. */
  spread?: [number, number];
}

export interface CheckChart {
  groups: Array<{k: number, bars: ChartBar[]}>;
  /** The value with nothing removed, and where its line is. */
  before: {value: number, y: number};
  /** The plot's range of values and the line bars grow from. */
  min: number;
  max: number;
  zeroY: number;
  /** What the axis shows. */
  axis: string;
}

/**
 * The chart: per k, the value after removing the k top, k random (mean, with
 * the spread) and k lowest segments, against the value with nothing removed.
 * Probabilities from 0 to the largest shown; with a foil, the objective's
 * range (0 included).
 */
export function checkChart(record: CheckRecord, foil = ''): CheckChart {
  const probability = !record.contrastive && record.prob !== null;
  const rows = record.by_k.map((entry) => ({k: entry.k, v: shownValues(record, entry)}));
  const before = probability ? record.prob ?? 0 : record.log_prob;
  const values = [before, ...rows.flatMap(({v}) => [
    v.top, v.lowest, v.randomMean + v.randomSpread, v.randomMean - v.randomSpread])];
  let min = Math.min(0, ...values);
  let max = Math.max(0, ...values);
  if (probability) {
    min = 0;
    max = max > 0 ? Math.min(1, max) : 1;
  }
  if (!(max > min)) max = min + 1;
  const y = (value: number) => Math.max(0, Math.min(1, (value - min) / (max - min)));
  const zeroY = y(0);
  const bar = (kind: ChartBar['kind'], value: number, spread?: number): ChartBar => {
    const at = y(value);
    const out: ChartBar = {kind, value, y0: Math.min(zeroY, at), y1: Math.max(zeroY, at)};
    if (spread !== undefined) out.spread = [y(value - spread), y(value + spread)];
    return out;
  };
  return {
    groups: rows.map(({k, v}) => ({k, bars: [bar('top', v.top), bar('random', v.randomMean, v.randomSpread),
                                             bar('lowest', v.lowest)]})),
    before: {value: before, y: y(before)},
    min, max, zeroY, axis: objectiveName(record, foil),
  };
}
