// Explanations a person can check, as the SalienceSource asks the server: occlusion prefetched for
// every span of an output (jobs the test finishes by hand), the deletion check, drop and regenerate.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {LitApi} from '../src/api.js';
import type {Fetch} from '../src/api.js';
import type {JobStatus} from '../src/jobs.js';
import {paneSegments} from '../src/pane_view.js';
import type {PrefetchProgress} from '../src/prefetch.js';
import {SalienceSource} from '../src/salience_data.js';
import {loadScores, planScores} from '../src/score_loader.js';
import type {ScoreQuery} from '../src/score_loader.js';
import type {TokenRange} from '../src/segments.js';
import {SERVER_METHOD} from './server_methods.js';

// Prompt " Hi there:" (after BOS), output " One two. Three four."
const TOKENIZED = {
  tokens: ['<bos>', '▁Hi', '▁there', ':', '▁One', '▁two', '.', '▁Three', '▁four', '.'],
  promptLength: 4,
};
const PROMPT = 'Hi there:';
const OUTPUT = ' One two. Three four.';
const WORDS: TokenRange[] = [{start: 4, end: 5}, {start: 5, end: 7}, {start: 7, end: 8}, {start: 8, end: 10}];
const OCCLUSION = {occlusion_granularity: 'words'};

type Input = Record<string, unknown> & {target_mask?: number[], salience_methods?: string[]};
interface Job {id: string, model: string, inputs: Input[], status: JobStatus, url: string}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
async function until(what: string, test: () => boolean, ms = 3000) {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 2))) if (test()) return;
  throw new Error(`timed out waiting for ${what}`);
}
const ones = (mask: number[] = []) => mask.map((m, i) => m ? i : -1).filter((i) => i >= 0);

/**
 * A fake server whose jobs run until the test finishes them: salience
 * answers each input's mask times 3 for the costly method asked for (and the
 * check's record for an input with `check`); the generation model answers
 * "old text", or with edits "new text" and the edited prompt.
 */
function fakeServer() {
  const jobs: Job[] = [];
  const plain: Array<{url: string, inputs: Input[]}> = [];
  const answer = (model: string, inputs: Input[]) => inputs.map((data) => {
    if (model === 'm') {
      return data['edits'] ? {response: 'A new text here', edited_prompt: 'there:', edit: {changes: data['edits']}} :
          {response: 'An old text here'};
    }
    if (data['check']) return {check: {method: data['check'], granularity: data['check_granularity'], by_k: []}};
    const method = data.salience_methods?.[0] ?? 'grad_l2';
    return {[method]: (data.target_mask ?? []).map((m) => m * 3)};
  });
  const ok = (value: unknown, status = 200) => ({ok: true, status, text: async () => JSON.stringify(value)});
  const fetcher: Fetch = async (url, init) => {
    const parsed = new URL(url, 'http://x/');
    const inputs: Input[] = init.body ? (JSON.parse(init.body).inputs ?? []).map((ex: {data: Input}) => ex.data) : [];
    const model = parsed.searchParams.get('model') ?? '';
    if (parsed.pathname === '/get_preds') {
      plain.push({url, inputs});
      return ok(answer(model, inputs));
    }
    if (parsed.pathname === '/seqsal/jobs') {
      const id = `job${jobs.length}`;
      const status: JobStatus = {id, state: 'running', done: 0, total: 10, fraction: 0, elapsed_s: 0, remaining_s: null};
      jobs.push({id, model, inputs, status, url});
      return ok({job: status}, 202);
    }
    const [, id, cancel] = parsed.pathname.match(/^\/seqsal\/jobs\/(\w+)(\/cancel)?$/) ?? [];
    const job = jobs.find((j) => j.id === id)!;
    if (cancel && job.status.state === 'running') job.status = {...job.status, state: 'cancelled'};
    const done = job.status.state === 'done';
    return ok({job: {...job.status, ...(done ? {result: answer(job.model, job.inputs)} : {})}});
  };
  const source = new SalienceSource(new LitApi('./', fetcher), 'm', {jobs: true, pollMs: 2, maxMasks: 32});
  const finish = (i: number) => jobs[i].status = {...jobs[i].status, state: 'done', done: 10, fraction: 1};
  const report = (i: number, done: number) => jobs[i].status = {...jobs[i].status, done, fraction: done / 10};
  return {jobs, plain, source, finish, report};
}

const occlusionOf = (source: SalienceSource, range: TokenRange, onProgress?: (s: JobStatus) => void,
                     signal?: AbortSignal) =>
  source.methodScores(PROMPT, OUTPUT, 10, range, 'occlusion', OCCLUSION, {onProgress, signal}, '', true);

test('occlusion of every span: prefetched as background jobs of several spans; a click on one joins its job', async () => {
  const {jobs, source, finish, report} = fakeServer();
  const owner = {};
  const seen: PrefetchProgress[] = [];
  source.prefetchMethod(owner, PROMPT, OUTPUT, 10, WORDS, 'occlusion', OCCLUSION, 3, (p) => seen.push(p));
  await until('the first job', () => jobs.length === 1);
  assert.deepEqual(jobs[0].inputs.map((d) => ones(d.target_mask)), [[4], [5, 6], [7]], 'the first 3 spans, in order');
  for (const d of jobs[0].inputs) {
    assert.deepEqual(d.salience_methods, ['occlusion']);
    assert.equal(d['occlusion_granularity'], 'words');
  }
  assert.match(jobs[0].url, /requested_fields=occlusion/);
  // A click on a span in that job: no request of its own; it shows the job's progress.
  const progress: number[] = [];
  const clicked = occlusionOf(source, WORDS[1], (s) => progress.push(s.done));
  report(0, 4);
  await until('the progress of the job', () => progress.includes(4));
  assert.ok(seen.some((p) => p.request?.done === 4), 'the prefetch line hears it too');
  assert.equal(jobs.length, 1);
  finish(0);
  assert.deepEqual((await clicked).slice(4, 8), [0, 3, 3, 0]);
  // Then the rest of the plan; every span is at hand, no more requests.
  await until('the second job', () => jobs.length === 2);
  assert.deepEqual(jobs[1].inputs.map((d) => ones(d.target_mask)), [[8, 9]]);
  finish(1);
  await source.background.idle();
  assert.deepEqual(seen.at(-1), {done: 4, total: 4, running: false, error: ''});
  for (const range of WORDS) assert.ok(source.methodReady(PROMPT, OUTPUT, range, 'occlusion', OCCLUSION));
  assert.deepEqual((await occlusionOf(source, WORDS[3])).slice(7), [0, 3, 3]);
  assert.equal(jobs.length, 2);
});

test('occlusion: a click waits for the output\'s first request (it does every span\'s work), then asks; ' +
     'once that is done a click overtakes the prefetch', async () => {
  const {jobs, source, finish} = fakeServer();
  source.prefetchMethod({}, PROMPT, OUTPUT, 10, WORDS, 'occlusion', OCCLUSION, 1);
  await until('the first job', () => jobs.length === 1);
  // A span the first request does not cover: nothing is asked while it runs (it would do the same work again).
  const clicked = occlusionOf(source, WORDS[3]);
  for (let i = 0; i < 20; i++) await tick();
  assert.equal(jobs.length, 1);
  finish(0);
  await until('the click\'s own job', () => jobs.length === 2);
  assert.deepEqual(jobs[1].inputs.map((d) => ones(d.target_mask)), [[8, 9]], 'the click first, ahead of the plan');
  finish(1);
  await clicked;
  await until('the plan\'s next job', () => jobs.length === 3);
  assert.deepEqual(jobs[2].inputs.map((d) => ones(d.target_mask)), [[5, 6]]);
  // With the work done once, a click goes at once, while a prefetch job is on its way.
  const other = {start: 1, end: 3};
  const overtaking = occlusionOf(source, other);
  await until('the overtaking job', () => jobs.length === 4);
  assert.deepEqual(jobs[3].inputs.map((d) => ones(d.target_mask)), [[1, 2]]);
  assert.equal(jobs[2].status.state, 'running');
  finish(3);
  await overtaking;
  finish(2);
  await until('the last job', () => jobs.length === 5);
  finish(4);
  await source.background.idle();
  assert.equal(jobs.length, 5);
});

test('occlusion prefetch: Stop cancels its job on the server unless a click waits for it; ' +
     'a new plan for the same work lets it finish, one for other work stops it', async () => {
  const {jobs, source, finish} = fakeServer();
  const owner = {};
  const plan = (settings = OCCLUSION) =>
    source.prefetchMethod(owner, PROMPT, OUTPUT, 10, WORDS, 'occlusion', settings, 2);
  plan();
  await until('a job', () => jobs.length === 1);
  source.background.cancel(owner);
  await until('the job cancelled', () => jobs[0].status.state === 'cancelled');
  assert.equal(source.methodReady(PROMPT, OUTPUT, WORDS[0], 'occlusion', OCCLUSION), false);

  // A click joined it: Stop leaves it running for the click.
  plan();
  await until('another job', () => jobs.length === 2);
  const clicked = occlusionOf(source, WORDS[0]);
  await tick();
  source.background.cancel(owner);
  for (let i = 0; i < 20; i++) await tick();
  assert.equal(jobs[1].status.state, 'running');
  finish(1);
  await clicked;

  // The same work again (another selection): the job on its way goes on.
  plan();
  await until('a third job', () => jobs.length === 3);
  plan();
  for (let i = 0; i < 20; i++) await tick();
  assert.equal(jobs[2].status.state, 'running');
  // Other work (another granularity): it stops.
  plan({occlusion_granularity: 'sentences'});
  await until('the job cancelled', () => jobs[2].status.state === 'cancelled');
  source.background.cancel(owner);
});

test('occlusion in a view: prefetched after the click; at hand, a click waits for nothing; none with a foil', async () => {
  const {jobs, source, finish} = fakeServer();
  const occlusion = SERVER_METHOD('occlusion');
  const query = (range: TokenRange, foil = ''): ScoreQuery => ({
    prompt: PROMPT, output: OUTPUT, tokenized: TOKENIZED, segments: paneSegments(TOKENIZED, 'words'), range,
    method: occlusion, granularity: 'words', foil});
  const plan = planScores(source, query(WORDS[1]));
  assert.ok(plan.kind === 'costly' && plan.sharesSpans);
  assert.deepEqual(plan.kind === 'costly' && plan.background, [WORDS[2], WORDS[0], WORDS[3]], 'nearest first');
  assert.match(plan.status, /^Computing occlusion for the selection/);
  const scores = loadScores(source, query(WORDS[1]), plan);
  await until('a job', () => jobs.length === 1);
  finish(0);
  await scores;
  if (plan.kind === 'costly') {
    source.prefetchMethod({}, PROMPT, OUTPUT, 10, plan.background, 'occlusion', plan.settings, 32);
  }
  await until('the prefetch job', () => jobs.length === 2);
  assert.deepEqual(jobs[1].inputs.map((d) => ones(d.target_mask)), [[7], [4], [8, 9]], 'one job for the rest');
  finish(1);
  await source.background.idle();
  const next = planScores(source, query(WORDS[3]));
  assert.equal(next.status, '', 'prefetched: no status, no progress');
  assert.deepEqual((await loadScores(source, query(WORDS[3]), next))['occlusion'].slice(8), [3, 3]);
  assert.equal(jobs.length, 2);
  // Against a foil each span's deletions are its own: nothing to prefetch, not ready.
  const contrastive = planScores(source, query(WORDS[3], ' Six'));
  assert.ok(contrastive.kind === 'costly' && !contrastive.sharesSpans && !contrastive.background.length);
  assert.notEqual(contrastive.status, '');
  // A method whose spans do not share their work (integrated gradients): no prefetch either.
  const ig = planScores(source, {...query(WORDS[3]), method: SERVER_METHOD('integrated_gradients')});
  assert.ok(ig.kind === 'costly' && !ig.sharesSpans && !ig.background.length);
});

test('the deletion check: a job for the view shown (method, its settings, granularity, foil); cached per view', async () => {
  const {jobs, source, finish} = fakeServer();
  source.options.check = {field: 'check', settings: [{name: 'check_granularity', default: 'sentences',
                                                      follows: 'granularity', choices: ['words', 'sentences']}],
                          ks: [1, 2, 3], draws: 8, verdicts: {}};
  const run = (granularity: string, foil = '') => source.check(PROMPT, OUTPUT, 10, WORDS[3], 'occlusion', OCCLUSION,
                                                               granularity, foil);
  assert.equal(source.checkDone(PROMPT, OUTPUT, WORDS[3], 'occlusion', OCCLUSION, 'words'), undefined);
  const first = run('words');
  await until('a job', () => jobs.length === 1);
  assert.match(jobs[0].url, /seqsal\/jobs\?model=_m_salience&requested_fields=check$/);
  assert.deepEqual(jobs[0].inputs, [{prompt: PROMPT, target: OUTPUT, target_mask: [0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
                                     salience_methods: ['occlusion'], occlusion_granularity: 'words',
                                     check: 'occlusion', check_granularity: 'words'}]);
  finish(0);
  assert.deepEqual(await first, {method: 'occlusion', granularity: 'words', by_k: []});
  assert.deepEqual(await source.checkDone(PROMPT, OUTPUT, WORDS[3], 'occlusion', OCCLUSION, 'words'), await first);
  await run('words');
  assert.equal(jobs.length, 1, 'cached');
  const contrastive = run('sentences', ' Six');
  await until('a second job', () => jobs.length === 2);
  assert.equal(jobs[1].inputs[0]['foil'], ' Six');
  assert.equal(jobs[1].inputs[0]['check_granularity'], 'sentences');
  finish(1);
  await contrastive;
});

test('drop it and regenerate: the edits go to the generation model as token ranges, with the output ' +
     '(whose tokens they count) and the prompt\'s fields; cached per edits', async () => {
  const {jobs, source, finish} = fakeServer();
  const prompt = {prompt: PROMPT, stop: ['\n\n'], max_new_tokens: 8};
  const edits = [{start: 1, end: 2}, {start: 3, end: 4, text: '?'}];
  const answer = source.regenerate(prompt, OUTPUT, edits);
  await until('a job', () => jobs.length === 1);
  assert.match(jobs[0].url, /seqsal\/jobs\?model=m&requested_fields=response%2Cedited_prompt%2Cedit$/);
  assert.deepEqual(jobs[0].inputs, [{prompt: PROMPT, stop: ['\n\n'], max_new_tokens: 8, target: OUTPUT, edits}]);
  finish(0);
  assert.deepEqual(await answer, {response: 'A new text here', editedPrompt: 'there:', edit: {changes: edits}});
  await source.regenerate(prompt, OUTPUT, edits);
  assert.equal(jobs.length, 1, 'cached');
  // Opened as an example of its own, its generation is at hand.
  const opened = {prompt: 'there:', stop: ['\n\n']};
  assert.equal(source.hasGeneration(opened), false);
  source.rememberGeneration(opened, 'A new text here');
  assert.equal(source.hasGeneration(opened), true);
  assert.equal(await source.generate(opened), 'A new text here');
  assert.equal(jobs.length, 1);
});
