// Drop it and regenerate, DOM-free: the edits sent for marked segments, the word-level diff of the
// two generations, and the example it opens (examples.ts).
import assert from 'node:assert/strict';
import {test} from 'node:test';

import type {Example} from '../src/api.js';
import {applyDraft, draftOf, editedCopy, editedExampleData, withDraft} from '../src/examples.js';
import {defaultMethodFor, groupMethods} from '../src/methods.js';
import type {ServerInfo} from '../src/api.js';
import {describeEdits, dropEdits} from '../src/prompt_edits.js';
import {segmentTokens} from '../src/segments.js';
import {MAX_TABLE, keptWords, wordDiff} from '../src/word_diff.js';
import type {DiffPart} from '../src/word_diff.js';
import {SERVER_DEFAULT_BY_GRANULARITY, SERVER_METHODS} from './server_methods.js';

const TOKENS = ['<bos>', '▁A', '▁cat', '.', '▁A', '▁dog', '.', '▁Who', '?', '▁The'];
const SENTENCES = segmentTokens(TOKENS, 'sentences', undefined, 1, 9);  // " A cat." " A dog." " Who?"

test('edits: the marked segments\' token ranges in text order; typed text replaces the first', () => {
  assert.deepEqual(SENTENCES.map((s) => [s.start, s.end, s.text]), [[1, 4, ' A cat.'], [4, 7, ' A dog.'], [7, 9, ' Who?']]);
  assert.deepEqual(dropEdits(SENTENCES, [2, 0, 2, 9]), [{start: 1, end: 4}, {start: 7, end: 9}],
                   'sorted, each once, unknown indices left out');
  assert.deepEqual(dropEdits(SENTENCES, [1, 2], ' A bird.'), [{start: 4, end: 7, text: ' A bird.'}, {start: 7, end: 9}]);
  assert.deepEqual(dropEdits(SENTENCES, []), []);
  assert.equal(describeEdits(dropEdits(SENTENCES, [0, 1])), 'without 2 parts of the prompt');
  assert.equal(describeEdits(dropEdits(SENTENCES, [1], 'x')), 'with 1 part of the prompt replaced');
  assert.equal(describeEdits(dropEdits(SENTENCES, [0, 1, 2], 'x')), 'with 1 part replaced and 2 parts dropped');
});

/** The text of the parts of the given kinds. */
const text = (parts: DiffPart[], ...kinds: string[]) => parts.filter((p) => kinds.includes(p.kind)).map((p) => p.text);
const words = (parts: DiffPart[], kind: string) => text(parts, kind).join(' ').split(/\s+/).filter(Boolean);

test('word diff: each text whole, the changed words marked, the kept words the same in both', () => {
  const before = 'Recommendation: You have to try it.\nIt is good.';
  const after = 'Recommendation: You should not try it.\nIt is  good!';
  const diff = wordDiff(before, after);
  assert.equal(diff.before.map((p) => p.text).join(''), before);
  assert.equal(diff.after.map((p) => p.text).join(''), after);
  assert.deepEqual(text(diff.before, 'removed'), ['have to', 'good.']);
  assert.deepEqual(text(diff.after, 'added'), ['should not', 'good!']);
  assert.deepEqual([diff.removed, diff.added], [3, 3]);
  assert.deepEqual(words(diff.before, 'same'), words(diff.after, 'same'));
  assert.deepEqual(text(diff.after, 'same'), ['Recommendation: You ', ' try it.\nIt is  ']);
  const same = wordDiff('One two.', 'One two.');
  assert.deepEqual([same.before, same.after, same.removed, same.added],
                   [[{kind: 'same', text: 'One two.'}], [{kind: 'same', text: 'One two.'}], 0, 0]);
  assert.deepEqual(wordDiff('', 'New words').after, [{kind: 'added', text: 'New words'}]);
  assert.deepEqual(wordDiff('Old', '').before, [{kind: 'removed', text: 'Old'}]);
});

/** The longest common subsequence's length, by plain recursion over the whole table (the reference). */
function lcsLength(a: string[], b: string[]): number {
  const memo = new Map<string, number>();
  const go = (i: number, j: number): number => {
    if (i === a.length || j === b.length) return 0;
    const key = `${i},${j}`;
    if (!memo.has(key)) memo.set(key, a[i] === b[j] ? 1 + go(i + 1, j + 1) : Math.max(go(i + 1, j), go(i, j + 1)));
    return memo.get(key)!;
  };
  return go(0, 0);
}

test('word diff: as few words marked as can be (a longest common subsequence), on random texts', () => {
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const vocabulary = ['a', 'b', 'c', 'd', 'the', 'it.'];
  const textOf = (n: number) => Array.from({length: n}, () => vocabulary[Math.floor(random() * 6)]);
  for (let round = 0; round < 200; round++) {
    const a = textOf(Math.floor(random() * 12)), b = textOf(Math.floor(random() * 12));
    const kept = keptWords(a, b);
    const keptA = a.filter((_, i) => kept.a[i]), keptB = b.filter((_, i) => kept.b[i]);
    assert.deepEqual(keptA, keptB, 'the kept words are a common subsequence');
    assert.equal(keptA.length, lcsLength(a, b), `a longest one: ${a.join(' ')} / ${b.join(' ')}`);
    const diff = wordDiff(a.join(' '), b.join('\n'));
    assert.equal(diff.before.map((p) => p.text).join(''), a.join(' '));
    assert.equal(diff.after.map((p) => p.text).join(''), b.join('\n'));
    assert.equal(diff.removed, a.length - keptA.length);
  }
  // Past the table's size the middle is marked as changed (the common ends still kept).
  const n = Math.ceil(Math.sqrt(MAX_TABLE)) + 1;
  const big = keptWords(['x', ...Array.from({length: n}, (_, i) => `a${i}`), 'y'],
                        ['x', ...Array.from({length: n}, (_, i) => `b${i}`), 'y']);
  assert.deepEqual([big.a[0], big.a[1], big.a.at(-1)], [true, false, true]);
});

test('the example "drop it and regenerate" opens: edited from the original, remembering the edit', () => {
  const original: Example = {id: 'ds-1', data: {prompt: 'A cat. A dog. Who?', target: ' The cat', source: 'pets',
                                                stop: ['\n'], max_new_tokens: 8, messages: '[]'}, meta: {}};
  const edit = {original_prompt: 'A cat. A dog. Who?', edited_prompt: 'A dog. Who?', changes: []};
  const data = editedExampleData(original.data, 'A dog. Who?', edit);
  assert.deepEqual(data, {prompt: 'A dog. Who?', source: 'pets', stop: ['\n'], max_new_tokens: 8, edit});
  const example = editedCopy(original, data, 'edited-1');
  assert.deepEqual(example, {id: 'edited-1', data: {...data, source: 'pets (edited)'},
                             meta: {added: true, source: 'pets', editedFrom: 'ds-1'}});
  // Editing it again in the editor: in place; a new prompt forgets the edit record, the same one keeps it.
  const draft = draftOf(example);
  const retitled = applyDraft(example, {...draft, maxNewTokens: 4}, () => 'x');
  assert.equal(retitled.kind, 'update');
  assert.deepEqual(retitled.kind === 'update' && retitled.example.data['edit'], edit);
  assert.equal(withDraft(example.data, {...draft, prompt: 'Who?'})['edit'], undefined);
  // The editor's own edit of a dataset example is the same kind of copy.
  const copied = applyDraft(original, {...draftOf(original), prompt: 'A cow.'}, () => 'edited-2');
  assert.deepEqual(copied.kind === 'copy' && [copied.example.data.source, copied.example.meta],
                   ['pets (edited)', {added: true, source: 'pets', editedFrom: 'ds-1'}]);
});

test('the method shown first follows the granularity where the server says (offered methods only)', () => {
  const output: Record<string, unknown> = {tokens: {__name__: 'Tokens'}};
  for (const m of SERVER_METHODS) output[m.name] = {__name__: 'TokenScores', required: !m.on_request};
  const info = {models: {m: {spec: {input: {}, output: {}}, datasets: []},
                         _m_salience: {spec: {input: {}, output}, datasets: []}},
                datasets: {}, layouts: {}} as unknown as ServerInfo;
  const seqsal = (byGranularity: Record<string, string>) => ({
    hosted: false, jobs: true, limits: {}, methods: SERVER_METHODS, default_method: 'grad_l2',
    default_method_by_granularity: byGranularity});
  const today = groupMethods(info, 'm', seqsal(SERVER_DEFAULT_BY_GRANULARITY));
  assert.deepEqual(['words', 'sentences', 'custom', 'turns'].map((g) => defaultMethodFor(today, g as 'words')),
                   ['grad_l2', 'grad_l2', 'grad_l2', 'grad_l2']);
  const occlusion = groupMethods(info, 'm', seqsal({...SERVER_DEFAULT_BY_GRANULARITY, sentences: 'occlusion',
                                                    lines: 'not_offered'}));
  assert.deepEqual(['words', 'sentences', 'lines'].map((g) => defaultMethodFor(occlusion, g as 'words')),
                   ['grad_l2', 'occlusion', 'grad_l2'], 'a method the group does not offer is not shown');
  assert.equal(defaultMethodFor(groupMethods(info, 'm', undefined), 'sentences'), 'grad_l2', 'an older server');
});
