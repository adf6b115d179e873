// Drives LIT's prebuilt client against a running lit-seqsal server: the
// "Salience map" tab of the three_panel layout holds LIT's legacy Sequence
// Salience module, which draws our `sequence_salience` interpreter's map.
// Clicking an output token must shade the tokens before it.
//
// usage: node lit_legacy_map.mjs URL MODEL SOURCE
// Prints one JSON line with what it saw; exits non-zero on failure.
import {fail, withLitExample} from './lit_page.mjs';

const [url, model, source] = process.argv.slice(2);

await withLitExample({url, model, source, layout: 'three_panel', height: 1100}, async (page) => {
  await page.getByText('Salience map', {exact: true}).click();

  const module = page.locator('legacy-sequence-salience-module');
  const chipGroups = module.locator('lit-token-chips');
  await chipGroups.nth(1).locator('.salient-token').first().waitFor({timeout: 240_000});
  const weights = (i) => chipGroups.nth(i).locator('.salient-token lit-tooltip')
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('content'))));
  const sourceTokens = await chipGroups.nth(0).locator('.salient-token').count();
  const targetTokens = await chipGroups.nth(1).locator('.salient-token').count();
  const before = await weights(0);
  // Pin the last output token: the tokens before it get its row of the map.
  await chipGroups.nth(1).locator('.salient-token').nth(targetTokens - 1).click();
  await page.waitForTimeout(300);
  const after = await weights(0);
  const nonzero = after.filter((w) => w !== 0).length;
  if (!before.every((w) => w === 0)) fail(`source shaded before any selection: ${before.slice(0, 5)}`);
  if (nonzero < sourceTokens / 2) fail(`only ${nonzero} of ${sourceTokens} source tokens shaded`);
  const colours = await chipGroups.nth(0).locator('.salient-token').evaluateAll((els) =>
      new Set(els.map((e) => getComputedStyle(e).getPropertyValue('--token-bg-color').trim())).size);
  if (colours < 3) fail(`source tokens use ${colours} colours`);
  return {sourceTokens, targetTokens, nonzero, colours};
});
