/**
 * Chat templates: the `token_turns` field of the tokenizer and salience
 * models (LIT SequenceTags aligned to `tokens`, present only when the model
 * wrapped the prompt in its chat template). Each tag is "<turn index>:<role>"
 * ("0:system", "1:user", "2:model"), or "<turn index>:template" for the
 * template's own tokens (role markers, turn delimiters, BOS). Template tokens
 * are greyed out and left out of colour scaling; the Turns granularity groups
 * tokens by turn.
 */

import {tokenText} from './segments.js';
import type {Segment} from './segments.js';

/** The role of the template's own tokens. */
export const TEMPLATE_ROLE = 'template';

export interface TurnTag {
  index: number;
  role: string;
}

/** "1:user" -> {index: 1, role: 'user'}; undefined for anything else. */
export function parseTurnTag(tag: unknown): TurnTag | undefined {
  if (typeof tag !== 'string') return undefined;
  const m = tag.match(/^(\d+):(.+)$/);
  return m ? {index: Number(m[1]), role: m[2]} : undefined;
}

/** The `token_turns` field when it is one well-formed tag per token; else undefined. */
export function parseTokenTurns(raw: unknown, tokens: number): string[] | undefined {
  if (!Array.isArray(raw) || raw.length !== tokens || !raw.every((t) => parseTurnTag(t))) return undefined;
  return raw as string[];
}

/** For each token, whether it is the chat template's own (greyed, never scaled); all false without turns. */
export function templateTokens(turns: readonly string[] | undefined, length: number): boolean[] {
  return Array.from({length}, (_, i) => parseTurnTag(turns?.[i])?.role === TEMPLATE_ROLE);
}

/** Scores with the template's tokens set to 0, so that they count in no segment's value nor the scale. */
export function withoutTemplate(scores: ArrayLike<number>, template: readonly boolean[]): number[] {
  return Array.from(scores, (s, i) => template[i] ? 0 : s);
}

/** Whether every token of a segment is the template's (such a segment shows no score). */
export function isTemplateSegment(segment: {start: number, end: number}, template: readonly boolean[]): boolean {
  if (segment.end <= segment.start) return false;
  for (let i = segment.start; i < segment.end; i++) if (!template[i]) return false;
  return true;
}

/**
 * Tokens [from, to) in segments of one turn each: runs of tokens with the
 * same turn index (a turn's template tokens go with it).
 */
export function turnSegments(tokens: readonly string[], turns: readonly string[], from = 0, to = tokens.length):
    Segment[] {
  const segments: Segment[] = [];
  let start = from;
  for (let i = from; i < to; i++) {
    const here = parseTurnTag(turns[i])?.index;
    const next = i + 1 < to ? parseTurnTag(turns[i + 1])?.index : undefined;
    if (i === to - 1 || here !== next) {
      segments.push({start, end: i + 1, text: tokens.slice(start, i + 1).map(tokenText).join('')});
      start = i + 1;
    }
  }
  return segments;
}

/** A segment's turn for its tooltip ("turn 1, user"): the role of its first non-template token. */
export function turnLabel(segment: {start: number, end: number}, turns: readonly string[] | undefined): string {
  if (!turns) return '';
  const tags = turns.slice(segment.start, segment.end).map(parseTurnTag).filter((t) => t !== undefined);
  if (!tags.length) return '';
  const content = tags.find((t) => t.role !== TEMPLATE_ROLE);
  return content ? `turn ${content.index}, ${content.role}` : `turn ${tags[0].index}, chat template`;
}
