// The frame every check script of our client shares: Debian's chromium, a page
// that records its uncaught errors, named checks, a screenshot when a script
// fails, and one JSON line of results ({checks: [{name, ok, detail}], ...}).
import {chromium} from 'playwright-core';
import {CHROMIUM_ARGS} from './chromium_args.mjs';

export async function openChecks({viewport = {width: 1600, height: 1000}, acceptDownloads = true,
                                  initScript} = {}) {
  const checks = [];
  const check = (name, ok, detail = '') => checks.push(
      {name, ok: !!ok, detail: typeof detail === 'string' ? detail : JSON.stringify(detail)});
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: CHROMIUM_ARGS});
  const context = await browser.newContext({viewport, acceptDownloads});
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  /** Records an exception that stopped the script, with a screenshot. */
  async function fail(e, screenshotPath) {
    check('script ran to the end', false, String(e.stack || e));
    await page.screenshot({path: screenshotPath}).catch(() => {});
  }
  /** Closes the browser, prints the results and exits non-zero if a check failed. */
  async function finish(extra = {}) {
    await browser.close();
    console.log(JSON.stringify({checks, ...extra}));
    process.exit(checks.every((c) => c.ok) ? 0 : 1);
  }
  return {browser, context, page, check, pageErrors, fail, finish};
}

/** Locators of our client's salience module, by pane. */
export function clientLocators(page) {
  const pane = (i = 0) => page.locator('seqsal-salience-pane').nth(i);
  return {
    pane,
    promptChips: (i = 0) => pane(i).locator('.seg[data-role=prompt]'),
    outputChips: (i = 0) => pane(i).locator('.seg[data-role=output]'),
    control: (id) => page.locator(`[data-testid=${id}]`),
    inPane: (id, i = 0) => pane(i).locator(`[data-testid=${id}]`),
    titles: (loc) => loc.evaluateAll((els) => els.map((e) => e.getAttribute('title'))),
    backgrounds: (loc) => loc.evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor)),
  };
}
