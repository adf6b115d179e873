/**
 * Drop it and regenerate, with no DOM (unit-tested in node): the prompt
 * segments a person marked, as the `edits` the generation model takes (token
 * ranges of the tokens the pane shows, docs/reference.md "Drop it and
 * regenerate"), so that the server builds the edited prompt from the same
 * tokens and both agree on what was removed.
 */

import type {Segment} from './segments.js';

/** One edit: the tokens [start, end) removed, or replaced by `text`. */
export interface PromptEdit {
  start: number;
  end: number;
  text?: string;
}

/**
 * The edits that drop the marked prompt segments (indices into `segments`),
 * in the text's order; with a `replacement`, the first marked segment is
 * replaced by it and the others dropped.
 */
export function dropEdits(segments: readonly Segment[], marked: Iterable<number>, replacement = ''): PromptEdit[] {
  const chosen = [...new Set(marked)].filter((i) => segments[i]).sort((a, b) => segments[a].start - segments[b].start);
  return chosen.map((i, n) => {
    const edit: PromptEdit = {start: segments[i].start, end: segments[i].end};
    if (n === 0 && replacement) edit.text = replacement;
    return edit;
  });
}

/** What the edits do, in a few words: "dropping 2 segments", "replacing 1 segment and dropping 1". */
export function describeEdits(edits: readonly PromptEdit[]): string {
  const replaced = edits.filter((e) => e.text).length;
  const dropped = edits.length - replaced;
  const n = (k: number) => `${k} ${k === 1 ? 'part' : 'parts'}`;
  if (!edits.length) return 'no change';
  if (!replaced) return `without ${n(dropped)} of the prompt`;
  return dropped ? `with ${n(replaced)} replaced and ${n(dropped)} dropped` : `with ${n(replaced)} of the prompt replaced`;
}
