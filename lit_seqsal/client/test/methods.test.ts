import assert from 'node:assert/strict';
import {test} from 'node:test';

import type {SeqsalInfo, ServerInfo} from '../src/api.js';
import {
  FALLBACK_DEFAULT_METHOD, contrastiveMethod, groupMethods, legacyMethods, menuLabel, methodNamed, methodSettings,
  workNote,
} from '../src/methods.js';
import type {MethodInfo} from '../src/methods.js';
import {SERVER_DEFAULT_METHOD, SERVER_METHOD, SERVER_METHODS} from './server_methods.js';

const field = (required?: boolean) => ({__name__: 'TokenScores', ...(required === undefined ? {} : {required})});
/** /get_info of one group whose salience model has these TokenScores fields. */
function litInfo(fields: Record<string, boolean | undefined>): ServerInfo {
  const output: Record<string, unknown> = {tokens: {__name__: 'Tokens'}};
  for (const [name, required] of Object.entries(fields)) output[name] = field(required);
  const models = {m: {spec: {input: {}, output: {}}, datasets: []},
                  _m_salience: {spec: {input: {}, output}, datasets: []}};
  return {models, datasets: {}, layouts: {}} as unknown as ServerInfo;
}
const ALL = litInfo({grad_l2: undefined, grad_dot_input: true, integrated_gradients: false, occlusion: false});
const seqsal = (o: Partial<SeqsalInfo> = {}): SeqsalInfo => ({
  hosted: false, jobs: true, limits: {}, methods: SERVER_METHODS, default_method: SERVER_DEFAULT_METHOD, ...o});

test('methods: the spec says which a group has, /seqsal/info what each is', () => {
  const menu = groupMethods(ALL, 'm', seqsal());
  assert.deepEqual(menu.methods, SERVER_METHODS);
  assert.equal(menu.defaultMethod, 'grad_l2');
  // The spec's order and the spec's methods only; the server's default where offered.
  const two = groupMethods(litInfo({occlusion: false, grad_dot_input: true}), 'm', seqsal({default_method: 'grad_dot_input'}));
  assert.deepEqual(two.methods.map((m) => m.name), ['occlusion', 'grad_dot_input']);
  assert.equal(two.defaultMethod, 'grad_dot_input');
  assert.equal(groupMethods(litInfo({occlusion: false}), 'm', seqsal()).defaultMethod, 'occlusion', 'else the first');
  // Properties as served, whatever the name: a server may call its methods anything.
  const renamed = SERVER_METHODS.map((m) => ({...m, name: `x_${m.name}`, label: `X ${m.label}`}));
  const custom = groupMethods(litInfo({x_grad_l2: undefined, x_occlusion: false}), 'm',
                              seqsal({methods: renamed, default_method: 'x_occlusion'}));
  assert.deepEqual(custom.methods.map((m) => [m.name, m.label, m.signed, m.on_request]),
                   [['x_grad_l2', 'X Gradient norm', false, false], ['x_occlusion', 'X Occlusion (deletion)', true, true]]);
  assert.equal(custom.defaultMethod, 'x_occlusion');
  assert.equal(groupMethods(ALL, 'nope', seqsal()).methods.length, 0);
});

test('methods of a server without /seqsal/info: read from the spec as before (the legacy description)', () => {
  for (const info of [undefined, seqsal({methods: undefined, default_method: undefined})]) {
    const menu = groupMethods(ALL, 'm', info);
    assert.deepEqual(menu.methods, legacyMethods(ALL, 'm'));
    assert.equal(menu.defaultMethod, FALLBACK_DEFAULT_METHOD);
  }
  const legacy = legacyMethods(ALL, 'm');
  assert.deepEqual(legacy.map((m) => [m.name, m.label, m.signed, m.on_request, m.contrastive]), [
    ['grad_l2', 'grad_l2', false, false, true], ['grad_dot_input', 'grad_dot_input', true, false, true],
    ['integrated_gradients', 'integrated_gradients', true, true, true], ['occlusion', 'occlusion', true, true, true]]);
  // It behaves as the server's description does where it matters to the client.
  for (const m of legacy) {
    const served = SERVER_METHOD(m.name);
    for (const g of ['words', 'custom', 'turns'] as const) assert.deepEqual(methodSettings(m, g).settings, methodSettings(served, g).settings);
    assert.equal(workNote(m, 3, 'lines') !== undefined, m.name === 'occlusion');
  }
  assert.equal(contrastiveMethod(legacy)?.name, 'grad_dot_input');
  // A method the server describes is described by it; one it does not know, by the spec.
  const partial = groupMethods(ALL, 'm', seqsal({methods: [SERVER_METHOD('grad_l2')]}));
  assert.equal(partial.methods[0], SERVER_METHOD('grad_l2'));
  assert.deepEqual(partial.methods[3], legacy[3]);
  assert.equal(groupMethods(litInfo({grad_dot_input: true}), 'm').defaultMethod, 'grad_dot_input');
});

test('settings that follow the view: the granularity where the method can take it, else why not', () => {
  const occlusion = SERVER_METHOD('occlusion');
  assert.deepEqual(methodSettings(occlusion, 'words'), {settings: {occlusion_granularity: 'words'}, error: ''});
  for (const g of ['custom', 'turns'] as const) {
    const {settings, error} = methodSettings(occlusion, g);
    assert.deepEqual(settings, {});
    assert.equal(error, 'Occlusion (deletion) works on tokens, words, sentences, lines or paragraphs: ' +
                        'pick one of those granularities.');
  }
  // Settings that do not follow the view keep the server's default: integrated gradients send none.
  for (const g of ['words', 'lines', 'custom'] as const) {
    assert.deepEqual(methodSettings(SERVER_METHOD('integrated_gradients'), g), {settings: {}, error: ''});
  }
  // A setting that follows the granularity without a list of choices takes any.
  const any: MethodInfo = {...occlusion, settings: [{name: 'unit', default: 'words', follows: 'granularity'}]};
  assert.deepEqual(methodSettings(any, 'turns').settings, {unit: 'turns'});
});

test('method words: the work note filled in, the menu label, the switch target', () => {
  assert.equal(workNote(SERVER_METHOD('occlusion'), 4, 'words'),
               'the model runs once without each of the 4 words before the selection');
  assert.equal(workNote(SERVER_METHOD('grad_l2'), 4, 'words'), undefined);
  assert.equal(menuLabel(SERVER_METHOD('grad_l2')), 'Gradient norm');
  assert.equal(menuLabel(SERVER_METHOD('integrated_gradients')), 'Integrated gradients — computed when picked');
  assert.equal(contrastiveMethod(SERVER_METHODS)?.name, 'grad_dot_input');
  assert.equal(contrastiveMethod([SERVER_METHOD('grad_l2'), SERVER_METHOD('occlusion')]), undefined);
  assert.equal(methodNamed(SERVER_METHODS, 'occlusion'), SERVER_METHOD('occlusion'));
  assert.equal(methodNamed(SERVER_METHODS, 'lime'), undefined);
});
