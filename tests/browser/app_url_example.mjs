// Opens a LIT page whose URL carries examples (data0_prompt=...), as the
// notebook widget's render(data=...) does, and checks that LIT's client loaded
// and selected that example: its prompt appears in the datapoint editor.
//
// usage: node lit_url_example.mjs URL EXPECTED_PROMPT_FILE SCREENSHOT_PATH
// Prints one JSON line with what it saw; exits non-zero on failure.
import {readFileSync} from 'node:fs';
import {chromium} from 'playwright-core';
import {CHROMIUM_ARGS} from './chromium_args.mjs';

const [url, promptFile, screenshotPath] = process.argv.slice(2);
const expected = readFileSync(promptFile, 'utf8');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
});
try {
  const page = await browser.newPage({viewport: {width: 1500, height: 1000}});
  await page.goto(url);
  const deadline = Date.now() + 90_000;
  let values = [];
  while (Date.now() < deadline) {
    // CSS locators pierce LIT's shadow roots.
    values = await page.locator('textarea').evaluateAll((els) => els.map((e) => e.value));
    if (values.includes(expected)) break;
    await page.waitForTimeout(500);
  }
  await page.screenshot({path: screenshotPath});
  if (!values.includes(expected)) {
    console.error(`BROWSER TEST FAILED: prompt not in any textarea; saw ${JSON.stringify(values).slice(0, 500)}`);
    process.exit(1);
  }
  console.log(JSON.stringify({found: true, textareas: values.length}));
} finally {
  await browser.close();
}
