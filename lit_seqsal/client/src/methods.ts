/**
 * The salience methods a model group offers, and what the client needs to
 * know of each: its label and description for the menu, whether its scores
 * are signed, whether it is computed only when picked, whether it explains
 * against a foil, its request settings and what the model does while it runs.
 * All of it comes from the server's registry (GET /seqsal/info `methods`, see
 * lit_seqsal/salience/methods.py), never from a method's name. A server
 * without it (plain LIT, an older lit-seqsal) is described from the salience
 * model's output spec as the client always did, in legacyMethods alone.
 * No DOM (unit-tested in node).
 */

import {salienceMethods, salienceModelName} from './api.js';
import type {SeqsalInfo, ServerInfo} from './api.js';
import type {Granularity} from './segments.js';

/** A request field a method reads (Setting.describe() on the server). */
export interface MethodSetting {
  name: string;
  default: string | number;
  help?: string;
  /** 'granularity': the client sends the view's granularity. */
  follows?: string | null;
  /** The values it takes (a choice setting); else a whole number in [low, high]. */
  choices?: string[];
  low?: number;
  high?: number;
}

/** One method as the server describes it (Method.describe() on the server). */
export interface MethodInfo {
  /** The salience model's output field, and the request's `salience_methods` entry. */
  name: string;
  /** What a person calls it (the menu). */
  label: string;
  /** One plain line: what a dark (or coloured) part means (the menu's tooltip). */
  description: string;
  signed: boolean;
  /** Costly: computed for the selection alone, when picked (`salience_methods`). */
  on_request: boolean;
  /** Whether it explains a span against a foil. */
  contrastive: boolean;
  /**
   * Whether the spans of one output share its work (occlusion: one set of
   * deletions serves them all): its scores are prefetched for every span of
   * the output, as the gradients' are. Absent from older servers: false.
   */
  shares_spans?: boolean;
  settings: MethodSetting[];
  /** What the model does while it runs; {units} and {granularity} are filled in (see workNote). */
  work_note: string | null;
  /** What the score means, and the model passes it costs (the README's table). */
  measures?: string;
  cost?: string;
}

/** The methods of a group, in menu order, and the one shown first (at each granularity, where the server says). */
export interface MethodMenu {
  methods: MethodInfo[];
  defaultMethod: string;
  /** Granularity -> the method shown first there, where it is offered (else defaultMethod). */
  defaultByGranularity?: Record<string, string>;
}

/** The method shown first where the server does not say (an older server). */
export const FALLBACK_DEFAULT_METHOD = 'grad_l2';

/** The granularities the server can delete or group by: the client's custom patterns and turns are its own. */
const SERVER_GRANULARITIES = ['tokens', 'words', 'sentences', 'lines', 'paragraphs'];

/**
 * The methods of a server without /seqsal/info `methods`, as the client
 * read them before the server described them: the salience model's
 * TokenScores fields, on request where not `required`; grad_l2 unsigned, the
 * others signed; occlusion deleting units of the view's granularity.
 */
export function legacyMethods(info: ServerInfo, group: string): MethodInfo[] {
  const spec = info.models[salienceModelName(group)]?.spec.output ?? {};
  return salienceMethods(info, group).map((name) => ({
    name, label: name, description: '', signed: name !== 'grad_l2', on_request: spec[name].required === false,
    contrastive: true,
    settings: name === 'occlusion' ? [{
      name: 'occlusion_granularity', default: 'sentences', follows: 'granularity', choices: SERVER_GRANULARITIES}] : [],
    work_note: name === 'occlusion' ? 'the model runs once without each of the {units} {granularity} before the selection' :
        null,
  }));
}

/**
 * The methods a group offers (its salience model's TokenScores fields, in
 * that order), described by the server where it can (`seqsal`, GET
 * /seqsal/info), else by legacyMethods; and the one to show first.
 */
export function groupMethods(info: ServerInfo, group: string, seqsal?: SeqsalInfo): MethodMenu {
  const described = new Map((seqsal?.methods ?? []).map((m) => [m.name, m]));
  const legacy = new Map(legacyMethods(info, group).map((m) => [m.name, m]));
  const methods = salienceMethods(info, group).map((name) => described.get(name) ?? legacy.get(name)!);
  const names = methods.map((m) => m.name);
  const wanted = [seqsal?.default_method, FALLBACK_DEFAULT_METHOD].find((n) => n && names.includes(n));
  const byGranularity = Object.entries(seqsal?.default_method_by_granularity ?? {})
      .filter(([, name]) => names.includes(name));
  return {methods, defaultMethod: wanted ?? names[0] ?? FALLBACK_DEFAULT_METHOD,
          defaultByGranularity: Object.fromEntries(byGranularity)};
}

/**
 * The method shown first at `granularity`: the server's choice there
 * (`default_method_by_granularity`, the most faithful method cheap enough at
 * that granularity), else the menu's default.
 */
export function defaultMethodFor(menu: Pick<MethodMenu, 'defaultMethod' | 'defaultByGranularity'>,
                                 granularity: Granularity): string {
  return menu.defaultByGranularity?.[granularity] ?? menu.defaultMethod;
}

export function methodNamed(methods: readonly MethodInfo[], name: string): MethodInfo | undefined {
  return methods.find((m) => m.name === name);
}

/**
 * What a contrastive view switches an unsigned method to: the first signed
 * method that is not computed on request and explains against a foil.
 */
export function contrastiveMethod(methods: readonly MethodInfo[]): MethodInfo | undefined {
  return methods.find((m) => m.signed && !m.on_request && m.contrastive);
}

/** The menu's text of a method: its label, and whether it is computed only when picked. */
export function menuLabel(method: MethodInfo): string {
  return method.on_request ? `${method.label} — computed when picked` : method.label;
}

function wordList(words: readonly string[]): string {
  return words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words.at(-1)}` : words.join('');
}

/**
 * The request settings of `method` in a view at `granularity`: a setting that
 * follows the granularity gets it (others keep the server's default); or why
 * the method cannot run at this granularity (one the setting cannot take,
 * such as a custom pattern or turns).
 */
export function methodSettings(method: MethodInfo, granularity: Granularity):
    {settings: Record<string, string | number>, error: string} {
  const settings: Record<string, string | number> = {};
  for (const setting of method.settings) {
    if (setting.follows !== 'granularity') continue;
    if (setting.choices && !setting.choices.includes(granularity)) {
      return {settings: {}, error: `${method.label} works on ${wordList(setting.choices)}: ` +
                                  'pick one of those granularities.'};
    }
    settings[setting.name] = granularity;
  }
  return {settings, error: ''};
}

/** The method's work note with its {units} and {granularity} filled in; undefined without one. */
export function workNote(method: MethodInfo, units: number, granularity: Granularity): string | undefined {
  return method.work_note?.replace(/\{units\}/g, String(units)).replace(/\{granularity\}/g, granularity);
}
