/**
 * Long work as server-side jobs (POST /seqsal/jobs, then poll, or cancel): the
 * polling state machine, work shared by several callers, and how progress
 * reads. No DOM (unit-tested in node with a fake clock).
 *
 * A job that nobody polls for about 30 s is cancelled by the server, so a
 * waiting client polls about every 0.75 s; cancelling stops polling and asks
 * the server to stop at its next model batch.
 */

import {CancelledError, ServerError, jobError} from './errors.js';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** A job's status, as GET /seqsal/jobs/<id> answers it ({"job": JobStatus}). */
export interface JobStatus<T = unknown> {
  id: string;
  state: JobState;
  what?: string;
  done: number;
  total: number;
  fraction: number;
  elapsed_s: number;
  remaining_s: number | null;
  error?: {status: number, kind: string, message: string, request_id?: string};
  /** Only when done, and only on GET: what /get_preds would have returned. */
  result?: T;
}

/** What the client does next with a job in this status. */
export type JobStep<T> =
    {kind: 'wait'} |
    {kind: 'fetch'} |
    {kind: 'result', result: T} |
    {kind: 'failed', error: ServerError} |
    {kind: 'cancelled', error: CancelledError};

/** The state machine: wait and poll, fetch the result, or finish. */
export function jobStep<T>(status: JobStatus<T>): JobStep<T> {
  switch (status.state) {
    case 'queued':
    case 'running':
      return {kind: 'wait'};
    case 'done':
      return 'result' in status ? {kind: 'result', result: status.result as T} : {kind: 'fetch'};
    case 'cancelled':
      // Cancelled by someone else, or expired on the server: its message says which.
      return {kind: 'cancelled', error: new CancelledError(
          status.error?.message ? `Stopped on the server: ${status.error.message}` : 'The job was cancelled on the server.',
          false)};
    case 'failed':
      return {kind: 'failed', error: jobError(status.error, 'The job failed without a message.')};
    default:
      return {kind: 'failed', error: jobError(undefined, `The server reported an unknown job state "${String(status.state)}".`)};
  }
}

export interface JobClient<T> {
  start(): Promise<JobStatus<T>>;
  poll(id: string): Promise<JobStatus<T>>;
  cancel(id: string): Promise<JobStatus<T>>;
}

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Waits `ms`, or less when `signal` aborts. */
export const sleep: Sleep = (ms, signal) => new Promise((resolve) => {
  if (signal?.aborted) return resolve();
  const done = () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', done);
    resolve();
  };
  const timer = setTimeout(done, ms);
  signal?.addEventListener('abort', done, {once: true});
});

export interface RunJobOptions<T> {
  /** Called with each status while the job is queued or running. */
  onProgress?: (status: JobStatus<T>) => void;
  /** Aborting cancels the job on the server. */
  signal?: AbortSignal;
  /** Between polls (the server cancels a job not polled for about 30 s). */
  intervalMs?: number;
  /** After a cancel, how long to keep polling until the server says the job has stopped. */
  settleMs?: number;
  /** Polls that fail in a row (network, busy) before giving up. */
  maxPollErrors?: number;
  sleep?: Sleep;
  now?: () => number;
}

/** Errors worth polling again after: unreachable for a moment, busy, not ready, a proxy timing out. */
function transient(e: unknown): boolean {
  return e instanceof ServerError && [0, 429, 502, 503, 504].includes(e.status);
}

function finished(state: JobState): boolean {
  return state === 'done' || state === 'failed' || state === 'cancelled';
}

/**
 * Starts a job and polls it to its result. Rejects with the job's error
 * (ServerError), or with CancelledError when `signal` aborts (after asking
 * the server to cancel, and waiting up to `settleMs` for the job to stop, so
 * that the model is free for the next request) or when the server cancelled it.
 */
export async function runJob<T>(client: JobClient<T>, options: RunJobOptions<T> = {}): Promise<T> {
  const {onProgress, signal, intervalMs = 750, settleMs = 15_000, maxPollErrors = 3} = options;
  const wait = options.sleep ?? sleep;
  const now = options.now ?? (() => Date.now());
  if (signal?.aborted) throw new CancelledError();
  let status = await client.start();
  let errorsInRow = 0;
  for (;;) {
    if (signal?.aborted) {
      await stop(client, status, {intervalMs, settleMs, sleep: wait, now});
      throw new CancelledError();
    }
    const step = jobStep(status);
    if (step.kind === 'result') return step.result;
    if (step.kind === 'failed' || step.kind === 'cancelled') throw step.error;
    if (step.kind === 'wait') {
      onProgress?.(status);
      await wait(intervalMs, signal);
      if (signal?.aborted) continue;
    }
    try {
      status = await client.poll(status.id);
      errorsInRow = 0;
    } catch (e) {
      if (!transient(e) || ++errorsInRow >= maxPollErrors) throw e;
      await wait(Math.max(intervalMs, ((e as ServerError).retryAfterS ?? 0) * 1000), signal);
    }
  }
}

/** Asks the server to cancel, then polls until the job has stopped (or `settleMs` passed). */
async function stop<T>(client: JobClient<T>, status: JobStatus<T>,
                       o: {intervalMs: number, settleMs: number, sleep: Sleep, now: () => number}) {
  if (finished(status.state)) return;
  const deadline = o.now() + o.settleMs;
  try {
    let state = (await client.cancel(status.id))?.state;
    while (state && !finished(state) && o.now() < deadline) {
      await o.sleep(o.intervalMs);
      state = (await client.poll(status.id)).state;
    }
  } catch {
    // The job is gone or the server unreachable: nothing more to stop.
  }
}

/**
 * One job's work shared by every caller that wants its result (two panes, or
 * the same selection asked for twice): each caller sees the progress and may
 * leave; the job is cancelled when the last caller has left.
 */
export class SharedWork<T> {
  private readonly controller = new AbortController();
  private readonly listeners = new Set<(status: JobStatus) => void>();
  private callers = 0;
  private settled = false;
  private ok = false;
  private last?: JobStatus;
  private readonly abandonHandlers: Array<() => void> = [];
  /** Settles when the work has finished or stopped (after a cancel, once the server has stopped it). */
  readonly done: Promise<T>;

  constructor(run: (signal: AbortSignal, onProgress: (status: JobStatus) => void) => Promise<T>) {
    this.done = run(this.controller.signal, (status) => {
      this.last = status;
      for (const listener of this.listeners) listener(status);
    });
    this.done.then(() => this.settled = this.ok = true, () => this.settled = true);
  }

  /** Whether it finished with a result (a caller joining now gets it at once). */
  get succeeded(): boolean {
    return this.ok;
  }

  /** Whether every caller left before it finished (a new caller must start it again). */
  get abandoned(): boolean {
    return this.controller.signal.aborted;
  }

  /** Called once when the last caller leaves before the work finished. */
  onAbandon(handler: () => void) {
    this.abandonHandlers.push(handler);
  }

  /** This caller's result; rejects with CancelledError as soon as `signal` aborts. */
  join(onProgress?: (status: JobStatus) => void, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(new CancelledError());
    this.callers++;
    if (onProgress) {
      this.listeners.add(onProgress);
      if (this.last) onProgress(this.last);
    }
    return new Promise<T>((resolve, reject) => {
      let left = false;
      const leave = () => {
        if (left) return;
        left = true;
        if (onProgress) this.listeners.delete(onProgress);
        signal?.removeEventListener('abort', onAbort);
        this.callers--;
      };
      const onAbort = () => {
        leave();
        reject(new CancelledError());
        if (this.callers === 0 && !this.settled && !this.abandoned) {
          this.controller.abort();
          for (const handler of this.abandonHandlers) handler();
        }
      };
      signal?.addEventListener('abort', onAbort, {once: true});
      this.done.then((value) => {
        if (left) return;
        leave();
        resolve(value);
      }, (error) => {
        if (left) return;
        leave();
        reject(error);
      });
    });
  }
}

/** "12 s", "2 min 05 s", "1 h 02 min". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** The bar's fill in [0, 1], or undefined while unknown (queued, or no total yet). */
export function progressFraction(status: JobStatus | undefined): number | undefined {
  if (!status || status.state === 'queued' || !(status.total > 0)) return undefined;
  return Math.max(0, Math.min(1, status.fraction));
}

/** "42% · 12 s elapsed · about 17 s left" (the estimate only once the server has one). */
export function formatProgress(status: JobStatus | undefined): string {
  if (!status) return 'Starting…';
  if (status.state === 'queued') return 'Waiting for the model: other work goes first…';
  const fraction = progressFraction(status);
  const parts = [];
  if (fraction !== undefined) parts.push(`${Math.floor(fraction * 100)}%`);
  parts.push(`${formatDuration(status.elapsed_s)} elapsed`);
  if (status.remaining_s !== null && status.remaining_s !== undefined && status.state === 'running') {
    parts.push(`about ${formatDuration(Math.max(1, status.remaining_s))} left`);
  }
  return parts.join(' · ');
}
