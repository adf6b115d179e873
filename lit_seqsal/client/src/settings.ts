/** How the salience view looks and what it explains; shared by compared panes. */

import {FALLBACK_DEFAULT_METHOD} from './methods.js';
import type {Granularity} from './segments.js';

export type OutputMode = 'target' | 'generation';

export interface ViewSettings {
  granularity: Granularity;
  /** The custom granularity's pattern (only used when it is valid). */
  pattern?: RegExp;
  method: string;
  /** 0..1, 0.5 neutral: see colors.shownFraction. */
  intensity: number;
  density: 'dense' | 'spacious';
  spacing: 'tight' | 'loose';
  mark: 'highlight' | 'underline';
  /** Also colour the selected output span by its own salience. */
  showInSelection: boolean;
  /**
   * The foil of a contrastive view ("why the output instead of this?"); ''
   * for a plain view. Shared by compared panes, like the method.
   */
  foil: string;
}

export const DEFAULT_SETTINGS: ViewSettings = {
  granularity: 'words',
  // The server says which (methods.groupMethods); this until it has.
  method: FALLBACK_DEFAULT_METHOD,
  intensity: 0.5,
  density: 'spacious',
  spacing: 'loose',
  mark: 'highlight',
  showInSelection: false,
  foil: '',
};

/** A selection another pane should mirror: the same text, else the same position. */
export interface SelectionRequest {
  text: string;
  index: number;
}
