/**
 * The ranked segments at a glance, beside the coloured text: the top
 * segments at the current granularity (ranking.ts), each with its score, its
 * share of the total and a bar (diverging from the middle for a signed or
 * contrastive view). A segment's button tells the pane to scroll to it and
 * flash it (`reveal-segment`); while "drop it and regenerate" is open, a
 * prompt segment's checkbox marks it for dropping (`mark-toggle`). Ten show
 * at first, more on request; a list of 2,000 segments renders only those.
 */

import {LitElement, css, html, nothing} from 'lit';
import type {PropertyValues} from 'lit';

import {formatScore} from './export.js';
import {formatShare} from './ranking.js';
import type {Ranking, RankedSegment, SegmentRole} from './ranking.js';

/** How many show at first, and how many more each "Show more" adds. */
export const FIRST_SHOWN = 10;
export const MORE_SHOWN = 40;

/** What `reveal-segment` tells: which chip to show. */
export interface SegmentRef {
  role: SegmentRole;
  index: number;
}

export class RankedList extends LitElement {
  static properties = {
    ranking: {attribute: false},
    unit: {},
    marking: {type: Boolean},
    marked: {attribute: false},
    shown: {state: true},
  };

  ranking: Ranking = {entries: [], total: 0, signed: false};
  /** The granularity's word for several units ("sentences"). */
  unit = 'segments';
  /** "Drop it and regenerate" is open: prompt segments get a checkbox. */
  marking = false;
  /** Prompt segments marked for dropping, by index. */
  marked: ReadonlySet<number> = new Set();
  shown = FIRST_SHOWN;

  static styles = css`
    :host { display: block; font-size: 12px; }
    h3 { font-size: 12px; margin: 0 0 2px; color: #263238; }
    .note { color: #555; margin: 0 0 4px; }
    ol { list-style: none; margin: 0; padding: 0; display: grid; gap: 2px; }
    li { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 4px; align-items: center; }
    li.output button.reveal .text { font-style: italic; }
    button.reveal { position: relative; display: grid; grid-template-columns: 2.2em minmax(0, 1fr) auto; gap: 2px 6px; align-items: center;
                    width: 100%; text-align: left; font: inherit; background: #fff; border: 1px solid transparent;
                    border-radius: 4px; padding: 2px 4px; cursor: pointer; color: #1a1a1a; }
    button.reveal:hover { border-color: #b0bec5; }
    button.reveal:focus-visible { outline: 2px solid #1a73e8; outline-offset: 1px; }
    .rank { color: #455a64; font-variant-numeric: tabular-nums; text-align: right; }
    .text { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    /* Read aloud but not shown: the accessible name is the visible text plus these words. */
    .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
                       white-space: nowrap; }
    .numbers { text-align: right; font-variant-numeric: tabular-nums; color: #333; white-space: nowrap; }
    .track { grid-column: 2 / span 2; height: 6px; background: #eceff1; border-radius: 3px; position: relative; }
    .track.signed::after { content: ''; position: absolute; left: 50%; top: -2px; bottom: -2px; border-left: 1px solid #78909c; }
    .fill { position: absolute; top: 0; bottom: 0; border-radius: 3px; background: #08519c; }
    .fill.positive { background: #963e05; }
    .fill.negative { background: #643c96; }
    input[type=checkbox] { margin: 0; }
    .spacer { width: 13px; }
    .more { margin-top: 4px; font: inherit; }
    li.marked .text { text-decoration: line-through; }
  `;

  protected override willUpdate(changed: PropertyValues<this>) {
    // Another view (granularity, method, example) starts again from the first ten.
    const old = changed.get('ranking') as Ranking | undefined;
    if (old && old.entries.length !== this.ranking.entries.length) this.shown = FIRST_SHOWN;
  }

  private reveal(entry: RankedSegment) {
    const detail: SegmentRef = {role: entry.role, index: entry.index};
    this.dispatchEvent(new CustomEvent('reveal-segment', {detail, bubbles: true, composed: true}));
  }

  private toggle(entry: RankedSegment) {
    this.dispatchEvent(new CustomEvent('mark-toggle', {detail: entry.index, bubbles: true, composed: true}));
  }

  protected override render() {
    const {entries, signed} = this.ranking;
    if (!entries.length) return nothing;
    const visible = entries.slice(0, this.shown);
    const order = signed ? 'most supportive first (+ raised the span, − lowered it)' : 'largest first';
    return html`
      <h3 id="ranked-heading">Top ${this.unit}</h3>
      <p class="note">${entries.length} ranked, ${order}; the share is of the total${signed ? ' size' : ''}.
        Click one to find it in the text.</p>
      <ol aria-labelledby="ranked-heading" data-testid="ranked-list">
        ${visible.map((e) => this.renderEntry(e))}
      </ol>
      ${entries.length > this.shown ? html`<button class="more" data-testid="ranked-more"
          @click=${() => this.shown += MORE_SHOWN}>Show ${Math.min(MORE_SHOWN, entries.length - this.shown)} more</button>` :
        nothing}
    `;
  }

  private renderEntry(e: RankedSegment) {
    const score = formatScore(e.value);
    const share = formatShare(e.share);
    const where = e.role === 'prompt' ? 'prompt' : 'output';
    const marked = e.role === 'prompt' && this.marked.has(e.index);
    const fill = `left:${(e.bar.from * 100).toFixed(2)}%;width:${((e.bar.to - e.bar.from) * 100).toFixed(2)}%`;
    const kind = !this.ranking.signed ? '' : e.bar.negative ? ' negative' : ' positive';
    return html`<li class="${where}${marked ? ' marked' : ''}" data-role=${e.role} data-i=${e.index}
        data-rank=${e.rank} data-value=${e.value}>
      ${this.marking && e.role === 'prompt' ? html`<input type="checkbox" data-testid="ranked-mark" .checked=${marked}
          aria-label="Drop “${e.label}” when regenerating" @change=${() => this.toggle(e)}>` :
        html`<span class="spacer"></span>`}
      <button class="reveal" data-testid="ranked-entry" title=${e.text} @click=${() => this.reveal(e)}>
        <span class="rank">${e.rank}.</span>
        <span class="visually-hidden">${where}:</span>
        <span class="text">${e.label}</span>
        <span class="numbers">${score} · ${share}<span class="visually-hidden"> of the total</span></span>
        <span class="track${this.ranking.signed ? ' signed' : ''}" aria-hidden="true">
          <span class="fill${kind}" style=${fill}></span></span>
      </button>
    </li>`;
  }
}
customElements.define('seqsal-ranked-list', RankedList);
