/**
 * The dataset view: the results of the batch command (python -m lit_seqsal.attribute)
 * for a whole dataset. A chart of each prompt region's share of salience across the
 * examples, the examples (sortable by a region's share), and any example's salience
 * drawn exactly as the live module draws it (the same segments, scale and colours:
 * pane_view.ts, colors.ts). The results come from the server (`--results`, served
 * at ./seqsal/results) or from a file the user opens.
 */

import {LitElement, css, html, nothing} from 'lit';

import {colorFor, legend, textColorFor} from './colors.js';
import {formatScore} from './export.js';
import {chipStyle, chips, paneSegments, paneView, selectionCovering} from './pane_view.js';
import {methodsOf, modelsOf, parseResults, regionStats, shareOf, tokenizedOf} from './results.js';
import type {ParsedResults, RegionStats, ResultRecord} from './results.js';
import {GRANULARITIES} from './segments.js';
import type {Granularity} from './segments.js';

export const RESULTS_PATH = './seqsal/results';

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
/** "1 example", "4 examples". */
const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

export class DatasetView extends LitElement {
  static properties = {
    resultsUrl: {},
    results: {state: true},
    origin: {state: true},
    message: {state: true},
    model: {state: true},
    method: {state: true},
    granularity: {state: true},
    sortRegion: {state: true},
    filter: {state: true},
    selected: {state: true},
  };

  resultsUrl = RESULTS_PATH;
  results?: ParsedResults;
  /** Where the results came from: 'the server' or a file name. */
  origin = '';
  message = 'Loading the server\'s results…';
  model = '';
  method = '';
  /** The granularity of the example view ('' : the one the results were computed at). */
  granularity: Granularity | '' = '';
  sortRegion = '';
  filter = '';
  selected?: ResultRecord;

  static styles = css`
    :host { display: block; padding: 8px 12px; font-size: 13px; overflow: auto; height: calc(100vh - 40px); box-sizing: border-box; }
    h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #455a64; margin: 12px 0 6px; }
    .bar-row { display: grid; grid-template-columns: 180px 1fr 230px; align-items: center; gap: 8px;
               cursor: pointer; padding: 1px 0; }
    .bar-row:hover, .bar-row.sorted { background: #f1f8ff; }
    .bar-row .name { text-align: right; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .track { position: relative; height: 16px; }
    .bar { position: absolute; left: 0; top: 2px; height: 12px; border: 1px solid #08306b; box-sizing: border-box; }
    .whisker { position: absolute; top: 7px; height: 2px; background: #333; }
    .note { color: #555; }
    .error { color: #b00020; }
    table { border-collapse: collapse; width: 100%; }
    td, th { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eee; vertical-align: top; }
    th { color: #455a64; font-weight: 600; }
    td.num { text-align: right; font-variant-numeric: tabular-nums; }
    tbody tr { cursor: pointer; }
    tbody tr:hover { background: #f1f8ff; }
    tbody tr.selected { background: #d2e3fc; }
    .examples { max-height: 320px; overflow: auto; border: 1px solid #eee; }
    .controls { display: flex; flex-wrap: wrap; gap: 14px; align-items: center; margin: 6px 0; }
    .text { white-space: pre-wrap; border: 1px solid #ddd; border-radius: 6px; padding: 10px; line-height: 2.1;
            word-break: break-word; font-size: 14px; }
    .seg { border-radius: 3px; padding: 1px 1px; }
    .seg.out { font-style: italic; }
    .seg.after { color: #5f5f5f; }
    .seg.selected { outline: 2px solid #d6004c; outline-offset: 1px; }
    .legend { display: flex; gap: 0; align-items: center; margin: 6px 0; font-size: 12px; }
    .legend .swatch { padding: 1px 8px; border: 1px solid #ccc; min-width: 40px; text-align: center; }
    .legend .caption { margin-right: 8px; color: #444; }
    input:focus-visible, select:focus-visible, button:focus-visible { outline: 2px solid #1a73e8; outline-offset: 1px; }
    .examples tbody tr:focus-visible { outline: 2px solid #1a73e8; outline-offset: -2px; }
    @media (max-width: 800px) {
      :host { height: auto; padding: 8px; }
      .bar-row { grid-template-columns: minmax(0, 1fr); }
      .bar-row .name { text-align: left; }
      table { table-layout: fixed; }
      td, th { overflow-wrap: anywhere; }
    }
  `;

  override connectedCallback() {
    super.connectedCallback();
    this.loadFromServer();
  }

  private async loadFromServer() {
    try {
      const response = await fetch(this.resultsUrl);
      if (response.status === 404) {
        if (!this.results) {
          this.message = 'The server has no results file (start it with --results=FILE): open one with ' +
                         '"Open a results file" above.';
        }
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const text = await response.text();
      if (!this.results) this.show(text, 'the server');
    } catch (e) {
      if (!this.results) {
        this.message = `Could not load the server's results (${(e as Error).message}): open a file with ` +
                       '"Open a results file" above.';
      }
    }
  }

  /** Shows results from the text of a results file. */
  show(text: string, origin: string) {
    const parsed = parseResults(text);
    this.results = parsed;
    this.origin = origin;
    this.selected = undefined;
    this.sortRegion = '';
    this.granularity = '';
    this.model = modelsOf(parsed.records)[0] ?? '';
    const methods = methodsOf(parsed.records);
    this.method = methods.includes(this.method) ? this.method : methods[0] ?? '';
    this.message = parsed.records.length ? '' :
        `No explained example in ${origin} (${count(parsed.errors.length, 'error')}${
          parsed.badLines.length ? `, ${count(parsed.badLines.length, 'unreadable line')}` : ''}).`;
  }

  private async openFile(e: Event) {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (!file) return;
    try {
      this.show(await file.text(), file.name);
    } catch (err) {
      this.message = `Could not read ${file.name}: ${(err as Error).message}`;
    }
  }

  private get modelRecords(): ResultRecord[] {
    return (this.results?.records ?? []).filter((r) => r.model === this.model);
  }

  private get shownRecords(): ResultRecord[] {
    const f = this.filter.trim().toLowerCase();
    let records = this.modelRecords;
    if (f) {
      records = records.filter((r) => r.id.toLowerCase().includes(f) || (r.source ?? '').toLowerCase().includes(f) ||
          (r.span?.text ?? '').toLowerCase().includes(f));
    }
    if (this.sortRegion) {
      const share = (r: ResultRecord) => shareOf(r, this.method, this.sortRegion) ?? -1;
      records = [...records].sort((a, b) => share(b) - share(a));
    }
    return records;
  }

  private renderChart(stats: RegionStats[]) {
    if (!stats.length) {
      return html`<p class="note">These results have no regions: rerun the command with --regions (or --report_only --regions=...).</p>`;
    }
    const top = Math.max(0.05, ...stats.map((s) => Math.max(s.p75, s.mean)));
    return html`<div class="chart" role="list" aria-label="Share of salience per region">
      ${stats.map((s) => {
        const color = colorFor(s.mean, top, false);
        return html`<div role="listitem" class="bar-row ${this.sortRegion === s.name ? 'sorted' : ''}" data-region=${s.name}
            title="Click to sort the examples by this region's share"
            @click=${() => this.sortRegion = this.sortRegion === s.name ? '' : s.name}>
          <span class="name">${s.name}</span>
          <span class="track">
            <span class="bar" style="width:${100 * s.mean / top}%;background:${color}"></span>
            <span class="whisker" style="left:${100 * s.p25 / top}%;width:${100 * Math.max(0, s.p75 - s.p25) / top}%"></span>
          </span>
          <span class="note">${pct(s.mean)} ± ${pct(s.std)} · top ${pct(s.topFraction)}</span>
        </div>`;
      })}
    </div>
    <p class="note">A region's share: the sum of |score| over its tokens divided by that over the whole prompt, per example.
      Bars: the mean over ${stats.length ? Math.max(...stats.map((s) => s.examples)) : 0} examples; whiskers: the interquartile range; top: how often the region has the largest share.
      Click a region to sort the examples by it.</p>`;
  }

  private renderExamples() {
    const records = this.shownRecords;
    return html`<h2>Examples</h2>
      <input placeholder="Filter by id, source or explained text" data-testid="results-filter" .value=${this.filter}
          aria-label="Filter the examples by id, source or explained text"
          @input=${(e: Event) => this.filter = (e.target as HTMLInputElement).value}>
      <div class="examples"><table>
        <thead><tr><th>id</th><th>source</th><th>explained</th><th>top region</th>
          ${this.sortRegion ? html`<th class="num">${this.sortRegion}</th>` : nothing}</tr></thead>
        <tbody>${records.map((r) => {
          const share = this.sortRegion ? shareOf(r, this.method, this.sortRegion) : undefined;
          return html`<tr class=${r === this.selected ? 'selected' : ''} data-id=${r.id} tabindex="0"
              @click=${() => this.selected = r}
              @keydown=${(e: KeyboardEvent) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.selected = r; } }}>
            <td>${r.id}</td><td>${r.source ?? ''}</td><td>${(r.span?.text ?? '').slice(0, 80)}</td>
            <td>${r.regions?.top[this.method] ?? ''}</td>
            ${this.sortRegion ? html`<td class="num">${share === undefined ? '–' : pct(share)}</td>` : nothing}
          </tr>`;
        })}</tbody>
      </table></div>`;
  }

  private renderExample(record: ResultRecord) {
    const scores = record.salience?.[this.method]?.tokens;
    if (!scores || !record.span) return html`<p class="note">This example has no ${this.method} scores.</p>`;
    const granularity = (this.granularity || record.granularity || 'words') as Granularity;
    const segments = paneSegments(tokenizedOf(record), granularity);
    const selection = selectionCovering(segments.output, {start: record.span.start, end: record.span.end});
    const view = paneView(segments, scores, selection, false);
    const {prompt, output} = chips(view, true, 0.5);
    const title = (c: {scored: boolean, value: number}) => c.scored ? `${this.method}: ${c.value}` : nothing;
    const stops = legend(view.max, view.signed, 0.5);
    const regions = record.regions;
    return html`<h2>Example ${record.id}${record.source ? ` · ${record.source}` : ''}</h2>
      <div class="note">Explained (${record.explain === 'generation' ? 'the model\'s generation' : 'the target'}):
        <b>${record.span.text}</b></div>
      <div class="legend" aria-label="Colour legend"><span class="caption">${this.method}${view.signed ? ' (signed)' : ''}</span>
        ${stops.map((l) => html`<span class="swatch" style="background:${l.color};color:${textColorFor(l.color)}">${formatScore(l.value)}</span>`)}
      </div>
      <div class="text" data-testid="example-text">${prompt.map((c) => html`<span class="seg" data-role="prompt"
          style=${chipStyle(c.color, 'highlight')} title=${title(c)}>${c.text}</span>`)}${output.map((c) => html`<span
          class="seg out${c.selected ? ' selected' : ''}${c.after ? ' after' : ''}" data-role="output"
          style=${chipStyle(c.color, 'highlight')} title=${title(c)}>${c.text}</span>`)}</div>
      ${regions ? html`<table class="example-regions" style="width:auto;margin-top:8px">
        <thead><tr><th>region</th><th class="num">share of ${this.method}</th></tr></thead>
        <tbody>${regions.names.map((name, k) => regions.tokens[k]?.length ? html`<tr>
          <td>${name}</td><td class="num">${pct(regions.shares[this.method]?.[k] ?? 0)}</td></tr>` : nothing)}</tbody>
      </table>` : nothing}`;
  }

  protected override render() {
    const results = this.results;
    const models = results ? modelsOf(results.records) : [];
    const methods = results ? methodsOf(results.records) : [];
    const stats = results ? regionStats(results.records, this.model, this.method) : [];
    return html`
      <div class="controls">
        <label>Open a results file <input type="file" accept=".jsonl,.json,application/x-ndjson" data-testid="results-file"
            @change=${(e: Event) => this.openFile(e)}></label>
        ${results ? html`<span class="note" data-testid="results-summary">${this.origin}: ${
            count(results.records.length, 'example')}, ${count(results.errors.length, 'error')}${
            results.badLines.length ? `, ${count(results.badLines.length, 'unreadable line')}` : ''}</span>` : nothing}
      </div>
      ${this.message ? html`<p class="note" role="status">${this.message}</p>` : nothing}
      ${results && results.records.length ? html`
        <div class="controls">
          ${models.length > 1 ? html`<label>Model <select data-testid="results-model"
              @change=${(e: Event) => { this.model = (e.target as HTMLSelectElement).value; this.selected = undefined; }}>
              ${models.map((m) => html`<option value=${m} ?selected=${m === this.model}>${m}</option>`)}</select></label>` : nothing}
          <label>Method <select data-testid="results-method" @change=${(e: Event) => this.method = (e.target as HTMLSelectElement).value}>
            ${methods.map((m) => html`<option value=${m} ?selected=${m === this.method}>${m}</option>`)}</select></label>
          <label>Granularity <select data-testid="results-granularity"
              @change=${(e: Event) => this.granularity = (e.target as HTMLSelectElement).value as Granularity}>
            ${GRANULARITIES.filter((g) => g !== 'custom').map((g) => html`<option value=${g}
                ?selected=${g === (this.granularity || this.selected?.granularity || results.records[0].granularity)}>${g}</option>`)}
          </select></label>
        </div>
        <h2>Share of salience per region (${this.method})</h2>
        ${this.renderChart(stats)}
        ${this.renderExamples()}
        ${this.selected ? this.renderExample(this.selected) : html`<p class="note">Click an example to see its salience.</p>`}` : nothing}
      ${results?.errors.length ? html`<details><summary class="error">${results.errors.length === 1 ? '1 example' : `${results.errors.length} examples`} failed</summary><ul>
        ${results.errors.slice(0, 200).map((r) => html`<li>${r.id}${r.model ? ` (${r.model})` : ''}: ${r.error?.kind}: ${r.error?.message}</li>`)}
      </ul></details>` : nothing}
    `;
  }
}
customElements.define('seqsal-dataset-view', DatasetView);
