import assert from 'node:assert/strict';
import {test} from 'node:test';

import {colorFor, textColorFor} from '../src/colors.js';
import {
  NO_COLOR, NO_SELECTION, chipStyle, chips, clampSelection, exportedSegments,
  exportedView, isColoured, keyMove, paneSegments, paneView, requestedIndex, selectedRange, selectedText,
  selectionCovering,
} from '../src/pane_view.js';
import type {Selection} from '../src/pane_view.js';
import {batchRanges} from '../src/ranges.js';
import type {Segment} from '../src/segments.js';
import {DEFAULT_SETTINGS} from '../src/settings.js';

// Prompt " Hi there:" (after BOS), output " One two. Three four."
const TOKENIZED = {
  tokens: ['<bos>', '▁Hi', '▁there', ':', '▁One', '▁two', '.', '▁Three', '▁four', '.'],
  promptLength: 4,
};
// One score per token; signed (grad_dot_input-like). Output words sum to 3, 4, 10, 20.
const SCORES = [0, 1, -2, 0.5, 3, 4, 0, 10, 20, 0];
const WORDS = paneSegments(TOKENIZED, 'words');
const texts = (segments: readonly Segment[]) => segments.map((s) => s.text);
const sel = (anchor: number, focus: number): Selection => ({anchor, focus});

test('segments: BOS hidden, prompt and output split at the boundary', () => {
  assert.deepEqual(texts(WORDS.prompt), [' Hi', ' there:']);
  assert.deepEqual(texts(WORDS.output), [' One', ' two.', ' Three', ' four.']);
  assert.equal(WORDS.prompt[0].start, 1);
  assert.equal(WORDS.output[0].start, TOKENIZED.promptLength);
  assert.deepEqual(texts(paneSegments(TOKENIZED, 'sentences').output), [' One two.', ' Three four.']);
  // A custom granularity without a valid pattern yet shows tokens.
  assert.equal(paneSegments(TOKENIZED, 'custom').output.length, 6);
  assert.deepEqual(texts(paneSegments(TOKENIZED, 'custom', /\./g).output), [' One two.', ' Three four.']);
});

test('colouring rule: before the selection always, inside only when asked, after never', () => {
  const lo = 1, hi = 2;
  assert.deepEqual([0, 1, 2, 3].map((i) => isColoured(i, lo, hi, false)), [true, false, false, false]);
  assert.deepEqual([0, 1, 2, 3].map((i) => isColoured(i, lo, hi, true)), [true, true, true, false]);
  assert.deepEqual([0, 1, 2, 3].map((i) => isColoured(i, -1, -1, true)), [false, false, false, false]);
});

test('view model: summed values, selection bounds, and a scale from what is coloured', () => {
  // Selected right to left: segments 2 then 1.
  const view = paneView(WORDS, SCORES, sel(2, 1), false);
  assert.deepEqual(view.promptValues, [1, -1.5]);
  assert.deepEqual(view.outputValues, [3, 4, 10, 20]);
  assert.deepEqual([view.lo, view.hi], [1, 2]);
  assert.deepEqual(view.coloured, [true, false, false, false]);
  assert.equal(view.max, 3, 'the prompt (1.5) and the output before the selection (3)');
  assert.equal(view.signed, true);

  const inside = paneView(WORDS, SCORES, sel(2, 1), true);
  assert.deepEqual(inside.coloured, [true, true, true, false]);
  assert.equal(inside.max, 10, 'the selection counts; the segment after it (20) does not');

  const none = paneView(WORDS, SCORES, NO_SELECTION, true);
  assert.deepEqual([none.lo, none.hi], [-1, -1]);
  assert.deepEqual(none.coloured, [false, false, false, false]);
  assert.equal(none.max, 1.5);

  const unscored = paneView(WORDS, undefined, sel(1, 1), false);
  assert.deepEqual(unscored.promptValues, [0, 0]);
  assert.deepEqual(unscored.outputValues, [0, 0, 0, 0]);
  assert.equal(unscored.max, 1);
  assert.equal(unscored.signed, false);
  assert.equal(paneView(WORDS, SCORES.map(Math.abs), sel(1, 1), false).signed, false);
});

test('chips: colours, selection and after-selection marks, for prompt and output', () => {
  const view = paneView(WORDS, SCORES, sel(1, 2), false);
  const {prompt, output} = chips(view, true, 0.5);
  assert.deepEqual(prompt.map((c) => c.color), [colorFor(1, 3, true), colorFor(-1.5, 3, true)]);
  assert.ok(prompt.every((c) => c.scored && !c.selected && !c.after));
  assert.deepEqual(output.map((c) => c.color), [colorFor(3, 3, true), NO_COLOR, NO_COLOR, NO_COLOR]);
  assert.notEqual(output[0].color, NO_COLOR);
  assert.deepEqual(output.map((c) => c.scored), [true, false, false, false]);
  assert.deepEqual(output.map((c) => c.selected), [false, true, true, false]);
  assert.deepEqual(output.map((c) => c.after), [false, false, false, true]);
  assert.deepEqual(output.map((c) => c.text), texts(WORDS.output));

  // Intensity changes the colours; no scores yet: nothing coloured, the selection still marked.
  assert.notEqual(chips(view, true, 0.9).prompt[0].color, prompt[0].color);
  const bare = chips(view, false, 0.5);
  assert.ok([...bare.prompt, ...bare.output].every((c) => c.color === NO_COLOR && !c.scored));
  assert.deepEqual(bare.output.map((c) => c.selected), [false, true, true, false]);

  const none = chips(paneView(WORDS, SCORES, NO_SELECTION, false), true, 0.5);
  assert.ok(none.output.every((c) => !c.selected && !c.after && c.color === NO_COLOR));
});

test('chip style: background with readable text, or underline only', () => {
  const dark = colorFor(1, 1, false);
  assert.equal(chipStyle(dark, 'highlight'), `background:${dark};color:${textColorFor(dark)}`);
  assert.equal(chipStyle(dark, 'highlight'), `background:${dark};color:#ffffff`);
  assert.equal(chipStyle(dark, 'underline'), `border-bottom-color:${dark}`);
});

test('export segments are what the pane colours', () => {
  for (const showInSelection of [false, true]) {
    const view = paneView(WORDS, SCORES, sel(1, 2), showInSelection);
    const exported = exportedSegments(view, 0.7);
    const shown = chips(view, true, 0.7);
    assert.deepEqual(exported.map((s) => s.role), ['prompt', 'prompt', 'output', 'output', 'output', 'output']);
    assert.deepEqual(exported.map((s) => s.color), [...shown.prompt, ...shown.output].map((c) => c.color));
    assert.deepEqual(exported.map((s) => s.text), [...texts(WORDS.prompt), ...texts(WORDS.output)]);
    assert.deepEqual(exported.map((s) => s.selected), [false, false, false, true, true, false]);
    // A score where the pane shows one (its tooltip), null where it does not.
    assert.deepEqual(exported.map((s) => s.score),
        showInSelection ? [1, -1.5, 3, 4, 10, null] : [1, -1.5, 3, null, null, null]);
  }
});

test('exported view: settings, selection and scale', () => {
  const view = paneView(WORDS, SCORES, sel(2, 1), false);
  const context = {model: 'm', settings: DEFAULT_SETTINGS, source: 's', prompt: 'Hi there:', output: ' One two. Three four.',
                   selectionText: ' two. Three'};
  const out = exportedView(view, context);
  assert.equal(out.method, 'grad_l2');
  assert.equal(out.granularity, 'words');
  assert.equal(out.pattern, undefined);
  assert.deepEqual(out.selection, {text: ' two. Three', firstSegment: 1, lastSegment: 2});
  assert.equal(out.scaleMax, 3);
  assert.equal(out.signed, true);
  assert.deepEqual(out.legend.map((l) => l.value), [-3, -1.5, 0, 1.5, 3]);
  assert.deepEqual(out.segments, exportedSegments(view, DEFAULT_SETTINGS.intensity));
  const custom = exportedView(view, {...context, settings: {...DEFAULT_SETTINGS, granularity: 'custom', pattern: /\n/gu}});
  assert.equal(custom.pattern, '\\n');
});

test('selection: clamped into the segments, read as a token range and text', () => {
  assert.deepEqual(clampSelection(-3, 9, 4), {anchor: 0, focus: 3});
  assert.deepEqual(clampSelection(2, 1, 4), {anchor: 2, focus: 1});
  assert.deepEqual(selectedRange(WORDS.output, sel(2, 1)), {start: 5, end: 8});
  assert.deepEqual(selectedRange(WORDS.output, sel(0, 0)), {start: 4, end: 5});
  assert.equal(selectedRange(WORDS.output, NO_SELECTION), undefined);
  assert.equal(selectedRange(WORDS.output, sel(1, -1)), undefined);
  assert.equal(selectedRange(WORDS.output, sel(1, 7)), undefined, 'a stale index past the segments');
  assert.equal(selectedText(TOKENIZED.tokens, {start: 5, end: 8}), ' two. Three');
  assert.equal(selectedText(TOKENIZED.tokens, undefined), '');
});

test('a granularity change keeps the same text selected, in the units that cover it', () => {
  const sentences = paneSegments(TOKENIZED, 'sentences').output;
  // " two." -> the first sentence; " two. Three" -> both sentences.
  assert.deepEqual(selectionCovering(sentences, selectedRange(WORDS.output, sel(1, 1))!), sel(0, 0));
  assert.deepEqual(selectionCovering(sentences, selectedRange(WORDS.output, sel(2, 1))!), sel(0, 1));
  // Back to words: the second sentence is " Three four.".
  assert.deepEqual(selectionCovering(WORDS.output, selectedRange(sentences, sel(1, 1))!), sel(2, 3));
  const tokens = paneSegments(TOKENIZED, 'tokens').output;
  assert.deepEqual(selectionCovering(tokens, {start: 5, end: 7}), sel(1, 2));
  // Tokens outside the output (the prompt) are covered by no output segment.
  assert.deepEqual(selectionCovering(WORDS.output, {start: 1, end: 3}), sel(-1, -1));
});

test('keys: arrows move, Shift extends, Home/End jump, Escape clears', () => {
  const n = 4;
  // Without a selection the arrows start from either end, Shift or not.
  assert.deepEqual(keyMove(NO_SELECTION, 'ArrowRight', false, n), sel(0, 0));
  assert.deepEqual(keyMove(NO_SELECTION, 'ArrowDown', false, n), sel(0, 0));
  assert.deepEqual(keyMove(NO_SELECTION, 'ArrowLeft', false, n), sel(3, 3));
  assert.deepEqual(keyMove(NO_SELECTION, 'ArrowUp', true, n), sel(3, 3));
  // Moves step from the focus and collapse an extended selection.
  assert.deepEqual(keyMove(sel(1, 1), 'ArrowRight', false, n), sel(2, 2));
  assert.deepEqual(keyMove(sel(1, 1), 'ArrowUp', false, n), sel(0, 0));
  assert.deepEqual(keyMove(sel(1, 3), 'ArrowLeft', false, n), sel(2, 2));
  // Edges hold.
  assert.deepEqual(keyMove(sel(3, 3), 'ArrowRight', false, n), sel(3, 3));
  assert.deepEqual(keyMove(sel(0, 0), 'ArrowLeft', false, n), sel(0, 0));
  // Shift keeps the anchor and moves the focus, either way, up to the edges.
  assert.deepEqual(keyMove(sel(1, 1), 'ArrowRight', true, n), sel(1, 2));
  assert.deepEqual(keyMove(sel(1, 3), 'ArrowDown', true, n), sel(1, 3));
  let s: Selection = sel(2, 2);
  for (let i = 0; i < 3; i++) s = keyMove(s, 'ArrowLeft', true, n) as Selection;
  assert.deepEqual(s, sel(2, 0));
  // Home/End: to the first/last segment; with Shift, from the anchor.
  assert.deepEqual(keyMove(sel(2, 2), 'Home', false, n), sel(0, 0));
  assert.deepEqual(keyMove(sel(2, 2), 'End', false, n), sel(3, 3));
  assert.deepEqual(keyMove(sel(2, 1), 'Home', true, n), sel(2, 0));
  assert.deepEqual(keyMove(sel(1, 1), 'End', true, n), sel(1, 3));
  assert.deepEqual(keyMove(NO_SELECTION, 'End', true, n), sel(3, 3));
  // Escape clears; other keys, and any key without segments, do nothing.
  assert.equal(keyMove(sel(1, 2), 'Escape', false, n), 'clear');
  assert.equal(keyMove(sel(1, 2), 'a', false, n), undefined);
  assert.equal(keyMove(sel(1, 2), 'toString', false, n), undefined);
  assert.equal(keyMove(NO_SELECTION, 'ArrowRight', false, 0), undefined);
  assert.equal(keyMove(NO_SELECTION, 'Escape', false, 0), undefined);
});

test('compare: the same text, else the same "Label:" line, else the same position', () => {
  const lines = ['Analysis: it has eggs.\n', 'Recommendation: Avoid.\n', 'Done'].map(
      (text, i) => ({start: i, end: i + 1, text}));
  assert.equal(requestedIndex(lines, {text: 'Recommendation: Avoid.', index: 0}), 1);
  assert.equal(requestedIndex(lines, {text: '  Done\n', index: 0}), 2);
  assert.equal(requestedIndex(lines, {text: 'Recommendation: Try it.\n', index: 0}), 1);
  assert.equal(requestedIndex(lines, {text: 'Analysis: no eggs.', index: 2}), 0);
  assert.equal(requestedIndex(lines, {text: 'Something else', index: 1}), 1);
  assert.equal(requestedIndex(lines, {text: 'Something else', index: 5}), 2, 'past the end: the last segment');
  // A "label" longer than 40 characters is not a label.
  const long = `${'x'.repeat(41)}: a`;
  const withLong = [...lines, {start: 3, end: 4, text: `${'x'.repeat(41)}: b`}];
  assert.equal(requestedIndex(withLong, {text: long, index: 0}), 0);
  assert.equal(requestedIndex([], {text: 'Done', index: 0}), -1);
});

test('one batch: what each output segment explains, plus a selection spanning several', () => {
  // Output lines keep their newlines; explained ranges leave them out.
  const tokens = ['<bos>', '▁Q', '\n', 'A', ':', '▁x', '\n', 'B', ':', '▁y'];
  const lines = paneSegments({tokens, promptLength: 3}, 'lines').output;
  assert.deepEqual(lines.map((s) => [s.start, s.end]), [[3, 7], [7, 10]]);
  const one = batchRanges(tokens, lines, selectedRange(lines, sel(0, 0))!);
  assert.deepEqual(one.wanted, {start: 3, end: 6});
  assert.deepEqual(one.ranges, [{start: 3, end: 6}, {start: 7, end: 10}]);
  const both = batchRanges(tokens, lines, selectedRange(lines, sel(1, 0))!);
  assert.deepEqual(both.wanted, {start: 3, end: 10});
  assert.deepEqual(both.ranges, [{start: 3, end: 6}, {start: 7, end: 10}, {start: 3, end: 10}]);
});
