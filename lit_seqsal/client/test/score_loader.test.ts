import assert from 'node:assert/strict';
import {test} from 'node:test';

import {LitApi} from '../src/api.js';
import type {Fetch} from '../src/api.js';
import type {JobStatus} from '../src/jobs.js';
import type {MethodInfo} from '../src/methods.js';
import {paneSegments} from '../src/pane_view.js';
import {SalienceSource} from '../src/salience_data.js';
import {costlyStatus, loadScores, planScores} from '../src/score_loader.js';
import type {ScoreQuery} from '../src/score_loader.js';
import type {Granularity, TokenRange} from '../src/segments.js';
import {WorkController} from '../src/work_controller.js';
import {SERVER_METHOD} from './server_methods.js';

// Prompt " Hi there:" (after BOS), output " One two. Three four."
const TOKENIZED = {
  tokens: ['<bos>', '▁Hi', '▁there', ':', '▁One', '▁two', '.', '▁Three', '▁four', '.'],
  promptLength: 4,
};
const WORDS = paneSegments(TOKENIZED, 'words');
const PROMPT = 'Hi there:';
const OUTPUT = ' One two. Three four.';

type Input = Record<string, unknown> & {target_mask: number[], foil?: string, salience_methods?: string[]};
interface Call {url: string, method: string, inputs: Input[]}

/**
 * A fake server: salience answers each input's mask as scores (the gradient
 * methods, or the one costly method asked for; negative against a foil) with
 * the model's alternatives; with jobs, a job is done after `steps` polls.
 */
function fakeServer(o: {jobs?: boolean, steps?: number} = {}) {
  const calls: Call[] = [];
  const jobs = new Map<string, {status: JobStatus, result: unknown}>();
  const answer = (inputs: Input[]) => inputs.map((data) => {
    const sign = data.foil ? -1 : 1;
    if (data.salience_methods) return {[data.salience_methods[0]]: data.target_mask.map((m) => sign * m * 3)};
    return {tokens: TOKENIZED.tokens, grad_l2: data.target_mask.map((m) => m * 2),
            grad_dot_input: data.target_mask.map((m) => sign * m), alternatives: [['▁Five', 0.5]]};
  });
  const ok = (value: unknown, status = 200) => ({ok: true, status, text: async () => JSON.stringify(value)});
  const fetcher: Fetch = async (url, init) => {
    const inputs = init.body ? (JSON.parse(init.body).inputs ?? []).map((ex: {data: Input}) => ex.data) : [];
    calls.push({url, method: init.method, inputs});
    const path = new URL(url, 'http://x/').pathname;
    if (path === '/get_preds') return ok(answer(inputs));
    if (path === '/seqsal/jobs') {
      const id = `job${jobs.size}`;
      const status: JobStatus = {id, state: 'running', done: 0, total: o.steps ?? 2, fraction: 0, elapsed_s: 0,
                                 remaining_s: null};
      jobs.set(id, {status, result: answer(inputs)});
      return ok({job: status}, 202);
    }
    const [, id, cancel] = path.match(/^\/seqsal\/jobs\/(\w+)(\/cancel)?$/) ?? [];
    const job = jobs.get(id)!;
    if (cancel) job.status = {...job.status, state: 'cancelled'};
    else if (job.status.state === 'running') {
      const done = job.status.done + 1;
      job.status = {...job.status, done, fraction: done / job.status.total,
                    state: done >= job.status.total ? 'done' : 'running'};
    }
    return ok({job: {...job.status, ...(job.status.state === 'done' ? {result: job.result} : {})}});
  };
  const source = new SalienceSource(new LitApi('./', fetcher), 'm', {jobs: !!o.jobs});
  const salience = () => calls.filter((c) => c.url.includes('model=_m_salience'));
  return {calls, jobs, source, salience};
}

/** A query for output words [lo, hi] of the fixture, at `granularity`. */
function query(range: TokenRange, o: {method?: MethodInfo, foil?: string, granularity?: Granularity} = {}): ScoreQuery {
  const granularity = o.granularity ?? 'words';
  return {prompt: PROMPT, output: OUTPUT, tokenized: TOKENIZED, segments: paneSegments(TOKENIZED, granularity), range,
          method: o.method, granularity, foil: o.foil ?? ''};
}
const ones = (mask: number[]) => mask.map((m, i) => m ? i : -1).filter((i) => i >= 0);
const TWO = {start: 5, end: 7};  // " two."

test('costly methods: progress text counts the units before the selection; no occlusion of custom units', () => {
  const wanted = {start: 7, end: 10};  // " Three four."
  const occlusion = costlyStatus(SERVER_METHOD('occlusion'), 'words', WORDS, wanted);
  assert.equal(occlusion.error, '');
  assert.match(occlusion.status, /once without each of the 4 words before the selection/);
  assert.match(costlyStatus(SERVER_METHOD('integrated_gradients'), 'words', WORDS, wanted).status,
               /^Computing integrated gradients for the selection/);
  assert.match(costlyStatus(SERVER_METHOD('occlusion'), 'turns', WORDS, wanted).error, /pick one of those granularities/);
  const custom = costlyStatus(SERVER_METHOD('occlusion'), 'custom', WORDS, wanted);
  assert.equal(custom.status, '');
  assert.match(custom.error, /pick one of those granularities/);
});

test('plain scores: one batch of every output segment (the selection first); then cache hits make no request', async () => {
  const {source, salience} = fakeServer();
  for (const method of [SERVER_METHOD('grad_l2'), SERVER_METHOD('grad_dot_input'), undefined]) {
    const plan = planScores(source, query(TWO, {method}));
    assert.equal(plan.kind, 'gradients');
    assert.deepEqual(plan.wanted, TWO);
  }
  const q = query(TWO, {method: SERVER_METHOD('grad_l2')});
  const plan = planScores(source, q);
  assert.equal(plan.status, 'Computing salience for 4 output segments…');
  const scores = await loadScores(source, q, plan);
  assert.equal(salience().length, 1);
  const [request] = salience();
  assert.doesNotMatch(request.url, /requested_fields|seqsal\/jobs/);
  assert.deepEqual(request.inputs.map((d) => ones(d.target_mask)), [[5, 6], [4], [7], [8, 9]], 'the selection first');
  for (const d of request.inputs) {
    assert.deepEqual(Object.keys(d).sort(), ['prompt', 'target', 'target_mask'], 'no foil, no costly method');
    assert.deepEqual([d['prompt'], d['target']], [PROMPT, OUTPUT]);
  }
  assert.deepEqual(scores['grad_l2'], [0, 0, 0, 0, 0, 2, 2, 0, 0, 0]);
  // Another segment, or the same with another gradient method: at hand, no status, no request.
  for (const [range, method] of [[{start: 7, end: 8}, 'grad_l2'], [TWO, 'grad_dot_input']] as const) {
    const next = query(range, {method: SERVER_METHOD(method)});
    const cached = planScores(source, next);
    assert.equal(cached.status, '');
    assert.ok((await loadScores(source, next, cached))[method]);
  }
  assert.equal(salience().length, 1);
  // A selection spanning segments is explained as one range, fetched alone.
  const span = query({start: 4, end: 7});
  const spanPlan = planScores(source, span);
  assert.equal(spanPlan.status, 'Computing salience for 5 output segments…');
  await loadScores(source, span, spanPlan);
  assert.deepEqual(salience().slice(1).map((c) => c.inputs.map((d) => ones(d.target_mask))), [[[4, 5, 6]]]);
});

test('contrastive scores: the selection alone against the foil, a light request, cached per foil', async () => {
  const {source, salience} = fakeServer();
  const q = query(TWO, {method: SERVER_METHOD('grad_dot_input'), foil: ' Six.'});
  const plan = planScores(source, q);
  assert.deepEqual([plan.kind, plan.status], ['contrastive', 'Computing contrastive salience: why “two.” instead of “Six.”…']);
  const scores = await loadScores(source, q, plan);
  assert.equal(salience().length, 1);
  const [request] = salience();
  assert.doesNotMatch(request.url, /seqsal\/jobs/);
  assert.equal(request.inputs.length, 1);
  assert.deepEqual(request.inputs[0], {prompt: PROMPT, target: OUTPUT, target_mask: [0, 0, 0, 0, 0, 1, 1, 0, 0, 0],
                                       foil: ' Six.'});
  assert.deepEqual(scores['grad_dot_input'].slice(4, 8), [0, -1, -1, 0]);
  // An unsigned gradient method with a foil (the user's choice) is contrastive too.
  await loadScores(source, q, planScores(source, {...q, method: SERVER_METHOD('grad_l2')}));
  assert.equal(salience().length, 1, 'the same request: cached');
  await loadScores(source, {...q, foil: 'Seven'}, planScores(source, {...q, foil: 'Seven'}));
  assert.equal(salience().length, 2, 'another foil, another request');
  assert.equal(salience()[1].inputs[0].foil, 'Seven');
  // The alternatives came with it.
  assert.deepEqual(await source.alternatives(PROMPT, OUTPUT, 10, TWO), [['▁Five', 0.5]]);
  assert.equal(salience().length, 2);
});

test('costly methods: the selection alone with the settings that follow the view; cached per setting', async () => {
  const {source, salience} = fakeServer();
  const ig = SERVER_METHOD('integrated_gradients');
  const plan = planScores(source, query(TWO, {method: ig}));
  assert.equal(plan.kind, 'costly');
  assert.match(plan.status, /^Computing integrated gradients for the selection \(the model runs forward and backward/);
  const scores = await loadScores(source, query(TWO, {method: ig}), plan);
  assert.deepEqual(Object.keys(scores), ['integrated_gradients']);
  assert.deepEqual(scores['integrated_gradients'].slice(4, 8), [0, 3, 3, 0]);
  const [request] = salience();
  assert.match(request.url, /requested_fields=integrated_gradients$/);
  assert.deepEqual(request.inputs, [{prompt: PROMPT, target: OUTPUT, target_mask: [0, 0, 0, 0, 0, 1, 1, 0, 0, 0],
                                     salience_methods: ['integrated_gradients']}]);
  // Integrated gradients do not depend on the granularity shown.
  for (const granularity of ['lines', 'custom', 'turns'] as const) {
    const q = query(TWO, {method: ig, granularity});
    await loadScores(source, q, planScores(source, q));
  }
  assert.equal(salience().length, 1);

  // Occlusion deletes units of the view's granularity: its setting follows it.
  const occlusion = SERVER_METHOD('occlusion');
  for (const granularity of ['words', 'sentences', 'words'] as const) {
    const q = query(TWO, {method: occlusion, granularity});
    const p = planScores(source, q);
    assert.deepEqual(p.kind === 'costly' && p.settings, {occlusion_granularity: granularity});
    await loadScores(source, q, p);
  }
  assert.deepEqual(salience().slice(1).map((c) => c.inputs[0]['occlusion_granularity']), ['words', 'sentences']);
  // At a granularity the setting cannot take: nothing is requested, and the pane says why.
  const custom = query(TWO, {method: occlusion, granularity: 'custom'});
  const unavailable = planScores(source, custom);
  assert.equal(unavailable.kind, 'unavailable');
  assert.match(unavailable.kind === 'unavailable' ? unavailable.error : '', /pick one of those granularities/);
  await assert.rejects(loadScores(source, custom, unavailable), /pick one of those granularities/);
  assert.equal(salience().length, 3);
});

test('costly methods with a foil: the foil goes with the method, cached apart from the plain one', async () => {
  const {source, salience} = fakeServer();
  const q = query(TWO, {method: SERVER_METHOD('occlusion'), foil: ' Six.'});
  const plan = planScores(source, q);
  assert.match(plan.status, /once without each of the 3 words before the selection\)… \(contrastive, instead of “Six\.”\)$/);
  const scores = await loadScores(source, q, plan);
  assert.deepEqual(scores['occlusion'].slice(4, 8), [0, -3, -3, 0]);
  assert.deepEqual(salience()[0].inputs[0], {
    prompt: PROMPT, target: OUTPUT, target_mask: [0, 0, 0, 0, 0, 1, 1, 0, 0, 0], salience_methods: ['occlusion'],
    occlusion_granularity: 'words', foil: ' Six.'});
  await loadScores(source, {...q, foil: ''}, planScores(source, {...q, foil: ''}));
  await loadScores(source, q, planScores(source, q));
  assert.equal(salience().length, 2);
  assert.equal(salience()[1].inputs[0].foil, undefined);
});

test('what is requested follows the methods\' properties from the server, not their names', async () => {
  const {source, salience} = fakeServer();
  const deletion: MethodInfo = {
    name: 'deletion', label: 'Deletion', description: '', signed: true, on_request: true, contrastive: true,
    settings: [{name: 'unit', default: 'words', follows: 'granularity', choices: ['words', 'lines']},
               {name: 'samples', default: 8, low: 1, high: 64}],
    work_note: 'the model reads the prompt {units} times, once without each of its {granularity}'};
  const q = query(TWO, {method: deletion});
  const plan = planScores(source, q);
  assert.equal(plan.status, 'Computing deletion for the selection (the model reads the prompt 3 times, once without ' +
                            'each of its words)…');
  await loadScores(source, q, plan);
  assert.deepEqual(salience()[0].inputs[0]['salience_methods'], ['deletion']);
  assert.equal(salience()[0].inputs[0]['unit'], 'words');
  assert.equal('samples' in salience()[0].inputs[0], false, 'a setting that does not follow the view: the server default');
  const sentences = planScores(source, query(TWO, {method: deletion, granularity: 'sentences'}));
  assert.equal(sentences.kind === 'unavailable' && sentences.error,
               'Deletion works on words or lines: pick one of those granularities.');
  // A light method named like a costly one is batched with the gradients.
  const light = planScores(source, query(TWO, {method: {...SERVER_METHOD('grad_l2'), name: 'occlusion'}}));
  assert.equal(light.kind, 'gradients');
});

test('with the work controller: stale answers are ignored, a job shows progress and cancels', async () => {
  const {source, salience, calls, jobs} = fakeServer({jobs: true, steps: 1000});
  const host = {addController: () => undefined, requestUpdate: () => undefined};
  const work = new WorkController(host);
  const shown: Array<Record<string, number[]>> = [];
  const start = (q: ScoreQuery) => {
    const plan = planScores(source, q);
    return work.run((handlers) => loadScores(source, q, plan, handlers), {
      status: plan.status, progress: plan.kind === 'costly', done: (s) => shown.push(s),
      cancelled: {notice: 'Cancelled.', restart: () => undefined}});
  };
  // Two selections in a row: only the second's scores are shown, though both batches arrive.
  const first = start(query({start: 4, end: 5}));
  const second = start(query({start: 4, end: 7}));
  await first;
  await second;
  assert.equal(shown.length, 1);
  assert.deepEqual(ones(shown[0]['grad_l2']), [4, 5, 6]);
  assert.equal(salience().length, 2);
  // A costly method runs as a job: progress, then Cancel stops it on the server.
  const costly = start(query(TWO, {method: SERVER_METHOD('integrated_gradients')}));
  assert.equal(work.working, true);
  for (let i = 0; i < 100 && !work.progress?.done; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(work.progress && work.progress.done >= 1, 'progress of the job');
  work.cancel();
  await costly;
  assert.deepEqual([work.notice, work.working, work.busy], ['Cancelled.', false, false]);
  for (let i = 0; i < 100 && !calls.some((c) => c.url.endsWith('/cancel')); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(jobs.get('job0')!.status.state, 'cancelled');
  assert.equal(shown.length, 1);
});
