/**
 * Tokens, generations and salience scores from a model group, fetched in
 * batches and cached, so that changing the selection, method or granularity
 * costs nothing once the data is there. No request is long: the gradient
 * methods of many segments go in chunks of masks (the selection's first), and
 * the costly methods and generation run as jobs with progress and cancel where
 * the server offers jobs.
 */

import {salienceModelName, tokenizerModelName} from './api.js';
import type {LitApi} from './api.js';
import {SharedWork, runJob} from './jobs.js';
import type {JobStatus} from './jobs.js';
import {chunkRanges, maskFor, rangeKey, sameRange} from './ranges.js';
import type {TokenRange} from './segments.js';
import {parseTokenTurns} from './turns.js';

/**
 * The prompt side of a model input: the prompt, or the prompt with the
 * example's other input fields the model declares (a conversation as
 * `messages`, `stop` sequences), sent with every input and keyed with it.
 */
export type PromptInput = string | {prompt: string, [field: string]: unknown};

/** The fields a PromptInput sends. */
export function promptFields(prompt: PromptInput): Record<string, unknown> {
  return typeof prompt === 'string' ? {prompt} : {...prompt};
}

/** A PromptInput as one cache key part (the prompt itself when it is alone). */
export function promptKey(prompt: PromptInput): string {
  if (typeof prompt === 'string') return prompt;
  const fields = Object.keys(prompt).sort();
  return fields.length === 1 ? prompt.prompt : JSON.stringify(fields.map((f) => [f, prompt[f]]));
}

/** Salience scores of one target mask: method name -> one score per token. */
export type Scores = Record<string, number[]>;

/** Prompt + output as the model tokenizes them. */
export interface Tokenized {
  tokens: string[];
  /** Tokens [0, promptLength) belong to the prompt (BOS first). */
  promptLength: number;
  /**
   * One "<turn>:<role>" tag per token when the model wrapped the prompt in
   * its chat template (token_turns, see turns.ts); absent otherwise.
   */
  turns?: string[];
}

/** The score fields of a salience prediction (its arrays of numbers): no tokens, alternatives or tags. */
export function scoresOf(prediction: Record<string, unknown>): Scores {
  const scores: Scores = {};
  for (const [key, value] of Object.entries(prediction)) {
    if (key !== 'tokens' && Array.isArray(value) && value.every((v) => typeof v === 'number')) {
      scores[key] = value as number[];
    }
  }
  return scores;
}

/** What a salience input asks for besides the plain gradient scores of its range. */
export interface Ask {
  /** Contrastive: why the range's tokens rather than this text. */
  foil?: string;
  /** One costly method, asked for alone (`salience_methods`), with its request settings. */
  method?: string;
  settings?: Readonly<Record<string, string | number>>;
}

/**
 * Every salience input, written once: the prompt's fields, the output, the
 * target mask of `range` over `tokens` tokens, and what else it asks for.
 */
export function salienceInput(prompt: PromptInput, output: string, tokens: number, range: TokenRange, ask: Ask = {}):
    Record<string, unknown> {
  const input: Record<string, unknown> = {...promptFields(prompt), target: output, target_mask: maskFor(tokens, range)};
  if (ask.method) input['salience_methods'] = [ask.method];
  Object.assign(input, ask.settings);
  if (ask.foil) input['foil'] = ask.foil;
  return input;
}

/**
 * Every cache key, written once: the prompt input, then (as far as given)
 * the output, the range and what the input asks for.
 */
export function cacheKey(prompt: PromptInput, output?: string, range?: TokenRange, ask?: Ask): string {
  const parts = [promptKey(prompt)];
  if (output !== undefined) parts.push(output);
  if (range) parts.push(rangeKey(range));
  if (ask) {
    const settings = Object.entries(ask.settings ?? {}).sort(([a], [b]) => a.localeCompare(b));
    parts.push(ask.method ?? '', JSON.stringify(settings), ask.foil ?? '');
  }
  return parts.join('\u0000');
}

/** How a SalienceSource asks: jobs where the server has them, and masks per request. */
export interface SourceOptions {
  /** Costly methods and generation run as jobs (/seqsal/jobs): progress and cancel. */
  jobs: boolean;
  /** Masks per gradient request (see api.maskChunkSize). */
  maxMasks: number;
}

/** What a caller of long work hears and how it stops waiting. */
export interface WorkHandlers {
  /** Progress of the job (only with jobs). */
  onProgress?: (status: JobStatus) => void;
  /** Aborting stops waiting (CancelledError); the job is cancelled once nobody waits for it. */
  signal?: AbortSignal;
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
  private readonly generationCache = new BoundedCache<SharedWork<string>>(256);
  private readonly scoreCache = new BoundedCache<Promise<Scores>>(20000);
  private readonly methodCache = new BoundedCache<SharedWork<number[]>>(2000);
  /** Contrastive gradient scores, per range and foil. */
  private readonly foilCache = new BoundedCache<Promise<Scores>>(2000);
  /** The model's alternatives at a range's first token (the raw `alternatives` field), per range. */
  private readonly alternativesCache = new BoundedCache<Promise<unknown>>(20000);
  /** Jobs being cancelled: the next job starts once they have stopped (the model is free). */
  private readonly stopping = new Set<Promise<unknown>>();
  readonly options: SourceOptions;

  constructor(private readonly api: LitApi, readonly group: string, options: Partial<SourceOptions> = {}) {
    this.options = {jobs: false, maxMasks: 32, ...options};
  }

  /** Whether long work here shows progress and can be cancelled. */
  get usesJobs(): boolean {
    return this.options.jobs;
  }

  /** Whether a generation for `prompt` was asked for (and did not fail, nor was cancelled). */
  hasGeneration(prompt: PromptInput): boolean {
    const work = this.generationCache.get(cacheKey(prompt));
    return work !== undefined && !work.abandoned;
  }

  /** The model's own continuation of `prompt` (greedy unless the server says otherwise). */
  generate(prompt: PromptInput, handlers: WorkHandlers = {}): Promise<string> {
    return this.shared(this.generationCache, cacheKey(prompt), (signal, onProgress) =>
      this.predict<{response: string}>(this.group, [promptFields(prompt)], ['response'], signal, onProgress)
          .then((preds) => preds[0].response), handlers);
  }

  /** Tokens of prompt + output, and where the prompt ends. */
  tokenize(prompt: PromptInput, output: string): Promise<Tokenized> {
    const key = cacheKey(prompt, output);
    let result = this.tokenCache.get(key);
    if (!result) {
      // The prompt alone tells where the prompt's tokens end (tokens may merge
      // across the boundary; such a token counts as output, as on the server).
      result = this.api.getPreds<{tokens: string[], token_turns?: unknown}>(
          tokenizerModelName(this.group), [{...promptFields(prompt), target: output}, promptFields(prompt)], ['tokens', 'token_turns'])
          .then(([both, alone]) => {
            let shared = 0;
            while (shared < alone.tokens.length && alone.tokens[shared] === both.tokens[shared]) shared++;
            const turns = parseTokenTurns(both.token_turns, both.tokens.length);
            const tokenized = {tokens: both.tokens, promptLength: shared};
            return turns ? {...tokenized, turns} : tokenized;
          });
      this.forgetOnError(this.tokenCache, key, result);
    }
    return result;
  }

  /** Scores already fetched (or being fetched) for this range, or undefined. */
  cached(prompt: PromptInput, output: string, range: TokenRange): Promise<Scores> | undefined {
    return this.scoreCache.get(cacheKey(prompt, output, range));
  }

  /**
   * Fetches the scores of every range not cached yet, in requests of at most
   * options.maxMasks masks (the server shares one forward pass among a
   * request's masks), one request after the other, starting with the chunk
   * of `first`; returns the scores of `first`. A failed request fails the
   * ranges of the requests after it without sending them.
   */
  prefetch(prompt: PromptInput, output: string, tokens: number, ranges: TokenRange[], first: TokenRange):
      Promise<Scores> {
    const missing: TokenRange[] = [];
    for (const range of [first, ...ranges]) {
      if (!this.cached(prompt, output, range) && !missing.some((m) => sameRange(m, range))) missing.push(range);
    }
    let previous: Promise<unknown> = Promise.resolve();
    for (const chunk of chunkRanges(missing, first, this.options.maxMasks)) {
      const batch = previous.then(() => this.api.getPreds<Record<string, unknown>>(
          salienceModelName(this.group), chunk.map((range) => salienceInput(prompt, output, tokens, range))));
      previous = batch;
      chunk.forEach((range, i) => {
        const key = cacheKey(prompt, output, range);
        this.forgetOnError(this.scoreCache, key, batch.then((preds) => scoresOf(preds[i])));
        this.forgetOnError(this.alternativesCache, key, batch.then((preds) => preds[i]['alternatives']));
      });
    }
    return this.cached(prompt, output, first)!;
  }

  /**
   * The model's alternatives at the first token of `range` (the raw
   * `alternatives` field: [token, probability] pairs; undefined from a server
   * without them). They come with the gradient scores of the range: fetched
   * with them (a request for this range alone) unless already there.
   */
  alternatives(prompt: PromptInput, output: string, tokens: number, range: TokenRange): Promise<unknown> {
    const key = cacheKey(prompt, output, range);
    const cached = this.alternativesCache.get(key);
    if (cached) return cached;
    this.prefetch(prompt, output, tokens, [range], range);
    // Scores cached without their alternatives (evicted since): none to show.
    return this.alternativesCache.get(key) ?? Promise.resolve(undefined);
  }

  /**
   * Contrastive gradient scores for one range: why its tokens rather than
   * `foil`'s. One input per request (the foil is the selection's alone);
   * cached per range and foil.
   */
  contrastiveScores(prompt: PromptInput, output: string, tokens: number, range: TokenRange, foil: string):
      Promise<Scores> {
    const ask = {foil};
    const key = cacheKey(prompt, output, range, ask);
    let result = this.foilCache.get(key);
    if (!result) {
      const pred = this.api.getPreds<Record<string, unknown>>(
          salienceModelName(this.group), [salienceInput(prompt, output, tokens, range, ask)])
          .then((preds) => preds[0]);
      result = pred.then(scoresOf);
      this.forgetOnError(this.foilCache, key, result);
      const plainKey = cacheKey(prompt, output, range);
      if (!this.alternativesCache.get(plainKey)) {
        this.forgetOnError(this.alternativesCache, plainKey, pred.then((p) => p['alternatives']));
      }
    }
    return result;
  }

  /** Scores for each range (see prefetch; the first range's chunk goes first). */
  scores(prompt: PromptInput, output: string, tokens: number, ranges: TokenRange[]): Promise<Scores[]> {
    if (!ranges.length) return Promise.resolve([]);
    this.prefetch(prompt, output, tokens, ranges, ranges[0]);
    return Promise.all(ranges.map((range) => this.cached(prompt, output, range)!));
  }

  /**
   * Scores of one costly method (integrated gradients, occlusion) for one
   * range, asked for on its own with its request `settings` (see
   * score_loader.methodSettings). With a `foil`, contrastive: why the range's
   * tokens rather than the foil's. Cached per range, method, settings and foil.
   */
  methodScores(prompt: PromptInput, output: string, tokens: number, range: TokenRange, method: string,
               settings: Readonly<Record<string, string | number>> = {}, handlers: WorkHandlers = {}, foil = ''):
      Promise<number[]> {
    const ask = {method, settings, foil};
    return this.shared(this.methodCache, cacheKey(prompt, output, range, ask), (signal, onProgress) =>
      this.predict<Scores>(salienceModelName(this.group), [salienceInput(prompt, output, tokens, range, ask)], [method],
                           signal, onProgress)
          .then((preds) => preds[0][method]), handlers);
  }

  /** Predictions as a job (progress, cancel) where the server runs jobs; else one request. */
  private async predict<T>(model: string, inputs: object[], fields: string[], signal: AbortSignal,
                           onProgress: (status: JobStatus) => void): Promise<T[]> {
    if (!this.options.jobs) return this.api.getPreds<T>(model, inputs, fields);
    return runJob<T[]>({
      start: async () => {
        // A job cancelled a moment ago may hold the model until its current batch ends.
        await Promise.allSettled([...this.stopping]);
        return this.api.startJob<T[]>(model, inputs, {fields});
      },
      poll: (id) => this.api.pollJob<T[]>(id),
      cancel: (id) => this.api.cancelJob<T[]>(id),
    }, {signal, onProgress});
  }

  /** Long work in `cache`, shared by whoever asks for the same key while it runs. */
  private shared<T>(cache: BoundedCache<SharedWork<T>>, key: string,
                    run: (signal: AbortSignal, onProgress: (status: JobStatus) => void) => Promise<T>,
                    handlers: WorkHandlers): Promise<T> {
    let work = cache.get(key);
    if (!work || work.abandoned) {
      const created = work = new SharedWork(run);
      cache.set(key, created);
      const forget = () => {
        if (cache.get(key) === created) cache.delete(key);
      };
      // A failed request must not stay cached: the user may fix the input and retry.
      created.done.catch(forget);
      created.onAbandon(() => {
        forget();
        const stopped = created.done.catch(() => undefined).finally(() => this.stopping.delete(stopped));
        this.stopping.add(stopped);
      });
    }
    // Without jobs the request cannot be stopped: let it finish and stay cached.
    return work.join(handlers.onProgress, this.options.jobs ? handlers.signal : undefined);
  }

  private forgetOnError<V>(cache: BoundedCache<Promise<V>>, key: string, value: Promise<V>) {
    cache.set(key, value);
    // A failed request must not stay cached: the user may fix the input and retry.
    value.catch(() => {
      if (cache.get(key) === value) cache.delete(key);
    });
  }
}
