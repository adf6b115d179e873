/**
 * Where the app puts its parts: its own layout ("explain": the examples on
 * the left, the editor as one line above the salience module, which gets the
 * rest of the height), or one read from a LIT layout of /get_info (the
 * examples, editor and salience where LIT's client would show their
 * counterparts). On narrow screens every layout is one column (app.ts).
 */

import type {LayoutInfo} from './api.js';

export type Part = 'examples' | 'editor' | 'salience';
export type Area = 'left' | 'upper' | 'lower';

export interface Arrangement {
  /** Parts per area, in layout order; empty areas are not drawn. */
  areas: Record<Area, Part[]>;
  leftWidth: number;
  /** Each row's height: what its parts need ('auto'), or a share of the rest. */
  rows: Partial<Record<Area, string>>;
}

/** The app's own layout, the default: the salience module gets the room. */
export const EXPLAIN_LAYOUT = 'explain';

/** The app's layouts by name, with what the Layout menu says of them. */
export const APP_LAYOUTS: Record<string, string> = {
  [EXPLAIN_LAYOUT]: 'Explain (salience first)',
};

/** The layout to show: the URL's (ours or LIT's) where the server has it, else ours. */
export function chooseLayout(wanted: string | undefined, litLayouts: readonly string[]): string {
  return wanted && (wanted in APP_LAYOUTS || litLayouts.includes(wanted)) ? wanted : EXPLAIN_LAYOUT;
}

/** LIT module names -> our parts (other modules have no counterpart here). */
function partOf(module: string): Part | undefined {
  if (module.includes('salience')) return 'salience';
  if (module.includes('data-table')) return 'examples';
  if (module.includes('datapoint-editor') || module.includes('generator')) return 'editor';
  return undefined;
}

export function arrangementFor(layout: LayoutInfo | undefined): Arrangement {
  const areas: Record<Area, Part[]> = {left: [], upper: [], lower: []};
  const placed = new Set<Part>();
  for (const area of ['left', 'upper', 'lower'] as Area[]) {
    for (const modules of Object.values(layout?.[area] ?? {})) {
      for (const module of modules) {
        const part = partOf(module);
        if (part && !placed.has(part)) {
          placed.add(part);
          areas[area].push(part);
        }
      }
    }
  }
  // Every part is shown somewhere, whatever the layout names.
  if (!placed.has('examples')) areas.left.push('examples');
  if (!placed.has('editor')) (areas.left.length ? areas.left : areas.upper).push('editor');
  if (!placed.has('salience')) areas.upper.push('salience');
  const settings = (layout as {layoutSettings?: {leftWidth?: number}} | undefined)?.layoutSettings;
  const both = areas.upper.length > 0 && areas.lower.length > 0;
  return {areas, leftWidth: settings?.leftWidth ?? 35,
          rows: both ? {upper: 'minmax(0, 1fr)', lower: 'minmax(0, 1.6fr)'} : {upper: 'minmax(0, 1fr)', lower: 'minmax(0, 1fr)'}};
}

/** The arrangement of a layout by name: ours, or LIT's from /get_info. */
export function arrangementNamed(name: string, litLayouts: Record<string, LayoutInfo> | undefined): Arrangement {
  if (name === EXPLAIN_LAYOUT) {
    return {areas: {left: ['examples'], upper: ['editor'], lower: ['salience']}, leftWidth: 26,
            rows: {upper: 'auto', lower: 'minmax(0, 1fr)'}};
  }
  return arrangementFor(litLayouts?.[name]);
}
