import assert from 'node:assert/strict';
import {test} from 'node:test';

import {legendText} from '../src/contrastive.js';
import {EXPLAIN_LAYOUT, arrangementNamed, chooseLayout} from '../src/layout.js';
import {lengthAdvice, paneSegments, paneView, prefetchText, unitCount} from '../src/pane_view.js';

test('unit counts and the prefetch line: plurals, progress while it runs, why it stopped, nothing once done', () => {
  assert.equal(unitCount(1, 'sentences'), '1 sentence');
  assert.equal(unitCount(5, 'sentences'), '5 sentences');
  assert.equal(unitCount(2, 'custom'), '2 segments');
  assert.equal(prefetchText({done: 2, total: 5, running: true, error: ''}, 'sentences'),
               'Fetching the other 5 sentences in the background (2 of 5 ready): click any part of the output meanwhile.');
  assert.equal(prefetchText({done: 0, total: 1, running: true, error: ''}, 'words').startsWith(
      'Fetching the other 1 word in the background'), true);
  assert.equal(prefetchText({done: 5, total: 5, running: false, error: ''}, 'sentences'), '');
  assert.equal(prefetchText({done: 1, total: 3, running: false, error: 'The server is busy.'}, 'lines'),
               'Stopped fetching the other 3 lines: The server is busy.');
  assert.equal(prefetchText(undefined, 'lines'), '');
  assert.equal(prefetchText({done: 0, total: 0, running: false, error: ''}, 'lines'), '', 'nothing to fetch');
});

test('an input over the limit: its length, the limit and what to do', () => {
  const local = {maxLength: 1024, contextWindow: 32768};
  assert.equal(lengthAdvice(1000, local, 'This prompt'), '', 'it fits');
  assert.equal(lengthAdvice(3624, local, 'This prompt'),
               'This prompt is 3,624 tokens long: this server takes at most 1,024 tokens for this model ' +
               '(--sequence_length). Shorten it, or restart the server with --sequence_length=4096 (the model reads ' +
               'up to 32,768 tokens).');
  assert.match(lengthAdvice(40000, local, 'This prompt'), /the model itself reads at most 32,768\. Shorten it\.$/);
  assert.match(lengthAdvice(3000, {maxLength: 2048}, 'x'), /--sequence_length=3072\.$/, 'no window known');
  // A hosted budget below the model's limit: the budget, and no flag to restart with.
  const hosted = {maxLength: 8192, contextWindow: 32768, maxInputTokens: 1024, hosted: true};
  assert.match(lengthAdvice(2000, hosted, 'This prompt'), /at most 1,024 tokens for this model \(--max_input_tokens\)/);
  assert.equal(lengthAdvice(900, hosted, 'This prompt'), '');
  assert.equal(lengthAdvice(5000, undefined, 'x'), '', 'a server that does not say');
});

test('plain legends say what dark and light (or each colour) mean for the selected span', () => {
  const unsigned = legendText('Gradient norm', false, ' Recommendation: Avoid.', '');
  assert.deepEqual(unsigned, {
    caption: 'Gradient norm', low: 'little', positive: 'mattered more',
    explanation: 'For “Recommendation: Avoid.”: the darker a part, the more it mattered to it. White parts mattered little.'});
  const signed = legendText('Gradient × input', true, ' Avoid.', '');
  assert.equal(signed.caption, 'Gradient × input (signed)');
  assert.deepEqual([signed.negative, signed.positive], ['lowered it', 'raised it']);
  assert.match(signed.explanation, /^For “Avoid\.”: orange parts raised its probability, purple parts lowered it/);
});

test('a shared scale: the view keeps its own maximum, and shows the larger', () => {
  const t = {tokens: ['<bos>', '▁a', '▁b', '▁c', '▁d'], promptLength: 3};
  const words = paneSegments(t, 'words');
  const scores = [0, 1, 2, 0, 0];
  const own = paneView(words, scores, {anchor: 0, focus: 0}, false);
  assert.deepEqual([own.ownMax, own.max], [2, 2]);
  const shared = paneView(words, scores, {anchor: 0, focus: 0}, false, {scaleMax: 5});
  assert.deepEqual([shared.ownMax, shared.max], [2, 5]);
  assert.equal(paneView(words, scores, {anchor: 0, focus: 0}, false, {scaleMax: 1}).max, 2, 'never below its own');
});

test('layouts: ours by default, a LIT layout where the URL names one the server has', () => {
  assert.equal(chooseLayout(undefined, ['left_right']), EXPLAIN_LAYOUT);
  assert.equal(chooseLayout('top_bottom', ['left_right', 'top_bottom']), 'top_bottom');
  assert.equal(chooseLayout('nope', ['left_right']), EXPLAIN_LAYOUT);
  assert.equal(chooseLayout(EXPLAIN_LAYOUT, []), EXPLAIN_LAYOUT);
  const explain = arrangementNamed(EXPLAIN_LAYOUT, {});
  assert.deepEqual(explain.areas, {left: ['examples'], upper: ['editor'], lower: ['salience']});
  assert.deepEqual(explain.rows, {upper: 'auto', lower: 'minmax(0, 1fr)'}, 'the editor takes a line, the salience the rest');
  const lit = arrangementNamed('left_right', {left_right: {left: {E: ['data-table-module']},
                                                           upper: {S: ['sequence-salience-module']}}});
  assert.deepEqual(lit.areas, {left: ['examples', 'editor'], upper: ['salience'], lower: []});
});
