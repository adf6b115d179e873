import assert from 'node:assert/strict';
import {test} from 'node:test';

import {rangeKey, sameRange} from '../src/ranges.js';
import {cacheKey, salienceInput} from '../src/salience_data.js';

const range = {start: 2, end: 4};

test('a range as a key part, and equal ranges', () => {
  assert.equal(rangeKey(range), '2:4');
  assert.ok(sameRange(range, {start: 2, end: 4}));
  assert.ok(!sameRange(range, {start: 2, end: 5}));
});

test('every salience input has one shape: prompt fields, target, mask, then what it asks for', () => {
  assert.deepEqual(salienceInput('Hi', ' x y', 4, range), {prompt: 'Hi', target: ' x y', target_mask: [0, 0, 1, 1]});
  assert.deepEqual(salienceInput({prompt: 'Hi', stop: ['\n']}, ' x y', 4, range, {foil: ' z'}),
                   {prompt: 'Hi', stop: ['\n'], target: ' x y', target_mask: [0, 0, 1, 1], foil: ' z'});
  assert.deepEqual(
      salienceInput('Hi', ' x y', 4, range, {method: 'occlusion', settings: {occlusion_granularity: 'words'}, foil: ''}),
      {prompt: 'Hi', target: ' x y', target_mask: [0, 0, 1, 1], salience_methods: ['occlusion'],
       occlusion_granularity: 'words'});
});

test('every cache key from one function: the parts given, settings in any order, nothing confused', () => {
  const keys = [
    cacheKey('Hi'), cacheKey('Hi', ' x'), cacheKey('Hi', ' x', range), cacheKey('Hi', ' x', {start: 2, end: 3}),
    cacheKey('Hi', ' x', range, {foil: ' z'}), cacheKey('Hi', ' x', range, {method: 'occlusion'}),
    cacheKey('Hi', ' x', range, {method: 'occlusion', settings: {occlusion_granularity: 'words'}}),
    cacheKey('Hi', ' x', range, {method: 'occlusion', settings: {occlusion_granularity: 'words'}, foil: ' z'}),
    cacheKey({prompt: 'Hi', stop: ['\n']}, ' x', range),
  ];
  assert.equal(new Set(keys).size, keys.length);
  assert.equal(cacheKey({prompt: 'Hi'}, ' x', range), cacheKey('Hi', ' x', range), 'a prompt alone is the prompt');
  assert.equal(cacheKey('Hi', ' x', range, {method: 'm', settings: {a: 1, b: 'x'}}),
               cacheKey('Hi', ' x', range, {method: 'm', settings: {b: 'x', a: 1}}));
});
