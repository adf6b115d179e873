/**
 * The prompt-debugging app: pick a model group and a dataset, find or write an
 * example, and explain its output in the LM Salience module. Driven by LIT's
 * HTTP API; honours LIT's URL parameters (models, dataset, layout, dataN_*).
 */

import {LitElement, css, html, nothing} from 'lit';

import {LitApi, exampleInputFields, maskChunkSize, salienceGroups, salienceModelName, supportsFoil} from './api.js';
import type {Example, ExampleData, SeqsalInfo, ServerInfo} from './api.js';
import {errorMessage} from './errors.js';
import {arrangementFor} from './layout.js';
import type {Area, Part} from './layout.js';
import {FALLBACK_DEFAULT_METHOD, groupMethods} from './methods.js';
import type {MethodMenu} from './methods.js';
import type {SourceOptions} from './salience_data.js';
import './salience_module.js';
import './dataset_view.js';
import {parseUrlParams} from './url_params.js';
import type {UrlConfig} from './url_params.js';

let addedCount = 0;
function newExample(data: ExampleData, source: string): Example {
  addedCount++;
  return {id: `added-${addedCount}`, data: {...data, source: data.source || `${source} ${addedCount}`},
          meta: {added: true, source}};
}

export class SeqsalApp extends LitElement {
  static properties = {
    info: {state: true},
    group: {state: true},
    datasetName: {state: true},
    layout: {state: true},
    examples: {state: true},
    added: {state: true},
    selectedId: {state: true},
    filter: {state: true},
    error: {state: true},
    loading: {state: true},
    draftPrompt: {state: true},
    draftTarget: {state: true},
    editorError: {state: true},
    view: {state: true},
  };

  info?: ServerInfo;
  /** Jobs (progress and cancel) and masks per request, from /seqsal/info where the server has it. */
  sourceOptions: SourceOptions = {jobs: false, maxMasks: maskChunkSize(undefined)};
  group = '';
  datasetName = '';
  layout = '';
  examples: Example[] = [];
  /** Examples added in this session (URL data and the editor), per dataset. */
  added: Example[] = [];
  selectedId = '';
  filter = '';
  error = '';
  loading = 'Loading…';
  draftPrompt = '';
  draftTarget = '';
  editorError = '';
  /** The explainer, or the dataset view of a batch run's results (?view=results). */
  view: 'explain' | 'results' =
      new URLSearchParams(window.location.search).get('view') === 'results' ? 'results' : 'explain';

  readonly api = new LitApi('./');
  private url: UrlConfig = parseUrlParams(window.location.search);
  private datasetRequest = 0;
  /** What our server offers besides LIT's API (GET /seqsal/info); undefined from a server without it. */
  private seqsal?: SeqsalInfo;
  /** Each group's methods, described once. */
  private readonly menus = new Map<string, MethodMenu>();

  static styles = css`
    :host { display: block; font-family: system-ui, sans-serif; font-size: 13px; color: #1a1a1a; height: 100vh; }
    header { display: flex; gap: 14px; align-items: center; padding: 6px 12px; background: #263238; color: white; }
    header h1 { font-size: 15px; margin: 0 12px 0 0; font-weight: 600; }
    header a { color: #b3e5fc; margin-left: auto; }
    header select { max-width: 220px; }
    .banner { background: #fdecee; color: #b00020; padding: 8px 12px; white-space: pre-wrap; }
    .loading { padding: 8px 12px; color: #555; }
    main { display: grid; height: calc(100vh - 40px); }
    .area { overflow: auto; padding: 8px 12px; box-sizing: border-box; min-height: 0; }
    .area.left { border-right: 1px solid #e0e0e0; }
    .area.upper { border-bottom: 1px solid #e0e0e0; }
    section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #455a64; margin: 4px 0 6px; }
    section + section { margin-top: 12px; }
    .filter { width: 100%; box-sizing: border-box; margin-bottom: 6px; }
    ul.examples { list-style: none; padding: 0; margin: 0; }
    ul.examples li { padding: 4px 6px; border-bottom: 1px solid #eee; cursor: pointer; }
    ul.examples li:hover { background: #f1f8ff; }
    ul.examples li.selected { background: #d2e3fc; }
    .source { font-weight: 600; margin-right: 6px; }
    .preview { color: #555; }
    textarea { width: 100%; box-sizing: border-box; font: 13px monospace; }
    .editor-error { color: #b00020; }
  `;

  override connectedCallback() {
    super.connectedCallback();
    this.start();
  }

  private async start() {
    try {
      // A server without /seqsal/info (plain LIT) gets one request per computation, as before.
      const [info, seqsal] = await Promise.all([
        this.api.getInfo(), this.api.getServerInfo().catch(() => undefined)]);
      this.sourceOptions = {jobs: !!seqsal?.jobs, maxMasks: maskChunkSize(seqsal)};
      this.seqsal = seqsal;
      this.info = info;
    } catch (e) {
      this.loading = '';
      this.error = `Could not load the server's metadata: ${errorMessage(e)}`;
      return;
    }
    const groups = salienceGroups(this.info);
    if (!groups.length) {
      this.loading = '';
      this.error = `The server has no model with a salience model (${salienceModelName('NAME')}): load one with --models.`;
      return;
    }
    const wanted = this.url.models?.find((m) => groups.includes(m));
    this.group = wanted ?? groups[0];
    const layouts = Object.keys(this.info.layouts ?? {});
    this.layout = [this.url.layout, this.info.defaultLayout].find((l) => l && layouts.includes(l)) ?? layouts[0] ?? '';
    const datasets = this.datasetsFor(this.group);
    this.datasetName = this.url.dataset && datasets.includes(this.url.dataset) ? this.url.dataset : datasets[0] ?? '';
    this.added = this.url.data.filter((d) => d.prompt).map((d) => newExample(d, 'from URL'));
    if (this.added.length) this.select(this.added[0].id);
    await this.loadDataset();
    this.loading = '';
  }

  private datasetsFor(group: string): string[] {
    const compatible = this.info?.models[group]?.datasets ?? [];
    return compatible.length ? compatible : Object.keys(this.info?.datasets ?? {});
  }

  private async loadDataset() {
    const id = ++this.datasetRequest;
    if (!this.datasetName) {
      this.examples = [];
      return;
    }
    try {
      const examples = await this.api.getDataset(this.datasetName);
      if (id !== this.datasetRequest) return;
      this.examples = examples;
      this.error = '';
      if (!this.selected) this.select(this.allExamples[0]?.id ?? '');
    } catch (e) {
      this.error = `Could not load dataset "${this.datasetName}": ${errorMessage(e)}`;
    }
  }

  get allExamples(): Example[] {
    return [...this.added, ...this.examples];
  }

  get selected(): Example | undefined {
    return this.allExamples.find((e) => e.id === this.selectedId);
  }

  private select(id: string) {
    this.selectedId = id;
    const ex = this.selected;
    this.draftPrompt = ex?.data.prompt ?? '';
    this.draftTarget = ex?.data.target ?? '';
    this.editorError = '';
  }

  private addExample() {
    if (!this.draftPrompt.trim()) {
      this.editorError = 'Write a prompt first: it cannot be empty.';
      return;
    }
    const data: ExampleData = {prompt: this.draftPrompt};
    if (this.draftTarget) data.target = this.draftTarget;
    const example = newExample(data, 'new');
    this.added = [example, ...this.added];
    this.select(example.id);
  }

  private get filtered(): Example[] {
    const f = this.filter.trim().toLowerCase();
    if (!f) return this.allExamples;
    return this.allExamples.filter((e) =>
        (e.data.source ?? '').toLowerCase().includes(f) || e.data.prompt.toLowerCase().includes(f));
  }

  private renderExamples() {
    return html`<section class="examples-part">
      <h2>Examples</h2>
      <input class="filter" data-testid="filter" placeholder="Filter by source or text" .value=${this.filter}
          @input=${(e: Event) => this.filter = (e.target as HTMLInputElement).value}>
      <ul class="examples" role="listbox" aria-label="Examples">
        ${this.filtered.map((e) => html`
          <li role="option" class=${e.id === this.selectedId ? 'selected' : ''} data-source=${e.data.source ?? ''}
              aria-selected=${e.id === this.selectedId} @click=${() => this.select(e.id)}>
            <span class="source">${e.data.source || '(no source)'}</span>
            <span class="preview">${e.data.prompt.slice(0, 80)}</span>
          </li>`)}
      </ul>
      ${this.filtered.length ? nothing : html`<div class="preview">No example matches.</div>`}
    </section>`;
  }

  private renderEditor() {
    return html`<section class="editor-part">
      <h2>Edit or write a prompt</h2>
      <label>Prompt<textarea data-testid="edit-prompt" rows="6" .value=${this.draftPrompt}
          @input=${(e: Event) => this.draftPrompt = (e.target as HTMLTextAreaElement).value}></textarea></label>
      <label>Target (optional)<textarea data-testid="edit-target" rows="2" .value=${this.draftTarget}
          @input=${(e: Event) => this.draftTarget = (e.target as HTMLTextAreaElement).value}></textarea></label>
      <button data-testid="add-example" @click=${() => this.addExample()}>Add as new example</button>
      ${this.editorError ? html`<span class="editor-error" role="alert">${this.editorError}</span>` : nothing}
    </section>`;
  }

  /** The group's methods and the one shown first (from /seqsal/info where the server has it). */
  private methodMenu(group: string): MethodMenu {
    if (!this.info) return {methods: [], defaultMethod: FALLBACK_DEFAULT_METHOD};
    let menu = this.menus.get(group);
    if (!menu) this.menus.set(group, menu = groupMethods(this.info, group, this.seqsal));
    return menu;
  }

  private renderSalience() {
    const menu = this.methodMenu(this.group);
    return html`<section class="salience-part">
      <h2>LM Salience</h2>
      <seqsal-salience-module .api=${this.api} group=${this.group}
          .methods=${menu.methods} .defaultMethod=${menu.defaultMethod}
          .contrastive=${this.info ? supportsFoil(this.info, this.group) : false}
          .inputFields=${this.info ? exampleInputFields(this.info, this.group) : []}
          .sourceOptions=${this.sourceOptions}
          .example=${this.selected} .examples=${this.allExamples}></seqsal-salience-module>
    </section>`;
  }

  private renderPart(part: Part) {
    if (part === 'examples') return this.renderExamples();
    if (part === 'editor') return this.renderEditor();
    return this.renderSalience();
  }

  protected override render() {
    const info = this.info;
    const groups = info ? salienceGroups(info) : [];
    const arrangement = arrangementFor(info?.layouts?.[this.layout]);
    const {areas} = arrangement;
    const hasLeft = areas.left.length > 0;
    const rows = [areas.upper.length && 'upper', areas.lower.length && 'lower'].filter(Boolean) as Area[];
    const grid = `grid-template-columns: ${hasLeft ? `${arrangement.leftWidth}% ` : ''}1fr;` +
        `grid-template-rows: ${rows.map((r) => (r === 'lower' || rows.length === 1) ? 'minmax(0, 1.6fr)' : 'minmax(0, 1fr)').join(' ')};`;
    const place = (area: Area) => {
      if (area === 'left') return `grid-column: 1; grid-row: 1 / span ${Math.max(1, rows.length)};`;
      return `grid-column: ${hasLeft ? 2 : 1}; grid-row: ${rows.indexOf(area) + 1};`;
    };
    return html`
      <header>
        <h1>${info?.pageTitle || 'LM Salience'}</h1>
        <label>Model <select data-testid="model" @change=${(e: Event) => {
            this.group = (e.target as HTMLSelectElement).value;
            const datasets = this.datasetsFor(this.group);
            if (!datasets.includes(this.datasetName)) {
              this.datasetName = datasets[0] ?? '';
              this.loadDataset();
            }
          }}>
          ${groups.map((g) => html`<option value=${g} ?selected=${g === this.group}>${g}</option>`)}</select></label>
        <label>Dataset <select data-testid="dataset" @change=${(e: Event) => {
            this.datasetName = (e.target as HTMLSelectElement).value;
            this.loadDataset();
          }}>
          ${this.datasetsFor(this.group).map((d) => html`<option value=${d} ?selected=${d === this.datasetName}>${d}</option>`)}</select></label>
        <label>Layout <select data-testid="layout" @change=${(e: Event) => this.layout = (e.target as HTMLSelectElement).value}>
          ${Object.keys(info?.layouts ?? {}).map((l) => html`<option value=${l} ?selected=${l === this.layout}>${l}</option>`)}</select></label>
        <button data-testid="toggle-results" title="Salience over a whole dataset: results of python -m lit_seqsal.attribute"
            @click=${() => this.view = this.view === 'results' ? 'explain' : 'results'}>${
            this.view === 'results' ? 'Explain examples' : 'Dataset results'}</button>
        <a href="lit/${window.location.search}" title="LIT's own client, for the modules this app does not have">LIT UI</a>
      </header>
      ${this.error ? html`<div class="banner" role="alert">${this.error}</div>` : nothing}
      ${this.view === 'results' ? html`<seqsal-dataset-view></seqsal-dataset-view>` :
        this.loading ? html`<div class="loading">${this.loading}</div>` : html`
        <main style=${grid} data-layout=${this.layout}>
          ${(['left', 'upper', 'lower'] as Area[]).filter((a) => areas[a].length).map((a) => html`
            <div class="area ${a}" style=${place(a)}>${areas[a].map((p) => this.renderPart(p))}</div>`)}
        </main>`}
    `;
  }
}
customElements.define('seqsal-app', SeqsalApp);
