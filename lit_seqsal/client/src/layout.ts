/** Where the app puts its parts, read from a LIT layout of /get_info. */

import type {LayoutInfo} from './api.js';

export type Part = 'examples' | 'editor' | 'salience';
export type Area = 'left' | 'upper' | 'lower';

export interface Arrangement {
  /** Parts per area, in layout order; empty areas are not drawn. */
  areas: Record<Area, Part[]>;
  leftWidth: number;
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
  return {areas, leftWidth: settings?.leftWidth ?? 35};
}
