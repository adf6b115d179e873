// Page-wide checks shared by the browser scripts: elements wider than the
// viewport (horizontal overflow, shadow roots included) and an axe-core
// accessibility run (tests/browser's axe-core, injected into the page).
import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';

/**
 * Elements whose box sticks out of the viewport horizontally (left < 0 or
 * right > viewport width), shadow roots included, and whether the page itself
 * scrolls sideways. Hidden elements (no box) are left out.
 */
export function horizontalOverflow(page) {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const wide = [];
    const walk = (root) => {
      for (const el of root.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.height > 0 && (r.right > width + 0.5 || r.left < -0.5)) {
          const id = el.getAttribute('data-testid') || el.id || (typeof el.className === 'string' ? el.className : '');
          wide.push({tag: el.tagName.toLowerCase(), id: String(id).slice(0, 40), left: Math.round(r.left),
                     right: Math.round(r.right)});
        }
        if (el.shadowRoot) walk(el.shadowRoot);
      }
    };
    walk(document);
    return {width, scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 20), count: wide.length};
  });
}

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core's violations of impact serious or critical on the page as it is
 * (WCAG 2.0/2.1 A and AA rules), shadow roots included: [{id, impact, help,
 * nodes: [target...]}].
 */
export async function axeViolations(page) {
  // Evaluated through the debugging protocol: the page's Content-Security-Policy does not apply.
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
    resultTypes: ['violations'],
  }));
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => ({target: n.target, summary: (n.failureSummary ?? '').slice(0, 300)})),
  }));
}
