// Shared driver for the scripts that test LIT's own prebuilt client (/lit/)
// against a running lit-seqsal server.
import {chromium} from 'playwright-core';
import {CHROMIUM_ARGS} from './chromium_args.mjs';

export function fail(msg) {
  console.error(`BROWSER TEST FAILED: ${msg}`);
  process.exit(1);
}

/**
 * Opens LIT's client with `layout`, selects the example whose data-table row
 * shows `source`, then runs `check(page)`. Prints what `check` returns as one
 * JSON line, with the page's script errors; any exception fails the test.
 */
export async function withLitExample({url, model, source, layout, height = 1000}, check) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  const errors = [];
  try {
    const page = await browser.newPage({viewport: {width: 1500, height}});
    page.on('pageerror', (e) => errors.push(String(e)));
    const params = new URLSearchParams({models: model, dataset: 'sample_prompts', layout});
    await page.goto(`${url}/lit/?${params}`);
    const row = page.locator('lit-data-table tbody tr', {hasText: source}).first();
    await row.waitFor({timeout: 60_000});
    await row.click();
    const seen = await check(page);
    console.log(JSON.stringify({...seen, pageErrors: errors}));
  } catch (e) {
    fail(`${e}\npage errors: ${errors.join('\n')}`);
  } finally {
    await browser.close();
  }
}
