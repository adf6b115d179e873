import assert from 'node:assert/strict';
import {test} from 'node:test';

import {LitApi} from '../src/api.js';
import type {Fetch} from '../src/api.js';
import {PrefetchScheduler, prefetchChunkSize, prefetchOrder} from '../src/prefetch.js';
import type {PrefetchHandlers, PrefetchProgress} from '../src/prefetch.js';
import {SalienceSource} from '../src/salience_data.js';
import type {TokenRange} from '../src/segments.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
/** Lets the scheduler run its steps (each is a task of its own). */
async function settle(rounds = 5) {
  for (let i = 0; i < rounds; i++) await tick();
}

/** A promise the test settles by hand. */
function deferred<T = void>() {
  let resolve!: (value: T) => void, reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => [resolve, reject] = [res, rej]);
  return {promise, resolve, reject};
}

/** Fetches that wait until the test releases them, in order. */
function heldFetches() {
  const sent: Array<{items: number[], release: () => void, fail: (e: unknown) => void}> = [];
  const fetch = (items: number[]) => {
    const d = deferred();
    sent.push({items, release: () => d.resolve(), fail: d.reject});
    return d.promise;
  };
  return {sent, fetch};
}

test('prefetch order: nearest the selection first, the one after before the one before; the selection left out', () => {
  assert.deepEqual(prefetchOrder(6, 2, 2), [3, 1, 4, 0, 5]);
  assert.deepEqual(prefetchOrder(6, 0, 0), [1, 2, 3, 4, 5]);
  assert.deepEqual(prefetchOrder(6, 5, 5), [4, 3, 2, 1, 0]);
  assert.deepEqual(prefetchOrder(6, 1, 3), [4, 0, 5]);
  assert.deepEqual(prefetchOrder(3, -1, -1), [0, 1, 2], 'no selection: in order');
  assert.deepEqual(prefetchOrder(1, 0, 0), []);
});

test('prefetch chunks: few masks a request on long prompts, up to the server\'s maximum on short ones', () => {
  assert.equal(prefetchChunkSize(3600, 32), 2);
  assert.equal(prefetchChunkSize(300, 32), 27);
  assert.equal(prefetchChunkSize(100, 32), 32);
  assert.equal(prefetchChunkSize(100, 8), 8, 'never over the server\'s masks per request');
  assert.equal(prefetchChunkSize(50_000, 32), 1, 'at least one');
});

test('scheduler: a plan goes in its order, in chunks, one request at a time, with progress', async () => {
  const scheduler = new PrefetchScheduler();
  const {sent, fetch} = heldFetches();
  const seen: PrefetchProgress[] = [];
  scheduler.submit({owner: {}, items: [5, 4, 6, 3, 7], chunkSize: 2, fetch, onProgress: (p) => seen.push({...p})});
  assert.deepEqual(seen.at(-1), {done: 0, total: 5, running: true, error: ''});
  assert.equal(sent.length, 0, 'not within the caller\'s task: foreground work asked for next goes first');
  await settle();
  assert.deepEqual(sent.map((s) => s.items), [[5, 4]], 'one request at a time');
  sent[0].release();
  await settle();
  assert.deepEqual(sent.map((s) => s.items), [[5, 4], [6, 3]]);
  assert.equal(seen.at(-1)!.done, 2);
  sent[1].release();
  await settle();
  sent[2].release();
  await scheduler.idle();
  assert.deepEqual(sent.map((s) => s.items), [[5, 4], [6, 3], [7]]);
  assert.deepEqual(seen.at(-1), {done: 5, total: 5, running: false, error: ''});
});

test('scheduler: foreground work goes first; a request on its way is not waited for', async () => {
  const scheduler = new PrefetchScheduler();
  const {sent, fetch} = heldFetches();
  scheduler.submit({owner: {}, items: [1, 2, 3], chunkSize: 1, fetch});
  await settle();
  assert.equal(sent.length, 1);
  // The user clicks while the first prefetch request is on its way: theirs is not queued behind it.
  const click = deferred<string>();
  const clicked = scheduler.foreground(click.promise);
  const order: string[] = [];
  clicked.then((v) => order.push(v));
  click.resolve('click answered');
  await settle();
  assert.deepEqual(order, ['click answered'], 'answered before the prefetch request');
  sent[0].release();
  await settle();
  assert.equal(sent.length, 2);
  // Foreground work pending: no new prefetch request starts until it settles.
  const generation = deferred();
  scheduler.foreground(generation.promise);
  sent[1].release();
  await settle();
  assert.equal(sent.length, 2, 'waits for the foreground work');
  generation.resolve();
  await settle();
  assert.equal(sent.length, 3);
  // A failed foreground request releases the scheduler too.
  const failing = deferred();
  scheduler.foreground(failing.promise).catch(() => undefined);
  sent[2].release();
  failing.reject(new Error('400'));
  await scheduler.idle();
});

test('scheduler: a newer plan of the same owner replaces the older; the newest owner goes first; cancel drops', async () => {
  const scheduler = new PrefetchScheduler();
  const {sent, fetch} = heldFetches();
  const pane = {}, other = {};
  const old: PrefetchProgress[] = [];
  scheduler.submit({owner: pane, items: [1, 2, 3, 4], chunkSize: 1, fetch, onProgress: (p) => old.push(p)});
  await settle();
  assert.deepEqual(sent.map((s) => s.items), [[1]]);
  // Another granularity: the old plan's queue is dropped; its request on the way finishes.
  scheduler.submit({owner: pane, items: [10, 11], chunkSize: 1, fetch});
  const told = old.length;
  scheduler.submit({owner: other, items: [20], chunkSize: 1, fetch});
  sent[0].release();
  await settle();
  assert.equal(old.length, told, 'a replaced plan tells nothing more');
  assert.deepEqual(sent.map((s) => s.items), [[1], [20]], 'the newest plan first');
  assert.equal(scheduler.active(pane), true);
  scheduler.cancel(pane);
  assert.equal(scheduler.active(pane), false);
  sent[1].release();
  await scheduler.idle();
  assert.deepEqual(sent.map((s) => s.items), [[1], [20]], 'the cancelled plan sent nothing more');
});

test('scheduler: the request on its way is stopped by cancel and by a plan for other work, not by one for the same ' +
     'work; its job\'s progress shows', async () => {
  const scheduler = new PrefetchScheduler();
  const signals: AbortSignal[] = [];
  const {sent, fetch: held} = heldFetches();
  const seen: PrefetchProgress[] = [];
  const fetch = (items: number[], handlers: PrefetchHandlers) => {
    signals.push(handlers.signal);
    handlers.onProgress({id: 'j', state: 'running', done: 2, total: 4, fraction: 0.5, elapsed_s: 1, remaining_s: 1});
    return held(items);
  };
  const pane = {};
  scheduler.submit({owner: pane, key: 'occlusion', items: [1, 2, 3], chunkSize: 1, fetch, onProgress: (p) => seen.push(p)});
  await settle();
  assert.equal(seen.at(-1)?.request?.fraction, 0.5, 'the job\'s progress, with the plan\'s');
  // The same work (another selection): the request on its way goes on.
  scheduler.submit({owner: pane, key: 'occlusion', items: [2, 3], chunkSize: 1, fetch});
  assert.equal(signals[0].aborted, false);
  // Other work (another granularity, method or output): it is stopped.
  scheduler.submit({owner: pane, key: 'occlusion words', items: [5], chunkSize: 1, fetch});
  assert.equal(signals[0].aborted, true);
  sent[0].fail(new Error('Cancelled.'));
  await settle();
  assert.deepEqual(sent.map((s) => s.items), [[1], [5]]);
  scheduler.cancel(pane);
  assert.equal(signals[1].aborted, true, 'cancel stops it too');
  sent[1].release();
  await scheduler.idle();
});

test('scheduler: items fetched meanwhile are skipped; a failed request ends its plan with the error', async () => {
  const scheduler = new PrefetchScheduler();
  const {sent, fetch} = heldFetches();
  const fetched = new Set([2]);
  const seen: PrefetchProgress[] = [];
  scheduler.submit({owner: {}, items: [1, 2, 3, 4, 5], chunkSize: 1, fetch, ready: (i) => fetched.has(i),
                    onProgress: (p) => seen.push({...p})});
  assert.equal(seen[0].done, 1, 'fetched already: done at once');
  await settle();
  fetched.add(3);  // the user clicked it meanwhile
  sent[0].release();
  await settle();
  assert.deepEqual(sent.map((s) => s.items), [[1], [4]]);
  sent[1].fail(new Error('The server is busy.'));
  await scheduler.idle();
  assert.deepEqual(sent.map((s) => s.items), [[1], [4]], 'not retried, nothing more sent');
  assert.deepEqual(seen.at(-1), {done: 3, total: 5, running: false, error: 'The server is busy.'});
});

// --- With the data layer: the selection alone first, the rest behind it ------

/** A fake salience server whose answers the test releases one by one (or at once with `auto`). */
function heldServer() {
  const calls: Array<{masks: number[], release: () => void}> = [];
  let auto = false;
  const fetcher: Fetch = async (url, init) => {
    const inputs = (JSON.parse(init.body ?? '{}').inputs ?? []).map((ex: {data: {target_mask: number[]}}) => ex.data);
    const gate = deferred();
    const masks = inputs.map((d: {target_mask: number[]}) => d.target_mask.indexOf(1));
    calls.push({masks, release: () => gate.resolve()});
    if (!auto) await gate.promise;
    const body = inputs.map((d: {target_mask: number[]}) => ({tokens: [], grad_l2: d.target_mask.map((m) => m * 2)}));
    return {ok: true, status: 200, text: async () => JSON.stringify(body)};
  };
  return {calls, api: new LitApi('./', fetcher), releaseAll: () => { auto = true; calls.forEach((c) => c.release()); }};
}
const r = (start: number): TokenRange => ({start, end: start + 1});

test('source: the click\'s range alone, then the rest in the background; a click overtakes a held prefetch', async () => {
  const {calls, api, releaseAll} = heldServer();
  const source = new SalienceSource(api, 'm', {maxMasks: 32});
  const pane = {};
  // The click: one request of one mask.
  const first = source.gradientScores('p', 'o', 10, r(5));
  const rest = [r(6), r(4), r(7), r(3), r(8)];
  source.prefetchInBackground(pane, 'p', 'o', 10, rest, 2);
  await settle();
  assert.deepEqual(calls.map((c) => c.masks), [[5]], 'no prefetch while the click is answered');
  calls[0].release();
  assert.deepEqual((await first)['grad_l2'].indexOf(2), 5);
  await settle();
  assert.deepEqual(calls.map((c) => c.masks), [[5], [6, 4]], 'then the neighbours, two masks a request');
  // Held on the network: the user clicks a segment of that very request. Theirs goes at once, alone...
  const click = source.gradientScores('p', 'o', 10, r(4));
  await settle();
  assert.deepEqual(calls.map((c) => c.masks), [[5], [6, 4], [4]]);
  calls[2].release();
  const order: string[] = [];
  await click.then(() => order.push('click'));
  // ... and its colours come while the prefetch request is still held.
  assert.deepEqual(order, ['click']);
  assert.equal(calls.length, 3, 'no further prefetch while one is on its way');
  calls[1].release();
  await settle();
  assert.deepEqual(calls.at(-1)!.masks, [7, 3]);
  releaseAll();
  await source.background.idle();
  assert.deepEqual(calls.map((c) => c.masks), [[5], [6, 4], [4], [7, 3], [8]]);
  // Everything is at hand now.
  for (const x of [r(3), r(4), r(5), r(6), r(7), r(8)]) assert.ok(source.cached('p', 'o', x));
  await source.gradientScores('p', 'o', 10, r(8));
  assert.equal(calls.length, 5);
});

test('source: another granularity replaces the pane\'s prefetch; only the request on its way still arrives', async () => {
  const {calls, api, releaseAll} = heldServer();
  const source = new SalienceSource(api, 'm');
  const pane = {};
  source.prefetchInBackground(pane, 'p', 'o', 10, [r(1), r(2), r(3), r(4)], 1);
  await settle();
  assert.deepEqual(calls.map((c) => c.masks), [[1]]);
  const progress: PrefetchProgress[] = [];
  source.prefetchInBackground(pane, 'p', 'o', 10, [{start: 1, end: 3}, {start: 3, end: 5}], 1,
                              (p) => progress.push({...p}));
  releaseAll();
  await source.background.idle();
  assert.deepEqual(calls.map((c) => c.masks), [[1], [1], [3]], 'the words after the first were never sent');
  assert.deepEqual(progress.at(-1), {done: 2, total: 2, running: false, error: ''});
  assert.ok(source.cached('p', 'o', r(1)), 'the request on its way was cached');
  assert.equal(source.cached('p', 'o', r(2)), undefined);
});
