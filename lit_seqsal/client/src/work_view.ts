/**
 * A panel that runs heavy work of its own for the view the pane shows (the
 * check, drop and regenerate): its WorkController, reset when the view
 * changes, and how it shows that work: the status line, a job's progress bar
 * with Cancel, the notice after a cancel with Restart, and the error. Test
 * ids are `${prefix}-status`, `-progress`, `-cancel`, `-restart` and `-error`.
 */

import {LitElement, css, html, nothing} from 'lit';
import type {PropertyValues} from 'lit';

import {formatProgress, progressFraction} from './jobs.js';
import {WorkController} from './work_controller.js';

/** A panel's work for one view; `key` names the view (another key: another view). */
export abstract class WorkPanel<Task extends {key: string}> extends LitElement {
  task?: Task;
  protected readonly work = new WorkController(this);
  /** The key of the view what the panel holds is for. */
  protected shownFor = '';

  protected override willUpdate(changed: PropertyValues<this>) {
    if (!changed.has('task')) return;
    const key = this.task?.key ?? '';
    if (key === this.shownFor) return;
    // Another view: what ran or was shown was for the last one.
    this.shownFor = key;
    this.work.reset();
    this.viewChanged(key);
  }

  /** Another view is shown (its key): forget what was for the last one. */
  protected abstract viewChanged(key: string): void;
}

/** The work's state; `what` names it for the progress bar's label ("the check"). */
export function renderWork(work: WorkController, prefix: string, what: string) {
  const fraction = progressFraction(work.progress);
  return html`
    <div class="status" role="status" data-testid="${prefix}-status">${work.status}</div>
    ${work.working ? html`<div class="progress" data-testid="${prefix}-progress">
      <progress max="1" value=${fraction ?? nothing} aria-label="Progress of ${what}"></progress>
      <span>${formatProgress(work.progress)}</span>
      <button data-testid="${prefix}-cancel" @click=${() => work.cancel()}>Cancel</button>
    </div>` : nothing}
    ${work.notice ? html`<div class="notice" role="status">${work.notice}
      <button data-testid="${prefix}-restart" @click=${() => work.restart()}>Restart</button></div>` : nothing}
    ${work.error ? html`<div class="error" role="alert" data-testid="${prefix}-error">${work.error}</div>` : nothing}`;
}

/** The styles renderWork's parts need in the host's shadow root. */
export const workStyles = css`
  .status { color: #555; min-height: 1em; }
  .progress { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin: 2px 0; }
  .progress progress { flex: 0 1 120px; height: 8px; }
  .error { color: #b00020; background: #fdecee; padding: 4px 6px; border-radius: 4px; white-space: pre-wrap; }
  .notice { background: #f1f3f4; padding: 4px 6px; border-radius: 4px; }
`;
