/**
 * "Instead of": the foil bar of a salience pane. With a selection, the
 * model's alternatives at its first token (click one) and a field for any
 * text (Enter or Use); the current foil and Clear. It owns only the text
 * being typed: the foil itself belongs to the module (shared with a compared
 * pane), told by a `foil-change` event (the foil, or '' to clear it) that
 * leaves the pane's shadow root.
 */

import {LitElement, css, html, nothing} from 'lit';
import type {PropertyValues} from 'lit';

import {alternativeTitle, formatProbability, normalizeFoil, quote} from './contrastive.js';
import type {Alternative} from './contrastive.js';

export class FoilBar extends LitElement {
  static properties = {
    foil: {attribute: false},
    alternatives: {attribute: false},
    selected: {attribute: false},
    draft: {state: true},
  };

  /** The current foil ('' in a plain view). */
  foil = '';
  /** The model's alternatives at the selection's first token; undefined until known. */
  alternatives?: Alternative[];
  /** Whether part of the output is selected (else the bar says to select some). */
  selected = false;
  /** The text typed into the field (used on Enter or Use). */
  draft = '';

  static styles = css`
    :host { display: block; }
    :host([hidden]) { display: none; }
    .foil-bar { display: flex; flex-wrap: wrap; gap: 4px 6px; align-items: center; margin: 4px 0; font-size: 12px;
                min-height: 24px; }
    .instead { font-weight: 600; color: #333; }
    .muted { color: #777; font-style: italic; }
    .alternative { border: 1px solid #b9b9c9; background: #fff; border-radius: 12px; padding: 1px 8px;
                   cursor: pointer; white-space: pre; }
    .alternative.current { background: #3c1361; color: #fff; border-color: #3c1361; }
    .alternative:disabled { cursor: default; color: #888; }
    .alternative .p { margin-left: 4px; opacity: .75; font-size: 11px; }
    button { font: inherit; }
  `;

  protected override willUpdate(changed: PropertyValues<this>) {
    // Cleared (here or in a compared pane): the typed text goes too.
    if (changed.has('foil') && changed.get('foil') && !this.foil) this.draft = '';
  }

  /** Sets (or, with '', clears) the foil. */
  private setFoil(foil: string) {
    this.dispatchEvent(new CustomEvent('foil-change', {detail: normalizeFoil(foil), bubbles: true, composed: true}));
  }

  private use() {
    if (normalizeFoil(this.draft)) this.setFoil(this.draft);
  }

  protected override render() {
    if (!this.selected) {
      // Kept in place (no layout shift under the pointer when a selection appears).
      return html`<div class="foil-bar" data-testid="foil-bar"><span class="instead">instead of</span>
        <span class="muted">select part of the output, then pick one of the model's alternatives or type any text${
          this.foil ? html` (the foil now: ${quote(this.foil)})` : nothing}</span>
        ${this.renderClear()}</div>`;
    }
    return html`<div class="foil-bar" data-testid="foil-bar" role="group" aria-label="Instead of">
      <span class="instead">instead of</span>
      ${this.renderAlternatives()}
      <input data-testid="foil-input" placeholder="or type any text" size="16" .value=${this.draft}
          aria-label="Foil: any text to compare the output with"
          @input=${(e: Event) => this.draft = (e.target as HTMLInputElement).value}
          @keydown=${(e: KeyboardEvent) => e.key === 'Enter' && this.use()}>
      <button data-testid="foil-use" ?disabled=${!normalizeFoil(this.draft)} @click=${() => this.use()}>Use</button>
      ${this.renderClear()}
    </div>`;
  }

  private renderAlternatives() {
    const alternatives = this.alternatives;
    if (alternatives === undefined) return html`<span class="muted">the model's alternatives…</span>`;
    if (!alternatives.length) return html`<span class="muted">no alternatives from the server</span>`;
    return alternatives.map((a) => {
      const current = a.text === this.foil;
      const probability = formatProbability(a.probability);
      return html`<button class="alternative${current ? ' current' : ''}" data-testid="alternative"
          data-foil=${a.text} aria-pressed=${current ? 'true' : 'false'} ?disabled=${!a.usable || a.actual}
          title=${alternativeTitle(a)} @click=${() => this.setFoil(a.text)}>${a.label}<span class="p">${probability}</span>${
            a.actual ? html`<span class="p">(output)</span>` : nothing}</button>`;
    });
  }

  private renderClear() {
    if (!this.foil) return nothing;
    return html`<button data-testid="foil-clear" title="Back to the plain view"
        @click=${() => this.setFoil('')}>Clear ${quote(this.foil, 20)}</button>`;
  }
}
customElements.define('seqsal-foil-bar', FoilBar);
