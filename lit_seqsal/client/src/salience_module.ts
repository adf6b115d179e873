/**
 * The LM Salience module: what to explain, how to segment and colour it, one
 * example or two side by side (on one colour scale by default), export of
 * the current view, and "How to read this". Its controls stay at the top of
 * the scrolling area (sticky); each pane's status, progress and legend stay
 * under them (salience_pane.ts).
 */

import {LitElement, css, html, nothing} from 'lit';
import type {PropertyValues} from 'lit';

import type {LitApi} from './api.js';
import type {Example, ExampleData} from './api.js';
import {textColorFor} from './colors.js';
import {applyFoil} from './contrastive.js';
import {viewToHtml, viewToJson} from './export.js';
import {FALLBACK_DEFAULT_METHOD, defaultMethodFor, menuLabel, methodNamed} from './methods.js';
import type {MethodInfo} from './methods.js';
import {SalienceSource} from './salience_data.js';
import type {SourceOptions} from './salience_data.js';
import './salience_pane.js';  // defines <seqsal-salience-pane>
import type {SaliencePane} from './salience_pane.js';
import type {LengthLimits} from './pane_view.js';
import {GRANULARITIES, parsePattern} from './segments.js';
import type {Granularity} from './segments.js';
import {DEFAULT_SETTINGS} from './settings.js';
import type {OutputMode, SelectionRequest, ViewSettings} from './settings.js';

const GRANULARITY_LABELS: Record<Granularity, string> = {
  tokens: 'Tokens', words: 'Words', sentences: 'Sentences', lines: 'Lines',
  paragraphs: 'Paragraphs', turns: 'Turns', custom: 'Custom regex',
};

function download(filename: string, type: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export class SalienceModule extends LitElement {
  static properties = {
    api: {attribute: false},
    group: {},
    methods: {attribute: false},
    defaultMethod: {},
    defaultByGranularity: {attribute: false},
    contrastive: {attribute: false},
    edits: {attribute: false},
    inputFields: {attribute: false},
    sourceOptions: {attribute: false},
    example: {attribute: false},
    examples: {attribute: false},
    settings: {state: true},
    mode: {state: true},
    patternText: {state: true},
    patternError: {state: true},
    compare: {state: true},
    compareId: {state: true},
    mirror: {state: true},
    exportError: {state: true},
    hasTurns: {state: true},
    methodNotice: {state: true},
    lengthLimits: {attribute: false},
    names: {attribute: false},
    sharedScale: {state: true},
    scales: {state: true},
  };

  api!: LitApi;
  group = '';
  /** The group's methods as the server describes them (methods.groupMethods). */
  methods: MethodInfo[] = [];
  /** The method shown until the user picks one. */
  defaultMethod = FALLBACK_DEFAULT_METHOD;
  /** The method shown first at each granularity, where the server says (else defaultMethod). */
  defaultByGranularity: Record<string, string> = {};
  /** Whether the generation model takes `edits` (api.supportsEdits): "drop it and regenerate" is offered. */
  edits = false;
  /** Whether the server explains against a foil (api.supportsFoil): "instead of" is offered. */
  contrastive = false;
  /** Example fields the models take besides prompt and target (api.exampleInputFields). */
  inputFields: string[] = [];
  /** How the server is asked: jobs (progress, cancel) and masks per request. */
  sourceOptions: Partial<SourceOptions> = {};
  example?: Example;
  examples: Example[] = [];

  settings: ViewSettings = {...DEFAULT_SETTINGS};
  mode: OutputMode = 'target';
  patternText = '\\n';
  patternError = '';
  compare = false;
  compareId = '';
  mirror?: SelectionRequest;
  exportError = '';
  /** The leading pane's model wrapped its prompt in a chat template (token_turns): Turns is offered. */
  hasTurns = false;
  /** Says why the method changed (a foil needs a signed method). */
  methodNotice = '';
  /** How long an input the server takes (pane_view.lengthAdvice). */
  lengthLimits?: LengthLimits;
  /** Distinct names of the examples (examples.exampleNames), for the compare menu and the panes' labels. */
  names = new Map<string, string>();
  /** Compare mode: both panes on one colour scale (the larger of the two). */
  sharedScale = true;
  /** Each pane's own scale (its largest |value|), as it last told. */
  scales: number[] = [];
  private controlsObserver?: ResizeObserver;
  /** The method a foil switched away from, to return to when it is cleared. */
  private switchedFrom?: string;
  /** Whether the user picked a method (else the default is shown). */
  private methodPicked = false;
  /** The foil the current example came with (its `foil` field), while it is the one set. */
  private exampleFoil = '';

  private readonly sources = new Map<string, SalienceSource>();

  static styles = css`
    :host { display: block; font-family: system-ui, sans-serif; font-size: 13px; }
    .top { position: sticky; top: 0; z-index: 3; background: #fff; border-bottom: 1px solid #e0e0e0;
           margin-bottom: 8px; }
    .controls { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; padding: 6px 0; }
    .controls label { display: inline-flex; gap: 4px; align-items: center; max-width: 100%; min-width: 0; }
    .controls select { max-width: 100%; min-width: 0; }
    .group { display: inline-flex; flex-wrap: wrap; gap: 6px; align-items: center; max-width: 100%; min-width: 0; }
    .pattern-error { color: #b00020; font-size: 12px; }
    .method-help { margin: 0 0 4px; color: #37474f; font-size: 12px; }
    .method-help b { font-weight: 600; }
    .panes { display: grid; grid-template-columns: minmax(0, 1fr); gap: 12px; }
    .panes.compare { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); }
    input[type=range] { width: 90px; }
    .export-error { color: #b00020; }
    .method-notice { color: #3c1361; background: #f3ecfa; padding: 2px 6px; border-radius: 4px; font-size: 12px; }
    details.how-to { font-size: 12px; color: #333; margin: 0 0 6px; }
    details.how-to summary { cursor: pointer; color: #0b57d0; width: fit-content; }
    details.how-to ul { margin: 4px 0; padding-left: 18px; max-width: 80ch; }
    details.how-to li { margin: 2px 0; }
    button { font: inherit; }
    :focus-visible { outline: 2px solid #1a73e8; outline-offset: 1px; }
    @media (max-width: 800px) {
      .top { position: static; }
      .controls label { flex-wrap: wrap; }
      .panes.compare { grid-template-columns: minmax(0, 1fr); }
    }
  `;

  override connectedCallback() {
    super.connectedCallback();
    // The panes' sticky heads go right under the controls, whatever their height.
    this.controlsObserver = new ResizeObserver((entries) => {
      const height = entries[0]?.target.getBoundingClientRect().height ?? 0;
      this.style.setProperty('--seqsal-controls-height', `${Math.ceil(height)}px`);
    });
    this.updateComplete.then(() => {
      const top = this.renderRoot.querySelector('.top');
      if (top) this.controlsObserver?.observe(top);
    });
  }

  override disconnectedCallback() {
    super.disconnectedCallback();
    this.controlsObserver?.disconnect();
  }

  /** Generates the leading pane's output now (Ctrl+Enter in the editor). */
  async generateNow() {
    this.mode = 'generation';
    await this.updateComplete;
    const pane = this.panes()[0];
    await pane?.updateComplete;
    pane?.generate();
  }

  /** The scale both panes share in compare mode (undefined: each its own). */
  private get sharedMax(): number | undefined {
    if (!this.compare || !this.sharedScale) return undefined;
    const known = this.scales.filter((x) => x > 0);
    return known.length ? Math.max(...known) : undefined;
  }

  private get source(): SalienceSource | undefined {
    if (!this.group || !this.api) return undefined;
    if (!this.sources.has(this.group)) {
      this.sources.set(this.group, new SalienceSource(this.api, this.group, this.sourceOptions));
    }
    return this.sources.get(this.group);
  }

  protected override willUpdate(changed: PropertyValues<this>) {
    if (changed.has('sourceOptions') || changed.has('api')) this.sources.clear();
    if (changed.has('methods') || changed.has('defaultMethod') || changed.has('defaultByGranularity')) {
      this.offerMethods(changed.get('methods'));
    }
    if (changed.has('example') && this.example && !this.example.data.target) {
      // Nothing to explain but the model's own output.
      this.mode = 'generation';
    }
    if (changed.has('example') && this.contrastive) this.applyExampleFoil();
    if (changed.has('example') || changed.has('examples')) {
      if (!this.examples.some((e) => e.id === this.compareId && e.id !== this.example?.id)) {
        this.compareId = this.examples.find((e) => e.id !== this.example?.id)?.id ?? '';
      }
    }
  }

  /**
   * The first list of methods, or another group's: the current method stays
   * while offered once the user (or a foil) chose it, and on a re-render with
   * the same list; otherwise the default is shown.
   */
  private offerMethods(old: MethodInfo[] | undefined) {
    const names = this.methods.map((m) => m.name);
    if (!names.length) return;
    const same = old !== undefined && old.map((m) => m.name).join() === names.join();
    const chosen = same || this.methodPicked || this.switchedFrom !== undefined;
    if (chosen && names.includes(this.settings.method)) return;
    const wanted = this.defaultAt(this.settings.granularity);
    const method = names.includes(wanted) ? wanted : names[0];
    if (method !== this.settings.method) this.settings = {...this.settings, method};
  }

  /** The method shown first at a granularity (the server's choice there; else the default). */
  private defaultAt(granularity: Granularity): string {
    return defaultMethodFor({defaultMethod: this.defaultMethod, defaultByGranularity: this.defaultByGranularity},
                            granularity);
  }

  private set(changes: Partial<ViewSettings>) {
    this.settings = {...this.settings, ...changes};
  }

  /** The user picked a method: theirs from now on, even with a foil. */
  private onMethod(method: string) {
    this.switchedFrom = undefined;
    this.methodPicked = true;
    this.methodNotice = '';
    this.set({method});
  }

  /** A pane set (or, with '', cleared) the foil: shared by both panes, with a signed method. */
  private onFoil(foil: string) {
    const next = applyFoil({method: this.settings.method, foil: this.settings.foil, switchedFrom: this.switchedFrom},
                           foil, this.methods);
    this.switchedFrom = next.switchedFrom;
    this.methodNotice = next.notice || (next.foil ? this.methodNotice : '');
    this.set({method: next.method, foil: next.foil});
  }

  /**
   * An example may come with a foil (a dataset's `foil` field): it is set when
   * the example is picked, and cleared when the next example has none (unless
   * the user set another meanwhile).
   */
  private applyExampleFoil() {
    const foil = this.example?.data['foil'];
    if (typeof foil === 'string' && foil.trim()) {
      this.onFoil(foil);
      this.exampleFoil = this.settings.foil;
    } else if (this.exampleFoil) {
      if (this.settings.foil === this.exampleFoil) this.onFoil('');
      this.exampleFoil = '';
    }
  }

  /** The leading pane's tokens have turns or not: Turns is offered only where they do. */
  private onTurns(e: CustomEvent<boolean>) {
    if (e.target !== this.panes()[0]) return;
    this.hasTurns = e.detail;
    if (!e.detail && this.settings.granularity === 'turns') this.set({granularity: 'paragraphs'});
  }

  private onGranularity(value: Granularity) {
    if (value === 'custom') {
      this.onPattern(this.patternText, 'custom');
    } else {
      this.set({granularity: value});
    }
    // Until the user (or a foil) picks a method, each granularity shows its own default.
    const method = this.defaultAt(value);
    if (!this.methodPicked && this.switchedFrom === undefined && method !== this.settings.method &&
        this.methods.some((m) => m.name === method)) {
      this.set({method});
    }
  }

  private onPattern(text: string, granularity: Granularity = this.settings.granularity) {
    this.patternText = text;
    const {pattern, error} = parsePattern(text);
    this.patternError = error ?? '';
    // An invalid pattern keeps the last valid segmentation on screen.
    this.set(pattern ? {granularity, pattern} : {granularity});
  }

  private panes(): SaliencePane[] {
    return [...this.renderRoot.querySelectorAll('seqsal-salience-pane')] as SaliencePane[];
  }

  private exportAs(kind: 'json' | 'html') {
    const view = this.panes()[0]?.exportView(this.group);
    if (!view) {
      this.exportError = 'Nothing to export yet: select part of the output first, then export what it shows.';
      return;
    }
    this.exportError = '';
    const suffix = view.view === 'contrastive' ? '-contrastive' : '';
    const name = `salience-${(view.source || 'example').replace(/[^\w-]+/g, '_')}-${view.method}-${view.granularity}${suffix}`;
    if (kind === 'json') download(`${name}.json`, 'application/json', viewToJson(view));
    else download(`${name}.html`, 'text/html', viewToHtml(view, textColorFor));
  }

  /** A name for an example: its distinct name where known. */
  private nameOf(example: Example | undefined, fallback: string): string {
    if (!example) return fallback;
    return this.names.get(example.id) ?? (example.data.source || example.data.prompt.slice(0, 40));
  }

  /** What the method shown is and what it costs, from the server's registry. */
  private renderMethodHelp() {
    const m = methodNamed(this.methods, this.settings.method);
    if (!m?.description) return nothing;
    return html`<p class="method-help" id="method-help" data-testid="method-help"><b>${m.label}:</b> ${m.description}</p>`;
  }

  /** "How to read this": what is coloured, what each method answers, why they differ. */
  private renderHowTo() {
    const m = methodNamed(this.methods, this.settings.method);
    return html`<details class="how-to" data-testid="how-to-read">
      <summary>How to read this</summary>
      <ul>
        <li>Select part of the output (in italics) by clicking it, dragging over it or with the arrow keys in the
          text. The prompt, and the output before the selection, are then coloured by how much each part mattered to
          the selected part: the legend above the text says what dark, light and each colour mean.</li>
        ${m ? html`<li><b>${m.label}</b>${m.description ? html`: ${m.description}` : nothing}${
            m.measures ? html` It measures the ${m.measures}.` : nothing}${m.cost ? html` Cost: ${m.cost}.` : nothing}</li>` :
          nothing}
        <li>The methods answer different questions. Gradient methods say how sensitive the selected output is to each
          part (fast, one pass, but local); integrated gradients and occlusion say how much it changes when a part is
          faded out or deleted (slower, closer to what the model does). Where they agree, trust it more; where they
          point at different parts, check with occlusion.</li>
        <li>Output after the selection is greyed: the model had not written it yet. Grey boxes in a conversation are
          the chat template's own markers, not scored.</li>
        ${this.contrastive ? html`<li>"instead of" asks why this output rather than another text (a contrastive
          view): orange parts pushed toward the output, purple ones toward the other text.</li>` : nothing}
        <li>Compare shows a second example with the same part of the output selected, on one colour scale by
          default, so that the same shade means the same value in both.</li>
      </ul>
    </details>`;
  }

  protected override render() {
    const s = this.settings;
    const other = this.examples.find((e) => e.id === this.compareId);
    const shared = this.sharedMax;
    const pane = (example: Example | undefined, label: string, mirror?: SelectionRequest) => html`
      <seqsal-salience-pane .source=${this.source} .methods=${this.methods} .contrastive=${this.contrastive}
          .inputFields=${this.inputFields} .lengthLimits=${this.lengthLimits} .edits=${this.edits}
          .example=${example?.data} .mode=${this.mode} .scaleMax=${shared}
          .settings=${s} .requestedSelection=${mirror} label=${label}></seqsal-salience-pane>`;
    const select = (id: string, label: string, value: string, onChange: (v: string) => void,
                    options: Array<[string, string]>) => html`
      <label>${label}
        <select data-testid=${id} @change=${(e: Event) => onChange((e.target as HTMLSelectElement).value)}>
          ${options.map(([v, text]) => html`<option value=${v} ?selected=${v === value}>${text}</option>`)}
        </select></label>`;
    return html`
      <div class="top">
      <div class="controls" role="group" aria-label="What to explain and how to show it">
        <label>Explain
          <select data-testid="mode" .value=${this.mode}
              @change=${(e: Event) => this.mode = (e.target as HTMLSelectElement).value as OutputMode}>
            <option value="target" ?selected=${this.mode === 'target'}>the example's target</option>
            <option value="generation" ?selected=${this.mode === 'generation'}>the model's generation</option>
          </select></label>
        <label>Granularity
          <select data-testid="granularity" .value=${s.granularity}
              @change=${(e: Event) => this.onGranularity((e.target as HTMLSelectElement).value as Granularity)}>
            ${GRANULARITIES.filter((g) => g !== 'turns' || this.hasTurns || s.granularity === 'turns').map((g) =>
                html`<option value=${g} ?selected=${g === s.granularity}>${GRANULARITY_LABELS[g]}</option>`)}
          </select></label>
        ${s.granularity === 'custom' ? html`
          <label>Pattern <input data-testid="pattern" .value=${this.patternText} size="12"
              @input=${(e: Event) => this.onPattern((e.target as HTMLInputElement).value)}></label>
          ${this.patternError ? html`<span class="pattern-error" role="alert">${this.patternError}</span>` : nothing}` : nothing}
        <label>Method
          <select data-testid="method" .value=${s.method} aria-describedby="method-help"
              @change=${(e: Event) => this.onMethod((e.target as HTMLSelectElement).value)}>
            ${this.methods.map((m) => html`<option value=${m.name} title=${m.description || nothing}
                ?selected=${m.name === s.method}>${menuLabel(m)}</option>`)}
          </select></label>
        ${this.methodNotice ? html`<span class="method-notice" data-testid="method-notice" role="status">${this.methodNotice}</span>` : nothing}
        <span class="group">
          <label>Intensity
            <input type="range" data-testid="intensity" min="0" max="1" step="0.05" .value=${String(s.intensity)}
                @input=${(e: Event) => this.set({intensity: Number((e.target as HTMLInputElement).value)})}></label>
          <button data-testid="intensity-reset" title="Reset intensity" aria-label="Reset intensity"
              @click=${() => this.set({intensity: DEFAULT_SETTINGS.intensity})}>Reset</button></span>
        ${select('density', 'Chips', s.density, (v) => this.set({density: v as ViewSettings['density']}),
                 [['spacious', 'Spacious'], ['dense', 'Dense']])}
        ${select('spacing', 'Lines', s.spacing, (v) => this.set({spacing: v as ViewSettings['spacing']}),
                 [['loose', 'Loose'], ['tight', 'Tight']])}
        ${select('mark', 'Colour as', s.mark, (v) => this.set({mark: v as ViewSettings['mark']}),
                 [['highlight', 'Highlight'], ['underline', 'Underline']])}
        <label><input type="checkbox" data-testid="in-selection" .checked=${s.showInSelection}
            @change=${(e: Event) => this.set({showInSelection: (e.target as HTMLInputElement).checked})}>
          Salience within the selection</label>
        <span class="group">
          <label><input type="checkbox" data-testid="compare" .checked=${this.compare}
              @change=${(e: Event) => this.compare = (e.target as HTMLInputElement).checked}> Compare with</label>
          ${this.compare ? html`<select data-testid="compare-example" aria-label="Example to compare with"
              @change=${(e: Event) => this.compareId = (e.target as HTMLSelectElement).value}>
              ${this.examples.filter((e) => e.id !== this.example?.id).map((e) => html`
                <option value=${e.id} ?selected=${e.id === this.compareId}>${this.nameOf(e, '')}</option>`)}
            </select>
            <label title="Both panes use the larger of their two scales: the same shade means the same value">
              <input type="checkbox" data-testid="shared-scale" .checked=${this.sharedScale}
                  @change=${(e: Event) => this.sharedScale = (e.target as HTMLInputElement).checked}> One colour scale
            </label>` : nothing}
        </span>
        <span class="group">
          <button data-testid="export-json" @click=${() => this.exportAs('json')}>Export JSON</button>
          <button data-testid="export-html" @click=${() => this.exportAs('html')}>Export HTML</button>
        </span>
        ${this.exportError ? html`<span class="export-error" role="alert" data-testid="export-error">${this.exportError}</span>` : nothing}
      </div>
      ${this.renderMethodHelp()}
      ${this.renderHowTo()}
      </div>
      <div class="panes ${this.compare ? 'compare' : ''}"
          @selection-change=${(e: CustomEvent<SelectionRequest>) => {
            // The first pane leads: the compared example selects the same output line.
            if (e.target === this.panes()[0]) this.mirror = e.detail;
            this.exportError = '';
          }}
          @foil-change=${(e: CustomEvent<string>) => this.onFoil(e.detail)}
          @open-edited-example=${(e: CustomEvent<ExampleData>) => this.onOpenEdited(e)}
          @turns-change=${(e: CustomEvent<boolean>) => this.onTurns(e)}
          @scale-change=${(e: CustomEvent<number>) => this.onScale(e)}>
        ${pane(this.example, this.compare ? this.nameOf(this.example, 'Selected example') : '')}
        ${this.compare ? pane(other, this.nameOf(other, 'Compared example'), this.mirror) : nothing}
      </div>
    `;
  }

  /**
   * A pane's "drop it and regenerate" opened its edited prompt as a new
   * example: the app adds it (edited from that pane's example) and selects it.
   */
  private onOpenEdited(e: CustomEvent<ExampleData>) {
    const index = this.panes().indexOf(e.target as SaliencePane);
    const from = index === 0 ? this.example : this.examples.find((x) => x.id === this.compareId);
    if (!from) return;
    this.dispatchEvent(new CustomEvent('open-edited', {detail: {from, data: e.detail}, bubbles: true, composed: true}));
  }

  /** A pane's own scale changed: the shared one follows. */
  private onScale(e: CustomEvent<number>) {
    const index = this.panes().indexOf(e.target as SaliencePane);
    if (index < 0) return;
    const scales = [...this.scales];
    scales[index] = e.detail;
    this.scales = scales;
  }
}
customElements.define('seqsal-salience-module', SalienceModule);
