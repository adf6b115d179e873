// The dataset view of our client (lit_seqsal/client/src/dataset_view.ts) on a
// server started with --results: the region chart, sorting by a region, opening
// an example (its chips and colours), and opening another results file.
//
// usage: node dataset_view.mjs URL OTHER_RESULTS_FILE SCREENSHOT_DIR
// Prints one JSON line: {checks: [...], chips: [[text, colour], ...]}; exits non-zero on failure.
import {chromium} from 'playwright-core';
import {CHROMIUM_ARGS} from './chromium_args.mjs';
import {axeViolations, horizontalOverflow} from './page_checks.mjs';

const [url, otherFile, shotDir] = process.argv.slice(2);
const checks = [];
const check = (name, ok, detail = '') => checks.push({name, ok: !!ok, detail: String(detail)});

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
});
let chipColours = [];
try {
  const page = await browser.newPage({viewport: {width: 1400, height: 1100}});
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  // From the explainer, the header button opens the dataset view.
  await page.goto(`${url}/`);
  await page.locator('[data-testid=toggle-results]').click();
  await page.locator('seqsal-dataset-view .bar-row').first().waitFor({timeout: 60_000});
  const summary = await page.locator('[data-testid=results-summary]').textContent();
  check('loads the server results', /the server:\s+4 examples,\s+1 error(?!s)/.test(summary), summary);

  const regions = await page.locator('seqsal-dataset-view .bar-row').evaluateAll(
      (rows) => rows.map((r) => r.dataset.region));
  check('chart has a bar per region', JSON.stringify(regions) === JSON.stringify(['preamble', 'block 1', 'block 2']),
        JSON.stringify(regions));
  const widths = await page.locator('seqsal-dataset-view .bar').evaluateAll(
      (bars) => bars.map((b) => b.getBoundingClientRect().width));
  check('bars have widths', widths.length === 3 && widths.every((w) => w > 0), JSON.stringify(widths));

  // Sorting the examples by a region's share.
  await page.locator('seqsal-dataset-view .bar-row[data-region="block 1"]').click();
  const shares = await page.locator('seqsal-dataset-view tbody tr td.num').allTextContents();
  const values = shares.map((s) => parseFloat(s));
  check('examples sorted by the region', values.length === 4 && values.every((v, i) => i === 0 || values[i - 1] >= v),
        JSON.stringify(shares));

  // Opening an example: its salience in segments, coloured, the span outlined.
  const firstId = await page.locator('seqsal-dataset-view tbody tr').first().getAttribute('data-id');
  await page.locator('seqsal-dataset-view tbody tr').first().click();
  await page.locator('[data-testid=example-text] .seg').first().waitFor({timeout: 10_000});
  chipColours = await page.locator('[data-testid=example-text] .seg').evaluateAll(
      (segs) => segs.map((s) => [s.textContent, getComputedStyle(s).backgroundColor]));
  const coloured = chipColours.filter(([, c]) => c !== 'rgb(255, 255, 255)').length;
  check('example shows coloured segments', chipColours.length > 5 && coloured > 3, `${coloured}/${chipColours.length}`);
  const selected = await page.locator('[data-testid=example-text] .seg.selected').allTextContents();
  check('explained span outlined', selected.join('').includes('Recommendation'), selected.join(''));
  check('example heading names it', (await page.locator('seqsal-dataset-view h2').last().textContent()).includes(firstId), firstId);
  await page.screenshot({path: `${shotDir}/dataset_view.png`});
  const violations = await axeViolations(page);
  check('axe: no serious or critical violation in the dataset view', violations.length === 0, JSON.stringify(violations));
  for (const [width, height] of [[1440, 1000], [390, 844]]) {
    await page.setViewportSize({width, height});
    await page.waitForTimeout(300);
    const overflow = await horizontalOverflow(page);
    check(`dataset view at ${width} px: nothing wider than the viewport`,
          overflow.count === 0 && overflow.scrollWidth <= overflow.width, JSON.stringify(overflow));
  }
  await page.setViewportSize({width: 1400, height: 1100});

  // Method switch recolours (grad_dot_input is signed: a legend from -max).
  await page.locator('[data-testid=results-method]').selectOption('grad_dot_input');
  const caption = await page.locator('seqsal-dataset-view .legend .caption').textContent();
  check('method switch', caption.includes('grad_dot_input'), caption);

  // Another results file, opened with the file picker.
  await page.locator('[data-testid=results-file]').setInputFiles(otherFile);
  await page.waitForFunction(() => document.querySelector('seqsal-app').shadowRoot
      .querySelector('seqsal-dataset-view').shadowRoot.querySelector('[data-testid=results-summary]')
      ?.textContent.includes('other.jsonl'), null, {timeout: 10_000});
  const other = await page.locator('[data-testid=results-summary]').textContent();
  check('opens a file', /other\.jsonl: 2 examples/.test(other), other);
  const otherRegions = await page.locator('seqsal-dataset-view .bar-row').evaluateAll(
      (rows) => rows.map((r) => r.dataset.region));
  check('file regions', otherRegions.includes('paragraph 1'), JSON.stringify(otherRegions));

  // Opened straight from the URL, too.
  const direct = await browser.newPage();
  await direct.goto(`${url}/?view=results`);
  await direct.locator('seqsal-dataset-view .bar-row').first().waitFor({timeout: 60_000});
  check('?view=results opens the dataset view', true);
  check('no page errors', pageErrors.length === 0, pageErrors.join('; '));
} catch (e) {
  check('script ran', false, e.stack);
} finally {
  await browser.close();
}
console.log(JSON.stringify({checks, chips: chipColours}));
process.exit(checks.every((c) => c.ok) ? 0 : 1);
