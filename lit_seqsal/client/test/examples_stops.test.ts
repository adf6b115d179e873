import assert from 'node:assert/strict';
import {test} from 'node:test';

import type {Example} from '../src/api.js';
import {applyDraft, draftOf, exampleNames, isChanged, withDraft} from '../src/examples.js';
import {LISTBOX_START, TYPE_AHEAD_MS, listboxKey} from '../src/listbox.js';
import type {ListboxState} from '../src/listbox.js';
import {escapeStop, formatStops, parseStops, suggestedStop} from '../src/stops.js';

const ex = (id: string, source: string, prompt: string, extra: Record<string, unknown> = {}): Example =>
  ({id, data: {source, prompt, ...extra}, meta: {}});

test('example names: a lone source as it is; shared sources told apart by their first differing words', () => {
  const math = 'Solve each word problem.\n\nProblem: A baker fills 6 trays.\nReasoning: 48.\n\nProblem: ';
  const examples = [
    ex('a', 'fewshot-mistake', 'Analyze a menu item.'),
    ex('b', 'math-fewshot', `${math}A bike rental costs $4 per hour plus a deposit.\nReasoning:`),
    ex('c', 'math-fewshot', `${math}A class of 28 students splits into teams.\nReasoning:`),
    ex('d', 'math-fewshot', `${math}Lena saves $15 every week.\nReasoning:`),
    ex('e', 'headline', 'Write a headline.\n\nParagraph: The town council of Millbrook voted seven to two.'),
    ex('f', 'headline', 'Write a headline.\n\nParagraph: A regional ferry operator suspended all crossings.'),
    ex('g', 'same', 'Identical.'),
    ex('h', 'same', 'Identical.'),
    ex('i', '', 'No source here.'),
  ];
  const names = exampleNames(examples);
  assert.equal(names.get('a'), 'fewshot-mistake');
  // "A bike" and "A class" share "A ": the phrase starts at the start of the differing word.
  assert.equal(names.get('b'), 'math-fewshot · A bike rental costs $4…');
  assert.equal(names.get('c'), 'math-fewshot · A class of 28 students…');
  assert.equal(names.get('d'), 'math-fewshot · Lena saves $15 every week.…');
  // A label opening the differing line ("Paragraph:") is left out of the phrase.
  assert.equal(names.get('e'), 'headline · The town council of Millbrook…');
  assert.equal(names.get('f'), 'headline · A regional ferry operator suspended…');
  // Nothing tells them apart: an index.
  assert.deepEqual([names.get('g'), names.get('h')], ['same #1', 'same #2']);
  assert.equal(names.get('i'), '(no source)');
  assert.equal(new Set(names.values()).size, examples.length, 'every name distinct');
});

test('edits: a dataset example becomes an edited copy named after it; a copy is then updated in place', () => {
  const original = ex('7', 'fewshot-mistake', 'Analysis:', {target: ' Yes.', stop: ['\n\n'], messages: '[]'});
  let n = 0;
  const newId = () => `edited-${++n}`;
  const draft = draftOf(original);
  assert.deepEqual(draft, {prompt: 'Analysis:', target: ' Yes.', stop: ['\n\n'], maxNewTokens: 0});
  assert.equal(applyDraft(original, draft, newId).kind, 'none', 'unchanged: nothing');
  assert.equal(applyDraft(original, {...draft, prompt: '  '}, newId).kind, 'none', 'an empty prompt: nothing');
  const edited = {...draft, prompt: 'Analysis (short):', maxNewTokens: 16};
  const copy = applyDraft(original, edited, newId);
  assert.equal(copy.kind, 'copy');
  const made = (copy as {example: Example}).example;
  assert.equal(made.id, 'edited-1');
  assert.deepEqual(made.meta, {added: true, source: 'fewshot-mistake', editedFrom: '7'});
  assert.equal(made.data.source, 'fewshot-mistake (edited)');
  assert.deepEqual(made.data, {source: 'fewshot-mistake (edited)', prompt: 'Analysis (short):', target: ' Yes.',
                               stop: ['\n\n'], max_new_tokens: 16}, 'the conversation no longer matches: dropped');
  assert.equal(original.data.prompt, 'Analysis:', 'the original is untouched');
  // Editing the copy again updates it (same id).
  const again = applyDraft(made, {...edited, target: '', stop: []}, newId);
  assert.equal(again.kind, 'update');
  const updated = (again as {example: Example}).example;
  assert.equal(updated.id, 'edited-1');
  assert.deepEqual(updated.data, {source: 'fewshot-mistake (edited)', prompt: 'Analysis (short):', max_new_tokens: 16});
  // A typed example is updated in place too.
  const typed: Example = {id: 'added-1', data: {prompt: 'Hi', source: 'new 1'}, meta: {added: true, typed: true}};
  assert.equal(applyDraft(typed, {...draftOf(typed), prompt: 'Hello'}, newId).kind, 'update');
  assert.equal(isChanged(typed, draftOf(typed)), false);
  assert.equal(isChanged(typed, {...draftOf(typed), stop: ['\n']}), true);
  assert.deepEqual(withDraft({prompt: 'a', source: 's'}, {prompt: 'a', target: '', stop: [], maxNewTokens: 0}),
                   {prompt: 'a', source: 's'});
});

test('listbox keys: arrows, Home and End move; Enter and Space pick; type-ahead jumps', () => {
  const names = ['fewshot-mistake', 'fewshot-fixed', 'math-fewshot · A bike', 'math-fewshot · Lena', 'headline'];
  const press = (state: ListboxState, key: string, now = 0, selected = -1) =>
    listboxKey(state, key, names, selected, now);
  assert.equal(press(LISTBOX_START, 'ArrowDown')!.state.active, 0);
  assert.equal(press(LISTBOX_START, 'ArrowUp')!.state.active, 4);
  assert.equal(press(LISTBOX_START, 'ArrowDown', 0, 2)!.state.active, 3, 'from the selected option');
  assert.equal(press({...LISTBOX_START, active: 4}, 'ArrowDown')!.state.active, 4, 'stays at the end');
  assert.equal(press({...LISTBOX_START, active: 2}, 'Home')!.state.active, 0);
  assert.equal(press({...LISTBOX_START, active: 2}, 'End')!.state.active, 4);
  assert.deepEqual(press({...LISTBOX_START, active: 1}, 'Enter'), {state: {...LISTBOX_START, active: 1}, pick: true});
  assert.equal(press({...LISTBOX_START, active: 1}, ' ')!.pick, true);
  assert.equal(press(LISTBOX_START, 'Enter'), undefined, 'nothing to pick');
  assert.equal(press(LISTBOX_START, 'Tab'), undefined, 'Tab leaves the list');
  // Type-ahead: "m", "a" within the pause -> the first "ma..."; after a pause "h" starts afresh.
  let state = press(LISTBOX_START, 'm', 1000)!.state;
  assert.equal(state.active, 2);
  state = press(state, 'a', 1100)!.state;
  assert.equal(state.active, 2);
  state = press(state, 'h', 1100 + TYPE_AHEAD_MS + 1)!.state;
  assert.equal(state.active, 4);
  // One letter repeated cycles through the names starting with it.
  state = press({...LISTBOX_START, active: 0}, 'f', 5000)!.state;
  assert.equal(state.active, 1);
  state = press(state, 'f', 5100)!.state;
  assert.equal(state.active, 0);
  // A name with a space: Space while typing is part of the name.
  state = press(LISTBOX_START, 'm', 9000)!.state;
  for (const c of 'ath-fewshot · l') state = press(state, c, 9001)!.state;
  assert.equal(state.active, 3);
  assert.equal(press(state, 'z', 9002)!.state.active, 3, 'no match: the active option stays');
});

test('stops: one field, comma-separated with escapes; the stop a prompt ending with a label needs', () => {
  assert.equal(escapeStop('\n\nQ:'), '\\n\\nQ:');
  assert.equal(formatStops(['\n\n', 'a,b', '\t']), '\\n\\n, a\\,b, \\t');
  assert.deepEqual(parseStops(formatStops(['\n\n', 'a,b', '\t', '\\'])), ['\n\n', 'a,b', '\t', '\\']);
  assert.deepEqual(parseStops('\\nQ:, END ,,'), ['\nQ:', 'END']);
  assert.deepEqual(parseStops(''), []);
  assert.equal(suggestedStop('Q: What is the capital of France?\nA:'), '\nQ:');
  assert.equal(suggestedStop('Intro.\n\nQ: Two plus two?\nA: Four.\n\nQ: Three plus one?\nA: '), '\nQ:');
  assert.equal(suggestedStop('Taste-likes: Cheese\nTaste-dislikes: eggs\nSuggestion: Quiche\nAnalysis:'),
               '\nTaste-likes:');
  assert.equal(suggestedStop('Write a poem about the sea.'), undefined, 'no label at the end');
  assert.equal(suggestedStop('Answer:'), undefined, 'no block before it');
  assert.equal(suggestedStop('Say hello\nAnswer:'), undefined, 'the block has no label to repeat');
});
