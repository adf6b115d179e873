// LIT's own client (/lit/) shows our server's JSON errors as their message
// (the server loads a small script before LIT's client that rewrites them into
// the text LIT reads), not as "Unknown error": its URL adds a datapoint whose
// prompt is over the model's length limit, LIT asks for its predictions, and
// the status bar must show the server's message.
//
// usage: node lit_client_error.mjs URL MODEL
// Prints one JSON line with what it saw; exits non-zero on failure.
import {chromium} from 'playwright-core';
import {CHROMIUM_ARGS} from './chromium_args.mjs';
import {fail} from './lit_page.mjs';

const [url, model] = process.argv.slice(2);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: CHROMIUM_ARGS});
const pageErrors = [];
try {
  const page = await browser.newPage({viewport: {width: 1500, height: 1000}});
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const errors = [];
  page.on('response', async (resp) => {
    if (resp.status() >= 400 && resp.url().includes('/lit/get_preds')) {
      errors.push({status: resp.status(), type: resp.headers()['content-type'], body: await resp.text().catch(() => '')});
    }
  });
  const params = new URLSearchParams({
    models: model, dataset: 'sample_prompts', layout: 'left_right',
    data0_prompt: 'word '.repeat(400), data0_target: ' end.'});
  await page.goto(`${url}/lit/?${params}`);
  const shown = page.locator('lit-app-statusbar .status-info .error').first();
  await shown.waitFor({timeout: 120_000});
  const text = (await shown.textContent()).trim();
  if (!errors.length) fail(`LIT shows an error but no request failed: ${text}`);
  // LIT keeps one error per endpoint: the status bar shows the latest answer's message.
  await page.waitForTimeout(1000);
  const shownNow = (await shown.textContent()).trim();
  const answers = errors.map((e) => ({status: e.status, contentType: e.type, ...JSON.parse(e.body).error}));
  console.log(JSON.stringify({answers, shown: shownNow, pageErrors}));
} catch (e) {
  fail(`${e}\npage errors: ${pageErrors.join('\n')}`);
} finally {
  await browser.close();
}
