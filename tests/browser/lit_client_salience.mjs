// Drives LIT's prebuilt client against a running lit-seqsal server:
// select an example, open Sequence Salience, click a target segment, and check
// that salience colours appear on the prompt.
//
// usage: node lit_client_salience.mjs URL MODEL SOURCE SCREENSHOT_PATH
// Prints one JSON line with what it saw; exits non-zero on failure.
import {fail, withLitExample} from './lit_page.mjs';

const [url, model, source, screenshotPath] = process.argv.slice(2);

// left_right: LIT's own client, next to ours.
await withLitExample({url, model, source, layout: 'left_right'}, async (page) => {
  // The Sequence Salience module asks which sequence to explain: pick the dataset target.
  const module = page.locator('sequence-salience-module');
  await module.waitFor({timeout: 30_000});
  const option = module.locator('.interstitial-target-option').first();
  await option.waitFor({timeout: 240_000});
  await option.click();

  // Switch granularity to sentences, then click the last segment (part of the target).
  await module.locator('#granularity-selector').getByText('Sentences').click();
  const chips = module.locator('sequence-salience-chips .salient-token');
  await chips.first().waitFor({timeout: 240_000});
  const count = await chips.count();
  const target = chips.nth(count - 1);
  const targetText = (await target.innerText()).trim();
  await target.click();

  // Wait until some prompt segment has a non-zero salience weight.
  const deadline = Date.now() + 180_000;
  let weights = [];
  while (Date.now() < deadline) {
    weights = await module.locator('sequence-salience-chips .salient-token lit-tooltip')
        .evaluateAll((els) => els.map((e) => Number(e.getAttribute('content'))));
    if (weights.slice(0, -1).some((w) => w > 0)) break;
    await page.waitForTimeout(500);
  }
  const nonzero = weights.slice(0, -1).filter((w) => w > 0).length;
  if (nonzero === 0) fail(`no salience weights appeared (segments: ${weights.length})`);

  // The colours themselves: the most salient prompt segment is not painted like a zero one.
  const colours = await chips.evaluateAll((els) =>
      els.map((e) => getComputedStyle(e).getPropertyValue('--token-bg-color').trim()));
  const best = weights.slice(0, -1).reduce((bi, w, i, a) => (w > a[bi] ? i : bi), 0);
  const zero = weights.findIndex((w) => w === 0);
  if (zero >= 0 && colours[best] === colours[zero]) {
    fail(`salient and non-salient segments share colour ${colours[best]}`);
  }
  if (screenshotPath) await page.screenshot({path: screenshotPath, fullPage: true});
  return {segments: count, nonzero, targetText, bestColour: colours[best]};
});
