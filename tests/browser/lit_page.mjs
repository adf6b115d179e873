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
 * JSON line, with the page's script errors, every request that went to another
 * origin (`offOrigin`: there must be none) and how LIT's icons rendered
 * (`icons`); any exception fails the test.
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
    const origin = new URL(url).origin;
    const offOrigin = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) offOrigin.push(r.url());
    });
    const params = new URLSearchParams({models: model, dataset: 'sample_prompts', layout});
    await page.goto(`${url}/lit/?${params}`);
    const row = page.locator('lit-data-table tbody tr', {hasText: source}).first();
    await row.waitFor({timeout: 60_000});
    await row.click();
    const seen = await check(page);
    const icons = await iconWidths(page);
    console.log(JSON.stringify({...seen, pageErrors: errors, offOrigin, icons}));
  } catch (e) {
    fail(`${e}\npage errors: ${errors.join('\n')}`);
  } finally {
    await browser.close();
  }
}

/**
 * LIT's icons: every element, shadow roots included, drawn in a Material Icons
 * font whose text is an icon name ("expand_more"). With the font loaded the
 * ligature draws one glyph about as wide as the font size; without it the
 * name is drawn as text, several times wider.
 */
async function iconWidths(page) {
  return page.evaluate(async () => {
    await document.fonts.ready;
    const found = [];
    const visit = (root) => {
      for (const el of root.querySelectorAll('*')) {
        if (el.shadowRoot) visit(el.shadowRoot);
        const text = (el.childElementCount === 0 ? el.textContent : '').trim();
        const style = getComputedStyle(el);
        if (/^[a-z_]{4,}$/.test(text) && /Material Icons/.test(style.fontFamily)) {
          const box = el.getBoundingClientRect();
          if (box.width > 0) found.push({name: text, width: box.width, fontSize: parseFloat(style.fontSize)});
        }
      }
    };
    visit(document);
    return {count: found.length, loaded: document.fonts.check('24px "Material Icons"'),
      widest: found.reduce((a, b) => (b.width / b.fontSize > (a?.width ?? 0) / (a?.fontSize ?? 1) ? b : a), null)};
  });
}
