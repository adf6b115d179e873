// The walkthrough in our client on the bundled Gemma: pick fewshot-mistake,
// generate, select the Recommendation sentence, see the faulty few-shot
// example light up, then compare with fewshot-fixed. Takes the README's screenshot.
//
// usage: node app_walkthrough.mjs URL GROUP SCREENSHOT_PATH
// Prints one JSON line with what it saw; exits non-zero on failure.
import {chromium} from 'playwright-core';
import {waitForScores} from './app_page.mjs';
import {CHROMIUM_ARGS} from './chromium_args.mjs';

const [url, group, screenshotPath] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: CHROMIUM_ARGS});
const fail = (message) => { console.error(`WALKTHROUGH FAILED: ${message}`); process.exitCode = 1; };
try {
  const page = await browser.newPage({viewport: {width: 1600, height: 1100}});
  await page.goto(`${url}/?models=${group}&layout=left_right`);
  const pane = (i) => page.locator('seqsal-salience-pane').nth(i);
  const waitScores = (i) => waitForScores(page, i, 300_000);
  await page.locator('li[data-source="fewshot-mistake"]').click();
  await page.locator('[data-testid=mode]').selectOption('generation');
  await pane(0).locator('button.generate').click();
  await pane(0).locator('.seg[data-role=output]').first().waitFor({timeout: 300_000});
  await page.locator('[data-testid=granularity]').selectOption('sentences');
  const recommendation = pane(0).locator('.seg[data-role=output]', {hasText: 'Recommendation'}).first();
  const explained = await recommendation.textContent();
  await recommendation.click();
  await waitScores(0);

  // Which prompt sentence matters most, and is it in the first (faulty) example?
  const prompt = await pane(0).locator('.seg[data-role=prompt]').evaluateAll((els) => els.map((e) => ({
    text: e.textContent, score: Number((e.getAttribute('title') || '').split(': ')[1])})));
  let offset = 0;
  const placed = prompt.map((s) => { const at = offset; offset += s.text.length; return {...s, at}; });
  const text = placed.map((s) => s.text).join('');
  const firstExample = text.indexOf('Taste-likes');
  const secondExample = text.indexOf('Taste-likes', firstExample + 1);
  const top = placed.reduce((a, b) => (b.score > a.score ? b : a));
  if (!(top.at >= firstExample && top.at < secondExample)) fail(`top sentence not in the faulty example: ${JSON.stringify({top, explained})}`);

  await page.locator('[data-testid=compare]').check();
  await page.locator('[data-testid=compare-example]').selectOption({label: 'fewshot-fixed'});
  await pane(1).locator('button.generate').click();
  await waitScores(1);
  const compared = await pane(1).locator('.seg.selected').allTextContents();
  if (!compared.join('').includes('Recommendation')) fail(`compared pane selected ${JSON.stringify(compared)}`);
  await page.screenshot({path: screenshotPath});
  console.log(JSON.stringify({explained, top, compared: compared.join('')}));
} finally {
  await browser.close();
}
