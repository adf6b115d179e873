import assert from 'node:assert/strict';
import {test} from 'node:test';

import {parsePattern, segmentTokens, spacelessWordStarts, tokenText} from '../src/segments.js';

// "Taste-likes: Cheese\nAnalysis: it has eggs. Avoid!\n\nRecommendation: No."
const TOKENS = ['<bos>', 'Taste', '-', 'likes', ':', '▁Cheese', '\n', 'Analysis', ':', '▁it',
  '▁has', '▁eggs', '.', '▁Avoid', '!', '\n\n', 'Recommendation', ':', '▁No', '.'];

const texts = (granularity: Parameters<typeof segmentTokens>[1], pattern?: RegExp) =>
  segmentTokens(TOKENS, granularity, pattern, 1).map((s) => s.text);

test('token text turns ▁ into a space', () => {
  assert.equal(tokenText('▁Cheese'), ' Cheese');
  assert.equal(tokenText('\n\n'), '\n\n');
});

test('tokens: one segment per token', () => {
  const segs = segmentTokens(TOKENS, 'tokens', undefined, 1);
  assert.equal(segs.length, TOKENS.length - 1);
  assert.deepEqual(segs[0], {start: 1, end: 2, text: 'Taste'});
});

test('words split at ▁ and newlines, keep punctuation attached', () => {
  assert.deepEqual(texts('words'), ['Taste-likes:', ' Cheese\n', 'Analysis:', ' it', ' has',
    ' eggs.', ' Avoid!\n\n', 'Recommendation:', ' No.']);
});

test('sentences end at . ! ? before a space and at line breaks', () => {
  assert.deepEqual(texts('sentences'), ['Taste-likes: Cheese\n', 'Analysis: it has eggs.',
    ' Avoid!\n\n', 'Recommendation: No.']);
});

test('lines and paragraphs', () => {
  assert.deepEqual(texts('lines'),
      ['Taste-likes: Cheese\n', 'Analysis: it has eggs. Avoid!\n\n', 'Recommendation: No.']);
  assert.deepEqual(texts('paragraphs'),
      ['Taste-likes: Cheese\nAnalysis: it has eggs. Avoid!\n\n', 'Recommendation: No.']);
  // Two single newline tokens in a row also make a paragraph break.
  const split = ['a', '\n', '\n', 'b', '\n', 'c'];
  assert.deepEqual(segmentTokens(split, 'paragraphs').map((s) => s.text), ['a\n\n', 'b\nc']);
});

test('a decimal point or abbreviation inside a token does not end a sentence', () => {
  const tokens = ['It', '▁costs', '▁$', '4', '.', '5', '0', '▁today', '.'];
  assert.deepEqual(segmentTokens(tokens, 'sentences').map((s) => s.text), ['It costs $4.50 today.']);
});

test('custom pattern: a segment ends where a match ends', () => {
  const {pattern} = parsePattern(':');
  assert.deepEqual(texts('custom', pattern), ['Taste-likes:', ' Cheese\nAnalysis:',
    ' it has eggs. Avoid!\n\nRecommendation:', ' No.']);
  // Matches spanning tokens, and empty matches, do not break segmentation.
  assert.deepEqual(texts('custom', parsePattern('has eggs|x*').pattern),
      ['Taste-likes: Cheese\nAnalysis: it has eggs', '. Avoid!\n\nRecommendation: No.']);
});

test('segments are never empty and cover the range exactly', () => {
  for (const g of ['tokens', 'words', 'sentences', 'lines', 'paragraphs'] as const) {
    const segs = segmentTokens(TOKENS, g, undefined, 1);
    assert.equal(segs[0].start, 1);
    assert.equal(segs.at(-1)!.end, TOKENS.length);
    for (let i = 0; i < segs.length; i++) {
      assert.ok(segs[i].end > segs[i].start, `${g}: empty segment`);
      if (i > 0) assert.equal(segs[i].start, segs[i - 1].end);
    }
  }
  assert.deepEqual(segmentTokens([], 'words'), []);
});

test('a sub-range is segmented on its own', () => {
  const segs = segmentTokens(TOKENS, 'lines', undefined, 16, 20);
  assert.deepEqual(segs.map((s) => s.text), ['Recommendation: No.']);
});

test('invalid patterns give a message instead of throwing', () => {
  const {pattern, error} = parsePattern('(unclosed');
  assert.equal(pattern, undefined);
  assert.match(error!, /Invalid regular expression/);
  assert.match(parsePattern('').error!, /Enter a regular expression/);
});

// -- tokens that split characters, scripts without spaces ----------------------

const join = (segs: {text: string}[]) => segs.map((s) => s.text);

test('a token showing no character joins the token after it, at every granularity', () => {
  // "café 😀": byte-level tokens, the emoji's four bytes over three tokens.
  const tokens = ['<bos>', 'caf', 'é', '▁', '', '', '😀'];
  assert.deepEqual(join(segmentTokens(tokens, 'tokens', undefined, 1)), ['caf', 'é', ' ', '😀']);
  assert.deepEqual(join(segmentTokens(tokens, 'words', undefined, 1)), ['café', ' 😀']);
  const segs = segmentTokens(tokens, 'tokens', undefined, 1);
  assert.deepEqual(segs.at(-1), {start: 4, end: 7, text: '😀'});
  for (const g of ['tokens', 'words', 'sentences', 'lines', 'paragraphs'] as const) {
    assert.ok(segmentTokens(tokens, g, undefined, 1).every((s) => s.text !== ''), g);
  }
});

test('Chinese: two sentences at 。 and ！ inside tokens, words from ICU', () => {
  // "我喜欢吃苹果。今天天气很好！" in tokens that straddle the sentence end.
  const tokens = ['<bos>', '我喜', '欢吃', '苹果。今', '天天', '气很好', '！'];
  assert.deepEqual(join(segmentTokens(tokens, 'sentences', undefined, 1)),
      ['我喜欢吃苹果。今', '天天气很好！']);
  const words = join(segmentTokens(tokens, 'words', undefined, 1));
  assert.ok(words.length > 2, words.join('|'));
  assert.equal(words.join(''), '我喜欢吃苹果。今天天气很好！');
  // Word starts come from the browser's ICU: 我|喜欢|吃|苹果。|今天|天气|很好！
  assert.deepEqual(spacelessWordStarts('我喜欢吃苹果。今天天气很好！'), [1, 3, 4, 7, 9, 11]);
});

test('Japanese and mixed scripts: a word starts at a change to or from a spaceless script', () => {
  assert.deepEqual(spacelessWordStarts('今日は良い天気です'), [2, 3, 5, 7]);
  assert.deepEqual(spacelessWordStarts('GPT模型 is good'), [3]);
  assert.deepEqual(spacelessWordStarts('a plain English line.'), []);
  const tokens = ['今日', 'は', '良い', '天気', 'です', '。'];
  assert.deepEqual(join(segmentTokens(tokens, 'words')), ['今日', 'は', '良い', '天気', 'です。']);
});
