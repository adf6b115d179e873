/**
 * "Check this explanation": the deletion check of the selected span's
 * explanation (the method and granularity shown), on request. It is heavy
 * work (a job with a progress bar and Cancel where the server runs jobs),
 * run by this panel's own WorkController so that it never stops the pane's
 * scores. Its answer shows as one plain sentence, the verdict with its
 * meaning, a small chart (per k: the top k removed, k random ones with their
 * spread, the k lowest) and the numbers in a table; the words come from
 * check_view.ts.
 */

import {css, html, nothing, svg} from 'lit';

import {checkChart, checkRows, checkSentence, formatNumber, verdictText} from './check_view.js';
import type {CheckChart, CheckRecord} from './check_view.js';
import {WorkPanel, renderWork, workStyles} from './work_view.js';
import type {WorkHandlers} from './work_controller.js';

/** What the pane hands the panel for the view it shows. */
export interface CheckTask {
  /** Which view (span, method, settings, foil, granularity): another key is another check. */
  key: string;
  /** Runs the check. */
  run: (handlers: WorkHandlers) => Promise<CheckRecord>;
  /** The check of this view, when it was done already. */
  done?: Promise<CheckRecord>;
  /** Why it cannot run in this view ('' when it can). */
  unavailable: string;
  /** A job: a progress bar and Cancel show while it runs. */
  progress: boolean;
  /** The foil of a contrastive view ('' for none): the sentence names it. */
  foil: string;
}

const CHART = {width: 260, height: 118, right: 6, top: 8, bottom: 22};

export class CheckPanel extends WorkPanel<CheckTask> {
  static properties = {
    task: {attribute: false},
    record: {state: true},
  };

  /** The check of the task's view, once known. */
  record?: CheckRecord;

  static styles = [workStyles, css`
    :host { display: block; font-size: 12px; }
    h3 { font-size: 12px; margin: 0 0 4px; color: #263238; }
    button { font: inherit; }
    :focus-visible { outline: 2px solid #1a73e8; outline-offset: 1px; }
    .why { color: #555; margin: 2px 0; }
    .sentence { margin: 6px 0 4px; line-height: 1.4; color: #1a1a1a; font-size: 13px; }
    .verdict { margin: 4px 0; padding: 4px 6px; border-radius: 4px; border-left: 4px solid #78909c; background: #f5f7f8; }
    .verdict.supported { border-left-color: #1b5e20; background: #edf7ee; }
    .verdict.weak { border-left-color: #8a5a00; background: #fff6e0; }
    .verdict.not-supported { border-left-color: #b00020; background: #fdecee; }
    svg { display: block; max-width: 100%; height: auto; }
    svg text { font: 10px system-ui, sans-serif; fill: #333; }
    .key { display: flex; flex-wrap: wrap; gap: 4px 10px; margin: 2px 0; color: #333; }
    .key i { display: inline-block; width: 10px; height: 10px; margin-right: 3px; vertical-align: -1px; border: 1px solid #546e7a; }
    table { border-collapse: collapse; margin-top: 4px; font-variant-numeric: tabular-nums; }
    th, td { border-bottom: 1px solid #e0e0e0; padding: 2px 6px; text-align: right; }
    th:first-child, td:first-child { text-align: left; }
    details summary { cursor: pointer; color: #0b57d0; width: fit-content; }
  `];

  protected override viewChanged(key: string) {
    this.record = undefined;
    this.task?.done?.then((record) => {
      if (this.shownFor === key) this.record = record;
    }, () => undefined);
  }

  /** Starts the check of the task's view. */
  check() {
    const task = this.task;
    if (!task || task.unavailable) return;
    const key = task.key;
    this.record = undefined;
    this.work.run((handlers) => task.run(handlers), {
      status: 'Checking the explanation: deleting its top-ranked, lowest-ranked and random parts…',
      progress: task.progress,
      cancelled: {notice: 'Check cancelled.', restart: () => this.check()},
      done: (record) => {
        if (this.shownFor === key) this.record = record;
      },
    });
  }

  protected override render() {
    const task = this.task;
    if (!task) return nothing;
    return html`<section aria-labelledby="check-heading">
      <h3 id="check-heading">Can this explanation be trusted?</h3>
      <button data-testid="check-run" ?disabled=${!!task.unavailable || this.work.busy}
          aria-describedby="check-why" @click=${() => this.check()}>Check this explanation</button>
      <p class="why" id="check-why">${task.unavailable ||
          'Removes the parts it ranks highest and compares with removing random parts (heavy: runs the model many times).'}</p>
      ${renderWork(this.work, 'check', 'the check')}
      ${this.record ? this.renderRecord(this.record, task.foil) : nothing}
    </section>`;
  }

  private renderRecord(record: CheckRecord, foil: string) {
    const verdict = verdictText(record);
    const rows = checkRows(record);
    const unit = record.contrastive ? 'the difference of log-probabilities' : 'the probability';
    return html`
      <p class="sentence" data-testid="check-sentence">${checkSentence(record, foil)}</p>
      <p class="verdict ${verdict.kind}" data-testid="check-verdict" data-verdict=${record.verdict ?? ''}>
        <b>${verdict.label}.</b> ${verdict.meaning}</p>
      ${rows.length ? html`
        ${this.renderChart(checkChart(record, foil))}
        <div class="key" aria-hidden="true"><span><i style="background:#08519c"></i>top k removed</span>
          <span><i style="background:#b0bec5"></i>k random (± spread)</span>
          <span><i style="background:#deebf7"></i>lowest k</span>
          <span>- - nothing removed</span></div>
        <details data-testid="check-numbers"><summary>The numbers</summary>
          <table>
            <caption class="why">${unit} of the span after removing k ${record.granularity}</caption>
            <thead><tr><th scope="col">k</th><th scope="col">top k</th><th scope="col">random k</th>
              <th scope="col">lowest k</th><th scope="col">beats random</th></tr></thead>
            <tbody>${rows.map((r) => html`<tr data-k=${r.k}><td>${r.k}</td><td>${r.top}</td><td>${r.random}</td>
              <td>${r.lowest}</td><td>${r.beatsRandom ? 'yes' : 'no'}</td></tr>`)}</tbody>
          </table>
          <p class="why">Nothing removed: ${formatNumber(record.contrastive ? record.log_prob : record.prob ?? 0)}.
            ${record.draws} random draws per k (seed ${record.seed}).</p>
        </details>` : nothing}`;
  }

  private renderChart(chart: CheckChart) {
    const {width, height, right, top, bottom} = CHART;
    // Room on the left for the longer of the axis' two labels.
    const left = 8 + 5.6 * Math.max(formatNumber(chart.max).length, formatNumber(chart.min).length);
    const plotW = width - left - right, plotH = height - top - bottom;
    const y = (f: number) => top + plotH * (1 - f);
    const groupW = plotW / Math.max(1, chart.groups.length);
    const barW = Math.min(16, groupW / 4.5);
    const fills = {top: '#08519c', random: '#b0bec5', lowest: '#deebf7'};
    const summary = `Chart of ${chart.axis} after removing k parts: ` + chart.groups.map((g) =>
      `k=${g.k}: top ${formatNumber(g.bars[0].value)}, random ${formatNumber(g.bars[1].value)}, ` +
      `lowest ${formatNumber(g.bars[2].value)}`).join('; ') + `; nothing removed: ${formatNumber(chart.before.value)}.`;
    return html`<svg data-testid="check-chart" viewBox="0 0 ${width} ${height}" width=${width} height=${height}
        role="img" aria-label=${summary}>
      ${svg`<line x1=${left} x2=${width - right} y1=${y(chart.zeroY)} y2=${y(chart.zeroY)} stroke="#90a4ae"/>
        <text x=${left - 3} y=${top + 4} text-anchor="end">${formatNumber(chart.max)}</text>
        <text x=${left - 3} y=${top + plotH} text-anchor="end">${formatNumber(chart.min)}</text>`}
      ${chart.groups.map((g, gi) => {
        const x0 = left + gi * groupW + (groupW - 3 * barW - 4) / 2;
        return svg`${g.bars.map((b, bi) => {
          const x = x0 + bi * (barW + 2);
          const spread = b.spread ? svg`<line x1=${x + barW / 2} x2=${x + barW / 2} y1=${y(b.spread[0])}
              y2=${y(b.spread[1])} stroke="#263238" stroke-width="1.5"/>` : nothing;
          return svg`<rect x=${x} y=${y(b.y1)} width=${barW} height=${Math.max(0.5, (b.y1 - b.y0) * plotH)}
              fill=${fills[b.kind]} stroke="#546e7a" stroke-width="0.5"/>${spread}`;
        })}<text x=${left + gi * groupW + groupW / 2} y=${height - 6} text-anchor="middle">k = ${g.k}</text>`;
      })}
      ${svg`<line x1=${left} x2=${width - right} y1=${y(chart.before.y)} y2=${y(chart.before.y)} stroke="#263238"
          stroke-dasharray="4 3"/>`}
    </svg>`;
  }
}
customElements.define('seqsal-check-panel', CheckPanel);
