/**
 * The example list's logic, with no DOM (unit-tested in node): a distinct
 * name for every example (its source, and where several share a source a
 * short phrase of the prompt that tells them apart, else an index), and
 * what an edit in the editor does: a dataset example that is edited becomes
 * a new example named after its source and marked "edited", which keeps
 * the way back to the original.
 */

import type {Example, ExampleData} from './api.js';

/** Words of a distinguishing phrase, and its characters at most. */
const PHRASE_WORDS = 5;
const PHRASE_CHARS = 36;

function commonPrefix(texts: readonly string[]): number {
  if (!texts.length) return 0;
  let n = 0;
  const first = texts[0];
  while (n < first.length && texts.every((t) => t[n] === first[n])) n++;
  return n;
}

/** The first words of `text` from `from` on (from the start of the word `from` falls in), shortened. */
function phraseAt(text: string, from: number): string {
  let start = from;
  while (start > 0 && /\S/.test(text[start - 1])) start--;
  const rest = text.slice(start).replace(/\s+/g, ' ').trim();
  // A label that opens the line ("Problem:", "Paragraph:") says nothing of this example.
  const words = rest.replace(/^[\p{L}\- ]{1,20}:\s*/u, '').split(' ').filter(Boolean);
  let phrase = words.slice(0, PHRASE_WORDS).join(' ');
  if (phrase.length > PHRASE_CHARS) phrase = phrase.slice(0, PHRASE_CHARS - 1).trimEnd();
  return phrase && (phrase.length < rest.length ? `${phrase}…` : phrase);
}

/** An example's source as shown ('(no source)' without one). */
export function sourceOf(example: Example): string {
  return example.data.source || '(no source)';
}

/**
 * A distinct name per example id: the source alone where it is the only
 * example of that source; else the source and the first words where its
 * prompt differs from the others of the source ("math-fewshot · A bike
 * rental costs $4…"), or the source and its position (#2) where those are
 * not distinct.
 */
export function exampleNames(examples: readonly Example[]): Map<string, string> {
  const bySource = new Map<string, Example[]>();
  for (const e of examples) {
    const source = sourceOf(e);
    if (!bySource.has(source)) bySource.set(source, []);
    bySource.get(source)!.push(e);
  }
  const names = new Map<string, string>();
  for (const [source, group] of bySource) {
    if (group.length === 1) {
      names.set(group[0].id, source);
      continue;
    }
    const prompts = group.map((e) => e.data.prompt);
    const shared = commonPrefix(prompts);
    const phrases = prompts.map((p) => phraseAt(p, shared));
    const distinct = phrases.every((p, i) => p && phrases.indexOf(p) === i);
    group.forEach((e, i) => names.set(e.id, distinct ? `${source} · ${phrases[i]}` : `${source} #${i + 1}`));
  }
  return names;
}

/** Whether an example was made here by editing another (it keeps the way back). */
export function editedFrom(example: Example | undefined): string | undefined {
  return example?.meta.editedFrom;
}

/** The fields the editor changes. */
export interface Draft {
  prompt: string;
  target: string;
  /** Stop sequences of the generation ([] for none). */
  stop: string[];
  /** Most tokens generated; 0 for the server's maximum. */
  maxNewTokens: number;
}

/** What the editor shows for an example. */
export function draftOf(example: Example | undefined): Draft {
  const data = example?.data;
  const stop = data?.['stop'];
  const max = Number(data?.['max_new_tokens'] ?? 0);
  return {
    prompt: data?.prompt ?? '',
    target: data?.target ?? '',
    stop: Array.isArray(stop) ? stop.filter((s): s is string => typeof s === 'string') : typeof stop === 'string' ? [stop] : [],
    maxNewTokens: Number.isInteger(max) && max > 0 ? max : 0,
  };
}

/** The example's data with the draft's fields (unset ones left out). */
export function withDraft(data: ExampleData, draft: Draft): ExampleData {
  const next: ExampleData = {...data, prompt: draft.prompt};
  if (draft.target) next.target = draft.target; else delete next.target;
  if (draft.stop.length) next['stop'] = [...draft.stop]; else delete next['stop'];
  if (draft.maxNewTokens > 0) next['max_new_tokens'] = draft.maxNewTokens; else delete next['max_new_tokens'];
  // A conversation no longer matches an edited prompt: the prompt is what runs now;
  // nor does the record of an earlier "drop it and regenerate".
  if (draft.prompt !== data.prompt) {
    delete next['messages'];
    delete next['edit'];
  }
  return next;
}

/** Whether the draft says something else than the example. */
export function isChanged(example: Example | undefined, draft: Draft): boolean {
  const now = draftOf(example);
  return now.prompt !== draft.prompt || now.target !== draft.target || now.maxNewTokens !== draft.maxNewTokens ||
      now.stop.join('\u0000') !== draft.stop.join('\u0000');
}

/**
 * What applying the editor's draft to the selected example does: nothing
 * (unchanged, or an empty prompt); update it in place (an example made here:
 * typed or edited before); or make an edited copy of a dataset's example,
 * named after its source, that remembers the original.
 */
export function applyDraft(selected: Example | undefined, draft: Draft, newId: () => string):
    {kind: 'none'} | {kind: 'update', example: Example} | {kind: 'copy', example: Example} {
  if (!selected || !draft.prompt.trim() || !isChanged(selected, draft)) return {kind: 'none'};
  const data = withDraft(selected.data, draft);
  if (selected.meta.added && (selected.meta.editedFrom || selected.meta.typed)) {
    return {kind: 'update', example: {...selected, data}};
  }
  return {kind: 'copy', example: editedCopy(selected, data, newId())};
}

/**
 * A new example made by editing `from` (in the editor, or by "drop it and
 * regenerate"): `data`, named after the original's source with " (edited)",
 * marked edited, with the way back to the original.
 */
export function editedCopy(from: Example, data: ExampleData, id: string): Example {
  const source = from.data.source || 'example';
  return {id, data: {...data, source: `${source} (edited)`}, meta: {added: true, source, editedFrom: from.id}};
}

/**
 * The data of the example "drop it and regenerate" opens: the edited prompt
 * (as the server built it), the original's stop sequences and most new
 * tokens, and the record of what was changed (`edit`, as the generation model
 * returned it); no target (it was the original prompt's) and no conversation
 * (the edited prompt is what runs).
 */
export function editedExampleData(data: ExampleData, editedPrompt: string, edit: unknown): ExampleData {
  const next: ExampleData = {...data, prompt: editedPrompt, edit};
  for (const field of ['target', 'messages']) delete next[field];
  return next;
}
