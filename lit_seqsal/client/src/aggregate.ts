/** Token scores summed into segment scores, and the scale they are shown on. */

import type {Segment} from './segments.js';

/** Sum of the token scores in each segment (salience of a span is additive). */
export function aggregate(scores: ArrayLike<number>, segments: readonly Segment[]): number[] {
  return segments.map((s) => {
    let total = 0;
    for (let i = s.start; i < s.end; i++) total += scores[i] ?? 0;
    return total;
  });
}

/** Whether a method's scores have both signs (grad_dot_input) or not (grad_l2). */
export function isSigned(scores: ArrayLike<number>): boolean {
  for (let i = 0; i < scores.length; i++) if (scores[i] < 0) return true;
  return false;
}

/** The largest |score| over the given segment indices (1 when all are zero). */
export function scaleMax(values: readonly number[], indices?: readonly number[]): number {
  let max = 0;
  for (const i of indices ?? values.keys()) max = Math.max(max, Math.abs(values[i]));
  return max > 0 ? max : 1;
}
