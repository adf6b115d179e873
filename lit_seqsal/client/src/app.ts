/**
 * The prompt-debugging app: pick a model group and a dataset, find or write an
 * example, and explain its output in the LM Salience module. Driven by LIT's
 * HTTP API; honours LIT's URL parameters (models, dataset, layout, dataN_*).
 * Its parts are components of their own: the example list (example_list.ts),
 * the editor (editor.ts), the salience module (salience_module.ts) and the
 * dataset view (dataset_view.ts). Its own layout (layout.ts) gives the
 * salience module the room; LIT's layouts can be picked; below 800 px wide
 * the page is one column.
 */

import {LitElement, css, html, nothing} from 'lit';

import {
  LitApi, exampleInputFields, maskChunkSize, salienceGroups, salienceModelName, supportsEdits, supportsFoil,
} from './api.js';
import type {Example, ExampleData, SeqsalInfo, ServerInfo} from './api.js';
import './dataset_view.js';
import './editor.js';
import './example_list.js';
import {applyDraft, editedCopy, exampleNames, withDraft} from './examples.js';
import type {Draft} from './examples.js';
import {errorMessage} from './errors.js';
import {APP_LAYOUTS, arrangementNamed, chooseLayout} from './layout.js';
import type {Area, Part} from './layout.js';
import {FALLBACK_DEFAULT_METHOD, groupMethods} from './methods.js';
import type {MethodMenu} from './methods.js';
import type {LengthLimits} from './pane_view.js';
import type {SourceOptions} from './salience_data.js';
import './salience_module.js';
import type {SalienceModule} from './salience_module.js';
import {parseUrlParams} from './url_params.js';
import type {UrlConfig} from './url_params.js';

let addedCount = 0;
function newExample(data: ExampleData, source: string, typed = false): Example {
  addedCount++;
  return {id: `added-${addedCount}`, data: {...data, source: data.source || `${source} ${addedCount}`},
          meta: typed ? {added: true, source, typed: true} : {added: true, source}};
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
    error: {state: true},
    loading: {state: true},
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
  /** Examples added in this session (URL data, the editor's new and edited ones), per dataset. */
  added: Example[] = [];
  selectedId = '';
  error = '';
  loading = 'Loading…';
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
  private namesFor?: {examples: Example[], names: Map<string, string>};

  static styles = css`
    :host { display: block; font-family: system-ui, sans-serif; font-size: 13px; color: #1a1a1a; height: 100vh;
            display: flex; flex-direction: column; }
    header { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; padding: 6px 12px;
             background: #263238; color: white; }
    header h1 { font-size: 15px; margin: 0 12px 0 0; font-weight: 600; }
    header a { color: #b3e5fc; margin-left: auto; }
    header select { max-width: 220px; }
    header :focus-visible { outline: 2px solid #ffd54f; outline-offset: 2px; }
    .banner { background: #fdecee; color: #b00020; padding: 8px 12px; white-space: pre-wrap; }
    .loading { padding: 8px 12px; color: #555; }
    main { display: grid; flex: 1 1 auto; min-height: 0; }
    /* No top padding: what sticks to the top of an area (the salience controls) leaves no gap above it. */
    .area { overflow: auto; padding: 0 12px 8px; box-sizing: border-box; min-height: 0; min-width: 0; }
    .area > section:first-child { margin-top: 8px; }
    .area.left { border-right: 1px solid #e0e0e0; }
    .area.upper { border-bottom: 1px solid #e0e0e0; }
    section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #455a64; margin: 4px 0 6px; }
    section + section { margin-top: 12px; }
    main[data-layout=explain] .area.upper { padding-bottom: 6px; max-height: 45vh; }
    main[data-layout=explain] .area.upper > section:first-child { margin-top: 6px; }
    main[data-layout=explain] .editor-part h2 { display: none; }
    :focus-visible { outline: 2px solid #1a73e8; outline-offset: 1px; }
    /* Narrow screens: one column, the page scrolls as a whole. */
    @media (max-width: 800px) {
      :host { height: auto; min-height: 100vh; }
      main { display: block !important; }
      .area { overflow: visible; max-height: none !important; border: none !important; padding: 8px; }
      header select { max-width: 100%; }
      header a { margin-left: 0; }
    }
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
      this.sourceOptions = {jobs: !!seqsal?.jobs, maxMasks: maskChunkSize(seqsal), check: seqsal?.check};
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
    this.layout = chooseLayout(this.url.layout, Object.keys(this.info.layouts ?? {}));
    const datasets = this.datasetsFor(this.group);
    this.datasetName = this.url.dataset && datasets.includes(this.url.dataset) ? this.url.dataset : datasets[0] ?? '';
    this.added = this.url.data.filter((d) => d.prompt).map((d) => newExample(d, 'from URL'));
    if (this.added.length) this.select(this.added[0].id);
    await this.loadDataset();
    this.loading = '';
  }

  /** The group's datasets (LIT's own, named with a leading underscore, are not offered). */
  private datasetsFor(group: string): string[] {
    const compatible = this.info?.models[group]?.datasets ?? [];
    const names = compatible.length ? compatible : Object.keys(this.info?.datasets ?? {});
    return names.filter((d) => !d.startsWith('_'));
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

  /** Distinct names of the examples (computed once per list). */
  private get names(): Map<string, string> {
    const examples = this.allExamples;
    const cached = this.namesFor;
    if (cached && cached.examples.length === examples.length && cached.examples.every((e, i) => e === examples[i])) {
      return cached.names;
    }
    const names = exampleNames(examples);
    this.namesFor = {examples, names};
    return names;
  }

  private select(id: string) {
    this.selectedId = id;
    this.editorError = '';
  }

  /** The editor's draft: an edited copy of the selected example, or the edited copy updated. */
  private onDraftApply(draft: Draft) {
    let n = 0;
    const result = applyDraft(this.selected, draft, () => `edited-${++addedCount}-${++n}`);
    if (result.kind === 'none') return;
    const example = result.example;
    if (result.kind === 'copy') {
      this.added = [example, ...this.added];
    } else {
      this.added = this.added.map((e) => (e.id === example.id ? example : e));
    }
    this.select(example.id);
  }

  private onAddExample(draft: Draft) {
    if (!draft.prompt.trim()) {
      this.editorError = 'Write a prompt first: it cannot be empty.';
      return;
    }
    const example = newExample(withDraft({prompt: draft.prompt}, draft), 'new', true);
    this.added = [example, ...this.added];
    this.select(example.id);
  }

  /** "Drop it and regenerate" opened an edited prompt: a new example, edited from the one it came from. */
  private onOpenEdited(detail: {from: Example, data: ExampleData}) {
    const example = editedCopy(detail.from, detail.data, `edited-${++addedCount}`);
    this.added = [example, ...this.added];
    this.select(example.id);
  }

  private onRevert() {
    const from = this.selected?.meta.editedFrom;
    if (from) this.select(from);
  }

  /** Ctrl+Enter in the editor: generate what it has (applied already). */
  private async onGenerateRequest() {
    await this.updateComplete;
    const module = this.renderRoot.querySelector('seqsal-salience-module') as SalienceModule | null;
    module?.generateNow();
  }

  private renderExamples() {
    return html`<section class="examples-part">
      <h2 id="examples-heading">Examples</h2>
      <seqsal-example-list .examples=${this.allExamples} .names=${this.names} selectedId=${this.selectedId}
          @select-example=${(e: CustomEvent<string>) => this.select(e.detail)}></seqsal-example-list>
    </section>`;
  }

  private renderEditor() {
    const selected = this.selected;
    const from = selected?.meta.editedFrom;
    const original = from ? this.allExamples.find((e) => e.id === from) : undefined;
    return html`<section class="editor-part">
      <h2>Edit or write a prompt</h2>
      <seqsal-editor .example=${selected} originalName=${original ? this.names.get(original.id) ?? '' : ''}
          .maxNewTokens=${this.seqsal?.models?.[this.group]?.max_new_tokens ?? 0} error=${this.editorError}
          .serverStops=${this.seqsal?.models?.[this.group]?.stop_sequences ?? []}
          @draft-apply=${(e: CustomEvent<Draft>) => this.onDraftApply(e.detail)}
          @add-example=${(e: CustomEvent<Draft>) => this.onAddExample(e.detail)}
          @revert-example=${() => this.onRevert()}
          @generate-request=${() => this.onGenerateRequest()}></seqsal-editor>
    </section>`;
  }

  /** The group's methods and the one shown first (from /seqsal/info where the server has it). */
  private methodMenu(group: string): MethodMenu {
    if (!this.info) return {methods: [], defaultMethod: FALLBACK_DEFAULT_METHOD};
    let menu = this.menus.get(group);
    if (!menu) this.menus.set(group, menu = groupMethods(this.info, group, this.seqsal));
    return menu;
  }

  /** How long an input the server takes for the group (undefined from a server that does not say). */
  private lengthLimits(): LengthLimits | undefined {
    const model = this.seqsal?.models?.[this.group];
    if (!model) return undefined;
    const budget = Number(this.seqsal?.limits?.['max_input_tokens'] ?? 0);
    return {maxLength: model.max_length, contextWindow: model.context_window ?? undefined,
            maxInputTokens: budget > 0 ? budget : undefined, hosted: !!this.seqsal?.hosted};
  }

  private renderSalience() {
    const menu = this.methodMenu(this.group);
    return html`<section class="salience-part" aria-label="LM Salience">
      <h2 ?hidden=${this.layout === 'explain'}>LM Salience</h2>
      <seqsal-salience-module .api=${this.api} group=${this.group}
          .methods=${menu.methods} .defaultMethod=${menu.defaultMethod}
          .defaultByGranularity=${menu.defaultByGranularity ?? {}}
          .contrastive=${this.info ? supportsFoil(this.info, this.group) : false}
          .edits=${this.info ? supportsEdits(this.info, this.group) : false}
          @open-edited=${(e: CustomEvent<{from: Example, data: ExampleData}>) => this.onOpenEdited(e.detail)}
          .inputFields=${this.info ? exampleInputFields(this.info, this.group) : []}
          .sourceOptions=${this.sourceOptions} .lengthLimits=${this.lengthLimits()}
          .names=${this.names} .example=${this.selected} .examples=${this.allExamples}></seqsal-salience-module>
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
    const arrangement = arrangementNamed(this.layout, info?.layouts);
    const {areas} = arrangement;
    const hasLeft = areas.left.length > 0;
    const rows = [areas.upper.length && 'upper', areas.lower.length && 'lower'].filter(Boolean) as Area[];
    const grid = `grid-template-columns: ${hasLeft ? `minmax(220px, ${arrangement.leftWidth}%) ` : ''}minmax(0, 1fr);` +
        `grid-template-rows: ${rows.map((r) => arrangement.rows[r] ?? 'minmax(0, 1fr)').join(' ')};`;
    const place = (area: Area) => {
      if (area === 'left') return `grid-column: 1; grid-row: 1 / span ${Math.max(1, rows.length)};`;
      return `grid-column: ${hasLeft ? 2 : 1}; grid-row: ${rows.indexOf(area) + 1};`;
    };
    const layouts = [...Object.keys(APP_LAYOUTS), ...Object.keys(info?.layouts ?? {})];
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
          ${layouts.map((l) => html`<option value=${l} ?selected=${l === this.layout}>${APP_LAYOUTS[l] ?? `LIT: ${l}`}</option>`)}</select></label>
        <button data-testid="toggle-results" title="Salience over a whole dataset: results of python -m lit_seqsal.attribute"
            @click=${() => this.view = this.view === 'results' ? 'explain' : 'results'}>${
            this.view === 'results' ? 'Explain examples' : 'Dataset results'}</button>
        <a href="lit/${window.location.search}" title="LIT's own client, for the modules this app does not have">LIT UI</a>
      </header>
      ${this.error ? html`<div class="banner" role="alert">${this.error}</div>` : nothing}
      ${this.view === 'results' ? html`<seqsal-dataset-view></seqsal-dataset-view>` :
        this.loading ? html`<div class="loading" role="status">${this.loading}</div>` : html`
        <main style=${grid} data-layout=${this.layout}>
          ${(['left', 'upper', 'lower'] as Area[]).filter((a) => areas[a].length).map((a) => html`
            <div class="area ${a}" style=${place(a)}>${areas[a].map((p) => this.renderPart(p))}</div>`)}
        </main>`}
    `;
  }
}
customElements.define('seqsal-app', SeqsalApp);
