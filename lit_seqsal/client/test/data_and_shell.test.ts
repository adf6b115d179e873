import assert from 'node:assert/strict';
import {test} from 'node:test';

import {
  LitApi, ServerError, salienceGroups, salienceMethods, salienceModelName, serverErrorMessage,
  tokenizerModelName,
} from '../src/api.js';
import type {Fetch, ServerInfo} from '../src/api.js';
import {textColorFor} from '../src/colors.js';
import {escapeHtml, viewToHtml} from '../src/export.js';
import type {ExportedView} from '../src/export.js';
import {arrangementFor} from '../src/layout.js';
import {legacyMethods} from '../src/methods.js';
import {explainedRange, maskFor} from '../src/ranges.js';
import {SalienceSource} from '../src/salience_data.js';
import {parseUrlParams} from '../src/url_params.js';

/** A fake LIT server: records requests, answers salience with the mask as scores. */
function fakeServer(failSalience = false) {
  const calls: Array<{url: string, body: {inputs: Array<{data: Record<string, unknown>}>}}> = [];
  const fetcher: Fetch = async (url, init) => {
    const body = JSON.parse(init.body ?? '{}');
    calls.push({url, body});
    const model = new URL(url, 'http://x/').searchParams.get('model');
    let result: unknown;
    if (model === '_m_tokenizer') {
      result = body.inputs.map((ex: {data: {target?: string}}) => ({
        tokens: ex.data.target ? ['<bos>', '▁Hi', '▁there', '▁you'] : ['<bos>', '▁Hi']}));
    } else if (model === '_m_salience') {
      if (failSalience) return {ok: false, status: 500, text: async () => 'Uncaught error: too long\n\nDetails: Traceback'};
      result = body.inputs.map((ex: {data: {target_mask: number[], salience_methods?: string[]}}) => {
        const [method] = ex.data.salience_methods ?? ['grad_l2'];
        return {tokens: [], [method]: ex.data.target_mask.map((m) => m * 2)};
      });
    } else {
      result = body.inputs.map(() => ({response: ' there you'}));
    }
    return {ok: true, status: 200, text: async () => JSON.stringify(result)};
  };
  return {calls, api: new LitApi('./', fetcher)};
}

test('server errors keep the message, not the traceback', () => {
  assert.equal(serverErrorMessage('Uncaught error: Prompt is too long\n\nDetails: Traceback ...'), 'Prompt is too long');
  assert.equal(serverErrorMessage('plain text'), 'plain text');
  assert.match(serverErrorMessage(''), /without a message/);
});

test('tokenize finds the prompt boundary from the prompt alone, and caches', async () => {
  const {calls, api} = fakeServer();
  const source = new SalienceSource(api, 'm');
  const t = await source.tokenize('Hi', ' there you');
  assert.deepEqual(t, {tokens: ['<bos>', '▁Hi', '▁there', '▁you'], promptLength: 2});
  await source.tokenize('Hi', ' there you');
  assert.equal(calls.length, 1);
});

test('scores: one request for all missing masks, cached afterwards', async () => {
  const {calls, api} = fakeServer();
  const source = new SalienceSource(api, 'm');
  const ranges = [{start: 2, end: 3}, {start: 3, end: 4}];
  const scores = await source.scores('Hi', ' there you', 4, ranges);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].body.inputs.length, 2);
  assert.deepEqual(calls[0].body.inputs[0].data['target_mask'], [0, 0, 1, 0]);
  assert.deepEqual(scores[1]['grad_l2'], [0, 0, 0, 2]);
  assert.equal(scores[0]['tokens'], undefined);
  await source.scores('Hi', ' there you', 4, [{start: 3, end: 4}, {start: 2, end: 4}]);
  assert.equal(calls.length, 2);
  assert.equal(calls[1].body.inputs.length, 1, 'only the new range is fetched');
});

test('a failed request is reported and not cached', async () => {
  const {calls, api} = fakeServer(true);
  const source = new SalienceSource(api, 'm');
  await assert.rejects(source.scores('Hi', ' x', 4, [{start: 2, end: 3}]),
                       (e: unknown) => e instanceof ServerError && e.message === 'too long' && e.status === 500);
  await assert.rejects(source.scores('Hi', ' x', 4, [{start: 2, end: 3}]));
  assert.equal(calls.length, 2);
});

test('generation is cached per prompt', async () => {
  const {calls, api} = fakeServer();
  const source = new SalienceSource(api, 'm');
  assert.equal(source.hasGeneration('Hi'), false);
  assert.equal(await source.generate('Hi'), ' there you');
  assert.equal(source.hasGeneration('Hi'), true);
  await source.generate('Hi');
  assert.equal(calls.length, 1);
  assert.match(calls[0].url, /requested_fields=response/);
});

test('masks never select BOS and stay in bounds', () => {
  assert.deepEqual(maskFor(4, {start: 0, end: 9}), [0, 1, 1, 1]);
});

test('groups and methods come from /get_info', () => {
  const score = {__name__: 'TokenScores'};
  const info = {
    models: {
      a: {spec: {input: {}, output: {}}, datasets: []},
      _a_salience: {spec: {input: {}, output: {tokens: {__name__: 'Tokens'}, grad_l2: score, occlusion: score}}, datasets: []},
      b: {spec: {input: {}, output: {}}, datasets: []},
    },
    datasets: {}, layouts: {},
  } as unknown as ServerInfo;
  assert.deepEqual(salienceGroups(info), ['a']);
  assert.deepEqual(salienceMethods(info, 'a'), ['grad_l2', 'occlusion']);
  // The names the server registers a group's helper models under (lit_seqsal/contract.py).
  assert.equal(salienceModelName('a'), '_a_salience');
  assert.equal(tokenizerModelName('gemma'), '_gemma_tokenizer');
});

test("LIT's URL parameters", () => {
  const c = parseUrlParams('?models=g,h&dataset=d&layout=top_bottom&data1_prompt=B&data0_prompt=A%0Ax&data0_target=t&data0_source=s');
  assert.deepEqual(c.models, ['g', 'h']);
  assert.equal(c.dataset, 'd');
  assert.equal(c.layout, 'top_bottom');
  assert.deepEqual(c.data, [{prompt: 'A\nx', target: 't', source: 's'}, {prompt: 'B'}]);
  assert.deepEqual(parseUrlParams('').data, []);
});

test('layouts place examples, editor and salience where LIT would', () => {
  const leftRight = arrangementFor({
    left: {Examples: ['data-table-module'], Edit: ['single-datapoint-editor-module']},
    upper: {'Sequence Salience': ['sequence-salience-module']}, layoutSettings: {leftWidth: 40},
  } as never);
  assert.deepEqual(leftRight.areas, {left: ['examples', 'editor'], upper: ['salience'], lower: []});
  assert.equal(leftRight.leftWidth, 40);
  const topBottom = arrangementFor({
    upper: {Examples: ['simple-data-table-module'], Edit: ['simple-datapoint-editor-module']},
    lower: {S: ['sequence-salience-module']}});
  assert.deepEqual(topBottom.areas, {left: [], upper: ['examples', 'editor'], lower: ['salience']});
  assert.deepEqual(arrangementFor(undefined).areas, {left: ['examples', 'editor'], upper: ['salience'], lower: []});
});

test('HTML export is standalone and escapes text', () => {
  assert.equal(escapeHtml('<b a="1">&\''), '&lt;b a=&quot;1&quot;&gt;&amp;&#39;');
  const view: ExportedView = {
    model: 'm', view: 'plain', foil: null, method: 'grad_l2', granularity: 'words', prompt: '<p>', output: ' x', source: 's',
    legendText: {caption: 'grad_l2', explanation: 'Darker parts mattered more to “x”.'},
    selection: {text: ' x', firstSegment: 0, lastSegment: 0}, scaleMax: 1, signed: false,
    legend: [{value: 0, color: 'rgb(255, 255, 255)'}, {value: 1, color: 'rgb(8, 48, 107)'}],
    segments: [
      {role: 'prompt', text: '<p>', score: 0.5, color: 'rgb(66, 146, 198)', selected: false},
      {role: 'output', text: ' x', score: null, color: 'rgb(255, 255, 255)', selected: true},
    ],
  };
  const page = viewToHtml(view, textColorFor);
  assert.match(page, /<span class="seg prompt" style="background:rgb\(66, 146, 198\);[^"]*" title="grad_l2: 0.5">&lt;p&gt;<\/span>/);
  assert.match(page, /class="seg output selected"/);
  assert.doesNotMatch(page, /<script|src=|href=/);
});

test('explained ranges leave out whitespace at their ends, unless that is all they are', () => {
  const tokens = ['<bos>', '▁Hi', '\n', '▁Rec', ':', '▁Avoid', '.', '\n\n', '▁'];
  assert.deepEqual(explainedRange(tokens, {start: 3, end: 9}), {start: 3, end: 7});
  assert.deepEqual(explainedRange(tokens, {start: 2, end: 5}), {start: 3, end: 5});
  assert.deepEqual(explainedRange(tokens, {start: 7, end: 8}), {start: 7, end: 8});
  assert.deepEqual(explainedRange(tokens, {start: 7, end: 9}), {start: 7, end: 9});
});

test('costly methods: listed from the spec, asked for one range at a time, cached per granularity', async () => {
  const field = (required?: boolean) => ({__name__: 'TokenScores', ...(required === undefined ? {} : {required})});
  const info = {models: {m: {spec: {input: {}, output: {}}, datasets: []}, _m_salience: {datasets: [], spec: {
    input: {}, output: {tokens: {__name__: 'Tokens'}, grad_l2: field(), grad_dot_input: field(true),
      integrated_gradients: field(false), occlusion: field(false)}}}}, datasets: {}, layouts: {}} as ServerInfo;
  assert.deepEqual(salienceMethods(info, 'm'), ['grad_l2', 'grad_dot_input', 'integrated_gradients', 'occlusion']);
  // From a server without /seqsal/info methods: not `required` is computed on request (methods.test.ts has the rest).
  assert.deepEqual(legacyMethods(info, 'm').filter((m) => m.on_request).map((m) => m.name),
                   ['integrated_gradients', 'occlusion']);

  const {calls, api} = fakeServer();
  const source = new SalienceSource(api, 'm');
  const range = {start: 2, end: 4};
  const occ = await source.methodScores('Hi', ' there you', 4, range, 'occlusion', {occlusion_granularity: 'sentences'});
  assert.deepEqual(occ, [0, 0, 2, 2]);
  assert.equal(calls.length, 1);
  const sent = calls[0].body.inputs[0].data;
  assert.deepEqual(sent['salience_methods'], ['occlusion']);
  assert.equal(sent['occlusion_granularity'], 'sentences');
  assert.match(calls[0].url, /requested_fields=occlusion/);
  await source.methodScores('Hi', ' there you', 4, range, 'occlusion', {occlusion_granularity: 'sentences'});
  assert.equal(calls.length, 1);
  await source.methodScores('Hi', ' there you', 4, range, 'occlusion', {occlusion_granularity: 'words'});
  assert.equal(calls.length, 2);
  // Integrated gradients have no setting that follows the view (score_loader.test.ts: whatever the granularity).
  await source.methodScores('Hi', ' there you', 4, range, 'integrated_gradients', {});
  await source.methodScores('Hi', ' there you', 4, range, 'integrated_gradients', {});
  assert.equal(calls.length, 3);
  assert.equal(calls[2].body.inputs[0].data['occlusion_granularity'], undefined);
});
