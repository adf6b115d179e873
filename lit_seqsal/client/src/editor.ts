/**
 * The prompt editor: one line (the prompt's) until opened, then the prompt,
 * the target, the stop sequences and the most new tokens of the selected
 * example. What is in it is what runs: when the focus leaves the editor (to
 * Generate, the output, anything else) or on Ctrl+Enter, the app applies the
 * draft, and an edited example of a dataset becomes a new example named after
 * it, marked "edited", with the way back (examples.ts). It owns only the
 * draft; the examples belong to the app, told by events that leave its
 * shadow root: `draft-apply`, `add-example` (both with the Draft),
 * `revert-example` and `generate-request`.
 */

import {LitElement, css, html, nothing} from 'lit';
import type {PropertyValues} from 'lit';

import type {Example} from './api.js';
import {draftOf, isChanged} from './examples.js';
import type {Draft} from './examples.js';
import {escapeStop, formatStops, parseStops, suggestedStop} from './stops.js';

export class PromptEditor extends LitElement {
  static properties = {
    example: {attribute: false},
    originalName: {},
    maxNewTokens: {attribute: false},
    serverStops: {attribute: false},
    error: {},
    open: {state: true},
    draft: {state: true},
    stopsText: {state: true},
  };

  /** The selected example. */
  example?: Example;
  /** The example this one was edited from, by name ('' when it was not). */
  originalName = '';
  /** The server's --max_new_tokens (the field's bound); 0 when unknown. */
  maxNewTokens = 0;
  /** Stop sequences the server ends every generation at (--stop_sequences), shown beside the example's. */
  serverStops: string[] = [];
  /** Why the last action was refused ('' for none). */
  error = '';
  open = false;
  draft: Draft = draftOf(undefined);
  /** The stop field as typed (parsed into the draft as it changes). */
  stopsText = '';
  /** The last draft applied: the example made from it keeps what was typed since. */
  private applied?: Draft;

  static styles = css`
    :host { display: block; }
    [hidden] { display: none !important; }
    .bar { display: flex; gap: 8px; align-items: center; }
    .bar label { font-weight: 600; color: #37474f; }
    .edited { background: #fff4e5; color: #6d3a00; border: 1px solid #e0a15a; border-radius: 10px; padding: 0 7px;
              font-size: 12px; white-space: nowrap; }
    textarea { width: 100%; box-sizing: border-box; font: 13px monospace; }
    .collapsed textarea.prompt { height: 1.9em; resize: none; overflow: hidden; white-space: pre; }
    .fields { display: grid; gap: 6px; margin-top: 6px; }
    .fields label { display: grid; gap: 2px; }
    .row { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: end; }
    .row label { display: grid; gap: 2px; }
    .help { color: #555; font-size: 12px; }
    input[type=number] { width: 8em; }
    input.stops { width: 16em; max-width: 100%; box-sizing: border-box; }
    .buttons { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; align-items: center; }
    .editor-error { color: #b00020; }
    button { font: inherit; }
    button.suggest { font-size: 12px; }
    :focus-visible { outline: 2px solid #1a73e8; outline-offset: 1px; }
  `;

  protected override willUpdate(changed: PropertyValues<this>) {
    if (changed.has('example')) {
      // Another example (not the one made from this draft): its fields.
      const fromDraft = this.applied && !isChanged(this.example, this.applied);
      if (!fromDraft) this.setDraft(draftOf(this.example));
      this.applied = undefined;
    }
  }

  private setDraft(draft: Draft) {
    this.draft = draft;
    this.stopsText = formatStops(draft.stop);
  }

  private edit(changes: Partial<Draft>) {
    this.draft = {...this.draft, ...changes};
  }

  /** Tells the app to apply the draft to the selected example (if it says something else). */
  applyDraft() {
    if (!this.example || !isChanged(this.example, this.draft)) return;
    this.applied = this.draft;
    this.dispatchEvent(new CustomEvent('draft-apply', {detail: this.draft, bubbles: true, composed: true}));
  }

  private onFocusOut(e: FocusEvent) {
    // Focus moving within the editor is not leaving it.
    const to = e.relatedTarget as Node | null;
    if (to && this.renderRoot.contains(to)) return;
    this.applyDraft();
  }

  private onKeyDown(e: KeyboardEvent) {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      this.applyDraft();
      this.dispatchEvent(new CustomEvent('generate-request', {bubbles: true, composed: true}));
    } else if (e.key === 'Escape' && this.open) {
      this.open = false;
    }
  }

  private addStop(stop: string) {
    const stops = [...this.draft.stop, stop];
    this.edit({stop: stops});
    this.stopsText = formatStops(stops);
  }

  protected override render() {
    const d = this.draft;
    const suggestion = suggestedStop(d.prompt);
    const offer = suggestion && !d.stop.includes(suggestion) ? suggestion : undefined;
    const max = this.maxNewTokens;
    return html`<div class="editor ${this.open ? 'open' : 'collapsed'}" @focusout=${this.onFocusOut}
        @keydown=${this.onKeyDown}>
      <div class="bar">
        <label for="prompt">Prompt</label>
        ${this.originalName ? html`<span class="edited" data-testid="edited-mark"
            title="Edited from ${this.originalName}">edited</span>` : nothing}
        <button data-testid="editor-toggle" aria-expanded=${this.open ? 'true' : 'false'} aria-controls="fields"
            @click=${() => this.open = !this.open}>${this.open ? 'Close editor' : 'Open editor'}</button>
      </div>
      <textarea id="prompt" class="prompt" data-testid="edit-prompt" rows=${this.open ? 8 : 1} .value=${d.prompt}
          aria-describedby="prompt-help" @focus=${() => this.open = true}
          @input=${(e: Event) => this.edit({prompt: (e.target as HTMLTextAreaElement).value})}></textarea>
      <span id="prompt-help" class="help" ?hidden=${!this.open}>What is here is what runs: Generate and the colours
        use it once you leave the editor (or press Ctrl+Enter to generate).</span>
      <div id="fields" class="fields" ?hidden=${!this.open}>
        <label>Target (optional: an output to explain instead of the model's)
          <textarea data-testid="edit-target" rows="2" .value=${d.target}
              @input=${(e: Event) => this.edit({target: (e.target as HTMLTextAreaElement).value})}></textarea></label>
        <div class="row">
          <label>Stop at (comma-separated; \\n is a new line)
            <input class="stops" data-testid="edit-stops" .value=${this.stopsText}
                @input=${(e: Event) => {
                  this.stopsText = (e.target as HTMLInputElement).value;
                  this.edit({stop: parseStops(this.stopsText)});
                }}></label>
          ${this.serverStops.length ? html`<span class="help" data-testid="server-stops">The server also stops every
              generation at ${formatStops(this.serverStops)}.</span>` : nothing}
          ${offer ? html`<button class="suggest" data-testid="stop-suggestion" @click=${() => this.addStop(offer)}
              title="The prompt ends with a label: the model may start another example there">Stop at
              “${escapeStop(offer)}”</button>` : nothing}
          <label>Max new tokens
            <input type="number" data-testid="edit-max-tokens" min="1" max=${max || nothing}
                placeholder=${max ? `${max} (the server's most)` : ''} .value=${d.maxNewTokens ? String(d.maxNewTokens) : ''}
                @input=${(e: Event) => {
                  const n = Math.floor(Number((e.target as HTMLInputElement).value));
                  this.edit({maxNewTokens: Number.isFinite(n) && n > 0 ? (max ? Math.min(n, max) : n) : 0});
                }}></label>
        </div>
      </div>
      <div class="buttons" ?hidden=${!this.open}>
        <button data-testid="add-example" @click=${() => this.dispatchEvent(new CustomEvent('add-example', {
          detail: this.draft, bubbles: true, composed: true}))}>Add as new example</button>
        ${this.originalName ? html`<button data-testid="edit-revert" @click=${() => this.dispatchEvent(
            new CustomEvent('revert-example', {bubbles: true, composed: true}))}>Back to ${this.originalName}</button>` :
          nothing}
        ${this.error ? html`<span class="editor-error" role="alert">${this.error}</span>` : nothing}
      </div>
    </div>`;
  }
}
customElements.define('seqsal-editor', PromptEditor);
