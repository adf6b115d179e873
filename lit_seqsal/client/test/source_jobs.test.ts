import assert from 'node:assert/strict';
import {test} from 'node:test';

import {LitApi} from '../src/api.js';
import type {Fetch} from '../src/api.js';
import {CancelledError, ServerError} from '../src/errors.js';
import type {JobStatus} from '../src/jobs.js';
import {chunkRanges} from '../src/ranges.js';
import {SalienceSource} from '../src/salience_data.js';
import type {TokenRange} from '../src/segments.js';

const r = (start: number, end = start + 1): TokenRange => ({start, end});
const key = (x: TokenRange) => `${x.start}:${x.end}`;

test('chunks: at most N masks each, the selection and its neighbours first, every range once', () => {
  const ranges = Array.from({length: 70}, (_, i) => r(10 + i));
  const chunks = chunkRanges(ranges, r(60), 32);
  assert.deepEqual(chunks.map((c) => c.length), [32, 32, 6]);
  assert.equal(key(chunks[0][0]), '60:61', 'the selection leads the first request');
  const first = chunks[0].map((x) => x.start).sort((a, b) => a - b);
  assert.deepEqual([first[0], first[31]], [44, 75], 'its 31 nearest neighbours come with it');
  const all = chunks.flat().map(key).sort();
  assert.deepEqual(all, ranges.map(key).sort());
  // A selection spanning several segments is a range of its own.
  const spanning = chunkRanges([r(1), r(2), r(3), r(1, 4)], r(1, 4), 2);
  assert.deepEqual(spanning.map((c) => c.map(key)), [['1:4', '1:2'], ['2:3', '3:4']]);
  // Not among the ranges (already fetched): the nearest ranges first.
  assert.deepEqual(chunkRanges([r(1), r(5), r(9)], r(8), 2).map((c) => c.map(key)), [['5:6', '9:10'], ['1:2']]);
  assert.deepEqual(chunkRanges([], r(1), 4), []);
  assert.deepEqual(chunkRanges([r(1)], r(1), 0).map((c) => c.length), [1], 'at least one mask a request');
});

type Body = {inputs: Array<{data: Record<string, unknown>}>};

/** A fake server: salience answers the mask as scores; with jobs, each poll advances one step of `steps`. */
function fakeServer(o: {failAfter?: number, steps?: number, gate?: Promise<void>} = {}) {
  const calls: Array<{url: string, method: string, body?: Body}> = [];
  const jobs = new Map<string, {status: JobStatus, result: unknown, polls: number}>();
  let nextId = 0;
  const salience = (body: Body) => body.inputs.map((ex) => {
    const data = ex.data as {target_mask: number[], salience_methods?: string[]};
    const [method] = data.salience_methods ?? ['grad_l2'];
    return {tokens: [], [method]: data.target_mask.map((m) => m * 2)};
  });
  const ok = (value: unknown, status = 200) => ({ok: true, status, text: async () => JSON.stringify(value)});
  const fetcher: Fetch = async (url, init) => {
    const body = init.body ? JSON.parse(init.body) as Body : undefined;
    calls.push({url, method: init.method, body});
    await o.gate;
    const u = new URL(url, 'http://x/');
    const model = u.searchParams.get('model');
    if (u.pathname === '/get_preds') {
      const n = calls.filter((c) => c.url.includes('get_preds')).length;
      if (o.failAfter !== undefined && n > o.failAfter) {
        return {ok: false, status: 413, text: async () => JSON.stringify(
            {error: {status: 413, kind: 'too_large', message: 'Too many tokens.', request_id: 'rq1'}})};
      }
      return ok(salience(body!));
    }
    if (u.pathname === '/seqsal/jobs') {
      const id = `job${nextId++}`;
      const result = model === 'm' ? [{response: ' generated'}] : salience(body!);
      const status: JobStatus = {id, state: 'queued', done: 0, total: o.steps ?? 2, fraction: 0, elapsed_s: 0, remaining_s: null};
      jobs.set(id, {status, result, polls: 0});
      return ok({job: status}, 202);
    }
    const m = u.pathname.match(/^\/seqsal\/jobs\/(\w+)(\/cancel)?$/);
    const job = m && jobs.get(m[1]);
    if (!job) return {ok: false, status: 404, text: async () => '{"error": {"message": "No job."}}'};
    if (m[2]) {
      job.status = {...job.status, state: 'cancelled', error: {status: 413, kind: 'stopped', message: 'cancelled'}};
      return ok({job: job.status});
    }
    if (job.status.state === 'queued' || job.status.state === 'running') {
      const done = Math.min(job.status.total, job.status.done + 1);
      job.status = {...job.status, state: done === job.status.total ? 'done' : 'running', done,
                    fraction: done / job.status.total, elapsed_s: done, remaining_s: job.status.total - done};
    }
    return ok({job: {...job.status, ...(job.status.state === 'done' ? {result: job.result} : {})}});
  };
  return {calls, jobs, api: new LitApi('./', fetcher)};
}

const SALIENCE = '_m_salience';
const requests = <C extends {url: string}>(calls: C[], path: string) => calls.filter((c) => c.url.includes(path));

test('prefetch: requests of at most maxMasks, one after the other, the selection first', async () => {
  const {calls, api} = fakeServer();
  const source = new SalienceSource(api, 'm', {maxMasks: 2});
  const ranges = [r(2), r(3), r(4), r(5), r(6)];
  const wanted = await source.prefetch('Hi', ' a b c d e', 7, ranges, r(5));
  assert.deepEqual(wanted['grad_l2'], [0, 0, 0, 0, 0, 2, 0]);
  const first = requests(calls, 'get_preds')[0].body!.inputs.map((ex) => (ex.data['target_mask'] as number[]).indexOf(1));
  assert.deepEqual(first, [5, 4], 'the selection and its nearest neighbour');
  await Promise.all(ranges.map((x) => source.cached('Hi', ' a b c d e', x)));
  const sizes = requests(calls, 'get_preds').map((c) => c.body!.inputs.length);
  assert.deepEqual(sizes, [2, 2, 1]);
  // Everything is cached now: no request, and the answer is at once.
  await source.prefetch('Hi', ' a b c d e', 7, ranges, r(2));
  assert.equal(requests(calls, 'get_preds').length, 3);
});

test('prefetch: a failed request fails the later chunks without sending them, and nothing stays cached', async () => {
  const {calls, api} = fakeServer({failAfter: 1});
  const source = new SalienceSource(api, 'm', {maxMasks: 2});
  const ranges = [r(2), r(3), r(4), r(5), r(6), r(7)];
  assert.ok(await source.prefetch('Hi', 'x', 8, ranges, r(2)));
  const later = source.cached('Hi', 'x', r(7))!;
  await assert.rejects(later, (e: unknown) => e instanceof ServerError && e.status === 413 && e.requestId === 'rq1');
  assert.equal(requests(calls, 'get_preds').length, 2, 'the third chunk was never sent');
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(source.cached('Hi', 'x', r(7)), undefined);
  assert.ok(source.cached('Hi', 'x', r(2)), 'what arrived stays cached');
});

test('costly methods as jobs: progress, the result, cached afterwards', async () => {
  const {calls, api} = fakeServer({steps: 3});
  const source = new SalienceSource(api, 'm', {jobs: true});
  const seen: number[] = [];
  const scores = await source.methodScores('Hi', ' there you', 4, r(2, 4), 'integrated_gradients', {},
                                           {onProgress: (s) => seen.push(s.done)});
  assert.deepEqual(scores, [0, 0, 2, 2]);
  assert.deepEqual(seen, [0, 1, 2]);
  const start = requests(calls, 'seqsal/jobs?')[0];
  assert.equal(start.url, `./seqsal/jobs?model=${SALIENCE}&requested_fields=integrated_gradients`);
  assert.deepEqual(start.body!.inputs[0].data['salience_methods'], ['integrated_gradients']);
  assert.equal(requests(calls, 'get_preds').length, 0, 'never one long /get_preds');
  const before = calls.length;
  await source.methodScores('Hi', ' there you', 4, r(2, 4), 'integrated_gradients', {});
  assert.equal(calls.length, before, 'cached');
});

test('costly methods as jobs: cancel stops polling and cancels on the server; asking again restarts', async () => {
  const {calls, jobs, api} = fakeServer({steps: 1000});
  const source = new SalienceSource(api, 'm', {jobs: true});
  const controller = new AbortController();
  let progressCalls = 0;
  const pending = source.methodScores('Hi', ' x', 4, r(2, 4), 'occlusion', {occlusion_granularity: 'words'}, {
    signal: controller.signal,
    onProgress: () => {
      if (++progressCalls === 2) controller.abort();
    },
  });
  await assert.rejects(pending, (e: unknown) => e instanceof CancelledError && e.byUser);
  // The server is told, in the background; then no more polls.
  for (let i = 0; i < 50 && !requests(calls, '/cancel').length; i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal(requests(calls, '/cancel').length, 1);
  assert.equal(jobs.get('job0')!.status.state, 'cancelled');
  const polls = requests(calls, 'jobs/job0').length;
  await new Promise((res) => setTimeout(res, 900));
  assert.equal(requests(calls, 'jobs/job0').length, polls, 'polling stopped');
  // Asking again starts a new job (the cancelled one is not cached).
  const again = source.methodScores('Hi', ' x', 4, r(2, 4), 'occlusion', {occlusion_granularity: 'words'}, {signal: new AbortController().signal});
  for (let i = 0; i < 50 && !jobs.has('job1'); i++) await new Promise((res) => setTimeout(res, 20));
  assert.ok(jobs.has('job1'));
  jobs.get('job1')!.status.total = 1;
  assert.deepEqual(await again, [0, 0, 2, 2]);
});

test('two callers of one job: one leaving does not cancel it for the other', async () => {
  const {calls, api} = fakeServer({steps: 2});
  const source = new SalienceSource(api, 'm', {jobs: true});
  const a = new AbortController();
  const first = source.methodScores('Hi', ' x', 4, r(2, 4), 'integrated_gradients', {}, {signal: a.signal});
  const second = source.methodScores('Hi', ' x', 4, r(2, 4), 'integrated_gradients', {}, {signal: new AbortController().signal});
  a.abort();
  await assert.rejects(first, CancelledError);
  assert.deepEqual(await second, [0, 0, 2, 2]);
  assert.equal(requests(calls, 'seqsal/jobs?').length, 1);
  assert.equal(requests(calls, '/cancel').length, 0);
});

test('generation as a job; without jobs, one /get_preds as before', async () => {
  const withJobs = fakeServer();
  const source = new SalienceSource(withJobs.api, 'm', {jobs: true});
  assert.equal(await source.generate('Hi'), ' generated');
  assert.equal(requests(withJobs.calls, 'seqsal/jobs?')[0].url, './seqsal/jobs?model=m&requested_fields=response');
  assert.equal(source.hasGeneration('Hi'), true);

  const plain = fakeServer();
  const old = new SalienceSource(plain.api, 'm');
  const controller = new AbortController();
  const scores = old.methodScores('Hi', ' x', 4, r(2, 4), 'occlusion', {occlusion_granularity: 'words'}, {signal: controller.signal});
  controller.abort();  // without jobs a request cannot be stopped: it finishes and is cached
  assert.deepEqual(await scores, [0, 0, 2, 2]);
  assert.equal(requests(plain.calls, 'seqsal').length, 0);
  assert.equal(requests(plain.calls, 'get_preds').length, 1);
});
