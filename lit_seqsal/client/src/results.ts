/**
 * Results of the batch command (python -m lit_seqsal.attribute): one JSON line
 * per example, read back here for the dataset view, and each region's share of
 * salience aggregated across the examples as the command's own report does
 * (lit_seqsal/batch/regions.py). No DOM: unit-tested in node.
 */

import type {Tokenized} from './salience_data.js';

/** Where an example's explained span is: token range [start, end) of prompt + output. */
export interface ResultSpan {
  selector: string;
  granularity: string;
  start: number;
  end: number;
  text: string;
}

/** Regions of one example's prompt, and per method each one's share of salience. */
export interface ResultRegions {
  spec: string[];
  names: string[];
  /** Token runs [start, end) per region. */
  tokens: Array<Array<[number, number]>>;
  shares: Record<string, number[]>;
  top: Record<string, string | null>;
}

/** One line of a results file: an explained example, or an error. */
export interface ResultRecord {
  id: string;
  model: string;
  dataset: string;
  source?: string;
  kind?: string;
  error?: {kind: string, message: string};
  prompt?: string;
  target?: string;
  explain?: string;
  generation?: string | null;
  tokens?: string[];
  prompt_length?: number;
  span?: ResultSpan;
  granularity?: string;
  methods?: string[];
  signed?: Record<string, boolean>;
  salience?: Record<string, {tokens: number[], segments: number[]}>;
  regions?: ResultRegions;
  errors?: Array<{kind: string, method?: string, message: string}>;
}

export interface ParsedResults {
  /** Explained examples, the last line of each (model, id) kept, in file order. */
  records: ResultRecord[];
  /** Error lines (examples and datasets). */
  errors: ResultRecord[];
  /** Lines that are not results (with their line numbers); a cut-off last line is skipped silently. */
  badLines: number[];
}

/** Parses a results file's text (JSON lines). */
export function parseResults(text: string): ParsedResults {
  const lines = text.split('\n');
  // A last line without its newline was cut off by an interrupted run: not a record yet.
  const complete = text.endsWith('\n') ? lines : lines.slice(0, -1);
  const latest = new Map<string, ResultRecord>();
  const badLines: number[] = [];
  complete.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const record = JSON.parse(line) as ResultRecord;
      if (!record || typeof record.id !== 'string') throw new Error('no id');
      const key = `${record.model ?? ''}\u0000${record.id}`;
      latest.delete(key);
      latest.set(key, record);
    } catch {
      badLines.push(i + 1);
    }
  });
  const all = [...latest.values()];
  return {
    records: all.filter((r) => !r.error && r.tokens && r.salience),
    errors: all.filter((r) => !!r.error),
    badLines,
  };
}

/** The tokens of a record as the pane's logic takes them. */
export function tokenizedOf(record: ResultRecord): Tokenized {
  return {tokens: record.tokens ?? [], promptLength: record.prompt_length ?? 0};
}

export function modelsOf(records: readonly ResultRecord[]): string[] {
  return [...new Set(records.map((r) => r.model))];
}

export function methodsOf(records: readonly ResultRecord[]): string[] {
  const seen = new Set<string>();
  for (const r of records) for (const m of Object.keys(r.salience ?? {})) seen.add(m);
  return [...seen];
}

/** One region across examples. */
export interface RegionStats {
  name: string;
  /** Examples where the region is present. */
  examples: number;
  mean: number;
  std: number;
  p25: number;
  median: number;
  p75: number;
  /** How often it had the largest share, over the method's examples. */
  topFraction: number;
}

/** numpy's default (linear) percentile of sorted values. */
export function percentile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return 0;
  const x = (sorted.length - 1) * q / 100;
  const i = Math.floor(x);
  const f = x - i;
  return i + 1 < sorted.length ? sorted[i] + (sorted[i + 1] - sorted[i]) * f : sorted[i];
}

/** Each region's share of `method`'s salience across the records of `model` (regions.py's aggregate). */
export function regionStats(records: readonly ResultRecord[], model: string, method: string): RegionStats[] {
  const shares = new Map<string, number[]>();
  const tops = new Map<string, number>();
  let examples = 0;
  for (const r of records) {
    const regions = r.regions;
    if (r.model !== model || !regions || !regions.shares[method]) continue;
    examples++;
    regions.names.forEach((name, k) => {
      if (!regions.tokens[k]?.length) return;
      const list = shares.get(name) ?? [];
      list.push(regions.shares[method][k]);
      shares.set(name, list);
    });
    const top = regions.top[method];
    if (top) tops.set(top, (tops.get(top) ?? 0) + 1);
  }
  return [...shares.entries()].map(([name, values]) => {
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    const sorted = [...values].sort((a, b) => a - b);
    return {name, examples: values.length, mean, std, p25: percentile(sorted, 25),
            median: percentile(sorted, 50), p75: percentile(sorted, 75),
            topFraction: (tops.get(name) ?? 0) / Math.max(examples, 1)};
  });
}

/** A record's share for one region and method (undefined where it has no such region). */
export function shareOf(record: ResultRecord, method: string, region: string): number | undefined {
  const regions = record.regions;
  if (!regions) return undefined;
  const k = regions.names.indexOf(region);
  if (k < 0 || !regions.tokens[k]?.length) return undefined;
  return regions.shares[method]?.[k];
}
