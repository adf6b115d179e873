/**
 * One piece of async work at a time for a component, as a Lit reactive
 * controller with no DOM (unit-tested in node). Starting work leaves the one
 * before: its answer, whenever it comes, is ignored, and its signal aborts (a
 * job nobody else waits for is cancelled, see jobs.SharedWork). What the
 * component shows of it is here: the status line while it runs, the progress
 * of a job (with a Cancel button), the error it failed with, and after a
 * cancel a notice with what Restart does. The host re-renders on each change.
 */

import type {ReactiveController, ReactiveControllerHost} from 'lit';

import {errorMessage} from './errors.js';
import type {JobStatus} from './jobs.js';

/** What a piece of work hears: progress of its job, and a signal that aborts when it is left or cancelled. */
export interface WorkHandlers {
  signal: AbortSignal;
  onProgress: (status: JobStatus) => void;
}

export interface WorkOptions<T> {
  /** The status line while it runs ('' for none). */
  status?: string;
  /** Long work (a job): a progress bar and Cancel show while it runs. */
  progress?: boolean;
  /** Applies the result; called only while this is still the latest work. */
  done: (value: T) => void;
  /** After its error is shown (only while still the latest work): undo what it was for. */
  failed?: (error: unknown) => void;
  /** What the notice says when the user cancels it, and what its Restart button does. */
  cancelled?: {notice: string, restart: () => void};
}

interface Run {
  readonly abort: AbortController;
  readonly cancelled?: WorkOptions<unknown>['cancelled'];
}

export class WorkController implements ReactiveController {
  /** The status line: what runs now. */
  status = '';
  /** Why the latest work failed ('' when it did not). */
  error = '';
  /** Not an error: the user cancelled, and how to start again (see restart). */
  notice = '';
  /** A job runs: its progress bar and Cancel show. */
  working = false;
  /** The job's last status (undefined until the server has answered). */
  progress?: JobStatus;

  private current?: Run;
  private restartWork?: () => void;

  constructor(private readonly host: Pick<ReactiveControllerHost, 'addController' | 'requestUpdate'>) {
    host.addController(this);
  }

  /** Whether work runs now. */
  get busy(): boolean {
    return this.current !== undefined;
  }

  hostDisconnected() {
    this.stop();
  }

  /**
   * Starts `task` (called at once, so that what it asks for is asked before
   * run returns), leaving the work before it. Settles when the task has, or
   * at once when it is left or cancelled.
   */
  run<T>(task: (handlers: WorkHandlers) => Promise<T>, options: WorkOptions<T>): Promise<void> {
    this.leave();
    const run: Run = {abort: new AbortController(), cancelled: options.cancelled};
    this.current = run;
    this.restartWork = undefined;
    this.set({status: options.status ?? '', error: '', notice: '', working: !!options.progress, progress: undefined});
    const handlers: WorkHandlers = {
      signal: run.abort.signal,
      onProgress: (progress) => {
        if (this.current === run) this.set({progress});
      },
    };
    let result: Promise<T>;
    try {
      result = task(handlers);
    } catch (e) {
      result = Promise.reject(e);
    }
    const left = new Promise<void>((resolve) => run.abort.signal.addEventListener('abort', () => resolve()));
    const settled = result.then((value) => {
      if (this.current !== run) return;
      this.current = undefined;
      this.set({status: '', working: false, progress: undefined});
      options.done(value);
    }, (e: unknown) => {
      if (this.current !== run) return;
      this.current = undefined;
      this.set({working: false, progress: undefined});
      this.fail(e);
      options.failed?.(e);
    });
    return Promise.race([settled, left]);
  }

  /** The Cancel button: leaves the work (a job is cancelled on the server) and says so, with Restart. */
  cancel() {
    const run = this.current;
    if (!run) return;
    this.leave();
    const cancelled = run.cancelled;
    this.restartWork = cancelled?.restart;
    this.set({status: '', working: false, progress: undefined, notice: cancelled?.notice ?? 'Cancelled.'});
  }

  /** The notice's Restart button: what was cancelled starts again. */
  restart() {
    const restart = this.restartWork;
    this.restartWork = undefined;
    this.set({notice: ''});
    restart?.();
  }

  /** Leaves the work (if any) and clears what it shows, but for its error. */
  stop() {
    this.leave();
    this.restartWork = undefined;
    this.set({status: '', working: false, progress: undefined, notice: ''});
  }

  /** Leaves the work and clears everything it shows, its error too. */
  reset() {
    this.stop();
    this.set({error: ''});
  }

  /** Shows an error (of the work, or found before any was started). */
  fail(e: unknown) {
    this.set({status: '', error: errorMessage(e)});
  }

  private leave() {
    const run = this.current;
    this.current = undefined;
    run?.abort.abort();
  }

  private set(changes: Partial<Pick<WorkController, 'status' | 'error' | 'notice' | 'working' | 'progress'>>) {
    Object.assign(this, changes);
    this.host.requestUpdate();
  }
}
