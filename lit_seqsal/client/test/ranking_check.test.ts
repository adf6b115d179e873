// The ranked segments beside the text and the words of the deletion check (DOM-free modules).
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {
  checkChart, checkGranularities, checkRows, checkSentence, formatNumber, objectiveName, verdictText,
} from '../src/check_view.js';
import type {CheckByK, CheckRecord} from '../src/check_view.js';
import {paneSegments, paneView, prefetchText, unitWord} from '../src/pane_view.js';
import {formatShare, rankSegments, segmentLabel, topPromptSegments} from '../src/ranking.js';

// Prompt " Hi there:" (after BOS), output " One two. Three four."; words: prompt " Hi", " there:";
// output " One", " two.", " Three", " four.".
const TOKENIZED = {
  tokens: ['<bos>', '▁Hi', '▁there', ':', '▁One', '▁two', '.', '▁Three', '▁four', '.'],
  promptLength: 4,
};
const WORDS = paneSegments(TOKENIZED, 'words');
const THREE = {anchor: 2, focus: 2};
const close = (a: number, b: number) => Math.abs(a - b) < 1e-12;

test('ranking, unsigned: the prompt and the output before the selection, largest first, shares of the sum', () => {
  const scores = [0, 1, 3, 0.5, 2, 0.25, 0.25, 9, 9, 9];
  const ranking = rankSegments(paneView(WORDS, scores, THREE, false));
  // By hand: " there:" 3.5, " One" 2, " Hi" 1, " two." 0.5 (the selection and after: not ranked); sum 7.
  assert.deepEqual(ranking.entries.map((e) => [e.rank, e.role, e.index, e.text, e.value]),
                   [[1, 'prompt', 1, ' there:', 3.5], [2, 'output', 0, ' One', 2], [3, 'prompt', 0, ' Hi', 1],
                    [4, 'output', 1, ' two.', 0.5]]);
  assert.equal(ranking.total, 7);
  assert.ok(ranking.entries.every((e) => close(e.share, e.value / 7)));
  // Bars on the view's colour scale (its largest value, 3.5): from the left.
  assert.ok(ranking.entries.every((e) => e.bar.from === 0 && close(e.bar.to, e.value / 3.5) && !e.bar.negative));
  assert.deepEqual(ranking.entries[0].range, {start: 2, end: 4});
  assert.deepEqual(topPromptSegments(ranking, 1), [1], 'the top prompt segment');
  assert.deepEqual(topPromptSegments(ranking, 5), [1, 0]);
  // A shared scale (compare mode) makes the bars shorter, as it does the colours.
  const shared = rankSegments(paneView(WORDS, scores, THREE, false, {scaleMax: 7}));
  assert.ok(close(shared.entries[0].bar.to, 0.5));
  // The selection's own salience shown: still not ranked (it explains itself); nothing without a selection.
  assert.equal(rankSegments(paneView(WORDS, scores, THREE, true)).entries.length, 4);
  assert.deepEqual(rankSegments(paneView(WORDS, scores, {anchor: -1, focus: -1}, false)).entries, []);
  assert.deepEqual(rankSegments(paneView(WORDS, undefined, THREE, false), false).entries, []);
});

test('ranking, signed: most supportive first (as the check ranks), shares of the total size, diverging bars', () => {
  const scores = [0, -1, 3, 0.5, 2, -0.25, -0.25, 9, 9, 9];
  const ranking = rankSegments(paneView(WORDS, scores, THREE, false));
  assert.equal(ranking.signed, true);
  assert.deepEqual(ranking.entries.map((e) => [e.text, e.value]),
                   [[' there:', 3.5], [' One', 2], [' two.', -0.5], [' Hi', -1]]);
  assert.equal(ranking.total, 7, '|3.5| + |2| + |-0.5| + |-1|');
  assert.ok(close(ranking.entries[3].share, -1 / 7));
  assert.deepEqual(ranking.entries[0].bar, {from: 0.5, to: 1, negative: false});
  const hi = ranking.entries[3].bar;
  assert.ok(hi.negative && hi.to === 0.5 && close(hi.from, 0.5 - 0.5 / 3.5));
  assert.deepEqual(topPromptSegments(ranking, 1), [1]);
  // The chat template's own tokens are never ranked (nor in the scale).
  const template = [true, false, true, true, false, false, false, false, false, false];
  const withTemplate = rankSegments(paneView(WORDS, scores, THREE, false, {template}));
  assert.deepEqual(withTemplate.entries.map((e) => e.text), [' One', ' two.', ' Hi']);
  assert.equal(withTemplate.total, 3.5);
});

test('ranked labels and shares as the list shows them', () => {
  assert.equal(segmentLabel('  Taste-likes:\n  Cheese \n'), 'Taste-likes: Cheese');
  assert.equal(segmentLabel('\n'), '↵');
  assert.equal(segmentLabel(' '), '␣');
  assert.equal(segmentLabel('a'.repeat(80)), `${'a'.repeat(59)}…`);
  assert.deepEqual([0.25, 0.045, 0.0004, -0.12, 0].map(formatShare), ['25%', '4.5%', '<0.1%', '-12%', '0%']);
});

const ln = Math.log;
function outcome(prob: number | null, logProb: number, before: number) {
  return {segments: [[1, 5]] as Array<[number, number]>, log_prob: logProb, prob, drop: before - logProb};
}
/** One k's numbers: probabilities after removing the top, random (mean ± std) and lowest k. */
function entry(k: number, top: number, mean: number, std: number, lowest: number, before = 0.62): CheckByK {
  return {
    k, top: outcome(top, ln(top), ln(before)), lowest: outcome(lowest, ln(lowest), ln(before)),
    random: {drop_mean: ln(before) - ln(mean), drop_std: 0.1, log_prob_mean: ln(mean), log_prob_std: 0.09,
             prob_mean: mean, prob_std: std, draws: []},
    excess: 1, threshold: 0.25, beats_random: k !== 2,
  };
}
const RECORD: CheckRecord = {
  method: 'grad_l2', granularity: 'sentences', signed: false, contrastive: false, objective: 'log P(span)',
  span: {start: 200, end: 210, text: ' Recommendation: You have to try it.\n'}, log_prob: ln(0.62), prob: 0.62,
  segments: 12, draws: 8, seed: 0,
  by_k: [entry(1, 0.3, 0.6, 0.02, 0.61), entry(2, 0.1, 0.58, 0.04, 0.6), entry(3, 0.04, 0.55, 0.05, 0.6)],
  verdict: 'weak', meaning: 'Removing the top-ranked parts lowers the span\'s probability more than removing random parts' +
      ' for some numbers tried but not all: read the highlighting with care.',
  thresholds: {min_excess_nats: 0.25, standard_errors: 2},
};

test('the check in one sentence: the issue\'s example, one segment, a raise, a foil, too few segments', () => {
  assert.equal(checkSentence(RECORD),
               'Removing the 3 top sentences lowers P(Recommendation: You have to try it.) from 0.62 to 0.04; ' +
               'removing 3 random sentences: to 0.55 (±0.05)');
  const one = {...RECORD, granularity: 'lines', by_k: [entry(1, 0.3, 0.6, 0.02, 0.61)]};
  assert.equal(checkSentence(one), 'Removing the top line lowers P(Recommendation: You have to try it.) from 0.62 ' +
                                   'to 0.30; removing 1 random line: to 0.60 (±0.02)');
  const raised = {...RECORD, by_k: [entry(1, 0.9, 0.6, 0.02, 0.61)]};
  assert.match(checkSentence(raised), /^Removing the top sentence raises P\(.*\) from 0\.62 to 0\.90;/);
  // A foil: the difference of log-probabilities, no probabilities.
  const contrastive: CheckRecord = {
    ...RECORD, contrastive: true, objective: 'log P(span) - log P(foil)', prob: null, log_prob: 1.5,
    by_k: [{...entry(3, 0.04, 0.55, 0.05, 0.6), top: {segments: [], log_prob: -0.2, prob: null, drop: 1.7},
            random: {drop_mean: 0.4, drop_std: 0.3, log_prob_mean: 1.1, log_prob_std: 0.3, prob_mean: null,
                     prob_std: null, draws: []}}],
  };
  assert.equal(checkSentence(contrastive, ' Avoid.'),
               'Removing the 3 top sentences lowers log P(Recommendation: You have to try it.) − log P(Avoid.) ' +
               'from 1.50 to −0.20; removing 3 random sentences: to 1.10 (±0.30)');
  assert.equal(objectiveName(contrastive), 'log P(Recommendation: You have to try it.) − log P(foil)');
  assert.equal(checkSentence({...RECORD, by_k: [], verdict: null}),
               'There are fewer than two sentences before the span: nothing to compare with.');
  // Long spans are shortened; small numbers keep two significant digits.
  assert.match(objectiveName({...RECORD, span: {start: 0, end: 1, text: 'x'.repeat(100)}}), /^P\(x{59}…\)$/);
  assert.deepEqual([0.62, 0.0041, 0, -0.2, 1e-67, 12.345].map(formatNumber),
                   ['0.62', '0.0041', '0', '−0.20', '1.0e−67', '12.35']);
});

test('the check\'s verdict, numbers and chart come from the record', () => {
  assert.deepEqual(verdictText(RECORD), {label: 'Weak', meaning: RECORD.meaning, kind: 'weak'});
  assert.deepEqual(verdictText({...RECORD, verdict: 'not supported'}).kind, 'not-supported');
  assert.deepEqual(verdictText({...RECORD, verdict: null}).label, 'No verdict');
  assert.deepEqual(checkRows(RECORD), [
    {k: 1, top: '0.30', random: '0.60 ± 0.02', lowest: '0.61', beatsRandom: true},
    {k: 2, top: '0.10', random: '0.58 ± 0.04', lowest: '0.60', beatsRandom: false},
    {k: 3, top: '0.04', random: '0.55 ± 0.05', lowest: '0.60', beatsRandom: true}]);
  // Probabilities: from 0 to the largest shown (0.62, nothing removed); bars grow from 0.
  const chart = checkChart(RECORD);
  assert.deepEqual([chart.min, chart.max, chart.zeroY, chart.before], [0, 0.62, 0, {value: 0.62, y: 1}]);
  const [top, random, lowest] = chart.groups[2].bars;
  assert.deepEqual([top.kind, top.y0], ['top', 0]);
  assert.ok(close(top.y1, 0.04 / 0.62) && close(lowest.y1, 0.6 / 0.62) && close(random.y1, 0.55 / 0.62));
  assert.ok(close(random.spread![0], 0.5 / 0.62) && close(random.spread![1], 0.6 / 0.62));
  assert.equal(chart.axis, 'P(Recommendation: You have to try it.)');
  // With a foil: the objective's range, 0 inside it; a negative bar hangs from 0.
  const contrastive: CheckRecord = {...RECORD, contrastive: true, prob: null, log_prob: 1, by_k: [{
    ...entry(1, 0.5, 0.5, 0.1, 0.5), top: {segments: [], log_prob: -1, prob: null, drop: 2},
    lowest: {segments: [], log_prob: 0.5, prob: null, drop: 0.5},
    random: {drop_mean: 0.5, drop_std: 0.1, log_prob_mean: 0.5, log_prob_std: 0.25, prob_mean: null, prob_std: null,
             draws: []}}]};
  const c = checkChart(contrastive, 'Avoid');
  assert.deepEqual([c.min, c.max, c.zeroY], [-1, 1, 0.5]);
  assert.deepEqual(c.groups[0].bars[0], {kind: 'top', value: -1, y0: 0, y1: 0.5});
  assert.equal(c.axis, 'log P(Recommendation: You have to try it.) − log P(Avoid)');
  // The check's granularities, from /seqsal/info.
  assert.deepEqual(checkGranularities({field: 'check', ks: [1, 2, 3], draws: 8, verdicts: {},
                                       settings: [{name: 'check_granularity', default: 'sentences',
                                                   follows: 'granularity', choices: ['words', 'lines']}]}),
                   ['words', 'lines']);
  assert.deepEqual(checkGranularities(undefined), []);
});

test('the prefetch line of a costly method: what it computes, for the whole output or the others, the job\'s progress', () => {
  const running = {done: 1, total: 6, running: true, error: ''};
  assert.equal(prefetchText(running, 'sentences', {method: 'occlusion', all: true}),
               'Computing occlusion for the 6 sentences of the output in the background (1 of 6 ready): click any ' +
               'part of the output meanwhile.');
  assert.equal(prefetchText({...running, request: {id: 'j', state: 'running', done: 3, total: 10, fraction: 0.3,
                                                   elapsed_s: 1, remaining_s: null}}, 'words', {method: 'occlusion'}),
               'Computing occlusion for the other 6 words in the background (1 of 6 ready; this request 30%): click any ' +
               'part of the output meanwhile.');
  assert.equal(prefetchText({...running, running: false, error: 'Too many deletions.'}, 'tokens',
                            {method: 'occlusion', all: true}),
               'Stopped computing occlusion for the 6 tokens of the output: Too many deletions.');
  assert.deepEqual([unitWord(1, 'lines'), unitWord(3, 'lines'), unitWord(2, 'custom')], ['line', 'lines', 'segments']);
});
