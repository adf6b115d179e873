// Our client (served at /) by keyboard and for assistive technology, in
// Debian's chromium, against a running server with a tiny model group:
// - a keyboard-only walkthrough: filter, pick fewshot-mistake, generate,
//   select the Recommendation line, switch granularity, read the legend;
// - an edited prompt is what gets generated (the request's prompt, stops and
//   max new tokens), as a new "edited" example with a way back;
// - axe-core finds no serious or critical violation on the main views
//   (landing, explained example, compare, contrastive, dataset view);
// - no element is wider than the viewport at 390 and 1440 px;
// - the smaller items: internal datasets hidden, distinct names, one colour
//   scale in compare mode, the export message, the dataset view's empty state.
//
// usage: node app_keyboard.mjs URL GROUP OUT_DIR
// Prints one JSON line {checks: [{name, ok, detail}]}; exits non-zero if any failed.
import {join} from 'node:path';
import {waitForPrefetch, waitForScores} from './app_page.mjs';
import {clientLocators, openChecks} from './client_checks.mjs';
import {axeViolations, horizontalOverflow} from './page_checks.mjs';

const [url, group, outDir] = process.argv.slice(2);

const {page, check, pageErrors, fail, finish} = await openChecks({viewport: {width: 1440, height: 1000}});
const {pane, promptChips, outputChips, control, inPane} = clientLocators(page);

// Generation requests, as sent (one input each here).
const generations = [];
page.on('request', (r) => {
  const u = r.url();
  if (u.includes(`get_preds?model=${group}&`) || u.includes(`jobs?model=${group}&`)) {
    generations.push(JSON.parse(r.postData()).inputs.map((ex) => ex.data)[0]);
  }
});

/** The focused element, through shadow roots: its test id, role and focus ring. */
const focused = () => page.evaluate(() => {
  let el = document.activeElement;
  while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
  if (!el) return {};
  const style = getComputedStyle(el);
  return {tag: el.tagName.toLowerCase(), testid: el.getAttribute('data-testid'), role: el.getAttribute('role'),
          ring: (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2) || style.boxShadow !== 'none'};
});
/** Presses Tab (or Shift+Tab) until the element with `testid` has the focus; its focus state, or undefined. */
async function tabTo(testid, {back = false, max = 80} = {}) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const f = await focused();
    if (f.testid === testid) return f;
  }
  return undefined;
}
const selectValue = (id) => control(id).evaluate((e) => e.value);
/** Presses `key` on the focused select until it shows `value` (a closed select changes with the arrows). */
async function arrowTo(id, value, key = 'ArrowDown') {
  for (let i = 0; i < 10 && (await selectValue(id)) !== value; i++) await page.keyboard.press(key);
  return (await selectValue(id)) === value;
}
const selectedText = async () => (await pane().locator('.seg.selected').allTextContents()).join('');

/** axe and overflow at 1440 and 390 px wide, as checks named after the view. */
async function viewChecks(name) {
  const violations = await axeViolations(page);
  check(`axe: no serious or critical violation (${name})`, violations.length === 0, violations);
  for (const [width, height] of [[1440, 1000], [390, 844]]) {
    await page.setViewportSize({width, height});
    await page.waitForTimeout(300);
    const overflow = await horizontalOverflow(page);
    check(`${width} px: nothing wider than the viewport (${name})`,
          overflow.count === 0 && overflow.scrollWidth <= overflow.width, overflow);
    await page.screenshot({path: join(outDir, `a11y_${name.replace(/\W+/g, '_')}_${width}.png`)});
  }
  await page.setViewportSize({width: 1440, height: 1000});
}

try {
  await page.goto(`${url}/`);
  await page.locator('li[data-source]').first().waitFor({timeout: 60_000});
  await promptChips().first().waitFor({timeout: 60_000});
  const datasets = await control('dataset').locator('option').allTextContents();
  check("LIT's internal datasets are not offered", datasets.length > 0 && datasets.every((d) => !d.startsWith('_')),
        datasets);
  const names = await page.locator('li[data-source]').evaluateAll((els) => els.map((e) => e.dataset.name));
  check('every example has a distinct name (source plus a phrase where sources repeat)',
        new Set(names).size === names.length && names.some((n) => /^math-fewshot · \S/.test(n)), names);
  await viewChecks('landing');

  // --- Keyboard only ---------------------------------------------------------
  await page.locator('body').click({position: {x: 5, y: 5}});  // a start for Tab (the page, not a control)
  const filter = await tabTo('filter');
  check('Tab reaches the filter, with a visible focus ring', filter?.ring, filter);
  await page.keyboard.type('fewshot-');
  const listed = await page.locator('li[data-source]').evaluateAll((els) => els.map((e) => e.dataset.source));
  await page.keyboard.press('Tab');
  const list = await focused();
  check('the filter narrows the list; Tab goes on to the listbox, with a focus ring',
        listed.length === 3 && listed.every((s) => s.startsWith('fewshot')) && list.role === 'listbox' && list.ring,
        {listed, list});
  await page.keyboard.type('fewshot-m');  // type-ahead
  const active = await page.locator('li.active').getAttribute('data-source');
  await page.keyboard.press('Enter');
  await page.locator('li.selected[data-source="fewshot-mistake"]').waitFor({timeout: 10_000});
  await promptChips().first().waitFor({timeout: 60_000});
  const activeDescendant = await control('example-list').getAttribute('aria-activedescendant');
  check('type-ahead moves to fewshot-mistake and Enter picks it (aria-activedescendant follows)',
        active === 'fewshot-mistake' && activeDescendant?.startsWith('option-'), {active, activeDescendant});
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowUp');
  check('the arrows move the active option, not the selection',
        (await page.locator('li.selected').getAttribute('data-source')) === 'fewshot-mistake');

  // Generate: the Explain menu, then the Generate button, by keyboard.
  const mode = await tabTo('mode');
  const toGeneration = mode && await arrowTo('mode', 'generation');
  const generate = await tabTo('generate');
  await page.keyboard.press('Enter');
  await outputChips().first().waitFor({timeout: 60_000});
  const generated = generations.at(-1) ?? {};
  check('keyboard: the Explain menu and Generate run the model on the example',
        toGeneration && generate?.ring && generated.prompt?.startsWith('Analyze a menu item') &&
        JSON.stringify(generated.stop) === JSON.stringify(['\n\n']), {generate, generated});
  // Back to the target (it has the Recommendation line), by lines.
  await tabTo('mode', {back: true});
  await arrowTo('mode', 'target', 'ArrowUp');
  await outputChips().first().waitFor({timeout: 60_000});
  await tabTo('granularity');
  const toLines = await arrowTo('granularity', 'lines');
  const text = await tabTo('text');
  check('Tab reaches the text, with a visible focus ring', toLines && text?.ring, text);
  await page.keyboard.press('Home');
  for (let i = 0; i < 10 && !(await selectedText()).trim().startsWith('Recommendation'); i++) {
    await page.keyboard.press('ArrowRight');
  }
  await waitForScores(page);
  const line = await selectedText();
  check('the arrow keys select the Recommendation line; its colours come', line.trim().startsWith('Recommendation:') &&
        (await pane().locator('.legend .swatch').count()) === 5, line);
  await waitForPrefetch(page);
  await tabTo('granularity', {back: true});
  await arrowTo('granularity', 'sentences', 'ArrowUp');
  await waitForScores(page);
  const sentence = await selectedText();
  const legend = (await inPane('legend-text').textContent()).trim();
  const method = (await pane().locator('.legend .caption').textContent()).trim();
  check('keyboard: another granularity keeps the selection; the legend says what the colours mean for it',
        sentence.includes('Recommendation') && method === 'Gradient norm' &&
        /^For “Recommendation: You might not like it.*”: the darker a part, the more it mattered to it\./.test(legend),
        {sentence, method, legend});
  const help = await control('method-help').textContent();
  const howTo = await control('how-to-read').locator('summary').textContent();
  check('the method is named and described in words; "How to read this" is there',
        /^Gradient norm: How strongly/.test(help.trim()) && howTo.trim() === 'How to read this', {help, howTo});
  await viewChecks('explained example');

  // --- Edits that do what they say -----------------------------------------------
  // Straight from the editor to Generate: the click that takes the focus out applies the edit first.
  await control('filter').fill('');
  await page.locator('li[data-source="fewshot-fixed"]').click();
  await control('mode').selectOption('generation');
  await pane().locator('button.generate').waitFor();
  await control('edit-prompt').fill('Q: What is the capital of France?\nA:');
  const suggestion = await control('stop-suggestion').textContent();
  await control('stop-suggestion').click();
  const stops = await control('edit-stops').inputValue();
  await control('edit-max-tokens').fill('5');
  const sent = generations.length;
  await pane().locator('button.generate').click();
  await outputChips().first().waitFor({timeout: 60_000});
  const request = generations[sent] ?? {};
  const editedName = await page.locator('li.selected').getAttribute('data-name');
  check('Generate runs the edited prompt, with its stops and max new tokens',
        request.prompt === 'Q: What is the capital of France?\nA:' &&
        JSON.stringify(request.stop) === JSON.stringify(['\n\n', '\nQ:']) && request.max_new_tokens === 5,
        {request, stops, suggestion});
  check('an edited example is a new one named after its source, marked edited',
        editedName === 'fewshot-fixed (edited)' && (await page.locator('li.selected .edited').count()) === 1 &&
        (await control('edited-mark').count()) === 1 && /\\nQ:/.test(suggestion) &&
        (await promptChips().allTextContents()).join('').includes('capital of France'), {editedName});
  await control('edit-revert').click();
  await page.locator('li.selected[data-source="fewshot-fixed"]').waitFor({timeout: 10_000});
  check('"Back to" returns to the original, untouched; the edited one stays in the list',
        (await control('edit-prompt').inputValue()).startsWith('Analyze a menu item') &&
        (await page.locator('li[data-name="fewshot-fixed (edited)"]').count()) === 1);
  await page.locator('li[data-source="fewshot-mistake"]').click();

  // --- Export with nothing selected says so -----------------------------------------
  await control('mode').selectOption('target');
  await outputChips().first().waitFor({timeout: 60_000});
  await control('export-json').click();
  const exportError = await control('export-error').textContent();
  check('export with nothing selected says what to do', /select part of the output first/.test(exportError), exportError);

  // --- Compare on one scale ---------------------------------------------------------
  await control('granularity').selectOption('lines');
  await outputChips().last().click();
  await waitForScores(page);
  await control('compare').check();
  await control('compare-example').selectOption({label: 'fewshot-fixed'});
  await waitForScores(page, 1);
  const scales = async () => Promise.all([0, 1].map(async (i) => ({
    text: await pane(i).locator('[data-testid=scale]').textContent(),
    shared: await pane(i).locator('[data-testid=scale]').getAttribute('data-shared'),
    top: Number((await pane(i).locator('.legend .swatch').allTextContents()).at(-1))})));
  const shared = await scales();
  check('compare: one colour scale for both panes, and the legends say so',
        shared.every((s) => s.shared === 'yes' && /one scale for both panes/.test(s.text)) &&
        shared[0].top === shared[1].top, shared);
  await viewChecks('compare');
  await control('shared-scale').uncheck();
  await waitForScores(page, 1);
  const own = await scales();
  check('compare: each pane\'s own scale when unticked, and the legends say so',
        own.every((s) => s.shared === 'no' && /own scale/.test(s.text)) && Math.max(own[0].top, own[1].top) === shared[0].top,
        own);
  await control('shared-scale').check();
  await control('compare').uncheck();

  // --- Contrastive ---------------------------------------------------------------
  await inPane('foil-input').fill('Avoid.');
  await inPane('foil-use').click();
  await pane().locator('.view-kind.contrastive').waitFor({timeout: 60_000});
  await waitForScores(page);
  await viewChecks('contrastive');
  await inPane('foil-clear').click();
  await waitForScores(page);

  // --- The dataset view (this server has no results file) ----------------------------
  await control('toggle-results').click();
  const empty = page.locator('seqsal-dataset-view p.note[role=status]');
  await empty.waitFor({timeout: 30_000});
  const emptyText = await empty.textContent();
  check('the dataset view\'s empty state points to the file picker above it',
        /--results=FILE/.test(emptyText) && /above/.test(emptyText) && !/below/.test(emptyText), emptyText);
  await viewChecks('dataset view');

  check('no uncaught errors in the page', pageErrors.length === 0, pageErrors);
} catch (e) {
  await fail(e, join(outDir, 'app_keyboard_failure.png'));
}
await finish();
