// Drives LIT's prebuilt client against a running lit-seqsal server: the
// "Salience map" tab of the three_panel layout holds LIT's legacy Sequence
// Salience module, which draws our `sequence_salience` interpreter's map.
// Clicking an output token must shade the tokens before it.
//
// usage: node lit_legacy_map.mjs URL MODEL SOURCE
// Prints one JSON line with what it saw; exits non-zero on failure.
import {chromium} from 'playwright-core';
import {CHROMIUM_ARGS} from './chromium_args.mjs';

const [url, model, source] = process.argv.slice(2);

function fail(msg) {
  console.error(`BROWSER TEST FAILED: ${msg}`);
  process.exit(1);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
});
const errors = [];
try {
  const page = await browser.newPage({viewport: {width: 1500, height: 1100}});
  page.on('pageerror', (e) => errors.push(String(e)));
  const params = new URLSearchParams({models: model, dataset: 'sample_prompts', layout: 'three_panel'});
  await page.goto(`${url}/lit/?${params}`);

  const row = page.locator('lit-data-table tbody tr', {hasText: source}).first();
  await row.waitFor({timeout: 60_000});
  await row.click();
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
  console.log(JSON.stringify({sourceTokens, targetTokens, nonzero, colours, pageErrors: errors}));
} catch (e) {
  fail(`${e}\npage errors: ${errors.join('\n')}`);
} finally {
  await browser.close();
}
