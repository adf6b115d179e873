import assert from 'node:assert/strict';
import {test} from 'node:test';

import {CancelledError, ServerError} from '../src/errors.js';
import type {JobStatus} from '../src/jobs.js';
import {WorkController} from '../src/work_controller.js';
import type {WorkHandlers} from '../src/work_controller.js';

/** A host that counts its updates, and a controller on it. */
function hosted() {
  const host = {controllers: [] as unknown[], updates: 0,
                addController(c: unknown) { this.controllers.push(c); }, requestUpdate() { this.updates++; }};
  const work = new WorkController(host);
  return {host, work};
}

/** A task the test settles by hand, remembering its handlers. */
function pending<T>() {
  let resolve!: (value: T) => void, reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => [resolve, reject] = [res, rej]);
  const task = {handlers: undefined as WorkHandlers | undefined, resolve, reject,
                run: (handlers: WorkHandlers) => (task.handlers = handlers, promise)};
  return task;
}

const STATUS: JobStatus = {id: 'j', state: 'running', done: 1, total: 4, fraction: 0.25, elapsed_s: 1, remaining_s: 3};

test('work: status while it runs, the result applied, the host told', async () => {
  const {host, work} = hosted();
  assert.deepEqual(host.controllers, [work], 'a Lit reactive controller of its host');
  const task = pending<string>();
  const got: string[] = [];
  const settled = work.run(task.run, {status: 'Tokenizing…', done: (v) => got.push(v)});
  assert.ok(task.handlers, 'the task starts at once');
  assert.deepEqual([work.status, work.busy, work.working, work.error], ['Tokenizing…', true, false, '']);
  const updates = host.updates;
  task.resolve('tokens');
  await settled;
  assert.deepEqual(got, ['tokens']);
  assert.deepEqual([work.status, work.busy], ['', false]);
  assert.ok(host.updates > updates);
});

test('work: a newer run leaves the older one; its late answer or error is ignored and its signal aborts', async () => {
  const {work} = hosted();
  const first = pending<string>();
  const second = pending<string>();
  const got: string[] = [];
  const failed: unknown[] = [];
  const one = work.run(first.run, {status: 'one', done: (v) => got.push(v), failed: (e) => failed.push(e)});
  work.run(second.run, {status: 'two', done: (v) => got.push(v)});
  assert.equal(first.handlers!.signal.aborted, true);
  assert.equal(second.handlers!.signal.aborted, false);
  await one;  // settles once left
  first.handlers!.onProgress(STATUS);
  assert.equal(work.progress, undefined, 'no progress from stale work');
  first.resolve('stale');
  second.resolve('fresh');
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(got, ['fresh']);

  const third = pending<string>();
  work.run(third.run, {done: (v) => got.push(v), failed: (e) => failed.push(e)});
  work.run(pending<string>().run, {status: 'four', done: (v) => got.push(v)});
  third.reject(new ServerError('Too long.', 400, ''));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual([work.error, work.status, failed.length], ['', 'four', 0], 'a stale error shows nowhere');
});

test('work: an error shows its message and calls back; the next run clears it', async () => {
  const {work} = hosted();
  const failed: unknown[] = [];
  await work.run(() => Promise.reject(new ServerError('Prompt too long.', 400, '', {requestId: 'r1'})),
                 {status: 'x', done: () => assert.fail('not done'), failed: (e) => failed.push(e)});
  assert.deepEqual([work.error, work.status, work.busy, failed.length], ['Prompt too long. (request r1)', '', false, 1]);
  // A task that throws at once fails the same way.
  await work.run(() => { throw new Error('boom'); }, {done: () => assert.fail('not done')});
  assert.equal(work.error, 'boom');
  const next = work.run(() => Promise.resolve(1), {done: () => undefined});
  assert.equal(work.error, '');
  await next;
});

test('work: a job shows progress and Cancel; cancel aborts it, says so and offers Restart', async () => {
  const {work} = hosted();
  const task = pending<number[]>();
  let restarted = 0;
  const settled = work.run(task.run, {
    status: 'Computing…', progress: true, done: () => assert.fail('cancelled work applies nothing'),
    cancelled: {notice: 'Cancelled: occlusion.', restart: () => restarted++}});
  assert.deepEqual([work.working, work.progress], [true, undefined]);
  task.handlers!.onProgress(STATUS);
  assert.equal(work.progress, STATUS);
  work.cancel();
  await settled;
  assert.equal(task.handlers!.signal.aborted, true, 'the job is cancelled (its caller left)');
  assert.deepEqual([work.working, work.progress, work.status, work.notice, work.error, work.busy],
                   [false, undefined, '', 'Cancelled: occlusion.', '', false]);
  task.reject(new CancelledError());  // what SharedWork answers then: ignored
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(work.error, '');
  work.restart();
  assert.deepEqual([restarted, work.notice], [1, '']);
  work.restart();
  assert.equal(restarted, 1, 'once');
  work.cancel();  // nothing runs: nothing happens
  assert.equal(work.notice, '');
});

test('work: stop leaves the work and clears what it shows but its error; reset clears the error too', async () => {
  const {work} = hosted();
  work.fail('The model generated nothing for this prompt.');
  const task = pending<string>();
  work.run(task.run, {status: 'Generating…', progress: true, done: () => assert.fail('stopped')});
  work.stop();
  assert.equal(task.handlers!.signal.aborted, true);
  assert.deepEqual([work.status, work.working, work.busy], ['', false, false]);
  work.fail('Shown.');
  work.stop();
  assert.equal(work.error, 'Shown.');
  work.reset();
  assert.equal(work.error, '');
  // The host going away stops the work.
  const other = pending<string>();
  work.run(other.run, {done: () => assert.fail('disconnected')});
  work.hostDisconnected();
  assert.equal(other.handlers!.signal.aborted, true);
  other.resolve('late');
  await new Promise((r) => setTimeout(r, 0));
});

test('work: a result may start the next work (generation, then tokens)', async () => {
  const {work} = hosted();
  const tokens = pending<string[]>();
  let shown: string[] | undefined;
  await work.run(() => Promise.resolve(' generated'), {
    status: 'Generating…',
    done: () => work.run(tokens.run, {status: 'Tokenizing…', done: (t) => shown = t}),
  });
  assert.deepEqual([work.status, work.busy], ['Tokenizing…', true]);
  tokens.resolve(['▁generated']);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(shown, ['▁generated']);
  assert.equal(work.status, '');
});
