/**
 * "Drop it and regenerate": test what an explanation says by removing the
 * parts of the prompt it points at (or replacing one with typed text) and
 * asking the model again. Parts are marked in the pane (clicking prompt
 * chips while this is open, the ranked list's checkboxes, or "Mark the top
 * k"); the edits go to the generation model as token ranges (prompt_edits.ts),
 * as a job with progress and Cancel where the server runs jobs, through this
 * panel's own WorkController. The new generation shows beside the original
 * with the changed words marked (word_diff.ts), and can be opened as an
 * example of its own (`open-edited`), which remembers what was changed.
 */

import {css, html, nothing} from 'lit';

import {describeEdits, dropEdits} from './prompt_edits.js';
import type {PromptEdit} from './prompt_edits.js';
import {segmentLabel} from './ranking.js';
import type {Regenerated} from './salience_data.js';
import type {Segment} from './segments.js';
import {wordDiff} from './word_diff.js';
import type {DiffPart} from './word_diff.js';
import {WorkPanel, renderWork, workStyles} from './work_view.js';
import type {WorkHandlers} from './work_controller.js';

/** What regenerating answers: the generation from the original prompt, and from the edited one. */
export interface DropResult {
  original: string;
  regenerated: Regenerated;
  edits: PromptEdit[];
}

/** What the pane hands the panel. */
export interface DropTask {
  /** The example's prompt and output: another key starts afresh. */
  key: string;
  /** The prompt's segments at the pane's granularity. */
  segments: readonly Segment[];
  /** Marked segments (indices into `segments`). */
  marked: readonly number[];
  /** The granularity's word for several units ("sentences"). */
  unit: string;
  /** The generation from the original prompt, and the regeneration with `edits`. */
  run: (edits: PromptEdit[], handlers: WorkHandlers) => Promise<DropResult>;
  /** A job: a progress bar and Cancel show while it runs. */
  progress: boolean;
  /** Whether the original output is the model's generation (else the example's target). */
  generated: boolean;
}

export class DropPanel extends WorkPanel<DropTask> {
  static properties = {
    task: {attribute: false},
    open: {state: true},
    replacement: {state: true},
    topK: {state: true},
    result: {state: true},
  };

  open = false;
  /** Typed text that replaces the first marked part ('' to drop them all). */
  replacement = '';
  topK = 3;
  result?: DropResult;

  static styles = [workStyles, css`
    :host { display: block; font-size: 12px; }
    details > summary { cursor: pointer; font-weight: 600; color: #263238; }
    button, input { font: inherit; }
    :focus-visible { outline: 2px solid #1a73e8; outline-offset: 1px; }
    .help { color: #555; margin: 4px 0; }
    .row { display: flex; flex-wrap: wrap; gap: 4px 8px; align-items: center; margin: 4px 0; }
    input[type=number] { width: 3.5em; }
    input.replacement { width: 100%; box-sizing: border-box; }
    .marked { margin: 4px 0; padding-left: 16px; }
    .marked li { text-decoration: line-through; color: #5f2120; }
    .diff { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 8px; margin: 6px 0; }
    .diff h4 { margin: 0 0 2px; font-size: 12px; color: #37474f; }
    .diff .text { white-space: pre-wrap; border: 1px solid #ddd; border-radius: 4px; padding: 4px 6px; font-size: 13px;
                  overflow-wrap: anywhere; }
    del { background: #fdecee; color: #8e0018; }
    ins { background: #e6f4ea; color: #0d5a1d; text-decoration: underline; }
    .summary { color: #333; }
    pre.prompt { white-space: pre-wrap; max-height: 12em; overflow: auto; background: #f5f5f5; padding: 4px; margin: 2px 0; }
  `];

  protected override viewChanged() {
    this.result = undefined;
    this.replacement = '';
  }

  private tell(name: string, detail?: unknown) {
    this.dispatchEvent(new CustomEvent(name, {detail, bubbles: true, composed: true}));
  }

  private onToggle(e: Event) {
    this.open = (e.target as HTMLDetailsElement).open;
    this.tell('drop-open', this.open);
  }

  /** The edits of what is marked now. */
  private edits(): PromptEdit[] {
    const task = this.task;
    return task ? dropEdits(task.segments, task.marked, this.replacement) : [];
  }

  /** Regenerates without the marked parts (the first replaced, with text typed). */
  regenerate() {
    const task = this.task;
    const edits = this.edits();
    if (!task || !edits.length) return;
    const key = task.key;
    this.result = undefined;
    this.work.run((handlers) => task.run(edits, handlers), {
      status: `Regenerating ${describeEdits(edits)}…`, progress: task.progress,
      cancelled: {notice: 'Regeneration cancelled.', restart: () => this.regenerate()},
      done: (result) => {
        if (this.shownFor === key) this.result = result;
      },
    });
  }

  protected override render() {
    const task = this.task;
    if (!task) return nothing;
    const marked = task.marked.filter((i) => task.segments[i]);
    return html`<details data-testid="drop-panel" ?open=${this.open} @toggle=${this.onToggle}>
      <summary>Drop it and regenerate</summary>
      <p class="help">Mark parts of the prompt: click them in the text, tick them in the list, or mark the top ones.
        The model then continues the prompt without them.</p>
      <div class="row">
        <label>Top <input type="number" data-testid="drop-top-k" min="1" max="20" .value=${String(this.topK)}
            @input=${(e: Event) => this.topK = Math.max(1, Math.floor(Number((e.target as HTMLInputElement).value)) || 1)}>
        </label>
        <button data-testid="drop-mark-top" @click=${() => this.tell('mark-top', this.topK)}>Mark the top ${this.topK}</button>
        <button data-testid="drop-clear" ?disabled=${!marked.length} @click=${() => this.tell('mark-clear')}>Clear</button>
      </div>
      ${marked.length ? html`<ol class="marked" data-testid="drop-marked" aria-label="Marked to drop">
          ${marked.map((i) => html`<li>${segmentLabel(task.segments[i].text)}</li>`)}</ol>` :
        html`<p class="help">Nothing marked yet.</p>`}
      <label class="help">Replace the first marked part with (optional)
        <input class="replacement" data-testid="drop-replacement" .value=${this.replacement}
            @input=${(e: Event) => this.replacement = (e.target as HTMLInputElement).value}></label>
      <div class="row">
        <button data-testid="drop-run" ?disabled=${!marked.length || this.work.busy}
            @click=${() => this.regenerate()}>${this.replacement && marked.length ? 'Regenerate with the change' :
              `Regenerate without ${marked.length === 1 ? 'it' : 'them'}`}</button>
      </div>
      ${renderWork(this.work, 'drop', 'the regeneration')}
      ${this.result ? this.renderResult(this.result, task) : nothing}
    </details>`;
  }

  private renderResult(result: DropResult, task: DropTask) {
    const diff = wordDiff(result.original, result.regenerated.response);
    const parts = (list: DiffPart[]) => list.map((p) => p.kind === 'removed' ? html`<del>${p.text}</del>` :
      p.kind === 'added' ? html`<ins>${p.text}</ins>` : p.text);
    const changed = diff.removed || diff.added ?
        `${diff.removed} ${diff.removed === 1 ? 'word' : 'words'} gone, ${diff.added} new.` :
        'The model writes the same.';
    return html`<div data-testid="drop-result">
      <div class="diff">
        <div><h4>${task.generated ? 'Before' : 'The model, original prompt'}</h4>
          <div class="text" data-testid="drop-before">${parts(diff.before)}</div></div>
        <div><h4>After: ${describeEdits(result.edits)}</h4>
          <div class="text" data-testid="drop-after">${parts(diff.after)}</div></div>
      </div>
      <p class="summary" data-testid="drop-summary">${changed}</p>
      <details><summary>The edited prompt</summary>
        <pre class="prompt" data-testid="drop-edited-prompt">${result.regenerated.editedPrompt}</pre></details>
      <button data-testid="drop-open-example" @click=${() => this.tell('open-edited', result)}>Open as new example</button>
    </div>`;
  }
}
customElements.define('seqsal-drop-panel', DropPanel);
