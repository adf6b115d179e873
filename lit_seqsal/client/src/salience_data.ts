/**
 * Tokens, generations and salience scores from a model group, fetched in
 * batches and cached, so that changing the selection, method or granularity
 * costs nothing once the data is there.
 */

import {LitApi, salienceModelName, tokenizerModelName} from './api.js';
import {sameRange} from './segments.js';
import type {TokenRange} from './segments.js';

/** Salience scores of one target mask: method name -> one score per token. */
export type Scores = Record<string, number[]>;

/** Prompt + output as the model tokenizes them. */
export interface Tokenized {
  tokens: string[];
  /** Tokens [0, promptLength) belong to the prompt (BOS first). */
  promptLength: number;
}

/**
 * The part of a selected range that is explained: whitespace-only tokens at
 * its ends (the newlines that sentences and lines keep) are layout, and their
 * prediction would dominate the explanation. A range of whitespace only is
 * explained as it is.
 */
export function explainedRange(tokens: readonly string[], range: TokenRange): TokenRange {
  const blank = (i: number) => tokens[i].replace(/▁/g, ' ').trim() === '';
  let {start, end} = range;
  while (end - 1 > start && blank(end - 1)) end--;
  while (start < end - 1 && blank(start)) start++;
  return blank(start) && end - start === 1 ? range : {start, end};
}

export function maskFor(length: number, range: TokenRange): number[] {
  const mask = new Array<number>(length).fill(0);
  for (let i = Math.max(1, range.start); i < Math.min(length, range.end); i++) mask[i] = 1;
  return mask;
}

/** Small bounded cache: the oldest entry goes first. */
class BoundedCache<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly limit: number) {}
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V) {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.limit) this.map.delete(this.map.keys().next().value as string);
  }
  delete(key: string) {
    this.map.delete(key);
  }
}

export class SalienceSource {
  private readonly tokenCache = new BoundedCache<Promise<Tokenized>>(256);
  private readonly generationCache = new BoundedCache<Promise<string>>(256);
  private readonly scoreCache = new BoundedCache<Promise<Scores>>(20000);
  private readonly methodCache = new BoundedCache<Promise<number[]>>(2000);

  constructor(private readonly api: LitApi, readonly group: string) {}

  private static key(...parts: string[]): string {
    return parts.join('\u0000');
  }

  /** Whether a generation for `prompt` was asked for (and did not fail). */
  hasGeneration(prompt: string): boolean {
    return this.generationCache.get(SalienceSource.key(prompt)) !== undefined;
  }

  /** The model's own continuation of `prompt` (greedy unless the server says otherwise). */
  generate(prompt: string): Promise<string> {
    const key = SalienceSource.key(prompt);
    let result = this.generationCache.get(key);
    if (!result) {
      result = this.api.getPreds<{response: string}>(this.group, [{prompt}], ['response'])
          .then((preds) => preds[0].response);
      this.forgetOnError(this.generationCache, key, result);
    }
    return result;
  }

  /** Tokens of prompt + output, and where the prompt ends. */
  tokenize(prompt: string, output: string): Promise<Tokenized> {
    const key = SalienceSource.key(prompt, output);
    let result = this.tokenCache.get(key);
    if (!result) {
      // The prompt alone tells where the prompt's tokens end (tokens may merge
      // across the boundary; such a token counts as output, as on the server).
      result = this.api.getPreds<{tokens: string[]}>(
          tokenizerModelName(this.group), [{prompt, target: output}, {prompt}], ['tokens'])
          .then(([both, alone]) => {
            let shared = 0;
            while (shared < alone.tokens.length && alone.tokens[shared] === both.tokens[shared]) shared++;
            return {tokens: both.tokens, promptLength: shared};
          });
      this.forgetOnError(this.tokenCache, key, result);
    }
    return result;
  }

  /** Scores already fetched for this range, or undefined. */
  cached(prompt: string, output: string, range: TokenRange): Promise<Scores> | undefined {
    return this.scoreCache.get(SalienceSource.key(prompt, output, `${range.start}:${range.end}`));
  }

  /**
   * Scores for each range; those not cached are fetched in one request to the
   * salience model (the server shares one forward pass among them).
   */
  scores(prompt: string, output: string, tokens: number, ranges: TokenRange[]): Promise<Scores[]> {
    const missing: TokenRange[] = [];
    const results = ranges.map((range) => this.cached(prompt, output, range));
    ranges.forEach((range, i) => {
      if (!results[i] && !missing.some((m) => sameRange(m, range))) missing.push(range);
    });
    if (missing.length) {
      const batch = this.api.getPreds<Scores>(
          salienceModelName(this.group),
          missing.map((range) => ({prompt, target: output, target_mask: maskFor(tokens, range)})));
      missing.forEach((range, i) => {
        const key = SalienceSource.key(prompt, output, `${range.start}:${range.end}`);
        const one = batch.then((preds) => {
          const {tokens: _, ...scores} = preds[i] as Scores & {tokens?: unknown};
          return scores as Scores;
        });
        this.forgetOnError(this.scoreCache, key, one);
      });
    }
    return Promise.all(ranges.map((range) => this.cached(prompt, output, range)!));
  }

  /**
   * Scores of one costly method (integrated gradients, occlusion) for one
   * range, asked for on its own; occlusion deletes units of `granularity`.
   */
  methodScores(prompt: string, output: string, tokens: number, range: TokenRange,
               method: string, granularity: string): Promise<number[]> {
    const setting = method === 'occlusion' ? granularity : '';
    const key = SalienceSource.key(prompt, output, `${range.start}:${range.end}`, method, setting);
    let result = this.methodCache.get(key);
    if (!result) {
      const input: Record<string, unknown> = {
        prompt, target: output, target_mask: maskFor(tokens, range), salience_methods: [method]};
      if (setting) input['occlusion_granularity'] = setting;
      result = this.api.getPreds<Scores>(salienceModelName(this.group), [input], [method])
          .then((preds) => preds[0][method]);
      this.forgetOnError(this.methodCache, key, result);
    }
    return result;
  }

  private forgetOnError<V>(cache: BoundedCache<Promise<V>>, key: string, value: Promise<V>) {
    cache.set(key, value);
    // A failed request must not stay cached: the user may fix the input and retry.
    value.catch(() => {
      if (cache.get(key) === value) cache.delete(key);
    });
  }
}
