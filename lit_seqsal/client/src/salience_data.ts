/**
 * Tokens, generations and salience scores from a model group, fetched and
 * cached, so that changing the selection, method or granularity costs nothing
 * once the data is there. No request is long: the user's click asks for the
 * selection's scores alone (one pass of the model), and the other output
 * segments are prefetched behind it in small requests (prefetch.ts: the
 * source's `background` scheduler, which waits while any of the user's own
 * requests is on its way); the costly methods and generation run as jobs with
 * progress and cancel where the server offers jobs. A costly method whose
 * spans share their work (occlusion: one set of deletions serves every span
 * of an output) is prefetched for every span too, and the first request of
 * an output, which does that work, is waited for rather than repeated. The
 * deletion check of an explanation and "drop it and regenerate" (a
 * generation from the prompt with token ranges removed or replaced) are
 * asked for here too.
 */

import {salienceModelName, tokenizerModelName} from './api.js';
import type {LitApi} from './api.js';
import type {CheckInfo, CheckRecord} from './check_view.js';
import {CancelledError} from './errors.js';
import {SharedWork, runJob} from './jobs.js';
import type {JobStatus} from './jobs.js';
import type {PrefetchHandlers, PrefetchProgress} from './prefetch.js';
import {PrefetchScheduler} from './prefetch.js';
import type {PromptEdit} from './prompt_edits.js';
import {maskFor, rangeKey, sameRange} from './ranges.js';
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
  /** The deletion check, as the server describes it (GET /seqsal/info `check`); absent: no check. */
  check?: CheckInfo;
  /** Milliseconds between polls of a job (default: jobs.runJob's). */
  pollMs?: number;
}

/** What "drop it and regenerate" answers: the generation from the edited prompt, and what changed. */
export interface Regenerated {
  /** The model's generation from the edited prompt. */
  response: string;
  /** The edited prompt, as the server built it from the tokens. */
  editedPrompt: string;
  /** The record of what was changed (the generation model's `edit` field). */
  edit: unknown;
}

/** What a caller of long work hears and how it stops waiting. */
export interface WorkHandlers {
  /** Progress of the job (only with jobs). */
  onProgress?: (status: JobStatus) => void;
  /** Aborting stops waiting (CancelledError); the job is cancelled once nobody waits for it. */
  signal?: AbortSignal;
}

/** The ranges, each once, in their order. */
function unique(ranges: readonly TokenRange[]): TokenRange[] {
  const out: TokenRange[] = [];
  for (const range of ranges) if (!out.some((u) => sameRange(u, range))) out.push(range);
  return out;
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
  /**
   * Per output and method whose spans share their work: its requests on
   * their way while none has finished yet (the first of an output does the
   * work every span reads; later ones wait for it), and whether one has.
   */
  private readonly sharedOutputs = new BoundedCache<{ready: boolean, pending: Array<SharedWork<unknown>>}>(256);
  /** Deletion checks, per range, method, settings, foil and granularity. */
  private readonly checkCache = new BoundedCache<SharedWork<CheckRecord>>(500);
  /** Generations from edited prompts, per prompt, output and edits. */
  private readonly regenerateCache = new BoundedCache<SharedWork<Regenerated>>(100);
  /** The model's alternatives at a range's first token (the raw `alternatives` field), per range. */
  private readonly alternativesCache = new BoundedCache<Promise<unknown>>(20000);
  /** Keys of scores a prefetch request is fetching (the user does not wait for those). */
  private readonly backgroundPending = new Set<string>();
  /** Jobs being cancelled: the next job starts once they have stopped (the model is free). */
  private readonly stopping = new Set<Promise<unknown>>();
  readonly options: SourceOptions;
  /** The prefetch of this server's scores, behind the user's own requests. */
  readonly background = new PrefetchScheduler();

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
      result = this.background.foreground(this.api.getPreds<{tokens: string[], token_turns?: unknown}>(
          tokenizerModelName(this.group), [{...promptFields(prompt), target: output}, promptFields(prompt)],
          ['tokens', 'token_turns']))
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

  /**
   * Scores fetched (or being fetched for the user) for this range, or
   * undefined; a prefetch request still on its way does not count (the user
   * does not wait for one: see gradientScores).
   */
  cached(prompt: PromptInput, output: string, range: TokenRange): Promise<Scores> | undefined {
    const key = cacheKey(prompt, output, range);
    return this.backgroundPending.has(key) ? undefined : this.scoreCache.get(key);
  }

  /** Whether this range's scores are fetched or on their way (a prefetch need not ask again). */
  known(prompt: PromptInput, output: string, range: TokenRange): boolean {
    return this.scoreCache.get(cacheKey(prompt, output, range)) !== undefined;
  }

  /**
   * The gradient scores of one range for the user, fetched alone (one pass of
   * the model) unless already there: foreground work, so that no prefetch
   * request starts while it runs; one on its way for the same range is not
   * waited for.
   */
  gradientScores(prompt: PromptInput, output: string, tokens: number, range: TokenRange): Promise<Scores> {
    const cached = this.cached(prompt, output, range);
    if (cached) return cached;
    const [scores] = this.fetchScores(prompt, output, tokens, [range], false);
    return scores;
  }

  /**
   * One gradient request for `ranges` (at most options.maxMasks: the server
   * shares one forward pass among a request's masks), their scores and
   * alternatives cached; in the background (a prefetch) or for the user.
   */
  fetchScores(prompt: PromptInput, output: string, tokens: number, ranges: readonly TokenRange[], background: boolean):
      Array<Promise<Scores>> {
    const request = this.api.getPreds<Record<string, unknown>>(
        salienceModelName(this.group), ranges.map((range) => salienceInput(prompt, output, tokens, range)));
    const batch = background ? request : this.background.foreground(request);
    return ranges.map((range, i) => {
      const key = cacheKey(prompt, output, range);
      const scores = batch.then((preds) => scoresOf(preds[i]));
      this.forgetOnError(this.scoreCache, key, scores);
      this.forgetOnError(this.alternativesCache, key, batch.then((preds) => preds[i]['alternatives']));
      if (background) {
        this.backgroundPending.add(key);
        const settled = () => {
          if (this.scoreCache.get(key) === scores) this.backgroundPending.delete(key);
        };
        scores.then(settled, settled);
      } else {
        this.backgroundPending.delete(key);
      }
      return scores;
    });
  }

  /**
   * Prefetches `ranges` (most wanted first) in the background for `owner`
   * (a pane), replacing its previous prefetch: requests of `chunkSize` masks,
   * one at a time, while the user waits for nothing (see prefetch.ts).
   */
  prefetchInBackground(owner: object, prompt: PromptInput, output: string, tokens: number,
                       ranges: readonly TokenRange[], chunkSize: number,
                       onProgress?: (progress: PrefetchProgress) => void) {
    this.background.submit({
      owner, key: SalienceSource.planKey(prompt, output), items: unique(ranges),
      chunkSize: Math.min(chunkSize, this.options.maxMasks), onProgress,
      ready: (range) => this.known(prompt, output, range),
      fetch: (chunk) => Promise.all(this.fetchScores(prompt, output, tokens, chunk, true)),
    });
  }

  /**
   * The model's alternatives at the first token of `range` (the raw
   * `alternatives` field: [token, probability] pairs; undefined from a server
   * without them). They come with the gradient scores of the range: fetched
   * with them (a request for this range alone) unless already there.
   */
  alternatives(prompt: PromptInput, output: string, tokens: number, range: TokenRange): Promise<unknown> {
    const key = cacheKey(prompt, output, range);
    if (!this.backgroundPending.has(key)) {
      const cached = this.alternativesCache.get(key);
      if (cached) return cached;
    }
    this.fetchScores(prompt, output, tokens, [range], false);
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
      const pred = this.background.foreground(this.api.getPreds<Record<string, unknown>>(
          salienceModelName(this.group), [salienceInput(prompt, output, tokens, range, ask)]))
          .then((preds) => preds[0]);
      result = pred.then(scoresOf);
      this.forgetOnError(this.foilCache, key, result);
      const plainKey = cacheKey(prompt, output, range);
      if (!this.alternativesCache.get(plainKey) || this.backgroundPending.has(plainKey)) {
        this.forgetOnError(this.alternativesCache, plainKey, pred.then((p) => p['alternatives']));
      }
    }
    return result;
  }

  /**
   * Scores of one costly method (integrated gradients, occlusion) for one
   * range, asked for on its own with its request `settings` (see
   * score_loader.methodSettings). With a `foil`, contrastive: why the range's
   * tokens rather than the foil's. Cached per range, method, settings and
   * foil; a range a prefetch request is computing joins it (its progress
   * shows). For a method whose spans share their work (`sharesSpans`), a
   * request waits for the output's first request on its way (which does the
   * work every span reads) instead of doing that work a second time.
   */
  methodScores(prompt: PromptInput, output: string, tokens: number, range: TokenRange, method: string,
               settings: Readonly<Record<string, string | number>> = {}, handlers: WorkHandlers = {}, foil = '',
               sharesSpans = false): Promise<number[]> {
    const ask = {method, settings, foil};
    const outputKey = cacheKey(prompt, output, undefined, ask);
    // A contrastive span's deletions are its own (the foil's row is scored at the foil): nothing is shared.
    sharesSpans &&= !foil;
    return this.shared(this.methodCache, cacheKey(prompt, output, range, ask), (signal, onProgress) =>
      this.afterFirst(sharesSpans ? outputKey : undefined, signal, onProgress, () =>
        this.predict<Scores>(salienceModelName(this.group), [salienceInput(prompt, output, tokens, range, ask)],
                             [method], signal, onProgress).then((preds) => preds[0][method])),
    handlers, (work) => sharesSpans && this.started(outputKey, work));
  }

  /** Whether this range's scores of a costly method are here (a click needs no request). */
  methodReady(prompt: PromptInput, output: string, range: TokenRange, method: string,
              settings: Readonly<Record<string, string | number>> = {}, foil = ''): boolean {
    return !!this.methodCache.get(cacheKey(prompt, output, range, {method, settings, foil}))?.succeeded;
  }

  /** Whether this range's scores of a costly method are here or on their way (a prefetch skips it). */
  private methodKnown(prompt: PromptInput, output: string, range: TokenRange, ask: Ask): boolean {
    const work = this.methodCache.get(cacheKey(prompt, output, range, ask));
    return work !== undefined && !work.abandoned;
  }

  /** What a prefetch of `ask` (a costly method; none: the gradients) for this output is: a plan's key. */
  static planKey(prompt: PromptInput, output: string, ask?: Ask): string {
    return cacheKey(prompt, output, undefined, ask ?? {method: '(gradients)'});
  }

  /**
   * Prefetches a costly method whose spans share their work for `ranges`
   * (most wanted first) in the background for `owner`, replacing its
   * previous prefetch (see prefetchInBackground): jobs of `chunkSize` masks
   * where the server runs jobs, the first of which does the work of every
   * span; a click on a range on its way joins its request.
   */
  prefetchMethod(owner: object, prompt: PromptInput, output: string, tokens: number, ranges: readonly TokenRange[],
                 method: string, settings: Readonly<Record<string, string | number>>, chunkSize: number,
                 onProgress?: (progress: PrefetchProgress) => void) {
    const ask = {method, settings, foil: ''};
    this.background.submit({
      owner, key: SalienceSource.planKey(prompt, output, ask), items: unique(ranges),
      chunkSize: Math.min(chunkSize, this.options.maxMasks), onProgress,
      ready: (range) => this.methodKnown(prompt, output, range, ask),
      fetch: (chunk, handlers) => this.fetchMethodChunk(prompt, output, tokens, chunk, ask, handlers),
    });
  }

  /**
   * One background request (a job) for a costly method's scores of several
   * ranges of one output: each range's scores are cached as work of its own
   * that joins the request, so that a click on one of them waits for it (and
   * sees its progress), and the request stops only when neither the prefetch
   * nor anyone else waits for it.
   */
  private fetchMethodChunk(prompt: PromptInput, output: string, tokens: number, chunk: readonly TokenRange[],
                           ask: Ask & {method: string}, handlers: PrefetchHandlers): Promise<unknown> {
    // Ranges the user asked for meanwhile are theirs already.
    const ranges = chunk.filter((range) => !this.methodKnown(prompt, output, range, ask));
    if (!ranges.length) return Promise.resolve();
    const outputKey = cacheKey(prompt, output, undefined, ask);
    const request = new SharedWork<number[][]>((signal, onProgress) =>
      this.afterFirst(outputKey, signal, onProgress, () =>
        this.predict<Scores>(salienceModelName(this.group),
                             ranges.map((range) => salienceInput(prompt, output, tokens, range, ask)), [ask.method],
                             signal, onProgress, true)
            .then((preds) => preds.map((p) => p[ask.method]))));
    this.started(outputKey, request);
    // Without jobs a request cannot be stopped: stopping the plan leaves it to finish and be cached.
    const signal = this.options.jobs ? handlers.signal : undefined;
    const joined: Array<Promise<unknown>> = [request.join(handlers.onProgress, signal)];
    ranges.forEach((range, i) => {
      const work = this.cacheShared(this.methodCache, cacheKey(prompt, output, range, ask), (stop, onProgress) =>
        request.join(onProgress, stop).then((values) => values[i]));
      joined.push(work.join(undefined, signal));
    });
    return Promise.all(joined);
  }

  /**
   * Runs `ask` once the first request of an output (`outputKey`) on its way
   * has finished, where there is one and none has finished yet (it does the
   * work every span of the output reads); at once otherwise. Waiting, it
   * joins that request: its progress shows, and it is not cancelled while
   * this waits for it.
   */
  private async afterFirst<T>(outputKey: string | undefined, signal: AbortSignal,
                              onProgress: (status: JobStatus) => void, ask: () => Promise<T>): Promise<T> {
    const state = outputKey === undefined ? undefined : this.sharedOutputs.get(outputKey);
    const first = state && !state.ready ? state.pending.find((w) => !w.abandoned) : undefined;
    if (first) {
      try {
        await first.join(onProgress, signal);
      } catch (e) {
        if (signal.aborted) throw e instanceof CancelledError ? e : new CancelledError();
        // It failed or was cancelled: this request does the work itself.
      }
    }
    return ask();
  }

  /** Registers a request of an output whose spans share their work, until one has finished. */
  private started(outputKey: string, work: SharedWork<unknown>) {
    let state = this.sharedOutputs.get(outputKey);
    if (!state) this.sharedOutputs.set(outputKey, state = {ready: false, pending: []});
    if (state.ready) return;
    const entry = state;
    entry.pending.push(work);
    const settle = (ready: boolean) => {
      entry.pending = entry.pending.filter((w) => w !== work);
      if (ready) entry.ready = true;
    };
    work.done.then(() => settle(true), () => settle(false));
  }

  /**
   * The deletion check of `method`'s explanation of one range (the salience
   * model's `check` field, as a job where the server runs jobs: heavy work),
   * with the method's request `settings`, at `granularity`, against `foil`
   * where one is set. Cached per range, method, settings, foil and granularity.
   */
  check(prompt: PromptInput, output: string, tokens: number, range: TokenRange, method: string,
        settings: Readonly<Record<string, string | number>>, granularity: string, foil = '',
        handlers: WorkHandlers = {}): Promise<CheckRecord> {
    const ask = {method, settings, foil};
    const field = this.options.check?.field ?? 'check';
    const granularityField = this.options.check?.settings[0]?.name ?? 'check_granularity';
    const input = {...salienceInput(prompt, output, tokens, range, ask), [field]: method,
                   [granularityField]: granularity};
    return this.shared(this.checkCache, `${cacheKey(prompt, output, range, ask)}\u0000${granularity}`,
                       (signal, onProgress) =>
                         this.predict<Record<string, CheckRecord>>(salienceModelName(this.group), [input], [field],
                                                                   signal, onProgress)
                             .then((preds) => preds[0][field]), handlers);
  }

  /** The deletion check of this view if it was done (see check), else undefined. */
  checkDone(prompt: PromptInput, output: string, range: TokenRange, method: string,
            settings: Readonly<Record<string, string | number>>, granularity: string, foil = ''):
      Promise<CheckRecord> | undefined {
    const work = this.checkCache.get(`${cacheKey(prompt, output, range, {method, settings, foil})}\u0000${granularity}`);
    return work?.succeeded ? work.done : undefined;
  }

  /**
   * Drop it and regenerate: the model's generation from the prompt with
   * `edits` applied (token ranges of the tokens of prompt + `output`, as the
   * pane shows them; the server builds the edited prompt from the same
   * tokens), as a job where the server runs jobs. `prompt` is the generation
   * input (with its stop sequences and most new tokens). Cached per prompt,
   * output and edits.
   */
  regenerate(prompt: PromptInput, output: string, edits: readonly PromptEdit[], handlers: WorkHandlers = {}):
      Promise<Regenerated> {
    type Answer = {response: string, edited_prompt: string, edit: unknown};
    const input = {...promptFields(prompt), target: output, edits: edits.map((e) => ({...e}))};
    return this.shared(this.regenerateCache, `${cacheKey(prompt, output)}\u0000${JSON.stringify(edits)}`,
                       (signal, onProgress) =>
                         this.predict<Answer>(this.group, [input], ['response', 'edited_prompt', 'edit'], signal,
                                              onProgress)
                             .then(([p]) => ({response: p.response, editedPrompt: p.edited_prompt, edit: p.edit})),
                       handlers);
  }

  /**
   * Remembers `text` as the model's generation for `prompt` (a generation
   * from an edited prompt, opened as an example of its own), so that asking
   * for it shows it at once.
   */
  rememberGeneration(prompt: PromptInput, text: string) {
    const key = cacheKey(prompt);
    if (this.hasGeneration(prompt)) return;
    this.generationCache.set(key, new SharedWork(() => Promise.resolve(text)));
  }

  /** Predictions as a job (progress, cancel) where the server runs jobs; else one request. */
  private predict<T>(model: string, inputs: object[], fields: string[], signal: AbortSignal,
                     onProgress: (status: JobStatus) => void, background = false): Promise<T[]> {
    // The user's own requests hold back the prefetch; a prefetch request does not.
    const mark = <V>(work: Promise<V>) => background ? work : this.background.foreground(work);
    if (!this.options.jobs) return mark(this.api.getPreds<T>(model, inputs, fields));
    return mark(runJob<T[]>({
      start: async () => {
        // A job cancelled a moment ago may hold the model until its current batch ends.
        await Promise.allSettled([...this.stopping]);
        return this.api.startJob<T[]>(model, inputs, {fields});
      },
      poll: (id) => this.api.pollJob<T[]>(id),
      cancel: (id) => this.api.cancelJob<T[]>(id),
    }, {signal, onProgress, intervalMs: this.options.pollMs}));
  }

  /**
   * Long work in `cache`, shared by whoever asks for the same key while it
   * runs; `created` hears of the work when this call starts it.
   */
  private shared<T>(cache: BoundedCache<SharedWork<T>>, key: string,
                    run: (signal: AbortSignal, onProgress: (status: JobStatus) => void) => Promise<T>,
                    handlers: WorkHandlers, created?: (work: SharedWork<T>) => void): Promise<T> {
    let work = cache.get(key);
    if (!work || work.abandoned) {
      work = this.cacheShared(cache, key, run);
      created?.(work);
    }
    // Without jobs the request cannot be stopped: let it finish and stay cached.
    return work.join(handlers.onProgress, this.options.jobs ? handlers.signal : undefined);
  }

  /** New work in `cache` under `key`: forgotten when it fails or everyone left it. */
  private cacheShared<T>(cache: BoundedCache<SharedWork<T>>, key: string,
                         run: (signal: AbortSignal, onProgress: (status: JobStatus) => void) => Promise<T>):
      SharedWork<T> {
    const created = new SharedWork(run);
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
    return created;
  }

  private forgetOnError<V>(cache: BoundedCache<Promise<V>>, key: string, value: Promise<V>) {
    cache.set(key, value);
    // A failed request must not stay cached: the user may fix the input and retry.
    value.catch(() => {
      if (cache.get(key) === value) cache.delete(key);
    });
  }
}
