/**
 * "Why this and not that": the contrastive view's logic, with no DOM. The
 * model's alternatives at the first token of the explained span (the
 * salience model's `alternatives` field, LIT TopTokens: [token, probability]
 * pairs) as text to show and to send as the foil; which method a contrastive
 * view uses; and the words of the legend and of the view's indicator.
 *
 * Server contract (docs/architecture.md): with a `foil`, the explained
 * quantity is log P(span | context) - log P(foil | context); scores cover the
 * context (0 for the span and after it). Signed methods read positive =
 * pushed toward the actual output, negative = toward the foil; an unsigned
 * method (the gradient's norm) has no direction.
 */

import {contrastiveMethod, methodNamed} from './methods.js';
import type {MethodInfo} from './methods.js';
import {tokenText} from './segments.js';

/** One of the model's next tokens, ready to show and to use as the foil. */
export interface Alternative {
  /** The token string as the server sends it (`▁` for a leading space). */
  token: string;
  /** Its text (`▁Avoid` -> ` Avoid`): what is sent as the foil. */
  text: string;
  probability: number;
  /** What its button shows: the text trimmed, or a visible mark for whitespace. */
  label: string;
  /** The span's own first token: the output itself, not an alternative to it. */
  actual: boolean;
  /**
   * False for special tokens (`<eos>`, `<end_of_turn>`), which have no text to
   * send, and for whitespace alone (a newline): a foil needs some text.
   */
  usable: boolean;
}

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;
const SPECIAL_TOKEN = /^<[^<>\s]+>$/;

/** A token's text: `▁` is a space, a byte token <0x0A> its character (ASCII only). */
export function alternativeText(token: string): string {
  const byte = token.match(BYTE_TOKEN);
  if (byte) {
    const code = parseInt(byte[1], 16);
    return code < 0x80 ? String.fromCharCode(code) : '';
  }
  return tokenText(token);
}

/** Whether a token is one of the tokenizer's special tokens (no text of its own). */
export function isSpecialToken(token: string): boolean {
  return SPECIAL_TOKEN.test(token) && !BYTE_TOKEN.test(token);
}

/** Whitespace made visible: a space as ␣, a newline as ↵, a tab as ⇥. */
export function visibleWhitespace(text: string): string {
  return text.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥');
}

/** A button's label: the text without its leading space; whitespace alone is made visible. */
export function alternativeLabel(token: string): string {
  if (isSpecialToken(token)) return token;
  const text = alternativeText(token);
  return text.trim() ? text.trim() : visibleWhitespace(text) || token;
}

/** A probability as a short percentage: 31%, 2.5%, <0.1%. */
export function formatProbability(p: number): string {
  if (!(p > 0)) return '0%';
  const percent = p * 100;
  if (percent < 0.1) return '<0.1%';
  if (percent < 10) return `${Number(percent.toFixed(1))}%`;
  return `${Math.round(percent)}%`;
}

/**
 * The `alternatives` field as Alternatives, most probable first; `actual` is
 * the span's first token (marked, since it is the output, not an
 * alternative). Anything malformed is left out.
 */
export function parseAlternatives(raw: unknown, actual?: string): Alternative[] {
  if (!Array.isArray(raw)) return [];
  const parsed: Alternative[] = [];
  for (const item of raw) {
    let token: unknown, probability: unknown;
    if (Array.isArray(item)) {
      [token, probability] = item;
    } else if (item && typeof item === 'object') {
      ({token, probability} = item as {token?: unknown, probability?: unknown});
    }
    if (typeof token !== 'string' || typeof probability !== 'number' || !Number.isFinite(probability)) continue;
    const text = alternativeText(token);
    parsed.push({
      token, text, probability, label: alternativeLabel(token),
      actual: actual !== undefined && token === actual,
      usable: !isSpecialToken(token) && text.trim() !== '',
    });
  }
  return parsed.sort((a, b) => b.probability - a.probability);
}

/** What an alternative's button says on hover: why it can or cannot be the foil, and its probability. */
export function alternativeTitle(a: Alternative): string {
  const probability = formatProbability(a.probability);
  if (a.actual) return `${a.label}: the output's own first token (${probability})`;
  if (!a.usable) {
    return isSpecialToken(a.token) ? `${a.token}: a special token, no text to compare with` :
        `${a.label}: whitespace alone; a foil needs some text (type one)`;
  }
  return `Why the output instead of ${quote(a.text)}? The model gives it ${probability}.`;
}

/**
 * A foil as typed: whitespace alone is no foil (''); otherwise it is sent as
 * typed (the server puts a space before it where the span starts a word).
 */
export function normalizeFoil(text: string): string {
  return text.trim() ? text.replace(/[\r\n]+$/, '') : '';
}

/** A quoted, shortened text for sentences ("“You have to try it.”"). */
export function quote(text: string, max = 40): string {
  const t = text.trim().replace(/\s+/g, ' ');
  return `“${t.length > max ? t.slice(0, max - 1) + '…' : t}”`;
}

/** The method and foil settings, and the method the foil switched away from (to restore it). */
export interface FoilState {
  method: string;
  foil: string;
  /** Set when setting the foil switched the method: the method to return to when it is cleared. */
  switchedFrom?: string;
}

/**
 * The settings after the user sets (or, with '', clears) the foil. Setting
 * one with an unsigned method (or one without a contrastive form) switches
 * to the contrastive method (methods.contrastiveMethod: signed, so the view
 * shows the diverging scale) and says so; clearing it returns to the method
 * the foil switched away from, unless the user has picked another since.
 */
export function applyFoil(state: FoilState, foil: string, methods: readonly MethodInfo[]):
    FoilState & {notice: string} {
  const next = normalizeFoil(foil);
  const target = contrastiveMethod(methods);
  if (!next) {
    const restore = state.switchedFrom !== undefined && state.method === target?.name &&
        !!methodNamed(methods, state.switchedFrom);
    return {method: restore ? state.switchedFrom! : state.method, foil: '', notice: ''};
  }
  const current = methodNamed(methods, state.method);
  if (current && target && current !== target && (!current.signed || !current.contrastive)) {
    const why = current.contrastive ? 'unsigned: it cannot say which way a part pushed' : 'it has no contrastive form';
    return {
      method: target.name, foil: next, switchedFrom: state.method,
      notice: `Contrastive view: method switched from ${state.method} (${why}) to ${target.name}. ` +
              'Clearing the foil switches back.',
    };
  }
  return {method: state.method, foil: next, switchedFrom: state.switchedFrom, notice: ''};
}

/** The words of a legend: a caption, and in a contrastive view what each end of the scale means. */
export interface LegendText {
  caption: string;
  /** What the negative end means (signed scales only). */
  negative?: string;
  /** What the positive (or, unsigned, the dark) end means. */
  positive?: string;
  /** One sentence saying what the colours mean. */
  explanation: string;
}

/**
 * What a legend says: `actual` is the explained output, `foil` the
 * alternative ('' in a plain view). In a contrastive view orange (positive)
 * parts pushed toward the actual output and purple (negative) ones toward the
 * foil; with an unsigned method, darker parts mattered more to the difference.
 */
export function legendText(method: string, signed: boolean, actual: string, foil: string): LegendText {
  if (!foil) {
    return {
      caption: `${method}${signed ? ' (signed)' : ''}`,
      explanation: signed ?
          `Orange parts raised the probability of ${quote(actual)}, purple parts lowered it.` :
          `Darker parts mattered more to ${quote(actual)}.`,
    };
  }
  const [a, f] = [quote(actual), quote(foil)];
  if (!signed) {
    return {
      caption: `${method}, contrastive (unsigned)`,
      positive: `mattered more to ${a} over ${f}`,
      explanation: `Contrastive: why ${a} instead of ${f}. Darker parts mattered more to the difference; ` +
                   `${method} has no sign, so it does not say toward which. Pick a signed method to see the direction.`,
    };
  }
  return {
    caption: `${method}, contrastive`,
    negative: `toward ${f}`,
    positive: `toward ${a}`,
    explanation: `Contrastive: why ${a} instead of ${f}. Orange parts pushed toward ${a}, ` +
                 `purple parts toward ${f}.`,
  };
}

/** The view's indicator: plain or contrastive, and what is explained. */
export function viewKind(actual: string, foil: string): {kind: 'plain' | 'contrastive', text: string} {
  return foil ?
      {kind: 'contrastive', text: `Contrastive: why ${quote(actual)} instead of ${quote(foil)}`} :
      {kind: 'plain', text: `Plain: why ${quote(actual)}`};
}
