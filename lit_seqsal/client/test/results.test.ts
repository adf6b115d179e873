import assert from 'node:assert/strict';
import {test} from 'node:test';

import {methodsOf, modelsOf, parseResults, percentile, regionStats, shareOf, tokenizedOf} from '../src/results.js';
import type {ResultRecord} from '../src/results.js';

function record(id: string, shares: number[], top: string | null, model = 'm'): ResultRecord {
  return {
    id, model, dataset: 'd', tokens: ['<bos>', 'A', '▁b', '\n', 'C'], prompt_length: 4,
    span: {selector: '', granularity: 'lines', start: 4, end: 5, text: 'C'}, granularity: 'words',
    salience: {grad_l2: {tokens: [0, 1, 2, 0, 0], segments: []}},
    regions: {spec: ['labels:A'], names: ['A #1', 'B #1', '(rest)'], tokens: [[[1, 3]], [[3, 4]], []],
              shares: {grad_l2: shares}, top: {grad_l2: top}},
  };
}

test('results lines: the last of each id kept, errors apart, a cut-off last line skipped', () => {
  const lines = [
    JSON.stringify(record('d/0', [0.2, 0.8, 0], 'B #1')),
    JSON.stringify({id: 'd/1', model: 'm', dataset: 'd', kind: 'example_error', error: {kind: 'SpanError', message: 'no match'}}),
    'not json',
    JSON.stringify(record('d/0', [0.5, 0.5, 0], 'A #1')),
    '',
  ].join('\n');
  const parsed = parseResults(lines + '{"id": "d/2", "mod');
  assert.equal(parsed.records.length, 1);
  assert.deepEqual(parsed.records[0].regions?.shares['grad_l2'], [0.5, 0.5, 0]);
  assert.equal(parsed.errors.length, 1);
  assert.equal(parsed.errors[0].error?.kind, 'SpanError');
  assert.deepEqual(parsed.badLines, [3]);
  assert.deepEqual(modelsOf(parsed.records), ['m']);
  assert.deepEqual(methodsOf(parsed.records), ['grad_l2']);
  assert.deepEqual(tokenizedOf(parsed.records[0]), {tokens: ['<bos>', 'A', '▁b', '\n', 'C'], promptLength: 4});
});

test('region stats: mean, spread, quartiles and how often top, as regions.py computes them', () => {
  const records = [record('e1', [0, 1, 0], 'B #1'), record('e2', [0.5, 0.25, 0], 'A #1'),
                   record('e3', [0.1, 0.2, 0], 'B #1'), record('other', [1, 0, 0], 'A #1', 'n')];
  const stats = regionStats(records, 'm', 'grad_l2');
  assert.deepEqual(stats.map((s) => s.name), ['A #1', 'B #1']);  // (rest) has no tokens
  const b = stats[1];
  assert.ok(Math.abs(b.mean - 0.4833333) < 1e-6);
  const mean = (1 + 0.25 + 0.2) / 3;
  const std = Math.sqrt(((1 - mean) ** 2 + (0.25 - mean) ** 2 + (0.2 - mean) ** 2) / 3);
  assert.ok(Math.abs(b.std - std) < 1e-12);
  assert.equal(b.median, 0.25);
  assert.equal(b.p25, 0.225);  // numpy's linear interpolation
  assert.ok(Math.abs(b.topFraction - 2 / 3) < 1e-12);
  assert.equal(stats[0].topFraction, 1 / 3);
  assert.equal(percentile([1, 2, 3, 4], 75), 3.25);
  assert.equal(shareOf(records[1], 'grad_l2', 'A #1'), 0.5);
  assert.equal(shareOf(records[1], 'grad_l2', '(rest)'), undefined);
});
