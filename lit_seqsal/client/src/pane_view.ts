/**
 * The salience pane's logic, with no Lit and no DOM (unit-tested in node):
 * its segments and view model, which chips are coloured and in what colour
 * (for the pane and the export alike), and the selection arithmetic of
 * clicks, keys, granularity changes and compare mode.
 */

import {aggregate, isSigned, scaleMax} from './aggregate.js';
import {colorFor, legend, textColorFor} from './colors.js';
import {legendText, viewKind} from './contrastive.js';
import type {ExportedSegment, ExportedView} from './export.js';
import {progressFraction} from './jobs.js';
import type {PrefetchProgress} from './prefetch.js';
import type {Tokenized} from './salience_data.js';
import {segmentTokens, tokenText} from './segments.js';
import type {Granularity, Segment, TokenRange} from './segments.js';
import type {SelectionRequest, ViewSettings} from './settings.js';
import {isTemplateSegment, turnSegments, withoutTemplate} from './turns.js';

/** The colour of a chip that shows no score. */
export const NO_COLOR = 'rgb(255, 255, 255)';

/** Selected output segments: from `anchor` (where it started) to `focus`; -1 for none. */
export interface Selection {
  anchor: number;
  focus: number;
}

export const NO_SELECTION: Selection = {anchor: -1, focus: -1};

export interface PaneSegments {
  prompt: Segment[];
  output: Segment[];
}

/** What the pane shows: segments, their values and the colour scale. */
export interface PaneView extends PaneSegments {
  promptValues: number[];
  outputValues: number[];
  /** Output segments [lo, hi] are selected; -1 when none. */
  lo: number;
  hi: number;
  /** Whether each output segment shows its salience (see isColoured). */
  coloured: boolean[];
  /** The |value| at full colour: the largest over the prompt and the coloured output (ownMax), or a shared one. */
  max: number;
  /** This view's own largest |value| (what a shared scale is made of). */
  ownMax: number;
  signed: boolean;
  /** Segments made of the chat template's own tokens only: greyed, no score (see turns.ts). */
  promptTemplate: boolean[];
  outputTemplate: boolean[];
}

/** What else shapes a view besides the scores and the selection. */
export interface ViewOptions {
  /** Tokens of the chat template (turns.templateTokens): no score, not in the scale. */
  template?: readonly boolean[];
  /** The scale's kind when known (a contrastive view of a signed method); else read from the scores. */
  signed?: boolean;
  /** A scale shared with other views (compare mode): the |value| at full colour, if larger than this view's. */
  scaleMax?: number;
}

/** The prompt's and the output's segments at a granularity. */
export function paneSegments(t: Tokenized, granularity: Granularity, pattern?: RegExp): PaneSegments {
  if (granularity === 'turns' && t.turns) {
    return {
      prompt: turnSegments(t.tokens, t.turns, 1, t.promptLength),
      output: turnSegments(t.tokens, t.turns, t.promptLength, t.tokens.length),
    };
  }
  // A custom granularity without a valid pattern yet shows tokens; turns
  // without a chat template (no token_turns) show paragraphs.
  const g = granularity === 'custom' && !pattern ? 'tokens' : granularity === 'turns' ? 'paragraphs' : granularity;
  return {
    // BOS (token 0) is not shown: nothing can be said about it.
    prompt: segmentTokens(t.tokens, g, pattern, 1, t.promptLength),
    output: segmentTokens(t.tokens, g, pattern, t.promptLength, t.tokens.length),
  };
}

/** The selected output segments [lo, hi]; both -1 when none. */
export function selectedBounds(selection: Selection): {lo: number, hi: number} {
  if (selection.anchor < 0) return {lo: -1, hi: -1};
  return {lo: Math.min(selection.anchor, selection.focus), hi: Math.max(selection.anchor, selection.focus)};
}

/**
 * Whether output segment i shows its salience for the selection [lo, hi]: the
 * output before the selection does (it is part of what the model read), the
 * selection itself only when asked for, and what comes after never (the model
 * had not read it yet).
 */
export function isColoured(i: number, lo: number, hi: number, showInSelection: boolean): boolean {
  if (lo < 0) return false;
  return i < lo || (showInSelection && i <= hi);
}

/**
 * The view model: `tokenScores` (one per token) summed per segment, or zeros
 * without scores. The chat template's tokens count for nothing: their scores
 * are left out of every value and of the scale.
 */
export function paneView(segments: PaneSegments, tokenScores: ArrayLike<number> | undefined,
                         selection: Selection, showInSelection: boolean, options: ViewOptions = {}): PaneView {
  const {prompt, output} = segments;
  const template = options.template ?? [];
  const scores = tokenScores && template.some(Boolean) ? withoutTemplate(tokenScores, template) : tokenScores;
  const {lo, hi} = selectedBounds(selection);
  const promptValues = scores ? aggregate(scores, prompt) : prompt.map(() => 0);
  const outputValues = scores ? aggregate(scores, output) : output.map(() => 0);
  const promptTemplate = prompt.map((seg) => isTemplateSegment(seg, template));
  const outputTemplate = output.map((seg) => isTemplateSegment(seg, template));
  const coloured = output.map((_, i) => isColoured(i, lo, hi, showInSelection) && !outputTemplate[i]);
  const visible = outputValues.map((_, i) => i).filter((i) => coloured[i]);
  const ownMax = Math.max(scaleMax(promptValues), visible.length ? scaleMax(outputValues, visible) : 0);
  const max = Math.max(ownMax, options.scaleMax ?? 0);
  const signed = options.signed ?? (scores ? isSigned(scores) : false);
  return {prompt, output, promptValues, outputValues, lo, hi, coloured, max, ownMax, signed, promptTemplate,
          outputTemplate};
}

/** One chip as the pane and the export show it. */
export interface Chip {
  text: string;
  /** The segment's summed salience (0 without scores). */
  value: number;
  /** Whether it shows its value: a colour and a tooltip. */
  scored: boolean;
  color: string;
  selected: boolean;
  /** An output segment after the selection (greyed out). */
  after: boolean;
  /** The chat template's own tokens only (greyed out, no score). */
  template: boolean;
}

/** The prompt's and the output's chips: one rule for the pane's render and the export. */
export function chips(view: PaneView, hasScores: boolean, intensity: number): {prompt: Chip[], output: Chip[]} {
  const chip = (text: string, value: number, scored: boolean, selected: boolean, after: boolean,
                template: boolean): Chip => ({
    text, value, scored, selected, after, template,
    color: scored ? colorFor(value, view.max, view.signed, intensity) : NO_COLOR,
  });
  const promptTemplate = view.promptTemplate ?? [];
  const outputTemplate = view.outputTemplate ?? [];
  return {
    prompt: view.prompt.map((seg, i) => chip(
        seg.text, view.promptValues[i], hasScores && !promptTemplate[i], false, false, !!promptTemplate[i])),
    output: view.output.map((seg, i) => {
      const selected = view.lo >= 0 && i >= view.lo && i <= view.hi;
      const after = view.lo >= 0 && !selected && i > view.hi;
      return chip(seg.text, view.outputValues[i], hasScores && view.coloured[i], selected, after, !!outputTemplate[i]);
    }),
  };
}

/**
 * A chip's inline style: the colour as background (with readable text) or as
 * underline; a chip without a score keeps its class's text colour (greyed
 * after the selection).
 */
export function chipStyle(color: string, mark: ViewSettings['mark']): string {
  if (mark === 'underline') return `border-bottom-color:${color}`;
  return color === NO_COLOR ? `background:${color}` : `background:${color};color:${textColorFor(color)}`;
}

/** The exported segments: the chips the pane shows with scores, prompt first. */
export function exportedSegments(view: PaneView, intensity: number): ExportedSegment[] {
  const {prompt, output} = chips(view, true, intensity);
  const template = (c: Chip) => c.template ? {template: true} : {};
  return [
    ...prompt.map((c) => ({
      role: 'prompt' as const, text: c.text, score: c.scored ? c.value : null, color: c.color, selected: false,
      ...template(c)})),
    ...output.map((c) => ({
      role: 'output' as const, text: c.text, score: c.scored ? c.value : null, color: c.color, selected: c.selected,
      ...template(c)})),
  ];
}

/** What the export needs besides the view model. */
export interface ExportContext {
  model: string;
  settings: ViewSettings;
  source?: string;
  prompt: string;
  output: string;
  selectionText: string;
}

export function exportedView(view: PaneView, c: ExportContext): ExportedView {
  const s = c.settings;
  const foil = s.foil ?? '';
  const words = legendText(s.method, view.signed, c.selectionText, foil);
  return {
    model: c.model,
    view: viewKind(c.selectionText, foil).kind,
    // The foil as sent to the server; null in a plain view.
    foil: foil || null,
    method: s.method,
    granularity: s.granularity,
    pattern: s.granularity === 'custom' ? s.pattern?.source : undefined,
    source: c.source,
    prompt: c.prompt,
    output: c.output,
    selection: {text: c.selectionText, firstSegment: view.lo, lastSegment: view.hi},
    scaleMax: view.max,
    signed: view.signed,
    legend: legend(view.max, view.signed, s.intensity),
    legendText: words,
    segments: exportedSegments(view, s.intensity),
  };
}

/** Both ends moved into [0, n) (n > 0). */
export function clampSelection(anchor: number, focus: number, n: number): Selection {
  const clamp = (i: number) => Math.max(0, Math.min(n - 1, i));
  return {anchor: clamp(anchor), focus: clamp(focus)};
}

/** The token range of the selected output segments, or undefined. */
export function selectedRange(output: readonly Segment[], selection: Selection): TokenRange | undefined {
  if (selection.anchor < 0 || selection.focus < 0) return undefined;
  const {lo, hi} = selectedBounds(selection);
  const [a, b] = [output[lo], output[hi]];
  return a && b ? {start: a.start, end: b.end} : undefined;
}

/** The selected output text, as the chips show it ('' without a selection). */
export function selectedText(tokens: readonly string[], range: TokenRange | undefined): string {
  return range ? tokens.slice(range.start, range.end).map(tokenText).join('') : '';
}

/**
 * The segments covering a range selected before a granularity change: the
 * same text stays selected, in the new units that cover it (-1 where none does).
 */
export function selectionCovering(output: readonly Segment[], range: TokenRange): Selection {
  const find = (token: number) => output.findIndex((s) => s.start <= token && token < s.end);
  return {anchor: find(range.start), focus: find(range.end - 1)};
}

const STEPS = new Map([['ArrowRight', 1], ['ArrowDown', 1], ['ArrowLeft', -1], ['ArrowUp', -1]]);

/**
 * The selection after a key press among n output segments: arrows move it
 * (from either end when there is none), Shift+arrows extend it, Home/End go
 * to the first/last segment (Shift extends), Escape clears it. Undefined for
 * other keys, or when there are no segments.
 */
export function keyMove(selection: Selection, key: string, shift: boolean, n: number): Selection | 'clear' | undefined {
  if (!n) return undefined;
  const {anchor, focus} = selection;
  const step = STEPS.get(key);
  if (step !== undefined) {
    if (anchor < 0) {
      const i = step > 0 ? 0 : n - 1;
      return {anchor: i, focus: i};
    }
    return shift ? clampSelection(anchor, focus + step, n) : clampSelection(focus + step, focus + step, n);
  }
  if (key === 'Home' || key === 'End') {
    const i = key === 'Home' ? 0 : n - 1;
    return clampSelection(shift && anchor >= 0 ? anchor : i, i, n);
  }
  return key === 'Escape' ? 'clear' : undefined;
}

/**
 * The output segment a compared pane selects for the leading pane's
 * selection: the same text; else the same kind of line ("Recommendation:
 * ..."); else the same position, or the last segment. -1 without segments.
 */
export function requestedIndex(output: readonly Segment[], request: SelectionRequest): number {
  if (!output.length) return -1;
  const texts = output.map((s) => s.text.trim());
  const wanted = request.text.trim();
  const label = wanted.match(/^[^:\n]{1,40}:/)?.[0];
  let index = texts.indexOf(wanted);
  if (index < 0 && label) index = texts.findIndex((t) => t.startsWith(label));
  if (index < 0) index = Math.max(0, Math.min(request.index, output.length - 1));
  return index;
}

const UNITS: Record<Granularity, [string, string]> = {
  tokens: ['token', 'tokens'], words: ['word', 'words'], sentences: ['sentence', 'sentences'],
  lines: ['line', 'lines'], paragraphs: ['paragraph', 'paragraphs'], turns: ['turn', 'turns'],
  custom: ['segment', 'segments'],
};

/** "sentence" or "sentences": the word for n units of a granularity. */
export function unitWord(n: number, granularity: Granularity): string {
  const [one, many] = UNITS[granularity] ?? UNITS.custom;
  return n === 1 ? one : many;
}

/** "1 sentence", "5 sentences": a count of units of a granularity. */
export function unitCount(n: number, granularity: Granularity): string {
  return `${n} ${unitWord(n, granularity)}`;
}

/** What a background prefetch fetches, as its line names it. */
export interface PrefetchSubject {
  /** A costly method's name (its scores are computed, not just fetched); absent for the gradients. */
  method?: string;
  /** Every output segment (no selection), not the others of a selection. */
  all?: boolean;
}

/**
 * What the pane says of its background prefetch (prefetch.ts): how many of
 * the output segments are ready while it runs (and how far the request on
 * its way is, where it is a job that tells), why it stopped if a request
 * failed, nothing once done.
 */
export function prefetchText(progress: PrefetchProgress | undefined, granularity: Granularity,
                             subject: PrefetchSubject = {}): string {
  if (!progress || !progress.total) return '';
  const units = subject.all ? `the ${unitCount(progress.total, granularity)} of the output` :
      `the other ${unitCount(progress.total, granularity)}`;
  const doing = subject.method ? `computing ${subject.method.replace(/_/g, ' ')} for ${units}` : `fetching ${units}`;
  if (progress.error) return `Stopped ${doing}: ${progress.error}`;
  if (!progress.running) return '';
  const fraction = progressFraction(progress.request);
  const request = fraction !== undefined ? `; this request ${Math.floor(fraction * 100)}%` : '';
  return `${doing[0].toUpperCase()}${doing.slice(1)} in the background ` +
         `(${progress.done} of ${progress.total} ready${request}): click any part of the output meanwhile.`;
}

/** How long an input the server takes (GET /seqsal/info). */
export interface LengthLimits {
  /** The model's --sequence_length. */
  maxLength: number;
  /** What the model reads at most, where known. */
  contextWindow?: number;
  /** A hosted server's budget per input (--max_input_tokens), where it has one. */
  maxInputTokens?: number;
  hosted?: boolean;
}

/**
 * What the pane says of an input of `tokens` tokens over the server's limit
 * (before the server refuses it): the limit, the input's length and what to
 * do; '' when it fits. `what` names the input ("This prompt").
 */
export function lengthAdvice(tokens: number, limits: LengthLimits | undefined, what: string): string {
  if (!limits) return '';
  const budget = limits.maxInputTokens && limits.maxInputTokens < limits.maxLength ? limits.maxInputTokens : 0;
  const limit = budget || limits.maxLength;
  if (tokens <= limit) return '';
  const n = (x: number) => x.toLocaleString('en-US');
  const head = `${what} is ${n(tokens)} tokens long: this server takes at most ${n(limit)} tokens for this model`;
  if (budget) return `${head} (--max_input_tokens). Shorten it, or run the model on your own server.`;
  const window = limits.contextWindow;
  if (window && tokens > window) return `${head}, and the model itself reads at most ${n(window)}. Shorten it.`;
  const suggested = Math.min(Math.ceil(tokens / 1024) * 1024, window ?? Infinity);
  return `${head} (--sequence_length). Shorten it, or restart the server with --sequence_length=${suggested}` +
         `${window ? ` (the model reads up to ${n(window)} tokens)` : ''}.`;
}
