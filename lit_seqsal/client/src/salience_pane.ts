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
 */

import {LitElement, css, html, nothing} from 'lit';
import type {PropertyValues} from 'lit';

import type {ExampleData} from './api.js';
import {ChipSelection} from './chip_selection.js';
import {legend, textColorFor} from './colors.js';
import {legendText, parseAlternatives, viewKind} from './contrastive.js';
import type {Alternative} from './contrastive.js';
import {formatScore} from './export.js';
import type {ExportedView} from './export.js';
import './foil_bar.js';  // defines <seqsal-foil-bar>
import {formatProgress, progressFraction} from './jobs.js';
import {methodNamed} from './methods.js';
import type {MethodInfo} from './methods.js';
import {
  NO_SELECTION, chipStyle, chips, clampSelection, exportedView, paneSegments, paneView, requestedIndex,
  selectedRange, selectedText, selectionCovering,
} from './pane_view.js';
import type {PaneSegments, PaneView, Selection} from './pane_view.js';
import {rangeKey} from './ranges.js';
import type {PromptInput, SalienceSource, Scores, Tokenized} from './salience_data.js';
import {loadScores, planScores} from './score_loader.js';
import type {ScoreQuery} from './score_loader.js';
import type {TokenRange} from './segments.js';
import type {OutputMode, SelectionRequest, ViewSettings} from './settings.js';
import {templateTokens, turnLabel} from './turns.js';
import {WorkController} from './work_controller.js';

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

  output?: string;
  tokenized?: Tokenized;
  anchor = -1;
  focusIndex = -1;
  scores?: Scores;
  /** The model's alternatives at the selection's first token; undefined until known. */
  alternatives?: Alternative[];

  /** The pane's async work, one at a time: its status line, error, progress, Cancel and Restart. */
  private readonly work = new WorkController(this);
  private segments: PaneSegments = {prompt: [], output: []};
  /** Tokens of the chat template (no score, not in the scale). */
  private template: boolean[] = [];
  /** The explained range the alternatives are for (ranges.rangeKey). */
  private alternativesFor = '';
  /** Mouse and keyboard selection of the output chips. */
  private readonly chipSelection = new ChipSelection(this);

  static styles = css`
    :host { display: block; font-size: 14px; }
    .status { color: #555; font-size: 12px; min-height: 18px; }
    .error { color: #b00020; background: #fdecee; padding: 6px 8px; border-radius: 4px; margin: 4px 0; white-space: pre-wrap; }
    .progress { display: flex; align-items: center; gap: 8px; margin: 2px 0 6px; font-size: 12px; color: #333; }
    .progress progress { flex: 0 1 240px; height: 10px; }
    .progress .progress-text { font-variant-numeric: tabular-nums; }
    .notice { color: #333; background: #f1f3f4; padding: 6px 8px; border-radius: 4px; margin: 4px 0; }
    .hint { color: #555; font-style: italic; margin: 6px 0; }
    .text { white-space: pre-wrap; border: 1px solid #ddd; border-radius: 6px; padding: 10px; outline: none;
            word-break: break-word; }
    .text:focus-visible { border-color: #1a73e8; }
    .text.tight { line-height: 1.35; }
    .text.loose { line-height: 2.1; }
    .seg { border-radius: 3px; }
    .text.spacious .seg { padding: 1px 1px; }
    .seg.out { cursor: pointer; font-style: italic; }
    .seg.out:hover { outline: 1px dashed #888; }
    .seg.after { color: #888; }
    .seg.selected { outline: 2px solid #d6004c; outline-offset: 1px; }
    .text.underline .seg { border-bottom: 3px solid transparent; }
    .legend { display: flex; gap: 0; align-items: center; margin: 6px 0; font-size: 12px; }
    .legend .swatch { padding: 1px 8px; border: 1px solid #ccc; min-width: 40px; text-align: center; }
    .legend .caption { margin-right: 8px; color: #444; }
    .legend .end { margin: 0 6px; color: #444; font-style: italic; }
    .legend-text { font-size: 12px; color: #333; margin: -2px 0 6px; }
    .seg.template { color: #9e9e9e; background: #f3f3f3; }
    .view-kind { font-size: 12px; margin: 4px 0; color: #333; }
    .view-kind .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; background: #eceff1;
                        color: #263238; font-weight: 600; }
    .view-kind.contrastive .badge { background: #3c1361; color: #fff; }
    .text.contrastive { border: 2px solid #7a4fa3; border-left: 6px solid #c05a00; }
    button { font: inherit; }
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

  /** The prompt as the models get it: with the example's other input fields, where it has any. */
  private get promptInput(): PromptInput {
    const data = this.example;
    const extra = this.inputFields.filter((f) => data && data[f] !== undefined && data[f] !== null && data[f] !== '');
    return extra.length ? {prompt: this.prompt, ...Object.fromEntries(extra.map((f) => [f, data![f]]))} : this.prompt;
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
      this.updateScores();  // cached for the gradient methods; asks for a costly or contrastive one
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
    this.work.reset();
    if (!this.example || !this.source) return;
    if (this.mode === 'target' && this.example.target) {
      this.setOutput(this.example.target);
    } else if (this.mode === 'generation' && this.source.hasGeneration(this.promptInput)) {
      this.generate();
    } else {
      this.setOutput(undefined);  // the prompt alone, until there is an output
    }
  }

  /** Asks the model for its continuation (a loading state, or progress and Cancel, meanwhile). */
  generate() {
    const source = this.source;
    if (!source || !this.example) return;
    this.work.run((handlers) => source.generate(this.promptInput, handlers), {
      status: 'Generating…', progress: source.usesJobs,
      cancelled: {notice: 'Generation cancelled.', restart: () => this.generate()},
      done: (text) => text ? this.setOutput(text) : this.work.fail('The model generated nothing for this prompt.'),
    });
  }

  private setOutput(text: string | undefined) {
    this.output = text;
    this.work.run(() => this.source!.tokenize(this.promptInput, text ?? ''), {
      status: 'Tokenizing…', done: (tokenized) => this.tokenized = tokenized});
  }

  private resegment() {
    const t = this.tokenized;
    const previous = this.selectedRange();
    if (!t) {
      this.segments = {prompt: [], output: []};
      return;
    }
    this.segments = paneSegments(t, this.settings.granularity, this.settings.pattern);
    if (previous) {
      this.selection = selectionCovering(this.segments.output, previous);
      this.updateScores();
    } else if (this.requestedSelection) {
      this.applyRequestedSelection();
    }
  }

  private applyRequestedSelection() {
    const index = this.requestedSelection ? requestedIndex(this.segments.output, this.requestedSelection) : -1;
    if (index >= 0) this.select(index, index, false);
  }

  /** Token range of the selected output segments, or undefined. */
  selectedRange(): TokenRange | undefined {
    return selectedRange(this.segments.output, this.selection);
  }

  select(anchor: number, focus: number, announce = true) {
    const n = this.segments.output.length;
    if (!n) return;
    this.selection = clampSelection(anchor, focus, n);
    if (!this.chipSelection.dragging) this.updateScores();
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
  private updateScores() {
    const source = this.source;
    const query = this.scoreQuery();
    if (!source || !query) return;
    const plan = planScores(source, query);
    const costly = plan.kind === 'costly' || plan.kind === 'unavailable';
    if (costly) {
      this.scores = undefined;
      // Ahead of the costly method's long request (they come with the gradient scores).
      this.loadAlternatives(plan.wanted);
    }
    if (plan.kind === 'unavailable') {
      this.work.stop();
      this.work.fail(plan.error);
      return;
    }
    this.work.run((handlers) => loadScores(source, query, plan, handlers), {
      status: plan.status, progress: costly && source.usesJobs,
      cancelled: plan.kind === 'costly' ? {
        notice: `Cancelled: ${plan.method.replace(/_/g, ' ')} for this selection. Press Restart, pick the method ` +
                'again or click the selection to start over.',
        restart: () => this.updateScores(),
      } : undefined,
      done: (scores) => this.scores = scores,
      failed: () => this.scores = undefined,
    });
    // They come with the gradient or contrastive scores just asked for, unless known already.
    if (!costly) this.loadAlternatives(plan.wanted);
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
                    {template: this.template, signed});
  }

  protected override render() {
    if (!this.example) return html`<div class="hint">Pick an example to explain.</div>`;
    const s = this.settings;
    const view = this.shown();
    const hasScores = !!this.scores;
    const {prompt, output} = chips(view, hasScores, s.intensity);
    const turns = s.granularity === 'turns' ? this.tokenized?.turns : undefined;
    const title = (c: {scored: boolean, value: number, template: boolean}, seg: TokenRange) => {
      const turn = turns ? turnLabel(seg, turns) : '';
      if (c.template) return 'chat template (not scored)';
      if (c.scored) return `${s.method}: ${c.value}${turn ? ` · ${turn}` : ''}`;
      return turn || nothing;
    };
    const promptChips = prompt.map((c, i) => html`<span class="seg${c.template ? ' template' : ''}" data-role="prompt"
        data-i=${i} style=${c.template ? nothing : chipStyle(c.color, s.mark)}
        title=${title(c, view.prompt[i])}>${c.text}</span>`);
    const outputChips = output.map((c, i) => {
      const cls = `seg out${c.selected ? ' selected' : ''}${c.after ? ' after' : ''}${c.template ? ' template' : ''}`;
      return html`<span class=${cls} data-role="output" data-i=${i}
          style=${c.template ? nothing : chipStyle(c.color, s.mark)} title=${title(c, view.output[i])}>${c.text}</span>`;
    });
    const contrastiveView = !!s.foil && view.lo >= 0;
    const textClass = `text ${s.density} ${s.spacing} ${s.mark}${contrastiveView ? ' contrastive' : ''}`;
    return html`
      ${this.label ? html`<div class="label"><b>${this.label}</b></div>` : nothing}
      <div class="status" role="status">${this.status}</div>
      ${this.work.working ? this.renderProgress() : nothing}
      ${this.notice ? html`<div class="notice" role="status">${this.notice}
        <button class="restart" data-testid="restart" @click=${() => this.work.restart()}>Restart</button></div>` : nothing}
      ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
      ${this.renderOutputPrompt()}
      ${this.contrastive ? html`<seqsal-foil-bar ?hidden=${!this.tokenized || this.output === undefined} .foil=${s.foil}
          .alternatives=${this.alternatives} .selected=${view.lo >= 0}></seqsal-foil-bar>` : nothing}
      ${this.tokenized ? html`
        ${hasScores ? this.renderViewKind() : nothing}
        ${hasScores ? this.renderLegend(view) : this.output === undefined || this.status || this.notice ? nothing : html`<div class="hint">Click part of the output (in italics) to see which parts of the prompt drove it. Shift-click or drag to extend; arrow keys move, Shift+arrows extend.</div>`}
        <div class=${textClass} tabindex="0" aria-label="Prompt and output"
            @mousedown=${this.chipSelection.onMouseDown} @mouseover=${this.chipSelection.onMouseOver}
            @keydown=${this.chipSelection.onKeyDown}>${promptChips}${outputChips}</div>` : nothing}
    `;
  }

  /** The job's progress bar (indeterminate until the server knows), its text and Cancel. */
  private renderProgress() {
    const fraction = progressFraction(this.work.progress);
    return html`<div class="progress" data-testid="progress">
      <progress max="1" value=${fraction ?? nothing} aria-label=${this.status || 'Progress'}></progress>
      <span class="progress-text">${formatProgress(this.work.progress)}</span>
      <button class="cancel" data-testid="cancel" @click=${() => this.work.cancel()}>Cancel</button>
    </div>`;
  }

  private renderOutputPrompt() {
    if (this.status || this.output !== undefined) return nothing;
    if (this.mode === 'target' && !this.example?.target) {
      return html`<div class="hint">This example has no target. Explain the model's generation instead, or add a target in the editor.</div>`;
    }
    if (this.mode === 'generation' && this.output === undefined) {
      return html`<button class="generate" @click=${() => this.generate()}>Generate</button>
        <span class="hint">The model continues the prompt; then click part of its output.</span>`;
    }
    return nothing;
  }

  private renderLegend(view: PaneView) {
    const stops = legend(view.max, view.signed, this.settings.intensity);
    const words = legendText(this.settings.method, view.signed, this.selectedText(), this.settings.foil);
    return html`<div class="legend" aria-label="Colour legend" title=${words.explanation}>
      <span class="caption">${words.caption}</span>
      ${words.negative ? html`<span class="end negative">${words.negative}</span>` : nothing}
      ${stops.map((l) => html`<span class="swatch" style="background:${l.color};color:${textColorFor(l.color)}">${formatScore(l.value)}</span>`)}
      ${words.positive ? html`<span class="end positive">${words.positive}</span>` : nothing}
    </div>
    ${this.settings.foil ? html`<div class="legend-text" data-testid="legend-text">${words.explanation}</div>` : nothing}`;
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
