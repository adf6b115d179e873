import assert from 'node:assert/strict';
import {test} from 'node:test';

import {LitApi, maskChunkSize} from '../src/api.js';
import type {Fetch, FetchResponse} from '../src/api.js';
import {CancelledError, ServerError, errorMessage, parseServerError} from '../src/errors.js';
import {SharedWork, formatDuration, formatProgress, jobStep, progressFraction, runJob} from '../src/jobs.js';
import type {JobClient, JobStatus} from '../src/jobs.js';

const headers = (h: Record<string, string>) => ({get: (name: string) => h[name] ?? h[name.toLowerCase()] ?? null});
const respond = (status: number, body: unknown, h: Record<string, string> = {}): FetchResponse => ({
  ok: status < 400, status, headers: headers(h),
  text: async () => typeof body === 'string' ? body : JSON.stringify(body),
});
const IG_ERROR = {error: {status: 400, kind: 'bad_request', request_id: '3f2a9c1b0d4e',
  message: "Field 'ig_steps' must be an integer from 1 to 256; got 1000."}};

test('JSON errors: message, status, kind and request id; shown with the id', () => {
  const e = parseServerError(400, JSON.stringify(IG_ERROR), headers({'X-Request-Id': '3f2a9c1b0d4e'}));
  assert.equal(e.message, "Field 'ig_steps' must be an integer from 1 to 256; got 1000.");
  assert.deepEqual([e.status, e.kind, e.requestId], [400, 'bad_request', '3f2a9c1b0d4e']);
  assert.equal(errorMessage(e), "Field 'ig_steps' must be an integer from 1 to 256; got 1000. (request 3f2a9c1b0d4e)");
  // The id from the header when the body has none; never twice.
  const noId = parseServerError(413, JSON.stringify({error: {message: 'Too many masks.'}}), headers({'X-Request-Id': 'abc123'}));
  assert.deepEqual([noId.status, noId.requestId], [413, 'abc123']);
  const internal = parseServerError(500, JSON.stringify({error: {status: 500, kind: 'internal', request_id: 'ff01',
    message: 'Internal error while serving this request (id ff01). Please report it.'}}));
  assert.equal(errorMessage(internal), 'Internal error while serving this request (id ff01). Please report it.');
});

test('429: the server is busy, and when to try again', () => {
  const busy = parseServerError(429, JSON.stringify({error: {status: 429, kind: 'busy', request_id: 'r1',
    message: "The model's queue is full"}}), headers({'Retry-After': '10'}));
  assert.equal(busy.retryAfterS, 10);
  assert.equal(errorMessage(busy), "The server is busy: The model's queue is full. Try again in about 10 s. (request r1)");
  const says = parseServerError(429, JSON.stringify({error: {kind: 'busy', message: '3 jobs are running. Try again when one has finished.'}}));
  assert.equal(errorMessage(says), 'The server is busy: 3 jobs are running. Try again when one has finished.');
  const html = parseServerError(429, '<html><body>Too Many Requests</body></html>');
  assert.equal(errorMessage(html), 'The server is busy (HTTP 429). Try again in a moment.');
});

test("fallbacks: LIT's text errors, HTML pages and empty bodies", () => {
  const lit = parseServerError(500, 'Uncaught error: Prompt is too long\n\nDetails: Traceback (most recent call last): ...');
  assert.equal(lit.message, 'Prompt is too long');
  assert.equal(parseServerError(502, '<!DOCTYPE html><h1>Bad gateway</h1>').message,
               'The server is not available right now (HTTP 502).');
  assert.match(parseServerError(500, '').message, /without a message/);
  assert.equal(parseServerError(404, '{"error": "not an object"}').message, '{"error": "not an object"}');
  assert.equal(errorMessage(new CancelledError()), 'Cancelled.');
  assert.equal(errorMessage('plain'), 'plain');
});

test('LitApi: JSON errors reject with ServerError; /seqsal/info is optional', async () => {
  const seen: Array<{url: string, method: string, body?: string}> = [];
  let info: FetchResponse = respond(404, {error: {status: 404, kind: 'not_found', message: 'No such page or file: /seqsal/info.'}});
  const fetcher: Fetch = async (url, init) => {
    seen.push({url, ...init});
    if (url.includes('seqsal/info')) return info;
    return respond(400, IG_ERROR, {'X-Request-Id': '3f2a9c1b0d4e'});
  };
  const api = new LitApi('./', fetcher);
  await assert.rejects(api.getPreds('_m_salience', [{prompt: 'x'}]), (e: unknown) =>
    e instanceof ServerError && e.status === 400 && e.requestId === '3f2a9c1b0d4e' && e.message.startsWith("Field 'ig_steps'"));
  assert.equal(await api.getServerInfo(), undefined);
  assert.deepEqual(seen[1], {url: './seqsal/info', method: 'GET'}, 'a GET without a body');
  info = respond(200, {hosted: true, jobs: true, limits: {max_masks_per_request: 16}});
  const got = await api.getServerInfo();
  assert.equal(got?.jobs, true);
  assert.equal(maskChunkSize(got), 16);
  assert.equal(maskChunkSize({hosted: false, jobs: true, limits: {max_masks_per_request: 256}}), 32);
  assert.equal(maskChunkSize({hosted: false, jobs: true, limits: {max_masks_per_request: 0}}), 32, '0: no limit');
  assert.equal(maskChunkSize(undefined), 32);
  info = respond(500, 'Uncaught error: boom');
  await assert.rejects(api.getServerInfo(), /boom/);
});

test('LitApi: the jobs endpoints', async () => {
  const seen: Array<{url: string, method: string, body?: string}> = [];
  const status = (state: string, extra = {}) => ({job: {id: 'ab12', state, done: 0, total: 4, fraction: 0,
    elapsed_s: 0, remaining_s: null, ...extra}});
  const fetcher: Fetch = async (url, init) => {
    seen.push({url, ...init});
    if (url.endsWith('/cancel')) return respond(200, status('cancelled'));
    if (init.method === 'GET') return respond(200, status('done', {result: [{x: 1}]}));
    return respond(202, status('queued'));
  };
  const api = new LitApi('./', fetcher);
  const started = await api.startJob('_m_salience', [{prompt: 'p'}], {fields: ['occlusion']});
  assert.equal(started.state, 'queued');
  assert.equal(seen[0].url, './seqsal/jobs?model=_m_salience&requested_fields=occlusion');
  assert.deepEqual(JSON.parse(seen[0].body!), {inputs: [{id: 'q0', data: {prompt: 'p'}, meta: {}}]});
  await api.startJob('m', [], {interpreter: 'ig', datasetName: 'd'});
  assert.equal(seen[1].url, './seqsal/jobs?model=m&interpreter=ig&dataset_name=d');
  assert.deepEqual((await api.pollJob('ab12')).result, [{x: 1}]);
  assert.deepEqual(seen[2], {url: './seqsal/jobs/ab12', method: 'GET'});
  assert.equal((await api.cancelJob('ab12')).state, 'cancelled');
  assert.equal(seen[3].url, './seqsal/jobs/ab12/cancel');
  assert.equal(seen[3].method, 'POST');
});

function jobStatus(state: JobStatus['state'], done = 0, total = 4, extra: Partial<JobStatus> = {}): JobStatus<string> {
  return {id: 'j1', state, done, total, fraction: total ? done / total : 0, elapsed_s: done * 2,
          remaining_s: state === 'running' && done ? (total - done) * 2 : null, ...extra} as JobStatus<string>;
}

test('job steps: wait while queued or running, fetch a result not sent yet, finish', () => {
  assert.equal(jobStep(jobStatus('queued')).kind, 'wait');
  assert.equal(jobStep(jobStatus('running', 1)).kind, 'wait');
  assert.equal(jobStep(jobStatus('done', 4)).kind, 'fetch');
  assert.deepEqual(jobStep(jobStatus('done', 4, 4, {result: 'r'})), {kind: 'result', result: 'r'});
  const failed = jobStep(jobStatus('failed', 1, 4, {error: {status: 413, kind: 'too_large', message: 'Over the limit.', request_id: 'q9'}}));
  assert.ok(failed.kind === 'failed' && failed.error.status === 413 && errorMessage(failed.error) === 'Over the limit. (request q9)');
  const expired = jobStep(jobStatus('cancelled', 1, 4, {error: {status: 413, kind: 'stopped', message: 'expired: nobody asked for it for 30 s'}}));
  assert.ok(expired.kind === 'cancelled' && !expired.error.byUser && /expired/.test(expired.error.message));
  assert.equal(jobStep({...jobStatus('running'), state: 'weird' as never}).kind, 'failed');
});

/** A scripted job: each poll answers the next status; records what the client did. */
function scripted(statuses: Array<JobStatus<string> | Error>, onCancel: () => JobStatus<string> = () => jobStatus('running', 2)) {
  const log: string[] = [];
  let i = 0;
  const next = () => {
    const s = statuses[Math.min(i++, statuses.length - 1)];
    if (s instanceof Error) throw s;
    return s;
  };
  const client: JobClient<string> = {
    start: async () => (log.push('start'), next()),
    poll: async (id) => (log.push(`poll ${id}`), next()),
    cancel: async (id) => (log.push(`cancel ${id}`), onCancel()),
  };
  const sleeps: number[] = [];
  let clock = 0;
  const options = {
    sleep: async (ms: number) => {
      sleeps.push(ms);
      clock += ms;
    },
    now: () => clock,
  };
  return {client, log, sleeps, options};
}

test('runJob polls with progress until done, then fetches the result', async () => {
  const {client, log, sleeps, options} = scripted([
    jobStatus('queued'), jobStatus('running', 1), jobStatus('running', 3), jobStatus('done', 4),
    jobStatus('done', 4, 4, {result: 'scores'})]);
  const progress: number[] = [];
  const result = await runJob(client, {...options, onProgress: (s) => progress.push(s.done)});
  assert.equal(result, 'scores');
  assert.deepEqual(log, ['start', 'poll j1', 'poll j1', 'poll j1', 'poll j1']);
  assert.deepEqual(progress, [0, 1, 3]);
  assert.deepEqual(sleeps, [750, 750, 750], 'no wait before fetching a finished job\'s result');
});

test('runJob: a failed job rejects with its error; polls survive a moment of trouble', async () => {
  const failing = scripted([jobStatus('running', 1),
    jobStatus('failed', 1, 4, {error: {status: 413, kind: 'stopped', message: 'Over the 60 s time limit.', request_id: 'r7'}})]);
  await assert.rejects(runJob(failing.client, failing.options),
                       (e: unknown) => e instanceof ServerError && e.status === 413 && e.requestId === 'r7');
  const busy = new ServerError('busy', 429, '', {retryAfterS: 2});
  const flaky = scripted([jobStatus('running', 1), busy, jobStatus('done', 4, 4, {result: 'ok'})]);
  assert.equal(await runJob(flaky.client, flaky.options), 'ok');
  assert.ok(flaky.sleeps.includes(2000), 'waits as long as Retry-After says');
  const gone = new ServerError('No job', 404, '');
  const lost = scripted([jobStatus('running', 1), gone]);
  await assert.rejects(runJob(lost.client, lost.options), (e: unknown) => e === gone);
});

test('runJob: aborting cancels on the server and waits until the job has stopped', async () => {
  const controller = new AbortController();
  let polls = 0;
  const {client, log, options} = scripted([jobStatus('running', 1), jobStatus('running', 2), jobStatus('cancelled', 2)]);
  const poll = client.poll;
  client.poll = async (id) => {
    if (++polls === 1) controller.abort();  // the user presses Cancel while this poll is on its way
    return poll(id);
  };
  await assert.rejects(runJob(client, {...options, signal: controller.signal}),
                       (e: unknown) => e instanceof CancelledError && e.byUser);
  assert.deepEqual(log, ['start', 'poll j1', 'cancel j1', 'poll j1']);

  // A job that does not stop is left after settleMs; one aborted before it starts is never started.
  const stuck = scripted([jobStatus('running', 1)]);
  const c2 = new AbortController();
  const run = runJob(stuck.client, {...stuck.options, signal: c2.signal, settleMs: 3000,
    onProgress: () => c2.abort()});
  await assert.rejects(run, CancelledError);
  assert.equal(stuck.log.filter((l) => l === 'poll j1').length, 4, 'polled until settleMs (3000 ms at 750 ms)');
  const never = scripted([jobStatus('running')]);
  await assert.rejects(runJob(never.client, {signal: AbortSignal.abort()}), CancelledError);
  assert.deepEqual(never.log, []);
});

test('runJob: a job the server cancelled (expired) is an error, not a user cancel', async () => {
  const {client, options} = scripted([jobStatus('running', 1),
    jobStatus('cancelled', 1, 4, {error: {status: 413, kind: 'stopped', message: 'expired: nobody asked for it for 30 s (--job_ttl_s)'}})]);
  await assert.rejects(runJob(client, options), (e: unknown) =>
    e instanceof CancelledError && !e.byUser && /Stopped on the server: expired/.test(e.message));
});

test('shared work: every caller sees progress; cancelled only when the last caller leaves', async () => {
  let signal!: AbortSignal;
  let report!: (s: JobStatus) => void;
  let finish!: (v: string) => void;
  const work = new SharedWork<string>((s, onProgress) => {
    signal = s;
    report = onProgress;
    return new Promise((resolve, reject) => {
      finish = resolve;
      s.addEventListener('abort', () => reject(new CancelledError()));
    });
  });
  let abandoned = 0;
  work.onAbandon(() => abandoned++);
  const a = new AbortController(), b = new AbortController();
  const seenA: number[] = [], seenB: number[] = [];
  const first = work.join((s) => seenA.push(s.done), a.signal);
  report(jobStatus('running', 1));
  const second = work.join((s) => seenB.push(s.done), b.signal);
  assert.deepEqual(seenB, [1], 'a late caller sees the last progress at once');
  a.abort();
  await assert.rejects(first, CancelledError);
  assert.equal(signal.aborted, false, 'the other caller still waits');
  report(jobStatus('running', 2));
  assert.deepEqual([seenA, seenB], [[1], [1, 2]]);
  b.abort();
  await assert.rejects(second, CancelledError);
  assert.equal(signal.aborted, true);
  assert.equal(work.abandoned, true);
  assert.equal(abandoned, 1);
  await assert.rejects(work.done, CancelledError);

  const ok = new SharedWork<string>(() => new Promise((resolve) => finish = resolve));
  const c = new AbortController();
  const waiting = ok.join(undefined, c.signal);
  finish('v');
  assert.equal(await waiting, 'v');
  c.abort();  // after the result: nothing to cancel
  assert.equal(ok.abandoned, false);
});

test('progress reads as percentage, elapsed time and the time left', () => {
  assert.equal(formatProgress(jobStatus('running', 0, 0, {elapsed_s: 0.4, remaining_s: null, fraction: 0})), '0 s elapsed');
  assert.equal(formatProgress({...jobStatus('running', 21, 50), fraction: 0.42, elapsed_s: 12.3, remaining_s: 16.6}),
               '42% · 12 s elapsed · about 17 s left');
  assert.equal(formatProgress({...jobStatus('running', 1, 3), fraction: 1 / 3, elapsed_s: 75, remaining_s: null}),
               '33% · 1 min 15 s elapsed');
  assert.equal(formatProgress({...jobStatus('running', 99, 100), fraction: 0.99, elapsed_s: 3725, remaining_s: 0.2}),
               '99% · 1 h 02 min elapsed · about 1 s left');
  assert.match(formatProgress(jobStatus('queued')), /Waiting for the model/);
  assert.equal(formatProgress(undefined), 'Starting…');
  assert.equal(progressFraction(jobStatus('queued')), undefined, 'indeterminate while queued');
  assert.equal(progressFraction(jobStatus('running', 0, 0)), undefined, 'indeterminate without a total');
  assert.equal(progressFraction({...jobStatus('running', 5, 4), fraction: 1.25}), 1);
  assert.deepEqual([0, 59.4, 60, 605, 7200].map(formatDuration), ['0 s', '59 s', '1 min 00 s', '10 min 05 s', '2 h 00 min']);
});
