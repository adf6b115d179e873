/**
 * Background prefetch: the scores of the output segments the user has not
 * clicked yet, fetched behind the user's own requests. No DOM (unit-tested in
 * node).
 *
 * A pane submits a plan (the segments to fetch, nearest the selection first);
 * the scheduler sends it in small requests, one at a time for the whole
 * server, and only while no foreground work (the user's own requests:
 * tokens, a generation, the scores of a click) is waiting. So a click never
 * queues behind prefetch in the client: its request goes at once, and the
 * next prefetch request waits until it is answered. A newer plan of the same
 * owner replaces the older one: nothing more of the old plan is sent; the
 * request already on its way finishes (its answers are cached) when the new
 * plan is for the same work (its `key`: the same output and method, a new
 * selection), and is stopped when it is for other work (its signal aborts: a
 * job is cancelled on the server unless the user waits for it too). Cancel
 * drops a plan and stops its request on its way.
 */

import {errorMessage} from './errors.js';
import type {JobStatus} from './jobs.js';

/** What a plan's owner shows: how far its prefetch is. */
export interface PrefetchProgress {
  /** Items fetched (or found fetched) so far. */
  done: number;
  total: number;
  /** A request of this plan is on its way, or waits for its turn. */
  running: boolean;
  /** Why it stopped ('' unless a request failed). */
  error: string;
  /** The progress of the request on its way, where it is a job that tells. */
  request?: JobStatus;
}

/** What a prefetch request hears: a signal that aborts when its plan is stopped, and a way to tell its progress. */
export interface PrefetchHandlers {
  signal: AbortSignal;
  onProgress: (status: JobStatus) => void;
}

export interface PrefetchPlan<T> {
  /** Whose plan (a pane): a newer plan of the same owner replaces this one. */
  owner: object;
  /** What to fetch, most wanted first. */
  items: readonly T[];
  /** Items per request. */
  chunkSize: number;
  /**
   * What work it is (say, an output and a method): a newer plan of the same
   * owner for other work stops this plan's request on its way. Default: ''.
   */
  key?: string;
  /** One request for these items; settles when their answers are stored. */
  fetch: (items: T[], handlers: PrefetchHandlers) => Promise<unknown>;
  /** Whether an item is already fetched (or being fetched by the user): it is skipped. */
  ready?: (item: T) => boolean;
  /** Told after each change (also once at the end: running false). */
  onProgress?: (progress: PrefetchProgress) => void;
}

interface Active<T> {
  plan: PrefetchPlan<T>;
  /** Items not sent yet, in order. */
  queue: T[];
  done: number;
  error: string;
  /** Replaced or cancelled: tells nothing more. */
  dropped: boolean;
  /** Stops the request on its way (aborts its signal). */
  abort?: AbortController;
  /** The progress of the request on its way. */
  request?: JobStatus;
}

export class PrefetchScheduler {
  /** Plans with items left, the most recently submitted first. */
  private plans: Array<Active<unknown>> = [];
  /** The plan whose request is on its way. */
  private inFlight?: Active<unknown>;
  /** Foreground work not settled yet: no prefetch request starts meanwhile. */
  private foregroundCount = 0;
  private idleWaiters: Array<() => void> = [];
  private scheduled = false;

  /** Requests sent so far (for tests and the benchmark). */
  sent = 0;

  /**
   * Starts `plan` (ahead of the other owners' plans), replacing its owner's
   * previous plan. Items already fetched count as done at once.
   */
  submit<T>(plan: PrefetchPlan<T>) {
    this.drop(plan.owner, (active) => (active.plan.key ?? '') !== (plan.key ?? ''));
    const ready = plan.ready ?? (() => false);
    const queue = plan.items.filter((item) => !ready(item));
    const active: Active<T> = {plan, queue, done: plan.items.length - queue.length, error: '', dropped: false};
    if (queue.length) this.plans.unshift(active as Active<unknown>);
    this.tell(active);
    this.schedule();
  }

  /** Drops `owner`'s plan: nothing more of it is sent, and its request on its way is stopped. */
  cancel(owner: object) {
    this.drop(owner, () => true);
    this.schedule();
  }

  /** Whether `owner` has a plan with items left or a request on its way. */
  active(owner: object): boolean {
    return this.plans.some((a) => a.plan.owner === owner) || this.inFlight?.plan.owner === owner;
  }

  /**
   * Runs `work` as foreground work: no prefetch request starts until it has
   * settled. Returns its result.
   */
  foreground<V>(work: Promise<V>): Promise<V> {
    this.foregroundCount++;
    const release = () => {
      this.foregroundCount--;
      this.schedule();
    };
    work.then(release, release);
    return work;
  }

  /** Settles once no plan is left and no request is on its way. */
  idle(): Promise<void> {
    if (!this.plans.length && !this.inFlight) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops `owner`'s plan; its request on its way is stopped where `stop` says so. */
  private drop(owner: object, stop: (active: Active<unknown>) => boolean) {
    for (const a of this.plans) if (a.plan.owner === owner) a.dropped = true;
    this.plans = this.plans.filter((a) => a.plan.owner !== owner);
    const inFlight = this.inFlight;
    if (inFlight?.plan.owner === owner) {
      inFlight.dropped = true;
      if (stop(inFlight)) inFlight.abort?.abort();
    }
  }

  /** The next step after the current task: foreground work registered meanwhile goes first. */
  private schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      this.pump();
    }, 0);
  }

  private pump() {
    if (this.inFlight) return;
    if (this.foregroundCount > 0) return;
    const active = this.plans[0];
    if (!active) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      waiters.forEach((w) => w());
      return;
    }
    const {plan} = active;
    const ready = plan.ready ?? (() => false);
    // Items the user fetched meanwhile are done already.
    while (active.queue.length && ready(active.queue[0])) {
      active.queue.shift();
      active.done++;
    }
    const chunk = active.queue.splice(0, Math.max(1, Math.floor(plan.chunkSize)));
    if (!active.queue.length) this.plans = this.plans.filter((a) => a !== active);
    if (!chunk.length) {
      this.tell(active);
      this.schedule();
      return;
    }
    this.inFlight = active;
    this.sent++;
    const abort = active.abort = new AbortController();
    active.request = undefined;
    this.tell(active);
    const handlers: PrefetchHandlers = {
      signal: abort.signal,
      onProgress: (status) => {
        if (active.abort !== abort) return;
        active.request = status;
        this.tell(active);
      },
    };
    let request: Promise<unknown>;
    try {
      request = plan.fetch(chunk, handlers);
    } catch (e) {
      request = Promise.reject(e);
    }
    request.then(() => {
      active.done += chunk.length;
    }, (e: unknown) => {
      // A failed request ends the plan: the user's next click asks again (and shows the error).
      active.error = errorMessage(e);
      this.plans = this.plans.filter((a) => a !== active);
      active.queue = [];
    }).finally(() => {
      this.inFlight = undefined;
      active.abort = undefined;
      active.request = undefined;
      this.tell(active);
      this.schedule();
    });
  }

  private tell<T>(active: Active<T>) {
    if (active.dropped) return;
    const running = active.queue.length > 0 || this.inFlight === active;
    const progress: PrefetchProgress =
        {done: active.done, total: active.plan.items.length, running, error: active.error};
    if (active.request) progress.request = active.request;
    active.plan.onProgress?.(progress);
  }
}

/**
 * Masks per prefetch request: a request's cost grows with its tokens times
 * its masks (one backward pass per mask), and a user's click waits for at
 * most the request on its way; so long prompts get few masks a request
 * (3,600 tokens: 2), short ones up to `maxMasks`.
 */
export const PREFETCH_MASK_TOKENS = 8192;

export function prefetchChunkSize(tokens: number, maxMasks: number): number {
  const bySize = Math.floor(PREFETCH_MASK_TOKENS / Math.max(1, tokens));
  return Math.max(1, Math.min(Math.max(1, Math.floor(maxMasks)), bySize));
}

/**
 * Output segment indices in prefetch order around the selection [lo, hi]:
 * nearest first (the next click is likely close by), the one after before the
 * one before at the same distance (text is read forward); the selection
 * itself left out. Without a selection, in order.
 */
export function prefetchOrder(count: number, lo: number, hi: number): number[] {
  const order: number[] = [];
  if (lo < 0) return Array.from({length: count}, (_, i) => i);
  for (let d = 1; order.length < count - (hi - lo + 1) && d <= count; d++) {
    if (hi + d < count) order.push(hi + d);
    if (lo - d >= 0) order.push(lo - d);
  }
  return order;
}
