/**
 * One example's prompt and output as text chips, coloured by the salience of
 * the selected output span. Click, shift-click, drag or the arrow keys select
 * output segments (chip_selection.ts). This component renders; what it shows
 * and how the selection moves is worked out in pane_view.ts, which scores a
 * selection needs and how they are fetched in score_loader.ts, and its async
 * work (tokens, a generation, scores) runs through a WorkController
 * (work_controller.ts): one at a time, its status, error, progress and Cancel.
 * Long work (a costly method, a generation) shows a progress bar with a
 * Cancel button where the server runs it as a job. With a selection, "instead
 * of" offers the model's alternatives and a text field: a foil makes the view
 * contrastive (contrastive.ts), shared with a compared pane through the
 * module's settings. The chat template's tokens are greyed (turns.ts).
 * Its head (status, progress, the background prefetch, the legend and what
 * it means) stays in view under the module's controls while the text
 * scrolls; the output is scrolled into view when it arrives.
 * Beside the text (below it in a narrow pane) are the ranked segments
 * (ranked_list.ts: a click scrolls to one and flashes it), "Check this
 * explanation" (check_panel.ts) and "Drop it and regenerate" (drop_panel.ts:
 * prompt parts marked here, by clicking them while it is open, are dropped
 * and the model asked again). With a method whose spans share their work
 * (occlusion), the whole output is prefetched in the background as the
 * gradients are.
 */

import {LitElement, css, html, nothing} from 'lit';
import type {PropertyValues} from 'lit';

import type {ExampleData} from './api.js';
import './check_panel.js';  // defines <seqsal-check-panel>
import type {CheckTask} from './check_panel.js';
import {checkGranularities} from './check_view.js';
import {ChipSelection} from './chip_selection.js';
import {legend, textColorFor} from './colors.js';
import {legendText, parseAlternatives, viewKind} from './contrastive.js';
import type {Alternative} from './contrastive.js';
import {formatScore} from './export.js';
import type {ExportedView} from './export.js';
import './drop_panel.js';  // defines <seqsal-drop-panel>
import type {DropResult, DropTask} from './drop_panel.js';
import {editedExampleData} from './examples.js';
import './foil_bar.js';  // defines <seqsal-foil-bar>
import {GENERATION_FIELDS} from './api.js';
import {CancelledError} from './errors.js';
import {formatProgress, progressFraction, sleep} from './jobs.js';
import {prefetchChunkSize} from './prefetch.js';
import type {PrefetchProgress} from './prefetch.js';
import {methodNamed, methodSettings} from './methods.js';
import type {MethodInfo} from './methods.js';
import {
  NO_SELECTION, chipStyle, chips, clampSelection, exportedView, lengthAdvice, paneSegments, paneView, prefetchText,
  requestedIndex, selectedRange, selectedText, selectionCovering, unitWord,
} from './pane_view.js';
import type {LengthLimits, PaneSegments, PaneView, PrefetchSubject, Selection} from './pane_view.js';
import type {PromptEdit} from './prompt_edits.js';
import './ranked_list.js';  // defines <seqsal-ranked-list>
import type {SegmentRef} from './ranked_list.js';
import {explainedRange, rangeKey} from './ranges.js';
import {rankSegments, topPromptSegments} from './ranking.js';
import {SalienceSource, cacheKey} from './salience_data.js';
import type {PromptInput, Scores, Tokenized} from './salience_data.js';
import {loadScores, planScores} from './score_loader.js';
import type {ScorePlan, ScoreQuery} from './score_loader.js';
import type {Granularity, TokenRange} from './segments.js';
import type {OutputMode, SelectionRequest, ViewSettings} from './settings.js';
import {templateTokens, turnLabel} from './turns.js';
import {WorkController} from './work_controller.js';
import type {WorkHandlers} from './work_controller.js';

/** What a prefetch of a whole output depends on. */
type OutputQuery = Pick<ScoreQuery, 'prompt' | 'output' | 'tokenized' | 'granularity'>;

/** The status line while prompt and output are tokenized. */
const TOKENIZING = 'Tokenizing…';

export class SaliencePane extends LitElement {
  static properties = {
    source: {attribute: false},
    example: {attribute: false},
    mode: {},
    settings: {attribute: false},
    requestedSelection: {attribute: false},
    methods: {attribute: false},
    contrastive: {attribute: false},
    inputFields: {attribute: false},
    label: {},
    output: {state: true},
    tokenized: {state: true},
    anchor: {state: true},
    focusIndex: {state: true},
    scores: {state: true},
    alternatives: {state: true},
    prefetch: {state: true},
    lengthLimits: {attribute: false},
    scaleMax: {attribute: false},
    edits: {attribute: false},
    marked: {state: true},
    dropOpen: {state: true},
    flash: {state: true},
  };

  source?: SalienceSource;
  example?: ExampleData;
  mode: OutputMode = 'target';
  settings!: ViewSettings;
  requestedSelection?: SelectionRequest;
  /** The group's methods as the server describes them (methods.groupMethods). */
  methods: MethodInfo[] = [];
  /** Whether the server explains against a foil (its salience model takes `foil`). */
  contrastive = false;
  /** Example fields sent with the prompt (a conversation, stop sequences; api.exampleInputFields). */
  inputFields: string[] = [];
  label = '';
  /** How long an input the server takes (a warning before it refuses a longer one). */
  lengthLimits?: LengthLimits;
  /** A colour scale shared with the compared pane (its largest |value|); undefined: this pane's own. */
  scaleMax?: number;
  /** Whether the generation model takes `edits` (drop it and regenerate; api.supportsEdits). */
  edits = false;
  /** Prompt segments (indices at the current granularity) marked to drop. */
  marked: ReadonlySet<number> = new Set();
  /** "Drop it and regenerate" is open: a click on a prompt chip marks it. */
  dropOpen = false;
  /** The chip a ranked entry was clicked for, flashing for a moment. */
  flash?: SegmentRef;

  output?: string;
  tokenized?: Tokenized;
  anchor = -1;
  focusIndex = -1;
  scores?: Scores;
  /** The model's alternatives at the selection's first token; undefined until known. */
  alternatives?: Alternative[];
  /** The background prefetch of the other output segments' scores, while it runs. */
  prefetch?: PrefetchProgress;
  private prefetchGranularity: Granularity = 'words';
  /** What the running prefetch fetches (its line's words) and its plan's key (SalienceSource.planKey). */
  private prefetchSubject: PrefetchSubject = {};
  private prefetchKey = '';
  /** Cancelling the selection's costly method also stops the prefetch it may have joined. */
  private cancelStopsPrefetch = false;
  private flashTimer?: ReturnType<typeof setTimeout>;
  private headObserver?: ResizeObserver;
  private observedHead?: Element;
  /** The check panel's task, kept while its view is the same (check_panel.ts). */
  private checkTaskFor?: CheckTask;

  /** The pane's async work, one at a time: its status line, error, progress, Cancel and Restart. */
  private readonly work = new WorkController(this);
  private segments: PaneSegments = {prompt: [], output: []};
  /** Tokens of the chat template (no score, not in the scale). */
  private template: boolean[] = [];
  /** The explained range the alternatives are for (ranges.rangeKey). */
  private alternativesFor = '';
  /** Mouse and keyboard selection of the output chips. */
  private readonly chipSelection = new ChipSelection(this);
  /** The scale this pane last told the module (scale-change). */
  private toldScale = -1;
  /** The output just arrived: scroll it into view once drawn. */
  private revealOutput = false;
  /** What the last render showed. */
  private lastView?: PaneView;

  static styles = css`
    :host { display: block; font-size: 14px; min-width: 0; container-type: inline-size; }
    .head { position: sticky; top: var(--seqsal-controls-height, 0px); z-index: 2; background: #fff;
            padding-bottom: 2px; }
    .label { font-size: 13px; }
    .status { color: #555; font-size: 12px; min-height: 18px; }
    .error { color: #b00020; background: #fdecee; padding: 6px 8px; border-radius: 4px; margin: 4px 0; white-space: pre-wrap; }
    .length-warning { color: #7a4100; background: #fff4e5; padding: 6px 8px; border-radius: 4px; margin: 4px 0; }
    .progress { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; margin: 2px 0 6px; font-size: 12px; color: #333; }
    .progress progress { flex: 0 1 240px; height: 10px; }
    .progress .progress-text { font-variant-numeric: tabular-nums; }
    .prefetch { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; font-size: 12px; color: #444; margin: 2px 0 4px; }
    .prefetch progress { flex: 0 0 120px; height: 8px; }
    .notice { color: #333; background: #f1f3f4; padding: 6px 8px; border-radius: 4px; margin: 4px 0; }
    .hint { color: #555; font-style: italic; margin: 6px 0; }
    .text { white-space: pre-wrap; border: 1px solid #ddd; border-radius: 6px; padding: 10px; outline: none;
            word-break: break-word; overflow-wrap: anywhere; }
    .text:focus-visible { border-color: #1a73e8; box-shadow: 0 0 0 2px #1a73e8; }
    .text.tight { line-height: 1.35; }
    .text.loose { line-height: 2.1; }
    .seg { border-radius: 3px; }
    .text.spacious .seg { padding: 1px 1px; }
    .seg.out { cursor: pointer; font-style: italic; }
    .seg.out:hover { outline: 1px dashed #555; }
    .seg.after { color: #5f5f5f; }
    .seg.selected { outline: 3px solid #c2185b; outline-offset: 1px; }
    .text:focus .seg.selected { outline-color: #880e4f; }
    .text.underline .seg { border-bottom: 3px solid transparent; }
    .legend { display: flex; flex-wrap: wrap; gap: 0; align-items: center; margin: 6px 0 2px; font-size: 12px; }
    .legend .swatch { padding: 1px 8px; border: 1px solid #ccc; min-width: 40px; text-align: center; }
    .legend .caption { margin-right: 8px; color: #333; font-weight: 600; }
    .legend .end { margin: 0 6px; color: #444; font-style: italic; }
    .legend .scale { margin-left: 8px; color: #555; }
    .legend-text { font-size: 12px; color: #333; margin: 0 0 6px; }
    .seg.template { color: #595959; background: #ececec; }
    .view-kind { font-size: 12px; margin: 4px 0; color: #333; }
    .view-kind .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; background: #eceff1;
                        color: #263238; font-weight: 600; }
    .view-kind.contrastive .badge { background: #3c1361; color: #fff; }
    .text.contrastive { border: 2px solid #7a4fa3; border-left: 6px solid #c05a00; }
    .body { display: grid; grid-template-columns: minmax(0, 1fr); gap: 10px; align-items: start; }
    .side { display: grid; gap: 10px; min-width: 0; border: 1px solid #e0e0e0; border-radius: 6px; padding: 6px 8px; }
    /* Beside the text where the pane has the room; its own scroll, in view under the pane's head. */
    @container (min-width: 640px) {
      .body.with-side { grid-template-columns: minmax(0, 1fr) minmax(240px, 34%); }
      .side { position: sticky; top: calc(var(--seqsal-controls-height, 0px) + var(--seqsal-pane-head-height, 0px));
              max-height: 75vh; overflow: auto; }
    }
    .seg.markable { cursor: pointer; }
    .seg.markable:hover { outline: 1px dashed #8e0018; }
    .seg.marked { text-decoration: line-through 2px #b00020; outline: 2px dashed #b00020; outline-offset: 1px; }
    .seg.flash { animation: flash 0.5s ease-in-out 3; outline: 3px solid #ff6f00; outline-offset: 2px; }
    @keyframes flash { 50% { outline-color: transparent; } }
    @media (prefers-reduced-motion: reduce) { .seg.flash { animation: none; } }
    button { font: inherit; }
    button:focus-visible { outline: 2px solid #1a73e8; outline-offset: 1px; }
    @media (max-width: 800px) {
      /* The controls scroll away on a phone; the legend stays. */
      .head { top: 0; }
    }
  `;

  /** The status line: what runs now. */
  get status(): string {
    return this.work.status;
  }

  get error(): string {
    return this.work.error;
  }

  /** Not an error: what happened (a cancelled job) and how to start again. */
  get notice(): string {
    return this.work.notice;
  }

  private get prompt(): string {
    return this.example?.prompt ?? '';
  }

  /**
   * The prompt as the tokenizer and salience models get it: with the example's
   * other input fields, where it has any (not those of the generation alone).
   */
  private get promptInput(): PromptInput {
    return this.inputOf(this.inputFields.filter((f) => !GENERATION_FIELDS.includes(f)));
  }

  /** The prompt as the generation model gets it: with its own fields too (max_new_tokens). */
  private get generationInput(): PromptInput {
    return this.inputOf([...this.inputFields, ...GENERATION_FIELDS]);
  }

  private inputOf(fields: readonly string[], data: ExampleData | undefined = this.example): PromptInput {
    const prompt = data?.prompt ?? '';
    const extra = [...new Set(fields)].filter((f) => data && data[f] !== undefined && data[f] !== null && data[f] !== '');
    return extra.length ? {prompt, ...Object.fromEntries(extra.map((f) => [f, data![f]]))} : prompt;
  }

  /** The selected output segments, as shown. */
  get selection(): Selection {
    return {anchor: this.anchor, focus: this.focusIndex};
  }

  set selection(selection: Selection) {
    this.anchor = selection.anchor;
    this.focusIndex = selection.focus;
  }

  get outputCount(): number {
    return this.segments.output.length;
  }

  focusTarget(): HTMLElement | null {
    return this.renderRoot.querySelector('.text');
  }

  protected override willUpdate(changed: PropertyValues<this>) {
    // (A new list of the same input fields, from a re-render above, changes nothing.)
    const oldFields = changed.get('inputFields') as string[] | undefined;
    const fieldsChanged = changed.has('inputFields') && (oldFields ?? []).join() !== this.inputFields.join();
    if (changed.has('source') || changed.has('example') || changed.has('mode') || fieldsChanged) {
      this.reload();
    }
    const s = this.settings;
    const old = changed.get('settings') as ViewSettings | undefined;
    const resegment = changed.has('settings') &&
        (!old || old.granularity !== s.granularity || old.pattern !== s.pattern);
    if (changed.has('tokenized')) {
      const t = this.tokenized;
      this.template = t ? templateTokens(t.turns, t.tokens.length) : [];
      // The module offers the Turns granularity when the model has a chat template
      // (told once the tokens are there: not while the next example loads).
      if (t) this.dispatchEvent(new CustomEvent('turns-change', {detail: !!t.turns, bubbles: true, composed: true}));
    }
    // Scores of another foil (or none) must not show under this foil's legend.
    if (changed.has('settings') && old && old.foil !== s.foil) this.scores = undefined;
    if (changed.has('tokenized') || resegment) {
      this.resegment();  // re-reads the selection's scores
    } else if (changed.has('settings') && old && (old.method !== s.method || old.foil !== s.foil)) {
      // Cached for the gradient methods; asks for a costly or contrastive one; without a selection,
      // prefetches a method whose spans share their work.
      if (this.selectedRange()) this.updateScores(); else this.prefetchWholeOutput();
    }
    if (changed.has('requestedSelection') && this.requestedSelection) this.applyRequestedSelection();
  }

  /** The output changed: start from nothing and load what is cached or asked for. */
  private reload() {
    this.output = undefined;
    this.tokenized = undefined;
    this.scores = undefined;
    this.alternatives = undefined;
    this.alternativesFor = '';
    this.anchor = this.focusIndex = -1;
    this.marked = new Set();
    this.work.reset();
    this.stopPrefetch();
    if (!this.example || !this.source) return;
    if (this.mode === 'target' && this.example.target) {
      this.setOutput(this.example.target);
    } else if (this.mode === 'generation' && this.source.hasGeneration(this.generationInput)) {
      this.generate();
    } else {
      this.setOutput(undefined);  // the prompt alone, until there is an output
    }
  }

  /** Asks the model for its continuation (a loading state, or progress and Cancel, meanwhile). */
  generate() {
    const source = this.source;
    if (!source || !this.example) return;
    const input = this.generationInput;
    this.cancelStopsPrefetch = false;
    this.work.run((handlers) => source.generate(input, handlers), {
      status: 'Generating…', progress: source.usesJobs,
      cancelled: {notice: 'Generation cancelled.', restart: () => this.generate()},
      done: (text) => text ? this.setOutput(text, true) : this.work.fail('The model generated nothing for this prompt.'),
    });
  }

  /**
   * Shows `text` as the output (undefined: none yet); it is scrolled into view
   * once drawn after a generation, or where the text scrolls in its own area
   * (not on a phone, where the whole page would jump to it).
   */
  private setOutput(text: string | undefined, generated = false) {
    this.output = text;
    this.revealOutput = text !== undefined && (generated || !window.matchMedia('(max-width: 800px)').matches);
    this.work.run(() => this.source!.tokenize(this.promptInput, text ?? ''), {
      status: TOKENIZING, done: (tokenized) => this.tokenized = tokenized});
  }

  override disconnectedCallback() {
    super.disconnectedCallback();
    this.headObserver?.disconnect();
    this.headObserver = undefined;
    this.observedHead = undefined;
    clearTimeout(this.flashTimer);
  }

  /** The side panel stays under the pane's sticky head: it hears the head's height. */
  private observeHead() {
    const head = this.renderRoot.querySelector('.head');
    if (!head || head === this.observedHead) return;
    this.headObserver ??= new ResizeObserver((entries) => {
      const height = entries[0]?.target.getBoundingClientRect().height ?? 0;
      this.style.setProperty('--seqsal-pane-head-height', `${Math.ceil(height)}px`);
    });
    this.headObserver.disconnect();
    this.headObserver.observe(head);
    this.observedHead = head;
  }

  protected override updated() {
    this.observeHead();
    // The output to explain, in view once it is drawn (a long prompt puts it below the fold).
    if (this.revealOutput && this.tokenized) {
      this.revealOutput = false;
      this.renderRoot.querySelector('[data-role=output]')?.scrollIntoView({block: 'nearest'});
    }
    // The module shares one scale between compared panes: it hears this pane's own.
    const own = this.scores && this.lastView ? this.lastView.ownMax : 0;
    if (own !== this.toldScale) {
      this.toldScale = own;
      this.dispatchEvent(new CustomEvent('scale-change', {detail: own, bubbles: true, composed: true}));
    }
  }

  private resegment() {
    const t = this.tokenized;
    const previous = this.selectedRange();
    if (!t) {
      this.segments = {prompt: [], output: []};
      return;
    }
    this.segments = paneSegments(t, this.settings.granularity, this.settings.pattern);
    // Marks are of segments at the granularity they were made at.
    if (this.marked.size) this.marked = new Set();
    if (previous) {
      this.selection = selectionCovering(this.segments.output, previous);
      this.updateScores();
    } else if (this.requestedSelection) {
      this.applyRequestedSelection();
    }
    if (!this.selectedRange()) this.prefetchWholeOutput();
  }

  private applyRequestedSelection() {
    const index = this.requestedSelection ? requestedIndex(this.segments.output, this.requestedSelection) : -1;
    if (index >= 0) this.select(index, index, false);
  }

  /** Token range of the selected output segments, or undefined. */
  selectedRange(): TokenRange | undefined {
    return selectedRange(this.segments.output, this.selection);
  }

  select(anchor: number, focus: number, announce = true, settleMs = 0) {
    const n = this.segments.output.length;
    if (!n) return;
    this.selection = clampSelection(anchor, focus, n);
    if (!this.chipSelection.dragging) this.updateScores(settleMs);
    if (announce) {
      const detail: SelectionRequest = {text: this.selectedText(), index: Math.min(this.anchor, this.focusIndex)};
      this.dispatchEvent(new CustomEvent('selection-change', {detail, bubbles: true, composed: true}));
    }
  }

  private selectedText(): string {
    return this.tokenized ? selectedText(this.tokenized.tokens, this.selectedRange()) : '';
  }

  clearSelection() {
    this.selection = NO_SELECTION;
    this.scores = undefined;
    this.alternatives = undefined;
    this.alternativesFor = '';
    this.work.stop();  // what was on its way is for a selection no longer there
    this.stopPrefetch();
  }

  /** What the selection's scores depend on; undefined without a selection, tokens or an output. */
  private scoreQuery(): ScoreQuery | undefined {
    const range = this.selectedRange();
    const t = this.tokenized;
    if (!range || !t || this.output === undefined) return undefined;
    const {method, granularity, foil} = this.settings;
    return {prompt: this.promptInput, output: this.output, tokenized: t, segments: this.segments, range,
            template: this.template, method: methodNamed(this.methods, method), granularity, foil};
  }

  /**
   * Reads the selection's scores, or fetches them as score_loader plans:
   * with those of every output segment (for the next clicks), against the
   * foil, or a costly method for the selection alone (with progress and
   * Cancel where the server runs jobs).
   */
  private updateScores(settleMs = 0) {
    const source = this.source;
    const query = this.scoreQuery();
    if (!source || !query) return;
    const plan = planScores(source, query);
    const costly = plan.kind === 'costly' || plan.kind === 'unavailable';
    // A costly method's scores not at hand yet (prefetched ones are): the view waits for them.
    const waits = plan.kind === 'unavailable' || (plan.kind === 'costly' && !!plan.status);
    // A selection still moving (the keyboard) waits for it to settle, unless its scores are at hand.
    const settle = plan.status && plan.kind !== 'unavailable' ? settleMs : 0;
    if (costly && !settle) {
      if (waits) this.scores = undefined;
      // Ahead of the costly method's long request (they come with the gradient scores).
      this.loadAlternatives(plan.wanted);
    }
    // A prefetch of other work (another output or method) stops; one of this work goes on.
    if (this.prefetchKey && this.prefetchKey !== this.prefetchKeyOf(source, query, plan)) this.stopPrefetch();
    this.cancelStopsPrefetch = plan.kind === 'costly' && plan.sharesSpans;
    if (plan.kind === 'unavailable') {
      this.work.stop();
      this.work.fail(plan.error);
      return;
    }
    const load = (handlers: WorkHandlers) => {
      if (!settle) return loadScores(source, query, plan, handlers);
      return sleep(settle, handlers.signal).then(() => {
        if (handlers.signal.aborted) throw new CancelledError();
        if (waits) this.scores = undefined;
        const scores = loadScores(source, query, plan, handlers);
        this.loadAlternatives(plan.wanted);
        return scores;
      });
    };
    this.work.run(load, {
      status: plan.status, progress: waits && source.usesJobs,
      cancelled: plan.kind === 'costly' ? {
        notice: `Cancelled: ${plan.method.replace(/_/g, ' ')} for this selection. Press Restart, pick the method ` +
                'again or click the selection to start over.',
        restart: () => this.updateScores(),
      } : undefined,
      done: (scores) => {
        this.scores = scores;
        // The rest behind it, for the next clicks (it waits while the user asks for anything).
        if (plan.kind === 'gradients') this.startPrefetch(source, query, plan.background);
        if (plan.kind === 'costly' && plan.sharesSpans) {
          this.startMethodPrefetch(source, query, plan.method, plan.settings, plan.background, false);
        }
      },
      failed: () => this.scores = undefined,
    });
    // They come with the gradient or contrastive scores just asked for, unless known already.
    if (!costly && !settle) this.loadAlternatives(plan.wanted);
  }

  /** The key of the prefetch `plan` leads to (SalienceSource.planKey); '' for none. */
  private prefetchKeyOf(source: SalienceSource, query: ScoreQuery, plan: ScorePlan): string {
    if (plan.kind === 'gradients') return SalienceSource.planKey(query.prompt, query.output);
    if (plan.kind === 'costly' && plan.sharesSpans) {
      return SalienceSource.planKey(query.prompt, query.output, {method: plan.method, settings: plan.settings, foil: ''});
    }
    return '';
  }

  /**
   * Prefetches the scores of the other output segments (nearest the
   * selection first) in the background, replacing this pane's earlier
   * prefetch; its progress shows under the controls.
   */
  private startPrefetch(source: SalienceSource, query: ScoreQuery, ranges: TokenRange[]) {
    const n = query.tokenized.tokens.length;
    const granularity = query.granularity;
    this.prefetchKey = SalienceSource.planKey(query.prompt, query.output);
    source.prefetchInBackground(this, query.prompt, query.output, n, ranges,
                                prefetchChunkSize(n, source.options.maxMasks), (progress) => {
                                  this.prefetch = progress;
                                  this.prefetchGranularity = granularity;
                                  this.prefetchSubject = {};
                                });
  }

  /**
   * Prefetches a costly method whose spans share their work (occlusion) for
   * `ranges` of the output (`all`: the whole output, nothing selected) in
   * the background, replacing this pane's earlier prefetch: requests of as
   * many spans as the server takes (the first does the work of every span,
   * the others cost little), as jobs where the server runs jobs.
   */
  private startMethodPrefetch(source: SalienceSource, query: OutputQuery, method: string,
                              settings: Record<string, string | number>, ranges: TokenRange[],
                              all: boolean) {
    if (!ranges.length) return;
    const {granularity} = query;
    this.prefetchKey = SalienceSource.planKey(query.prompt, query.output, {method, settings, foil: ''});
    source.prefetchMethod(this, query.prompt, query.output, query.tokenized.tokens.length, ranges, method, settings,
                          source.options.maxMasks, (progress) => {
                            this.prefetch = progress;
                            this.prefetchGranularity = granularity;
                            this.prefetchSubject = {method, all};
                          });
  }

  /**
   * With nothing selected and a method whose spans share their work shown
   * (occlusion), its scores of every output segment are prefetched in the
   * background, in order, so that a click on any is instant once there.
   */
  private prefetchWholeOutput() {
    const source = this.source;
    const t = this.tokenized;
    const method = methodNamed(this.methods, this.settings.method);
    const {granularity, foil} = this.settings;
    if (!source || !t || this.output === undefined || foil || !method?.on_request || !method.shares_spans) return;
    const {settings, error} = methodSettings(method, granularity);
    if (error) return;
    const ranges = this.segments.output.map((seg) => explainedRange(t.tokens, seg, this.template))
        .filter((r) => !this.template[r.start]);
    this.startMethodPrefetch(source, {prompt: this.promptInput, output: this.output, tokenized: t, granularity},
                             method.name, settings, ranges, true);
  }

  /** Stops this pane's prefetch (the Stop button, a new example, another kind of view). */
  stopPrefetch() {
    this.source?.background.cancel(this);
    this.prefetch = undefined;
    this.prefetchKey = '';
  }

  /** The progress bar's Cancel: the selection's work, and a prefetch it joined. */
  private cancelWork() {
    this.work.cancel();
    if (this.cancelStopsPrefetch) this.stopPrefetch();
  }

  /** The model's alternatives at the first token of `wanted` (for "instead of"); quietly none on failure. */
  private async loadAlternatives(wanted: TokenRange) {
    const t = this.tokenized;
    if (!t || !this.source || this.output === undefined || !this.contrastive) return;
    const key = rangeKey(wanted);
    if (key === this.alternativesFor && this.alternatives) return;
    this.alternativesFor = key;
    this.alternatives = undefined;
    try {
      const raw = await this.source.alternatives(this.promptInput, this.output, t.tokens.length, wanted);
      // Still the selection's (another selection has moved alternativesFor on).
      if (this.alternativesFor === key && this.tokenized === t) {
        this.alternatives = parseAlternatives(raw, t.tokens[wanted.start]);
      }
    } catch {
      // The scores' request failed too, and says why.
      if (this.alternativesFor === key && this.tokenized === t) this.alternatives = [];
    }
  }

  /** What is shown: segments, their values and the colour scale. */
  private shown(): PaneView {
    const {method, foil, showInSelection} = this.settings;
    // A contrastive view of a signed method uses the diverging scale whatever the signs.
    const signed = foil && this.scores ? methodNamed(this.methods, method)?.signed : undefined;
    return paneView(this.segments, this.scores?.[method], this.selection, showInSelection,
                    {template: this.template, signed, scaleMax: this.scaleMax});
  }

  protected override render() {
    if (!this.example) return html`<div class="hint">Pick an example to explain.</div>`;
    const s = this.settings;
    const view = this.shown();
    this.lastView = view;
    const hasScores = !!this.scores;
    const {prompt, output} = chips(view, hasScores, s.intensity);
    const turns = s.granularity === 'turns' ? this.tokenized?.turns : undefined;
    const title = (c: {scored: boolean, value: number, template: boolean}, seg: TokenRange) => {
      const turn = turns ? turnLabel(seg, turns) : '';
      if (c.template) return 'chat template (not scored)';
      if (c.scored) return `${s.method}: ${c.value}${turn ? ` · ${turn}` : ''}`;
      return turn || nothing;
    };
    const flash = (role: string, i: number) => this.flash?.role === role && this.flash.index === i ? ' flash' : '';
    const marking = this.dropOpen && hasScores;
    const promptChips = prompt.map((c, i) => html`<span class="seg${c.template ? ' template' : ''}${
        this.marked.has(i) ? ' marked' : ''}${marking && !c.template ? ' markable' : ''}${flash('prompt', i)}"
        data-role="prompt" data-i=${i} style=${c.template ? nothing : chipStyle(c.color, s.mark)}
        title=${title(c, view.prompt[i])}>${c.text}</span>`);
    const outputChips = output.map((c, i) => {
      const cls = `seg out${c.selected ? ' selected' : ''}${c.after ? ' after' : ''}${c.template ? ' template' : ''}` +
          flash('output', i);
      return html`<span class=${cls} data-role="output" data-i=${i}
          style=${c.template ? nothing : chipStyle(c.color, s.mark)} title=${title(c, view.output[i])}>${c.text}</span>`;
    });
    const contrastiveView = !!s.foil && view.lo >= 0;
    const textClass = `text ${s.density} ${s.spacing} ${s.mark}${contrastiveView ? ' contrastive' : ''}`;
    const hint = 'Click part of the output (in italics) to see which parts of the prompt drove it. Shift-click or ' +
                 'drag to extend; in the text, the arrow keys move the selection and Shift+arrows extend it.';
    return html`
      <div class="head">
        ${this.label ? html`<div class="label"><b>${this.label}</b></div>` : nothing}
        <div class="status" role="status">${this.status}</div>
        ${this.work.working ? this.renderProgress() : nothing}
        ${this.renderPrefetch()}
        ${this.notice ? html`<div class="notice" role="status">${this.notice}
          <button class="restart" data-testid="restart" @click=${() => this.work.restart()}>Restart</button></div>` : nothing}
        ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
        ${this.renderLengthWarning()}
        ${this.renderOutputPrompt()}
        ${this.contrastive ? html`<seqsal-foil-bar ?hidden=${!this.tokenized || this.output === undefined} .foil=${s.foil}
            .alternatives=${this.alternatives} .selected=${view.lo >= 0}></seqsal-foil-bar>` : nothing}
        ${this.tokenized && hasScores ? html`${this.renderViewKind()}${this.renderLegend(view)}` : nothing}
        ${this.tokenized && !hasScores && this.output !== undefined && !this.status && !this.notice ?
          html`<div class="hint">${hint}</div>` : nothing}
      </div>
      ${this.tokenized ? html`<div class="body${hasScores ? ' with-side' : ''}">
        <div class=${textClass} tabindex="0" role="group" data-testid="text"
            aria-label="Prompt and output: arrow keys select parts of the output"
            @mousedown=${this.chipSelection.onMouseDown} @mouseover=${this.chipSelection.onMouseOver}
            @click=${this.onTextClick}
            @keydown=${this.chipSelection.onKeyDown}>${promptChips}${outputChips}</div>
        ${hasScores ? this.renderSide(view) : nothing}
      </div>` : nothing}
    `;
  }

  /** Beside the text: the ranked segments, the check and "drop it and regenerate". */
  private renderSide(view: PaneView) {
    const ranking = rankSegments(view, true);
    const g = this.settings.granularity;
    const check = this.checkTask();
    const drop = this.dropTask();
    return html`<aside class="side" aria-label="The explanation at a glance" data-testid="side"
        @reveal-segment=${(e: CustomEvent<SegmentRef>) => this.reveal(e.detail)}
        @mark-toggle=${(e: CustomEvent<number>) => this.toggleMark(e.detail)}
        @mark-top=${(e: CustomEvent<number>) => this.marked = new Set(topPromptSegments(ranking, e.detail))}
        @mark-clear=${() => this.marked = new Set()}
        @drop-open=${(e: CustomEvent<boolean>) => this.dropOpen = e.detail}
        @open-edited=${(e: CustomEvent<DropResult>) => this.openEdited(e.detail)}>
      <seqsal-ranked-list .ranking=${ranking} unit=${unitWord(2, g)} ?marking=${this.dropOpen}
          .marked=${this.marked}></seqsal-ranked-list>
      ${check ? html`<seqsal-check-panel .task=${check}></seqsal-check-panel>` : nothing}
      ${drop ? html`<seqsal-drop-panel .task=${drop}></seqsal-drop-panel>` : nothing}
    </aside>`;
  }

  /** A click in the text while "drop it and regenerate" is open: a prompt chip is marked, or unmarked. */
  private readonly onTextClick = (e: MouseEvent) => {
    if (!this.dropOpen || !this.scores) return;
    const target = e.target as HTMLElement | null;
    if (target?.dataset?.['role'] !== 'prompt' || target.classList.contains('template')) return;
    this.toggleMark(Number(target.dataset['i']));
  };

  private toggleMark(index: number) {
    const marked = new Set(this.marked);
    if (!marked.delete(index)) marked.add(index);
    this.marked = marked;
  }

  /** Scrolls to a segment's chip and flashes it (a ranked entry was clicked). */
  private async reveal(ref: SegmentRef) {
    clearTimeout(this.flashTimer);
    this.flash = undefined;
    await this.updateComplete;
    this.flash = ref;
    await this.updateComplete;
    this.renderRoot.querySelector(`.seg[data-role=${ref.role}][data-i="${ref.index}"]`)
        ?.scrollIntoView({block: 'center', behavior: 'smooth'});
    this.flashTimer = setTimeout(() => this.flash = undefined, 1600);
  }

  /** The check panel's task for the view shown: the selection's method and granularity; undefined without one. */
  private checkTask(): CheckTask | undefined {
    const source = this.source;
    const query = this.scoreQuery();
    const info = source?.options.check;
    if (!source || !query || !info) return undefined;
    const method = methodNamed(this.methods, query.method?.name ?? this.settings.method);
    const name = method?.name ?? this.settings.method;
    const {settings, error} = method ? methodSettings(method, query.granularity) : {settings: {}, error: ''};
    const granularities = checkGranularities(info);
    const wanted = explainedRange(query.tokenized.tokens, query.range, query.template);
    const n = query.tokenized.tokens.length;
    const {prompt, output, granularity, foil} = query;
    const key = `${cacheKey(prompt, output, wanted, {method: name, settings, foil})}\u0000${granularity}`;
    if (this.checkTaskFor?.key === key) return this.checkTaskFor;
    const unavailable = error || (granularities.includes(granularity) ? '' :
      `The check works on ${granularities.join(', ')}: pick one of those granularities.`);
    return this.checkTaskFor = {
      key, unavailable, progress: source.usesJobs, foil,
      run: (handlers) => source.check(prompt, output, n, wanted, name, settings, granularity, foil, handlers),
      done: source.checkDone(prompt, output, wanted, name, settings, granularity, foil),
    };
  }

  /** The drop panel's task: this example's prompt segments, what is marked, and how to regenerate. */
  private dropTask(): DropTask | undefined {
    const source = this.source;
    const t = this.tokenized;
    const output = this.output;
    if (!this.edits || !source || !t || output === undefined) return undefined;
    const generationInput = this.generationInput;
    const generated = this.mode === 'generation';
    return {
      key: cacheKey(this.promptInput, output), segments: this.segments.prompt,
      marked: [...this.marked].sort((a, b) => a - b), unit: unitWord(2, this.settings.granularity),
      progress: source.usesJobs, generated,
      run: async (edits: PromptEdit[], handlers) => {
        // The model's own generation from the original prompt, to compare with (the output, when it is that).
        const original = generated ? output : await source.generate(generationInput, handlers);
        const regenerated = await source.regenerate(generationInput, output, edits, handlers);
        return {original, regenerated, edits};
      },
    };
  }

  /**
   * "Open as new example": the edited prompt becomes an example of its own
   * (its generation at hand), which the module adds after this pane's.
   */
  private openEdited(result: DropResult) {
    if (!this.example || !this.source) return;
    const data = editedExampleData(this.example, result.regenerated.editedPrompt, result.regenerated.edit);
    this.source.rememberGeneration(this.inputOf([...this.inputFields, ...GENERATION_FIELDS], data),
                                   result.regenerated.response);
    this.dispatchEvent(new CustomEvent('open-edited-example', {detail: data, bubbles: true, composed: true}));
  }

  /** The input over the server's limit: its length, the limit and what to do (before the server refuses it). */
  private renderLengthWarning() {
    const t = this.tokenized;
    if (!t) return nothing;
    const advice = this.output === undefined ?
        lengthAdvice(t.promptLength + 1, this.lengthLimits, 'This prompt (plus one generated token)') :
        lengthAdvice(t.tokens.length, this.lengthLimits, 'This prompt and its output');
    return advice ? html`<div class="length-warning" role="alert" data-testid="length-warning">${advice}</div>` : nothing;
  }

  /** The job's progress bar (indeterminate until the server knows), its text and Cancel. */
  private renderProgress() {
    const fraction = progressFraction(this.work.progress);
    return html`<div class="progress" data-testid="progress">
      <progress max="1" value=${fraction ?? nothing} aria-label=${this.status || 'Progress'}></progress>
      <span class="progress-text">${formatProgress(this.work.progress)}</span>
      <button class="cancel" data-testid="cancel" @click=${() => this.cancelWork()}>Cancel</button>
    </div>`;
  }

  /** The background prefetch's progress and Stop (nothing once it is done). */
  private renderPrefetch() {
    const text = prefetchText(this.prefetch, this.prefetchGranularity, this.prefetchSubject);
    if (!text) return nothing;
    const p = this.prefetch!;
    return html`<div class="prefetch" data-testid="prefetch" role="status">
      ${p.running ? html`<progress max=${p.total} value=${p.done} aria-label="Background fetch"></progress>` : nothing}
      <span>${text}</span>
      ${p.running ? html`<button data-testid="prefetch-stop" @click=${() => this.stopPrefetch()}>Stop</button>` : nothing}
    </div>`;
  }

  private renderOutputPrompt() {
    // Generate stays while the prompt is tokenized: a click that first applied the editor's draft
    // (its mousedown took the focus out of the editor) lands on the same button, and generates the new prompt.
    const tokenizing = this.status === TOKENIZING;
    if ((this.status && !tokenizing) || this.output !== undefined) return nothing;
    if (this.mode === 'target' && !this.example?.target && !tokenizing) {
      return html`<div class="hint">This example has no target. Explain the model's generation instead, or add a target in the editor.</div>`;
    }
    if (this.mode === 'generation' && this.output === undefined) {
      return html`<button class="generate" data-testid="generate" @click=${() => this.generate()}>Generate</button>
        <span class="hint">The model continues the prompt; then click part of its output.</span>`;
    }
    return nothing;
  }

  private renderLegend(view: PaneView) {
    const stops = legend(view.max, view.signed, this.settings.intensity);
    const method = methodNamed(this.methods, this.settings.method)?.label || this.settings.method;
    const words = legendText(method, view.signed, this.selectedText(), this.settings.foil);
    const low = words.negative ?? words.low;
    const scale = this.scaleMax !== undefined ? `one scale for both panes, 0 to ${formatScore(view.max)}` :
        `this pane's own scale, 0 to ${formatScore(view.max)}`;
    return html`<div class="legend" role="group" aria-label="Colour legend" title=${words.explanation}>
      <span class="caption">${words.caption}</span>
      ${low ? html`<span class="end ${words.negative ? 'negative' : 'low'}">${low}</span>` : nothing}
      ${stops.map((l) => html`<span class="swatch" style="background:${l.color};color:${textColorFor(l.color)}">${formatScore(l.value)}</span>`)}
      ${words.positive ? html`<span class="end positive">${words.positive}</span>` : nothing}
      <span class="scale" data-testid="scale" data-shared=${this.scaleMax !== undefined ? 'yes' : 'no'}>(${scale})</span>
    </div>
    <div class="legend-text" data-testid="legend-text">${words.explanation}</div>`;
  }

  /** Plain or contrastive, at a glance. */
  private renderViewKind() {
    const {kind, text} = viewKind(this.selectedText(), this.settings.foil);
    return html`<div class="view-kind ${kind}" data-testid="view-kind" data-kind=${kind}>
      <span class="badge">${kind === 'contrastive' ? 'Contrastive' : 'Plain'}</span> ${text.replace(/^\w+: /, '')}</div>`;
  }

  /** The current view for export, or undefined when nothing is explained yet. */
  exportView(model: string): ExportedView | undefined {
    if (!this.scores || !this.tokenized || this.output === undefined) return undefined;
    return exportedView(this.shown(), {
      model, settings: this.settings, source: this.example?.source, prompt: this.prompt, output: this.output,
      selectionText: this.selectedText()});
  }
}
customElements.define('seqsal-salience-pane', SaliencePane);
