/**
 * Which salience scores a selection needs and how they are fetched, with no
 * DOM (unit-tested in node). Given what a pane shows (the prompt and output,
 * their tokens and segments, the selected range, the method and the foil),
 * planScores decides the one request: the plain gradient methods of the
 * selection alone (one pass of the model; the other output segments are then
 * prefetched in the background, nearest first, so that the next click costs
 * nothing: `background`), the contrastive gradients of the selection against
 * the foil, or a costly method for the selection alone with its settings; and
 * what the status line says meanwhile. loadScores makes that request through
 * the SalienceSource, which builds every input and caches every answer
 * (salience_data.ts).
 */

import {quote} from './contrastive.js';
import type {MethodInfo} from './methods.js';
import {methodSettings, workNote} from './methods.js';
import {selectedText} from './pane_view.js';
import type {PaneSegments} from './pane_view.js';
import {selectionRanges} from './ranges.js';
import type {PromptInput, SalienceSource, Scores, Tokenized, WorkHandlers} from './salience_data.js';
import type {Granularity, TokenRange} from './segments.js';

/** What a pane shows, as far as its scores depend on it. */
export interface ScoreQuery {
  prompt: PromptInput;
  output: string;
  tokenized: Tokenized;
  segments: PaneSegments;
  /** The selected token range. */
  range: TokenRange;
  /** The chat template's tokens (turns.templateTokens): never explained. */
  template?: readonly boolean[];
  /** The method shown, as the server describes it; undefined when not described (the plain gradients). */
  method?: MethodInfo;
  granularity: Granularity;
  /** '' for a plain view. */
  foil: string;
}

/** The request a query needs, and what the status line says while it runs ('' when the answer is at hand). */
export type ScorePlan = {wanted: TokenRange, status: string} & (
  /** The gradient methods of the selection alone; then `background` prefetched, nearest first. */
  {kind: 'gradients', background: TokenRange[]} |
  /** The gradient methods of the selection against the foil. */
  {kind: 'contrastive', foil: string} |
  /**
   * One costly method for the selection alone (a job where the server runs
   * jobs); contrastive with a foil. `background`: the other output segments,
   * nearest first, for a method whose spans share their work (prefetched
   * after it, as the gradients are; none with a foil).
   */
  {kind: 'costly', method: string, settings: Record<string, string | number>, foil: string, sharesSpans: boolean} &
    {background: TokenRange[]} |
  /** The method cannot run in this view: nothing is requested. */
  {kind: 'unavailable', error: string});

/**
 * What the pane says while a costly method runs for the selection `wanted`
 * (the model runs many times: its work note says how, counting the units
 * before the selection), or why it cannot run at this granularity (see
 * methods.methodSettings).
 */
export function costlyStatus(method: MethodInfo, granularity: Granularity, segments: PaneSegments, wanted: TokenRange):
    {status: string, error: string} {
  const {error} = methodSettings(method, granularity);
  if (error) return {status: '', error};
  const units = [...segments.prompt, ...segments.output].filter((seg) => seg.end <= wanted.start).length;
  const note = workNote(method, units, granularity) ?? 'the model runs many times';
  return {status: `Computing ${method.name.replace(/_/g, ' ')} for the selection (${note})…`, error: ''};
}

/** The request `q` needs; `source` tells whether the plain scores are at hand already. */
export function planScores(source: SalienceSource, q: ScoreQuery): ScorePlan {
  const {wanted, background} = selectionRanges(q.tokenized.tokens, q.segments.output, q.range, q.template);
  const {method, foil} = q;
  if (method?.on_request) {
    const {status, error} = costlyStatus(method, q.granularity, q.segments, wanted);
    if (error) return {kind: 'unavailable', wanted, status: '', error};
    const settings = methodSettings(method, q.granularity).settings;
    const sharesSpans = !!method.shares_spans && !foil;
    // Prefetched (or asked for before): at hand, nothing to wait for.
    const ready = source.methodReady(q.prompt, q.output, wanted, method.name, settings, foil);
    return {
      kind: 'costly', wanted, method: method.name, settings, foil, sharesSpans,
      background: sharesSpans ? background : [],
      status: ready ? '' : foil ? `${status} (contrastive, instead of ${quote(foil)})` : status,
    };
  }
  if (foil) {
    const actual = selectedText(q.tokenized.tokens, q.range);
    return {kind: 'contrastive', wanted, foil,
            status: `Computing contrastive salience: why ${quote(actual)} instead of ${quote(foil)}…`};
  }
  const cached = source.cached(q.prompt, q.output, wanted);
  const what = quote(selectedText(q.tokenized.tokens, q.range));
  return {kind: 'gradients', wanted, background, status: cached ? '' : `Computing salience for ${what}…`};
}

/**
 * The scores of `plan` (method name -> one score per token), fetched or from
 * the cache. Its requests are made before it returns (so that what comes
 * with them, the model's alternatives, is there to read).
 */
export function loadScores(source: SalienceSource, q: ScoreQuery, plan: ScorePlan, handlers: WorkHandlers = {}):
    Promise<Scores> {
  const n = q.tokenized.tokens.length;
  switch (plan.kind) {
    case 'gradients':
      return source.gradientScores(q.prompt, q.output, n, plan.wanted);
    case 'contrastive':
      return source.contrastiveScores(q.prompt, q.output, n, plan.wanted, plan.foil);
    case 'costly':
      return source.methodScores(q.prompt, q.output, n, plan.wanted, plan.method, plan.settings, handlers, plan.foil,
                                 plan.sharesSpans)
          .then((values) => ({[plan.method]: values}));
    case 'unavailable':
      return Promise.reject(new Error(plan.error));
  }
}
