/**
 * The example list: a filter field and a WAI-ARIA listbox (listbox.ts: Tab
 * to it, arrows, Home/End, Enter or Space to pick, type-ahead) of the
 * examples by distinct name (examples.exampleNames), the edited ones marked.
 * Picking an example (click or keyboard) is told by a `select-example` event
 * with its id.
 */

import {LitElement, css, html, nothing} from 'lit';

import type {Example} from './api.js';
import {LISTBOX_START, listboxKey} from './listbox.js';
import type {ListboxState} from './listbox.js';

export class ExampleList extends LitElement {
  static properties = {
    examples: {attribute: false},
    names: {attribute: false},
    selectedId: {},
    filter: {state: true},
    box: {state: true},
    activeId: {state: true},
  };

  examples: Example[] = [];
  /** Distinct names by example id (examples.exampleNames). */
  names = new Map<string, string>();
  selectedId = '';
  filter = '';
  /** Type-ahead state (its `active` index is recomputed from activeId on each key). */
  box: ListboxState = LISTBOX_START;
  /** The example the keyboard is on (aria-activedescendant), kept across filtering. */
  activeId = '';

  static styles = css`
    :host { display: block; }
    .filter { width: 100%; box-sizing: border-box; margin-bottom: 6px; }
    .filter:focus-visible { outline: 2px solid #1a73e8; outline-offset: 1px; }
    label.visually-hidden, .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden;
                                              clip: rect(0 0 0 0); white-space: nowrap; }
    ul { list-style: none; padding: 0; margin: 0; border: 1px solid transparent; border-radius: 4px; }
    ul:focus-visible { outline: 2px solid #1a73e8; outline-offset: 1px; }
    li { padding: 4px 6px; border-bottom: 1px solid #eee; cursor: pointer; overflow-wrap: anywhere; }
    li:hover { background: #f1f8ff; }
    li.selected { background: #d2e3fc; }
    ul:focus-visible li.active { outline: 2px solid #1a73e8; outline-offset: -2px; }
    .source { font-weight: 600; margin-right: 6px; }
    .preview { color: #555; }
    .edited { background: #fff4e5; color: #6d3a00; border: 1px solid #e0a15a; border-radius: 10px; padding: 0 6px;
              font-size: 11px; margin-right: 6px; }
    .empty { color: #555; font-style: italic; }
    /* One column on a phone: the list scrolls in a third of the screen, the explanation follows it. */
    @media (max-width: 800px) {
      ul { max-height: 34vh; overflow: auto; border-color: #e0e0e0; }
    }
  `;

  /** The examples the filter lets through, in order. */
  get shown(): Example[] {
    const f = this.filter.trim().toLowerCase();
    if (!f) return this.examples;
    return this.examples.filter((e) => this.nameOf(e).toLowerCase().includes(f) ||
        (e.data.source ?? '').toLowerCase().includes(f) || e.data.prompt.toLowerCase().includes(f));
  }

  private nameOf(e: Example): string {
    return this.names.get(e.id) ?? (e.data.source || '(no source)');
  }

  private pick(id: string) {
    this.dispatchEvent(new CustomEvent('select-example', {detail: id, bubbles: true, composed: true}));
  }

  private onKeyDown(e: KeyboardEvent) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const shown = this.shown;
    const selected = shown.findIndex((x) => x.id === this.selectedId);
    const box = {...this.box, active: shown.findIndex((x) => x.id === this.activeId)};
    const step = listboxKey(box, e.key, shown.map((x) => this.nameOf(x)), selected, Date.now());
    if (!step) return;
    e.preventDefault();
    this.box = step.state;
    const active = shown[step.state.active];
    this.activeId = active?.id ?? '';
    if (step.pick && active) this.pick(active.id);
    this.updateComplete.then(() => this.renderRoot.querySelector('li.active')?.scrollIntoView({block: 'nearest'}));
  }

  protected override render() {
    const shown = this.shown;
    const active = shown.findIndex((e) => e.id === this.activeId);
    return html`
      <label class="visually-hidden" for="filter">Filter the examples</label>
      <input id="filter" class="filter" data-testid="filter" type="search" placeholder="Filter by name or text"
          .value=${this.filter} @input=${(e: Event) => this.filter = (e.target as HTMLInputElement).value}>
      <ul role="listbox" tabindex="0" aria-label="Examples" data-testid="example-list"
          aria-activedescendant=${active >= 0 && shown[active] ? `option-${active}` : nothing}
          @keydown=${this.onKeyDown}>
        ${shown.map((e, i) => html`
          <li role="option" id="option-${i}" class="${e.id === this.selectedId ? 'selected' : ''}${i === active ? ' active' : ''}"
              data-source=${e.data.source ?? ''} data-name=${this.nameOf(e)} aria-selected=${e.id === this.selectedId ? 'true' : 'false'}
              @click=${() => {
                this.activeId = e.id;
                this.pick(e.id);
              }}>
            ${e.meta.editedFrom ? html`<span class="edited">edited</span>` : nothing}
            <span class="source">${this.nameOf(e)}</span>
            <span class="preview">${e.data.prompt.slice(0, 80)}</span>
          </li>`)}
      </ul>
      ${shown.length ? nothing : html`<div class="empty" role="status">No example matches the filter.</div>`}
    `;
  }
}
customElements.define('seqsal-example-list', ExampleList);
