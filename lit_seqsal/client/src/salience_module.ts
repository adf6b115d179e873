/**
 * The LM Salience module: what to explain, how to segment and colour it, one
 * example or two side by side, and export of the current view.
 */

import {LitElement, css, html, nothing} from 'lit';
import type {PropertyValues} from 'lit';

import type {LitApi} from './api.js';
import type {Example} from './api.js';
import {textColorFor} from './colors.js';
import {applyFoil} from './contrastive.js';
import {viewToHtml, viewToJson} from './export.js';
import {FALLBACK_DEFAULT_METHOD, menuLabel} from './methods.js';
import type {MethodInfo} from './methods.js';
import {SalienceSource} from './salience_data.js';
import type {SourceOptions} from './salience_data.js';
import './salience_pane.js';  // defines <seqsal-salience-pane>
import type {SaliencePane} from './salience_pane.js';
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
    contrastive: {attribute: false},
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
  };

  api!: LitApi;
  group = '';
  /** The group's methods as the server describes them (methods.groupMethods). */
  methods: MethodInfo[] = [];
  /** The method shown until the user picks one. */
  defaultMethod = FALLBACK_DEFAULT_METHOD;
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
  /** The method a foil switched away from, to return to when it is cleared. */
  private switchedFrom?: string;
  /** Whether the user picked a method (else the default is shown). */
  private methodPicked = false;
  /** The foil the current example came with (its `foil` field), while it is the one set. */
  private exampleFoil = '';

  private readonly sources = new Map<string, SalienceSource>();

  static styles = css`
    :host { display: block; font-family: system-ui, sans-serif; font-size: 13px; }
    .controls { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; padding: 6px 0;
                border-bottom: 1px solid #e0e0e0; margin-bottom: 8px; }
    .controls label { display: inline-flex; gap: 4px; align-items: center; }
    .pattern-error { color: #b00020; font-size: 12px; }
    .panes { display: grid; grid-template-columns: 1fr; gap: 12px; }
    .panes.compare { grid-template-columns: 1fr 1fr; }
    input[type=range] { width: 90px; }
    .export-error { color: #b00020; }
    .method-notice { color: #3c1361; background: #f3ecfa; padding: 2px 6px; border-radius: 4px; font-size: 12px; }
  `;

  private get source(): SalienceSource | undefined {
    if (!this.group || !this.api) return undefined;
    if (!this.sources.has(this.group)) {
      this.sources.set(this.group, new SalienceSource(this.api, this.group, this.sourceOptions));
    }
    return this.sources.get(this.group);
  }

  protected override willUpdate(changed: PropertyValues<this>) {
    if (changed.has('sourceOptions') || changed.has('api')) this.sources.clear();
    if (changed.has('methods') || changed.has('defaultMethod')) this.offerMethods(changed.get('methods'));
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
    const method = names.includes(this.defaultMethod) ? this.defaultMethod : names[0];
    if (method !== this.settings.method) this.settings = {...this.settings, method};
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
      this.exportError = 'Select part of the output first: there is nothing to export yet.';
      return;
    }
    this.exportError = '';
    const suffix = view.view === 'contrastive' ? '-contrastive' : '';
    const name = `salience-${(view.source || 'example').replace(/[^\w-]+/g, '_')}-${view.method}-${view.granularity}${suffix}`;
    if (kind === 'json') download(`${name}.json`, 'application/json', viewToJson(view));
    else download(`${name}.html`, 'text/html', viewToHtml(view, textColorFor));
  }

  protected override render() {
    const s = this.settings;
    const other = this.examples.find((e) => e.id === this.compareId);
    const pane = (example: Example | undefined, label: string, mirror?: SelectionRequest) => html`
      <seqsal-salience-pane .source=${this.source} .methods=${this.methods} .contrastive=${this.contrastive}
          .inputFields=${this.inputFields}
          .example=${example?.data} .mode=${this.mode}
          .settings=${s} .requestedSelection=${mirror} label=${label}></seqsal-salience-pane>`;
    return html`
      <div class="controls">
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
          <select data-testid="method" .value=${s.method}
              @change=${(e: Event) => this.onMethod((e.target as HTMLSelectElement).value)}>
            ${this.methods.map((m) => html`<option value=${m.name} title=${m.description || nothing}
                ?selected=${m.name === s.method}>${menuLabel(m)}</option>`)}
          </select></label>
        ${this.methodNotice ? html`<span class="method-notice" data-testid="method-notice" role="status">${this.methodNotice}</span>` : nothing}
        <label>Intensity
          <input type="range" data-testid="intensity" min="0" max="1" step="0.05" .value=${String(s.intensity)}
              @input=${(e: Event) => this.set({intensity: Number((e.target as HTMLInputElement).value)})}>
          <button data-testid="intensity-reset" title="Reset intensity"
              @click=${() => this.set({intensity: DEFAULT_SETTINGS.intensity})}>Reset</button></label>
        <label><select data-testid="density" @change=${(e: Event) => this.set({density: (e.target as HTMLSelectElement).value as ViewSettings['density']})}>
            <option value="spacious" ?selected=${s.density === 'spacious'}>Spacious</option>
            <option value="dense" ?selected=${s.density === 'dense'}>Dense</option></select></label>
        <label><select data-testid="spacing" @change=${(e: Event) => this.set({spacing: (e.target as HTMLSelectElement).value as ViewSettings['spacing']})}>
            <option value="loose" ?selected=${s.spacing === 'loose'}>Loose lines</option>
            <option value="tight" ?selected=${s.spacing === 'tight'}>Tight lines</option></select></label>
        <label><select data-testid="mark" @change=${(e: Event) => this.set({mark: (e.target as HTMLSelectElement).value as ViewSettings['mark']})}>
            <option value="highlight" ?selected=${s.mark === 'highlight'}>Highlight</option>
            <option value="underline" ?selected=${s.mark === 'underline'}>Underline</option></select></label>
        <label><input type="checkbox" data-testid="in-selection" .checked=${s.showInSelection}
            @change=${(e: Event) => this.set({showInSelection: (e.target as HTMLInputElement).checked})}>
          Salience within the selection</label>
        <label><input type="checkbox" data-testid="compare" .checked=${this.compare}
            @change=${(e: Event) => this.compare = (e.target as HTMLInputElement).checked}> Compare with</label>
        ${this.compare ? html`<select data-testid="compare-example"
            @change=${(e: Event) => this.compareId = (e.target as HTMLSelectElement).value}>
            ${this.examples.filter((e) => e.id !== this.example?.id).map((e) => html`
              <option value=${e.id} ?selected=${e.id === this.compareId}>${e.data.source || e.data.prompt.slice(0, 40)}</option>`)}
          </select>` : nothing}
        <button data-testid="export-json" @click=${() => this.exportAs('json')}>Export JSON</button>
        <button data-testid="export-html" @click=${() => this.exportAs('html')}>Export HTML</button>
        ${this.exportError ? html`<span class="export-error" role="alert">${this.exportError}</span>` : nothing}
      </div>
      <div class="panes ${this.compare ? 'compare' : ''}"
          @selection-change=${(e: CustomEvent<SelectionRequest>) => {
            // The first pane leads: the compared example selects the same output line.
            if (e.target === this.panes()[0]) this.mirror = e.detail;
          }}
          @foil-change=${(e: CustomEvent<string>) => this.onFoil(e.detail)}
          @turns-change=${(e: CustomEvent<boolean>) => this.onTurns(e)}>
        ${pane(this.example, this.compare ? (this.example?.data.source || 'Selected example') : '')}
        ${this.compare ? pane(other, other?.data.source || 'Compared example', this.mirror) : nothing}
      </div>
    `;
  }
}
customElements.define('seqsal-salience-module', SalienceModule);
