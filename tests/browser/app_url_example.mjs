// Opens a page whose URL carries examples (data0_prompt=...), as the notebook
// widget's render(data=...) does, and checks that our client selected that
// example: its prompt is in the editor and the salience module shows it.
//
// usage: node app_url_example.mjs URL EXPECTED_PROMPT_FILE SCREENSHOT_PATH
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
  // The example's prompt is tokenized and shown as chips in the module.
  await page.locator('seqsal-salience-pane .seg[data-role=prompt]').first().waitFor({timeout: 120_000});
  // CSS locators pierce the shadow roots of our components.
  const editor = await page.locator('[data-testid=edit-prompt]').inputValue();
  const shown = (await page.locator('seqsal-salience-pane .seg[data-role=prompt]').allTextContents()).join('');
  const selected = await page.locator('li.selected').getAttribute('data-source');
  await page.screenshot({path: screenshotPath});
  if (editor !== expected || !selected?.startsWith('from URL')) {
    console.error(`BROWSER TEST FAILED: editor has ${JSON.stringify(editor.slice(0, 200))}, selected ${selected}`);
    process.exit(1);
  }
  console.log(JSON.stringify({found: true, selected, shownChars: shown.length}));
} finally {
  await browser.close();
}
