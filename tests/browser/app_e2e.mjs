// End-to-end checks of the lit-seqsal client (served at /) in Debian's
// chromium, against a running server with a tiny model group.
//
// usage: node app_e2e.mjs URL GROUP OUT_DIR
// Prints one JSON line {checks: [{name, ok, detail}]}; exits non-zero if any failed.
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {waitForPrefetch, waitForScores} from './app_page.mjs';
import {clientLocators, openChecks} from './client_checks.mjs';

const [url, group, outDir] = process.argv.slice(2);

const {context, page, check, pageErrors, fail, finish} = await openChecks({viewport: {width: 1600, height: 1000}});
const {pane, promptChips, outputChips, control, titles, backgrounds} = clientLocators(page);
let salienceRequests = 0;
// Each salience request's masks, as "first target token+number of target tokens".
const salienceMasks = [];
page.on('request', (r) => {
  if (!r.url().includes(`model=_${group}_salience`)) return;
  salienceRequests++;
  salienceMasks.push(JSON.parse(r.postData()).inputs.map((ex) => {
    const mask = ex.data.target_mask ?? [];
    return `${mask.indexOf(1)}+${mask.filter((m) => m).length}`;
  }));
});
const paneTokens = () => page.evaluate(() => {
  const p = document.querySelector('seqsal-app').shadowRoot.querySelector('seqsal-salience-module')
      .shadowRoot.querySelector('seqsal-salience-pane');
  return {promptLength: p.tokenized?.promptLength, tokens: p.tokenized?.tokens};
});

const selectedText = async (i = 0) => (await pane(i).locator('.seg.selected').allTextContents()).join('');
const scoresShown = (i = 0) => waitForScores(page, i);
async function pickExample(source) {
  await page.locator(`li[data-source="${source}"]`).click();
  await promptChips().first().waitFor({timeout: 60_000});
}

try {
  // App shell: models with a salience sibling, datasets, examples with sources, filter.
  await page.goto(`${url}/`);
  await page.locator('li[data-source]').first().waitFor({timeout: 60_000});
  const models = await control('model').locator('option').allTextContents();
  check('model picker lists salience groups only', models.length === 1 && models[0] === group, models);
  const datasets = await control('dataset').locator('option').allTextContents();
  check('dataset picker lists the datasets', datasets.includes('sample_prompts'), datasets);
  const all = await page.locator('li[data-source]').count();
  await control('filter').fill('fewshot-');
  const sources = await page.locator('li[data-source]').evaluateAll((els) => els.map((e) => e.dataset.source));
  check('filter narrows the example list', sources.length === 3 && sources.every((s) => s.startsWith('fewshot')) && all > 3,
        {all, sources});
  await control('filter').fill('');
  // The method menu: the server's methods (GET /seqsal/info), by label, its default first.
  const seqsalInfo = await (await fetch(`${url}/seqsal/info`)).json();
  const described = Object.fromEntries(seqsalInfo.methods.map((m) => [m.name, m]));
  const defaultMethod = seqsalInfo.default_method;
  const methodMenu = await control('method').locator('option').evaluateAll((els) => els.map((e) => ({
    value: e.value, text: e.textContent.trim(), title: e.getAttribute('title')})));
  const shownMethod = await control('method').evaluate((e) => e.value);
  check('the method menu shows each method\'s label with its description as tooltip, the server\'s default first',
        methodMenu.length >= 4 && methodMenu.every((o) => described[o.value] && o.text.startsWith(described[o.value].label) &&
                                                       o.title === described[o.value].description) &&
        shownMethod === defaultMethod, {methodMenu, shownMethod, defaultMethod});

  // Target mode, sentences: the selection alone first (one pass), the other segments prefetched behind it.
  await pickExample('fewshot-mistake');
  await control('granularity').selectOption('sentences');
  const nOut = await outputChips().count();
  salienceRequests = 0;
  salienceMasks.length = 0;
  await outputChips().nth(nOut - 1).click();
  await scoresShown();
  const firstMasks = salienceMasks[0] ?? [];
  const lastStart = await outputChips().nth(nOut - 1).evaluate((e) => e.dataset.i);
  await waitForPrefetch(page);
  const {promptLength} = await paneTokens();
  const fetchedMasks = salienceMasks.flat();
  check('first selection: the selected segment alone first, the others prefetched in the background',
        firstMasks.length === 1 && parseInt(firstMasks[0]) >= promptLength && salienceRequests >= 2 &&
        new Set(fetchedMasks).size === nOut && fetchedMasks.length === nOut,
        {salienceMasks, nOut, promptLength, lastStart});
  const promptTitles = await titles(promptChips());
  check('tooltips give exact scores', promptTitles.every((t) => /^grad_l2: -?\d/.test(t ?? '')), promptTitles.slice(0, 3));
  const legend = await pane().locator('.legend .swatch').allTextContents();
  check('legend shows numbers', legend.length === 5 && legend.every((t) => !Number.isNaN(Number(t))), legend);
  const last = await titles(promptChips());
  const afterPrefetch = salienceRequests;
  if (nOut > 1) {
    await outputChips().nth(0).click();
    await scoresShown();
    const first = await titles(promptChips());
    check('another segment: no new request, other scores', salienceRequests === afterPrefetch && first.join() !== last.join(),
          {salienceRequests, afterPrefetch});
  } else {
    check('another segment: no new request, other scores', false, 'target has one sentence');
  }
  await control('method').selectOption('grad_dot_input');
  await scoresShown();
  const signedLegend = (await pane().locator('.legend .swatch').allTextContents()).map(Number);
  check('method list comes from the spec; signed method uses a diverging legend',
        salienceRequests === afterPrefetch && signedLegend[0] < 0 && signedLegend[4] > 0, {signedLegend, salienceRequests});
  const dotTitles = await titles(promptChips());
  check('tooltips follow the method', dotTitles.every((t) => t?.startsWith('grad_dot_input: ')), dotTitles.slice(0, 2));
  await control('method').selectOption('grad_l2');

  // Granularity changes keep the selection (its scores at hand) and prefetch the new segments behind it.
  const beforeWords = salienceRequests;
  const masksBefore = salienceMasks.length;
  const sentenceMask = salienceMasks[0][0];
  await control('granularity').selectOption('words');
  await scoresShown();
  const nWords = await outputChips().count();
  await waitForPrefetch(page);
  const wordMasks = salienceMasks.slice(masksBefore).flat();
  check('granularity change: selection kept, the new segments prefetched in the background',
        salienceRequests > beforeWords && (await pane().locator('.seg.selected').count()) >= 1 &&
        wordMasks.length >= nWords - 1 && new Set(wordMasks).size === wordMasks.length && !wordMasks.includes(sentenceMask),
        {salienceRequests, beforeWords, wordMasks, nWords});
  const afterWords = salienceRequests;
  await control('granularity').selectOption('sentences');
  await scoresShown();
  await waitForPrefetch(page);
  check('back to a granularity seen before: no request', salienceRequests === afterWords, {salienceRequests});

  // Costly methods: offered from the spec, fetched for the selection alone when picked.
  const methodOptions = await control('method').locator('option').evaluateAll((els) => els.map((e) => ({
    value: e.value, text: e.textContent.trim()})));
  check('costly methods are offered and marked',
        ['integrated_gradients', 'occlusion'].every((m) => methodOptions.some(
            (o) => o.value === m && o.text === `${described[m].label} — computed when picked`)), methodOptions);
  const costly = [];
  page.on('request', (r) => {
    if (r.url().includes(`model=_${group}_salience`) && r.postData()?.includes('salience_methods')) {
      costly.push(JSON.parse(r.postData()).inputs.map((ex) => ex.data));
    }
  });
  // Slow the costly answers down so the progress text can be read (one request, or a job's start).
  const slowCostly = async (route) => {
    if (route.request().postData()?.includes('salience_methods')) await new Promise((r) => setTimeout(r, 700));
    // The client may drop a stale request while it waits here; then there is nothing left to continue.
    await route.continue().catch((e) => {
      if (!/already handled/.test(String(e))) throw e;
    });
  };
  await page.route(`**/get_preds?model=_${group}_salience&*`, slowCostly);
  await page.route(`**/seqsal/jobs?model=_${group}_salience&*`, slowCostly);
  await control('method').selectOption('integrated_gradients');
  await page.waitForTimeout(150);
  const igStatus = await pane().locator('.status').textContent();
  await scoresShown();
  const igTitles = await titles(promptChips());
  check('integrated gradients: progress text, then one request for the selection alone',
        /integrated gradients/.test(igStatus ?? '') && costly.length === 1 && costly[0].length === 1 &&
        costly[0][0].salience_methods.join() === 'integrated_gradients' &&
        igTitles.every((t) => t?.startsWith('integrated_gradients: ')), {igStatus, costly, igTitles: igTitles.slice(0, 2)});
  await control('method').selectOption('occlusion');
  await page.waitForTimeout(150);
  const occStatus = await pane().locator('.status').textContent();
  await scoresShown();
  const occTitles = await titles(promptChips());
  // The selection's request first; then, in the background, the other output spans (they share its work).
  const occSelection = costly[1]?.[0];
  check('occlusion at the shown granularity, with progress text',
        /once without each of the \d+ sentences/.test(occStatus ?? '') && costly[1]?.length === 1 &&
        occSelection.occlusion_granularity === 'sentences' &&
        occSelection.target_mask.join() === costly[0][0].target_mask.join() &&
        occTitles.every((t) => t?.startsWith('occlusion: ')) && occTitles.some((t) => Number(t.split(': ')[1]) !== 0),
        {occStatus, occTitles: occTitles.slice(0, 3)});
  const selectionRequests = (method) => costly.flat().filter((ex) => ex.salience_methods.join() === method &&
      ex.target_mask.join() === occSelection.target_mask.join()).length;
  await control('granularity').selectOption('custom');
  await pane().locator('.error').waitFor({timeout: 10_000});
  const occError = await pane().locator('.error').textContent();
  check('occlusion with a custom pattern says which granularities work', /pick one of those granularities/.test(occError ?? ''), occError);
  await control('granularity').selectOption('sentences');
  await scoresShown();
  await control('method').selectOption('integrated_gradients');
  await scoresShown();
  check('costly scores are cached per selection and setting',
        selectionRequests('integrated_gradients') === 1 && selectionRequests('occlusion') === 1,
        {integrated_gradients: selectionRequests('integrated_gradients'), occlusion: selectionRequests('occlusion')});
  await page.unroute(`**/get_preds?model=_${group}_salience&*`);
  await page.unroute(`**/seqsal/jobs?model=_${group}_salience&*`);
  await control('method').selectOption('grad_l2');
  await scoresShown();

  // Shift-click and drag extend; the keyboard moves and extends.
  await control('granularity').selectOption('words');
  await scoresShown();
  await outputChips().nth(0).click();
  await outputChips().nth(2).click({modifiers: ['Shift']});
  await scoresShown();
  check('shift-click extends the selection', (await pane().locator('.seg.selected').count()) === 3);
  const box0 = await outputChips().nth(1).boundingBox();
  const box3 = await outputChips().nth(3).boundingBox();
  await page.mouse.move(box0.x + 2, box0.y + box0.height / 2);
  await page.mouse.down();
  await page.mouse.move(box3.x + 2, box3.y + box3.height / 2, {steps: 5});
  await page.mouse.up();
  await scoresShown();
  const dragged = await pane().locator('.seg.selected').evaluateAll((els) => els.map((e) => Number(e.dataset.i)));
  check('drag selects a range', dragged.join() === '1,2,3', dragged);
  await page.keyboard.press('ArrowRight');
  await scoresShown();
  let keyed = await pane().locator('.seg.selected').evaluateAll((els) => els.map((e) => Number(e.dataset.i)));
  check('arrow key moves the selection', keyed.join() === '4', keyed);
  await page.keyboard.press('Shift+ArrowRight');
  await scoresShown();
  keyed = await pane().locator('.seg.selected').evaluateAll((els) => els.map((e) => Number(e.dataset.i)));
  check('shift+arrow extends the selection', keyed.join() === '4,5', keyed);

  // Custom regex: an invalid one shows an inline error and the view stays.
  await control('granularity').selectOption('custom');
  await control('pattern').fill('(');
  const error = await page.locator('.pattern-error').textContent();
  check('invalid custom pattern: inline error', /Invalid regular expression/.test(error ?? ''), error);
  check('invalid custom pattern: chips still shown', (await promptChips().count()) > 0);
  await control('pattern').fill('\\n');
  await scoresShown();
  const lineChips = await promptChips().allTextContents();
  check('custom pattern \\n splits at newlines',
        (await page.locator('.pattern-error').count()) === 0 && lineChips.slice(0, -1).every((t) => t.endsWith('\n')),
        lineChips.slice(0, 3));
  await control('granularity').selectOption('sentences');
  await outputChips().last().click();
  await scoresShown();

  // Colour: intensity slider and reset; density, spacing, underline.
  const before = await backgrounds(promptChips());
  await control('intensity').fill('0.9');
  const brighter = await backgrounds(promptChips());
  await control('intensity-reset').click();
  const reset = await backgrounds(promptChips());
  check('intensity changes colours; reset restores them', before.join() !== brighter.join() && before.join() === reset.join());
  await control('mark').selectOption('underline');
  const underline = await promptChips().evaluateAll((els) => els.map((e) => [getComputedStyle(e).backgroundColor, getComputedStyle(e).borderBottomColor]));
  check('underline mode colours the underline, not the background',
        underline.every(([bg]) => bg === 'rgba(0, 0, 0, 0)') && underline.some(([, b]) => b !== 'rgba(0, 0, 0, 0)'), underline.slice(0, 2));
  await control('mark').selectOption('highlight');
  const lineHeight = async () => pane().getByTestId('text').evaluate((e) => parseFloat(getComputedStyle(e).lineHeight));
  const loose = await lineHeight();
  await control('spacing').selectOption('tight');
  const tight = await lineHeight();
  check('tight line spacing is tighter', tight < loose, {loose, tight});
  await control('density').selectOption('dense');
  const dense = await promptChips().first().evaluate((e) => getComputedStyle(e).paddingLeft);
  await control('density').selectOption('spacious');
  const spacious = await promptChips().first().evaluate((e) => getComputedStyle(e).paddingLeft);
  check('dense removes chip padding', dense === '0px' && spacious !== '0px', {dense, spacious});
  await control('spacing').selectOption('loose');

  // Salience within the selected span.
  await control('granularity').selectOption('words');
  await scoresShown();
  await outputChips().nth(1).click();
  await outputChips().nth(3).click({modifiers: ['Shift']});
  await scoresShown();
  const inside = async () => titles(pane().locator('.seg.selected'));
  const off = await inside();
  await control('in-selection').check();
  const on = await inside();
  check('salience within the selection is optional', off.every((t) => t === null) && on.every((t) => t?.startsWith('grad_l2')), {off, on});
  await control('in-selection').uncheck();

  // Export JSON and HTML; the HTML opens without a server and shows the same segments.
  const shownTitles = await titles(promptChips());
  const shownColors = await backgrounds(promptChips());
  const [jsonDownload] = await Promise.all([page.waitForEvent('download'), control('export-json').click()]);
  const jsonPath = join(outDir, 'view.json');
  await jsonDownload.saveAs(jsonPath);
  const view = JSON.parse(readFileSync(jsonPath, 'utf8'));
  const jsonPrompt = view.segments.filter((s) => s.role === 'prompt');
  check('JSON export has the shown segments and scores',
        jsonPrompt.length === shownTitles.length && jsonPrompt.every((s, i) => `grad_l2: ${s.score}` === shownTitles[i]) &&
        view.granularity === 'words' && view.method === 'grad_l2',
        {n: jsonPrompt.length, shown: shownTitles.length});
  const [htmlDownload] = await Promise.all([page.waitForEvent('download'), control('export-html').click()]);
  const htmlPath = join(outDir, 'view.html');
  await htmlDownload.saveAs(htmlPath);
  const standalone = await context.newPage();
  await standalone.goto(`file://${htmlPath}`);
  const exportedColors = await backgrounds(standalone.locator('.seg.prompt'));
  const exportedTexts = await standalone.locator('.seg.prompt').allTextContents();
  check('HTML export shows the same segments in the same colours',
        exportedColors.join('|') === shownColors.join('|') &&
        exportedTexts.join('') === (await promptChips().allTextContents()).join(''),
        {exported: exportedColors.slice(0, 3), shown: shownColors.slice(0, 3)});
  await standalone.close();

  // Compare: the compared example selects the same output line.
  await control('granularity').selectOption('lines');
  await outputChips().last().click();
  await scoresShown();
  await control('compare').check();
  await control('compare-example').selectOption({label: 'fewshot-fixed'});
  await scoresShown(1);
  const leftSel = await selectedText(0);
  const rightSel = await selectedText(1);
  const rightLines = await outputChips(1).allTextContents();
  check('compare shows two panes with the same output line selected',
        (await page.locator('seqsal-salience-pane').count()) === 2 && rightSel.length > 0 &&
        (rightSel === leftSel || !rightLines.includes(leftSel)) && (await promptChips(1).count()) > 0,
        {leftSel, rightSel});
  await outputChips(0).first().click();
  await scoresShown(1);
  check('compare follows a new selection', (await selectedText(1)) === (await outputChips(1).first().textContent()),
        {right: await selectedText(1)});
  await page.screenshot({path: join(outDir, 'app_compare.png')});
  await control('compare').uncheck();

  // The model's own generation, with a visible loading state.
  await control('mode').selectOption('generation');
  const slowGeneration = async (route) => {
    await new Promise((r) => setTimeout(r, 800));  // keep the loading state on screen long enough to see
    await route.continue();
  };
  await page.route(`**/get_preds?model=${group}&*`, slowGeneration);
  await page.route(`**/seqsal/jobs?model=${group}&*`, slowGeneration);
  await pane().locator('button.generate').click();
  const loadingText = await pane().locator('.status').textContent();
  check('generation shows a loading state', /Generating/.test(loadingText ?? ''), loadingText);
  await outputChips().first().waitFor({timeout: 60_000});
  await page.unroute(`**/get_preds?model=${group}&*`);
  await page.unroute(`**/seqsal/jobs?model=${group}&*`);
  await outputChips().first().click();
  await scoresShown();
  check('generated output is explained', (await titles(promptChips())).every((t) => t?.startsWith('grad_l2')));

  // Editor: empty prompt refused; a new example is added and selected.
  await control('mode').selectOption('target');
  await control('edit-prompt').fill('   ');
  await control('add-example').click();
  check('empty prompt is refused in the editor', /cannot be empty/.test(await page.locator('.editor-error').textContent() ?? ''));
  await control('edit-prompt').fill('Suggestion: Tomato soup\nAnalysis:');
  await control('edit-target').fill(' it has tomatoes.');
  await control('add-example').click();
  const selectedSource = await page.locator('li.selected').getAttribute('data-source');
  await outputChips().last().click();
  await scoresShown();
  check('editor adds a new example and selects it', selectedSource?.startsWith('new') &&
        (await promptChips().allTextContents()).join('').includes('Tomato soup'), selectedSource);

  // A server error shows in the module; the app stays usable.
  await control('edit-prompt').fill('word '.repeat(400));
  await control('edit-target').fill(' end.');
  await control('add-example').click();
  await pane().locator('.seg[data-role=output]', {hasText: 'end.'}).click();
  await pane().locator('.error').waitFor({timeout: 60_000});
  const serverError = await pane().locator('.error').textContent();
  check('server errors are shown in the module', /over this model's maximum/.test(serverError ?? ''), serverError);
  await pickExample('fewshot-fixed');
  await outputChips().last().click();
  await scoresShown();
  check('the app stays usable after an error', (await pane().locator('.error').count()) === 0 &&
        (await titles(promptChips())).every((t) => t?.startsWith('grad_l2')));

  // LIT's URL parameters: models, dataset, layout and dataN_* open on those examples.
  const params = new URLSearchParams({
    models: group, dataset: 'sample_prompts', layout: 'top_bottom',
    data0_prompt: 'Suggestion: Tomato bread\nAnalysis:', data0_target: ' it has tomatoes.',
    data1_prompt: 'Suggestion: Pea soup\nAnalysis:'});
  await page.goto(`${url}/?${params}`);
  await promptChips().first().waitFor({timeout: 60_000});
  const layout = await page.locator('main').getAttribute('data-layout');
  const urlPrompt = (await promptChips().allTextContents()).join('');
  const urlSources = await page.locator('li[data-source^="from URL"]').count();
  check('URL parameters open on their examples and layout',
        layout === 'top_bottom' && urlPrompt.includes('Tomato bread') && urlSources === 2, {layout, urlPrompt, urlSources});
  await page.screenshot({path: join(outDir, 'app_url.png')});

  // LIT's own client is still reachable from the same server.
  const lit = await context.newPage();
  const litResponse = await lit.goto(`${url}/lit/`);
  await lit.locator('lit-app').waitFor({state: 'attached', timeout: 60_000});
  check("LIT's client is served at /lit/", litResponse.ok());
  await lit.close();

  check('no uncaught errors in the page', pageErrors.length === 0, pageErrors);
} catch (e) {
  await fail(e, join(outDir, 'app_failure.png'));
}
await finish();
