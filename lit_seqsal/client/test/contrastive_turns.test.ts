import assert from 'node:assert/strict';
import {test} from 'node:test';

import {LitApi, exampleInputFields, supportsFoil} from '../src/api.js';
import type {Fetch, ServerInfo} from '../src/api.js';
import {colorFor, textColorFor} from '../src/colors.js';
import {
  alternativeText, alternativeTitle, applyFoil, formatProbability, isSpecialToken, legendText, normalizeFoil,
  parseAlternatives, quote, viewKind,
} from '../src/contrastive.js';
import {viewToHtml, viewToJson} from '../src/export.js';
import type {MethodInfo} from '../src/methods.js';
import {NO_COLOR, chips, exportedSegments, exportedView, paneSegments, paneView} from '../src/pane_view.js';
import {batchRanges, explainedRange} from '../src/ranges.js';
import {SalienceSource, promptFields, promptKey, scoresOf} from '../src/salience_data.js';
import type {Segment} from '../src/segments.js';
import {DEFAULT_SETTINGS} from '../src/settings.js';
import {
  isTemplateSegment, parseTokenTurns, parseTurnTag, templateTokens, turnLabel, turnSegments, withoutTemplate,
} from '../src/turns.js';
import {SERVER_METHOD, SERVER_METHODS} from './server_methods.js';

const texts = (segments: readonly Segment[]) => segments.map((s) => s.text);

// --- The model's alternatives -------------------------------------------------

test('alternatives: token strings to text and labels, most probable first, the output marked', () => {
  const raw = [['▁You', 0.2], ['▁Avoid', 0.5], ['\n', 0.1], ['<eos>', 0.05], ['▁', 0.01], ['<0x0A>', 0.001]];
  const alternatives = parseAlternatives(raw, '▁You');
  assert.deepEqual(alternatives.map((a) => a.token), ['▁Avoid', '▁You', '\n', '<eos>', '▁', '<0x0A>']);
  assert.deepEqual(alternatives.map((a) => a.text), [' Avoid', ' You', '\n', '<eos>', ' ', '\n']);
  assert.deepEqual(alternatives.map((a) => a.label), ['Avoid', 'You', '↵', '<eos>', '␣', '↵']);
  assert.deepEqual(alternatives.map((a) => a.actual), [false, true, false, false, false, false]);
  // Special tokens have no text; whitespace alone is no foil (the server refuses a blank one).
  assert.deepEqual(alternatives.map((a) => a.usable), [true, true, false, false, false, false]);
  assert.equal(alternatives[0].probability, 0.5);
  // The text sent as the foil keeps the leading space the token stands for.
  assert.equal(alternativeText('▁Avoid'), ' Avoid');
  assert.equal(alternativeText('▁not▁really'), ' not really');
  assert.equal(alternativeText('<0xC3>'), '', 'a byte of a multi-byte character has no text alone');
  assert.ok(isSpecialToken('<end_of_turn>') && !isSpecialToken('<0x0A>') && !isSpecialToken('<b>c'));
  // Objects are read too; anything malformed is left out; no field, no alternatives.
  assert.deepEqual(parseAlternatives([{token: '▁a', probability: 0.3}, ['▁b'], [3, 0.1], ['▁c', NaN], null])
      .map((a) => a.text), [' a']);
  assert.deepEqual(parseAlternatives(undefined), []);
  assert.deepEqual(parseAlternatives('▁a'), []);
});

test('an alternative\'s tooltip says why it can or cannot be the foil', () => {
  const [avoid, you, newline, eos] = parseAlternatives([['▁You', 0.2], ['▁Avoid', 0.5], ['\n', 0.1], ['<eos>', 0.05]], '▁You');
  assert.equal(alternativeTitle(avoid), 'Why the output instead of “Avoid”? The model gives it 50%.');
  assert.equal(alternativeTitle(you), 'You: the output\'s own first token (20%)');
  assert.equal(alternativeTitle(newline), '↵: whitespace alone; a foil needs some text (type one)');
  assert.equal(alternativeTitle(eos), '<eos>: a special token, no text to compare with');
});

test('probabilities read as short percentages', () => {
  assert.deepEqual([0.5, 0.314, 0.025, 0.0012, 0.00001, 0].map(formatProbability), ['50%', '31%', '2.5%', '0.1%', '<0.1%', '0%']);
});

test('a foil as typed: whitespace alone is none; trailing newlines go; the rest is sent as typed', () => {
  assert.equal(normalizeFoil('  \n'), '');
  assert.equal(normalizeFoil('Avoid.'), 'Avoid.');
  assert.equal(normalizeFoil(' Avoid.\n'), ' Avoid.');
  assert.equal(quote('  You have   to try it.\n'), '“You have to try it.”');
  assert.equal(quote('x'.repeat(50), 10), `“${'x'.repeat(9)}…”`);
});

// --- Method, legend and indicator --------------------------------------------

const METHODS = SERVER_METHODS;

test('a foil switches an unsigned method to grad_dot_input and says so; clearing it switches back', () => {
  const set = applyFoil({method: 'grad_l2', foil: ''}, ' Avoid', METHODS);
  assert.equal(set.method, 'grad_dot_input');
  assert.equal(set.foil, ' Avoid');
  assert.equal(set.switchedFrom, 'grad_l2');
  assert.match(set.notice, /switched from grad_l2 .*to grad_dot_input/);
  // Another foil keeps the switch (and the method to return to).
  const other = applyFoil(set, 'Skip it', METHODS);
  assert.deepEqual([other.method, other.foil, other.switchedFrom, other.notice], ['grad_dot_input', 'Skip it', 'grad_l2', '']);
  const cleared = applyFoil(other, '', METHODS);
  assert.deepEqual([cleared.method, cleared.foil, cleared.switchedFrom], ['grad_l2', '', undefined]);
  // Signed methods stay; whitespace is no foil.
  for (const method of ['grad_dot_input', 'integrated_gradients', 'occlusion']) {
    assert.deepEqual(applyFoil({method, foil: ''}, 'x', METHODS), {method, foil: 'x', switchedFrom: undefined, notice: ''});
  }
  assert.deepEqual(applyFoil({method: 'grad_l2', foil: ''}, '   ', METHODS).foil, '');
  // The user picked another method since the switch: clearing keeps theirs.
  assert.equal(applyFoil({method: 'occlusion', foil: 'x', switchedFrom: 'grad_l2'}, '', METHODS).method, 'occlusion');
  // The user chose grad_l2 with a foil (no switch recorded): kept, and kept on clearing.
  assert.equal(applyFoil({method: 'grad_l2', foil: 'x'}, '', METHODS).method, 'grad_l2');
  // No signed gradient method on this server: nothing to switch to.
  assert.deepEqual(applyFoil({method: 'grad_l2', foil: ''}, 'x', [SERVER_METHOD('grad_l2')]).method, 'grad_l2');
});

test('what a foil switches to comes from the methods\' properties, not their names', () => {
  const method = (name: string, o: Partial<MethodInfo> = {}): MethodInfo => ({
    name, label: name.toUpperCase(), description: '', signed: true, on_request: false, contrastive: true, settings: [],
    work_note: null, ...o});
  const methods = [method('norm', {signed: false}), method('costly', {on_request: true}),
                   method('plain_only', {contrastive: false}), method('dot'), method('other')];
  const set = applyFoil({method: 'norm', foil: ''}, 'x', methods);
  assert.deepEqual([set.method, set.switchedFrom], ['dot', 'norm'], 'the first signed, light, contrastive method');
  assert.match(set.notice, /switched from norm \(unsigned: .*\) to dot/);
  assert.equal(applyFoil(set, '', methods).method, 'norm');
  // A method without a contrastive form switches too, saying why.
  const plain = applyFoil({method: 'plain_only', foil: ''}, 'x', methods);
  assert.deepEqual([plain.method, plain.switchedFrom], ['dot', 'plain_only']);
  assert.match(plain.notice, /switched from plain_only \(it has no contrastive form\) to dot/);
  // Signed ones stay; a method the menu does not list is left alone.
  for (const name of ['costly', 'other', 'unknown']) assert.equal(applyFoil({method: name, foil: ''}, 'x', methods).method, name);
  // No method to switch to: nothing changes.
  assert.equal(applyFoil({method: 'norm', foil: ''}, 'x', [methods[0], methods[1]]).method, 'norm');
});

test('the legend says what the colours mean, plain or contrastive', () => {
  const plain = legendText('grad_l2', false, ' You have to try it.', '');
  assert.equal(plain.caption, 'grad_l2');
  assert.equal(plain.negative, undefined);
  assert.equal(legendText('grad_dot_input', true, 'x', '').caption, 'grad_dot_input (signed)');
  const contrastive = legendText('grad_dot_input', true, ' You have to try it.', ' Avoid.');
  assert.equal(contrastive.caption, 'grad_dot_input, contrastive');
  assert.equal(contrastive.negative, 'toward “Avoid.”');
  assert.equal(contrastive.positive, 'toward “You have to try it.”');
  assert.match(contrastive.explanation, /^Contrastive: why “You have to try it\.” instead of “Avoid\.”\. Orange parts pushed toward “You have to try it\.”, purple parts toward “Avoid\.”\.$/);
  // Orange is the positive arm of the diverging scale, purple the negative one.
  const [r, , b] = colorFor(1, 1, true).match(/\d+/g)!.map(Number);
  const [r2, , b2] = colorFor(-1, 1, true).match(/\d+/g)!.map(Number);
  assert.ok(r > b && b2 > r2 - 40, 'positive orange, negative purple');
  const unsigned = legendText('grad_l2', false, 'x', 'y');
  assert.equal(unsigned.caption, 'grad_l2, contrastive (unsigned)');
  assert.equal(unsigned.negative, undefined);
  assert.match(unsigned.explanation, /no sign.*Pick a signed method/);
});

test('the indicator: plain or contrastive at a glance', () => {
  assert.deepEqual(viewKind(' You have to try it.\n', ''), {kind: 'plain', text: 'Plain: why “You have to try it.”'});
  assert.deepEqual(viewKind(' You have to try it.', ' Avoid.'),
                   {kind: 'contrastive', text: 'Contrastive: why “You have to try it.” instead of “Avoid.”'});
});

// --- The contrastive view model and export -----------------------------------

const TOKENIZED = {
  tokens: ['<bos>', '▁Hi', '▁there', ':', '▁One', '▁two', '.', '▁Three', '▁four', '.'],
  promptLength: 4,
};
// Contrastive scores: all positive before the span (output words " One" and " two."), 0 from the span on.
const CONTRASTIVE = [0, 1, 2, 0.5, 3, 4, 0, 0, 0, 0];

test('a contrastive view of a signed method uses the diverging scale whatever the signs', () => {
  const words = paneSegments(TOKENIZED, 'words');
  const selection = {anchor: 2, focus: 3};
  const inferred = paneView(words, CONTRASTIVE, selection, false);
  assert.equal(inferred.signed, false, 'no negative score: read as unsigned');
  const view = paneView(words, CONTRASTIVE, selection, false, {signed: true});
  assert.equal(view.signed, true);
  assert.equal(chips(view, true, 0.5).prompt[0].color, colorFor(1, 4, true));
  const exported = exportedView(view, {
    model: 'm', settings: {...DEFAULT_SETTINGS, method: 'grad_dot_input', foil: ' Avoid.'}, prompt: 'Hi there:',
    output: ' One two. Three four.', selectionText: ' Three four.'});
  assert.equal(exported.view, 'contrastive');
  assert.equal(exported.foil, ' Avoid.');
  assert.deepEqual(exported.legend.map((l) => l.value), [-4, -2, 0, 2, 4]);
  assert.equal(exported.legendText.negative, 'toward “Avoid.”');
  assert.equal(JSON.parse(viewToJson(exported)).foil, ' Avoid.');
  const plain = exportedView(inferred, {
    model: 'm', settings: DEFAULT_SETTINGS, prompt: 'Hi there:', output: ' One two. Three four.', selectionText: ' Three four.'});
  assert.equal(plain.view, 'plain');
  assert.equal(plain.foil, null);
});

test('HTML export of a contrastive view: the kind, the foil (as text) and what the colours mean', () => {
  const payload = '<img src=x onerror=alert(1)>';
  const words = paneSegments(TOKENIZED, 'words');
  const view = exportedView(paneView(words, CONTRASTIVE, {anchor: 2, focus: 3}, false, {signed: true}), {
    model: 'm', settings: {...DEFAULT_SETTINGS, method: 'grad_dot_input', foil: payload}, prompt: 'Hi there:',
    output: ' One two. Three four.', selectionText: ' Three four.'});
  const page = viewToHtml(view, textColorFor);
  assert.match(page, /<span class="kind contrastive" data-view="contrastive">Contrastive view<\/span>/);
  assert.ok(page.includes('<dt>Instead of</dt><dd class="foil">&lt;img src=x onerror=alert(1)&gt;</dd>'));
  assert.ok(page.includes('<span class="end negative">toward “&lt;img src=x onerror=alert(1)&gt;”</span>'));
  assert.ok(page.includes('<p class="legend-text">Contrastive: why “Three four.” instead of'));
  assert.match(page, /<div class="text contrastive">/);
  assert.doesNotMatch(page, /<img/);
  const plainPage = viewToHtml({...view, view: 'plain', foil: null}, textColorFor);
  assert.match(plainPage, /Plain view/);
  assert.doesNotMatch(plainPage, /Instead of/);
});

// --- Chat templates: token_turns ---------------------------------------------

// A prompt wrapped in a chat template (a system turn and a user turn), the
// generation prompt, and a target in the model's turn, as the server tags them.
const CHAT = {
  tokens: ['<bos>', '<start_of_turn>', 'system', '\n', '▁Be', '▁brief', '.', '<end_of_turn>', '\n',
           '<start_of_turn>', 'user', '\n', '▁Hi', '▁there', '?', '<end_of_turn>', '\n',
           '<start_of_turn>', 'model', '\n', '▁Hello', '!', '<end_of_turn>'],
  turns: ['0:template', '0:template', '0:template', '0:template', '0:system', '0:system', '0:system', '0:template', '0:template',
          '1:template', '1:template', '1:template', '1:user', '1:user', '1:user', '1:template', '1:template',
          '2:template', '2:template', '2:template', '2:model', '2:model', '2:template'],
  promptLength: 20,
};

test('turn tags: parsed, checked against the tokens, template tokens found', () => {
  assert.deepEqual(parseTurnTag('1:user'), {index: 1, role: 'user'});
  assert.deepEqual(parseTurnTag('12:template'), {index: 12, role: 'template'});
  assert.equal(parseTurnTag('user'), undefined);
  assert.equal(parseTurnTag(3), undefined);
  assert.deepEqual(parseTokenTurns(CHAT.turns, CHAT.tokens.length), CHAT.turns);
  assert.equal(parseTokenTurns(CHAT.turns, CHAT.tokens.length + 1), undefined, 'not aligned to the tokens');
  assert.equal(parseTokenTurns(['0:user', 'oops'], 2), undefined);
  assert.equal(parseTokenTurns(undefined, 2), undefined);
  const template = templateTokens(CHAT.turns, CHAT.tokens.length);
  assert.deepEqual(CHAT.tokens.filter((_, i) => !template[i]).join(''), '▁Be▁brief.▁Hi▁there?▁Hello!');
  assert.deepEqual(templateTokens(undefined, 3), [false, false, false]);
  assert.deepEqual(withoutTemplate([1, 2, 3], [true, false, true]), [0, 2, 0]);
  assert.ok(isTemplateSegment({start: 1, end: 4}, template));
  assert.ok(!isTemplateSegment({start: 3, end: 5}, template));
});

test('Turns granularity: one segment per turn (with its template tokens), split at the prompt/output boundary', () => {
  const turns = turnSegments(CHAT.tokens, CHAT.turns, 1);
  assert.deepEqual(turns.map((s) => [s.start, s.end]), [[1, 9], [9, 17], [17, 23]]);
  const segments = paneSegments(CHAT, 'turns');
  assert.deepEqual(segments.prompt.map((s) => [s.start, s.end]), [[1, 9], [9, 17], [17, 20]]);
  assert.deepEqual(texts(segments.output), [' Hello!<end_of_turn>']);
  assert.equal(turnLabel(segments.prompt[1], CHAT.turns), 'turn 1, user');
  assert.equal(turnLabel(segments.prompt[2], CHAT.turns), 'turn 2, chat template');
  assert.equal(turnLabel(segments.prompt[0], undefined), '');
  // Without token_turns (no chat template), Turns shows paragraphs.
  const plain = {tokens: ['<bos>', '▁a', '\n\n', '▁b'], promptLength: 4};
  assert.deepEqual(texts(paneSegments(plain, 'turns').prompt), [' a\n\n', ' b']);
});

test('template tokens: greyed, no score, left out of the scale; explained ranges leave them out', () => {
  const template = templateTokens(CHAT.turns, CHAT.tokens.length);
  // The template's tokens get large scores (BOS, markers): they must not set the scale.
  const scores = CHAT.tokens.map((_, i) => template[i] ? 100 : i === 13 ? -2 : 1);
  const words = paneSegments(CHAT, 'words');
  const selection = {anchor: 0, focus: 0};  // " Hello!"
  const view = paneView(words, scores, selection, false, {template});
  assert.equal(view.max, 2, '" brief." (its template tail left out): no 100s');
  assert.equal(view.promptValues[5], -1, '" there?<end_of_turn>\n": -2 + 1, the template tokens count nothing');
  const {prompt} = chips(view, true, 0.5);
  const shown = prompt.map((c) => [c.text, c.template, c.scored]);
  assert.deepEqual(shown.filter(([, t]) => t).map(([text]) => text),
                   ['<start_of_turn>system\n', '<start_of_turn>user\n', '<start_of_turn>model\n']);
  assert.ok(prompt.filter((c) => c.template).every((c) => !c.scored && c.color === NO_COLOR));
  // A segment mixing template and text (" brief.<end_of_turn>\n" at words) counts its text only.
  const mixed = words.prompt.findIndex((s) => s.text.startsWith(' brief.'));
  assert.equal(view.promptValues[mixed], 2);
  assert.ok(prompt[mixed].scored && !prompt[mixed].template);
  const exported = exportedSegments(view, 0.5);
  assert.ok(exported.filter((s) => s.template).every((s) => s.score === null));
  assert.equal(exported.filter((s) => s.template).length, 3);
  // The explained range of the output turn leaves its end-of-turn marker out.
  const out = paneSegments(CHAT, 'turns').output;
  assert.deepEqual(batchRanges(CHAT.tokens, out, out[0], template).wanted, {start: 20, end: 22});
  assert.deepEqual(explainedRange(CHAT.tokens, {start: 17, end: 20}, template), {start: 17, end: 20}, 'template alone: as it is');
});

// --- The data layer against a fake server ------------------------------------

type Body = {inputs: Array<{data: Record<string, unknown>}>};

/** A fake server: tokens with token_turns, salience with alternatives, contrastive scores with the foil's length. */
function fakeServer(options: {turns?: boolean} = {}) {
  const calls: Array<{url: string, body: Body}> = [];
  const fetcher: Fetch = async (url, init) => {
    const body = JSON.parse(init.body ?? '{}') as Body;
    calls.push({url, body});
    const u = new URL(url, 'http://x/');
    const model = u.searchParams.get('model');
    const fields = u.searchParams.get('requested_fields')?.split(',');
    let result: unknown;
    if (model === '_m_tokenizer') {
      result = body.inputs.map((ex) => {
        const withTarget = !!ex.data['target'];
        const tokens = withTarget ? CHAT.tokens : CHAT.tokens.slice(0, 20);
        const full: Record<string, unknown> = {tokens};
        if (options.turns) full['token_turns'] = CHAT.turns.slice(0, tokens.length);
        return fields ? Object.fromEntries(Object.entries(full).filter(([k]) => fields.includes(k))) : full;
      });
    } else {
      result = body.inputs.map((ex) => {
        const data = ex.data as {target_mask: number[], foil?: string, salience_methods?: string[]};
        const first = data.target_mask.indexOf(1);
        const sign = data.foil ? -1 : 1;
        if (data.salience_methods) return {[data.salience_methods[0]]: data.target_mask.map((m) => sign * m * 3)};
        return {
          tokens: CHAT.tokens, grad_l2: data.target_mask.map((m) => m * 2),
          grad_dot_input: data.target_mask.map((m) => sign * m * (data.foil?.length ?? 1)),
          alternatives: [[`▁alt${first}`, 0.4], ['▁Hello', 0.3]],
          token_turns: CHAT.turns,
        };
      });
    }
    return {ok: true, status: 200, text: async () => JSON.stringify(result)};
  };
  return {calls, api: new LitApi('./', fetcher)};
}

test('tokenize asks for token_turns and keeps them when the model has a chat template', async () => {
  const chat = fakeServer({turns: true});
  const t = await new SalienceSource(chat.api, 'm').tokenize('Hi there?', ' Hello!');
  assert.match(chat.calls[0].url, /requested_fields=tokens%2Ctoken_turns$/);
  assert.deepEqual(t.turns, CHAT.turns);
  assert.equal(t.promptLength, 20);
  const raw = fakeServer();
  const plain = await new SalienceSource(raw.api, 'm').tokenize('Hi there?', ' Hello!');
  assert.equal('turns' in plain, false, 'no chat template: no turns');
});

test('salience predictions: scores are the number arrays, not tokens, alternatives or turn tags', () => {
  assert.deepEqual(Object.keys(scoresOf({tokens: [], grad_l2: [1], grad_dot_input: [], alternatives: [['▁a', 1]],
                                         token_turns: ['0:user']})), ['grad_l2', 'grad_dot_input']);
});

test('alternatives come with the prefetched scores; a range not fetched yet costs one request of one mask', async () => {
  const {calls, api} = fakeServer();
  const source = new SalienceSource(api, 'm');
  const ranges = [{start: 20, end: 21}, {start: 21, end: 22}];
  await source.prefetch('p', 'o', 23, ranges, ranges[1]);
  assert.equal(calls.length, 1);
  assert.deepEqual(await source.alternatives('p', 'o', 23, ranges[1]), [['▁alt21', 0.4], ['▁Hello', 0.3]]);
  assert.deepEqual(await source.alternatives('p', 'o', 23, ranges[0]), [['▁alt20', 0.4], ['▁Hello', 0.3]]);
  assert.equal(calls.length, 1, 'cached with the scores');
  const scores = await source.cached('p', 'o', ranges[0])!;
  assert.deepEqual(Object.keys(scores).sort(), ['grad_dot_input', 'grad_l2']);
  assert.deepEqual(await source.alternatives('p', 'o', 23, {start: 20, end: 22}), [['▁alt20', 0.4], ['▁Hello', 0.3]]);
  assert.equal(calls.length, 2);
  assert.equal(calls[1].body.inputs.length, 1);
  assert.ok(source.cached('p', 'o', {start: 20, end: 22}), 'its scores are cached too');
});

test('contrastive scores: one input with the foil, cached per range and foil', async () => {
  const {calls, api} = fakeServer();
  const source = new SalienceSource(api, 'm');
  const range = {start: 20, end: 22};
  const scores = await source.contrastiveScores('p', 'o', 23, range, ' Avoid');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].body.inputs.length, 1, 'the selection alone');
  const sent = calls[0].body.inputs[0].data;
  assert.equal(sent['foil'], ' Avoid');
  assert.equal(sent['salience_methods'], undefined, 'the gradient methods, as a light request');
  assert.equal((sent['target_mask'] as number[]).join(''), '0'.repeat(20) + '110');
  assert.doesNotMatch(calls[0].url, /seqsal\/jobs|requested_fields/);
  assert.deepEqual(scores['grad_dot_input'].slice(19), [0, -6, -6, 0]);
  assert.equal(scores['alternatives'], undefined);
  await source.contrastiveScores('p', 'o', 23, range, ' Avoid');
  assert.equal(calls.length, 1, 'cached');
  // The alternatives came with it.
  assert.deepEqual(await source.alternatives('p', 'o', 23, range), [['▁alt20', 0.4], ['▁Hello', 0.3]]);
  assert.equal(calls.length, 1);
  await source.contrastiveScores('p', 'o', 23, range, 'Skip');
  assert.equal(calls.length, 2, 'another foil, another request');
  assert.equal(calls[1].body.inputs[0].data['foil'], 'Skip');
  // Plain scores of the same range are another thing.
  await source.prefetch('p', 'o', 23, [range], range);
  assert.equal(calls.length, 3);
  assert.equal(calls[2].body.inputs[0].data['foil'], undefined);
});

test('costly methods with a foil: the foil in the input, cached apart from the plain ones', async () => {
  const {calls, api} = fakeServer();
  const source = new SalienceSource(api, 'm');
  const range = {start: 20, end: 22};
  const plain = await source.methodScores('p', 'o', 23, range, 'occlusion', {occlusion_granularity: 'words'});
  const contrastive = await source.methodScores('p', 'o', 23, range, 'occlusion', {occlusion_granularity: 'words'}, {}, ' Avoid');
  assert.equal(calls.length, 2);
  assert.equal(calls[0].body.inputs[0].data['foil'], undefined);
  assert.equal(calls[1].body.inputs[0].data['foil'], ' Avoid');
  assert.deepEqual(calls[1].body.inputs[0].data['salience_methods'], ['occlusion']);
  assert.deepEqual([plain[20], contrastive[20]], [3, -3]);
  await source.methodScores('p', 'o', 23, range, 'occlusion', {occlusion_granularity: 'words'}, {}, ' Avoid');
  assert.equal(calls.length, 2, 'cached per foil');
});

test('"instead of" is offered where the salience model takes a foil', () => {
  const info = (input: Record<string, unknown>) => ({
    models: {m: {spec: {input: {}, output: {}}, datasets: []}, _m_salience: {spec: {input, output: {}}, datasets: []}},
    datasets: {}, layouts: {}}) as unknown as ServerInfo;
  assert.equal(supportsFoil(info({prompt: {}, foil: {__name__: 'TextSegment', required: false}}), 'm'), true);
  assert.equal(supportsFoil(info({prompt: {}}), 'm'), false);
  assert.equal(supportsFoil(info({}), 'other'), false);
});

test('an example\'s conversation and stop sequences go with every input, and key the caches', async () => {
  const input = {prompt: {}, target: {}, foil: {}, temperature: {}};
  const models = {m: {spec: {input, output: {}}, datasets: []}};
  const info = {models, datasets: {}, layouts: {}} as unknown as ServerInfo;
  // The server reads messages and stop from any input; other declared fields go too; the foil is the view's.
  assert.deepEqual(exampleInputFields(info, 'm'), ['messages', 'stop', 'temperature']);
  assert.deepEqual(exampleInputFields(info, 'other'), ['messages', 'stop']);
  assert.deepEqual(promptFields('Hi'), {prompt: 'Hi'});
  assert.equal(promptKey('Hi'), 'Hi');
  assert.equal(promptKey({prompt: 'Hi'}), 'Hi');
  assert.equal(promptKey({stop: ['\n'], prompt: 'Hi'}), promptKey({prompt: 'Hi', stop: ['\n']}));
  assert.notEqual(promptKey({prompt: 'Hi', stop: ['\n']}), promptKey('Hi'));

  const {calls, api} = fakeServer({turns: true});
  const source = new SalienceSource(api, 'm');
  const messages = JSON.stringify([{role: 'system', content: 'Be brief.'}, {role: 'user', content: 'Hi there?'}]);
  const chat = {prompt: 'System: Be brief.\n\nUser: Hi there?', messages};
  await source.tokenize(chat, ' Hello!');
  const range = {start: 20, end: 22};
  await source.prefetch(chat, ' Hello!', 23, [range], range);
  await source.contrastiveScores(chat, ' Hello!', 23, range, 'Bye');
  await source.methodScores(chat, ' Hello!', 23, range, 'occlusion', {occlusion_granularity: 'turns'});
  assert.equal(calls.length, 4);
  for (const call of calls) assert.ok(call.body.inputs.every((ex) => ex.data['messages'] === messages), call.url);
  // The same prompt text without the conversation is another input.
  await source.tokenize(chat.prompt, ' Hello!');
  await source.prefetch(chat.prompt, ' Hello!', 23, [range], range);
  assert.equal(calls.length, 6);
  assert.equal(calls[5].body.inputs[0].data['messages'], undefined);
});
