/**
 * Colour scales for salience, readable with the common colour-vision
 * deficiencies: a single-hue sequential scale (white to deep blue) for
 * unsigned scores and a purple-white-orange diverging scale (after
 * ColorBrewer's PuOr) for signed ones. Lightness carries the magnitude in both.
 */

type RGB = readonly [number, number, number];

const SEQUENTIAL: readonly RGB[] = [
  [255, 255, 255], [222, 235, 247], [158, 202, 225], [66, 146, 198], [8, 81, 156], [8, 48, 107],
];
const NEGATIVE: readonly RGB[] = [  // white -> purple
  [255, 255, 255], [216, 218, 235], [178, 171, 210], [128, 115, 172], [100, 60, 150], [45, 0, 75],
];
// Orange stops darkened from PuOr so both arms have about the same lightness
// at the same magnitude: the sign is read from hue, the size from lightness.
const POSITIVE: readonly RGB[] = [  // white -> orange
  [255, 255, 255], [250, 214, 170], [230, 170, 90], [200, 112, 20], [150, 62, 5], [70, 20, 0],
];

function interpolate(stops: readonly RGB[], t: number): RGB {
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [stops[i], stops[i + 1]];
  return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * f)) as unknown as RGB;
}

/**
 * Intensity in [0, 1] (0.5 neutral) brightens or darkens the whole scale:
 * the shown fraction is |value| / max raised to 2^(2 * (0.5 - intensity)).
 */
export function shownFraction(value: number, max: number, intensity = 0.5): number {
  const t = Math.min(1, Math.abs(value) / (max || 1));
  return Math.pow(t, Math.pow(2, 2 * (0.5 - intensity)));
}

export function colorFor(value: number, max: number, signed: boolean, intensity = 0.5): string {
  const t = shownFraction(value, max, intensity);
  const stops = !signed ? SEQUENTIAL : value < 0 ? NEGATIVE : POSITIVE;
  const [r, g, b] = interpolate(stops, t);
  return `rgb(${r}, ${g}, ${b})`;
}

/** WCAG 2.1 relative luminance of an sRGB colour (channels 0..255). */
export function relativeLuminance(r: number, g: number, b: number): number {
  const linear = (c: number) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

/** WCAG 2.1 contrast ratio of two relative luminances (1 to 21). */
export function contrastRatio(a: number, b: number): number {
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}

/**
 * Black or white text, whichever contrasts more with the background (WCAG
 * 2.1): at least 4.58:1 on any colour.
 */
export function textColorFor(background: string): string {
  const [r, g, b] = (background.match(/\d+/g) ?? ['255', '255', '255']).map(Number);
  const l = relativeLuminance(r, g, b);
  return contrastRatio(l, 1) > contrastRatio(l, 0) ? '#ffffff' : '#000000';
}

/** Legend stops: `count` values from -max (signed) or 0 to max, with colours. */
export function legend(max: number, signed: boolean, intensity = 0.5, count = 5):
    Array<{value: number, color: string}> {
  const low = signed ? -max : 0;
  return Array.from({length: count}, (_, i) => {
    const value = low + (max - low) * i / (count - 1);
    return {value, color: colorFor(value, max, signed, intensity)};
  });
}
