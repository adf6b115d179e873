import assert from 'node:assert/strict';
import {test} from 'node:test';

import {aggregate, isSigned, scaleMax} from '../src/aggregate.js';
import {colorFor, legend, shownFraction, textColorFor} from '../src/colors.js';
import {segmentTokens} from '../src/segments.js';

test('segment scores are sums of token scores', () => {
  const tokens = ['<bos>', 'a', '▁b', '\n', 'c', '▁d'];
  const scores = [0, 1, 2, 3, -4, 0.5];
  const segs = segmentTokens(tokens, 'lines', undefined, 1);
  assert.deepEqual(aggregate(scores, segs), [6, -3.5]);
  assert.equal(isSigned(scores), true);
  assert.equal(isSigned([0, 1, 2]), false);
  assert.equal(scaleMax([1, -5, 3]), 5);
  assert.equal(scaleMax([1, -5, 3], [0, 2]), 3);
  assert.equal(scaleMax([0, 0]), 1);
});

test('sequential scale: white at zero, darker with magnitude, monotone', () => {
  assert.equal(colorFor(0, 1, false), 'rgb(255, 255, 255)');
  let previous = 3 * 255;
  for (let v = 0.1; v <= 1.0001; v += 0.1) {
    const [r, g, b] = colorFor(v, 1, false).match(/\d+/g)!.map(Number);
    assert.ok(r + g + b < previous, `not darker at ${v}`);
    previous = r + g + b;
  }
});

test('diverging scale: opposite hues for opposite signs, about the same lightness', () => {
  const lum = (c: number[]) => 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  for (const t of [0.2, 0.5, 0.8, 1]) {
    const pos = colorFor(t, 1, true).match(/\d+/g)!.map(Number);
    const neg = colorFor(-t, 1, true).match(/\d+/g)!.map(Number);
    assert.ok(pos[0] > pos[2], 'positive is orange (red > blue)');
    assert.ok(neg[2] > neg[0], 'negative is purple (blue > red)');
    assert.ok(Math.abs(lum(pos) - lum(neg)) < 20, `lightness differs at ${t}`);
  }
});

test('intensity: 0.5 is linear, higher brightens small scores, clamped to [0, 1]', () => {
  assert.equal(shownFraction(0.25, 1, 0.5), 0.25);
  assert.ok(shownFraction(0.25, 1, 1) > 0.25);
  assert.ok(shownFraction(0.25, 1, 0) < 0.25);
  assert.equal(shownFraction(5, 1, 0.5), 1);
  assert.equal(shownFraction(0, 0, 0.5), 0);
});

test('legend spans the scale and text stays readable', () => {
  const stops = legend(2, true);
  assert.deepEqual(stops.map((s) => s.value), [-2, -1, 0, 1, 2]);
  assert.equal(stops[2].color, 'rgb(255, 255, 255)');
  assert.equal(textColorFor(colorFor(1, 1, false)), '#ffffff');
  assert.equal(textColorFor(colorFor(0, 1, false)), '#000000');
});

test('chip text meets WCAG AA (4.5:1) on every colour of every scale', () => {
  // The contrast of two sRGB colours, computed here from the WCAG 2.1 definition.
  const lum = (rgb: number[]) => {
    const [r, g, b] = rgb.map((c) => c / 255).map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const parse = (css: string) => css.startsWith('#') ?
      [1, 3, 5].map((i) => parseInt(css.slice(i, i + 2), 16)) : (css.match(/\d+/g) ?? []).map(Number);
  let worst = 21;
  for (const signed of [false, true]) {
    for (let v = -1; v <= 1; v += 0.01) {
      for (const intensity of [0, 0.5, 1]) {
        const bg = colorFor(v, 1, signed, intensity);
        const [a, b] = [lum(parse(bg)), lum(parse(textColorFor(bg)))];
        worst = Math.min(worst, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05));
      }
    }
  }
  assert.ok(worst >= 4.5, `lowest contrast ${worst.toFixed(2)}`);
});
