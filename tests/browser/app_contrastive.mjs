// "Why this and not that" in our client (served at /), in Debian's chromium,
// against a running server with a tiny model group: select the Recommendation
// line of fewshot-mistake, see the model's alternatives under "instead of",
// pick one (the request carries the foil, the prompt recolours on the
// diverging scale, the legend and an indicator say the view is contrastive),
// type a foil of one's own, export it (JSON and HTML carry the foil), compare
// two examples against the same foil, a costly method with the foil, and
// clear it back to the plain view.
//
// usage: node app_contrastive.mjs URL GROUP OUT_DIR
// Prints one JSON line {checks: [{name, ok, detail}]}; exits non-zero if any failed.
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {waitForScores} from './app_page.mjs';
import {clientLocators, openChecks} from './client_checks.mjs';

const [url, group, outDir] = process.argv.slice(2);

const {context, page, check, pageErrors, fail, finish} = await openChecks({viewport: {width: 1600, height: 1000}});
const {pane, promptChips, outputChips, control, inPane, titles, backgrounds} = clientLocators(page);

// Every salience input sent (gradient requests and jobs), with its URL.
const salience = `_${group}_salience`;
const sent = [];
page.on('request', (r) => {
  const u = r.url();
  if ((u.includes('/get_preds?') || u.includes('/seqsal/jobs?')) && u.includes(`model=${salience}`)) {
    sent.push({url: u, inputs: JSON.parse(r.postData()).inputs.map((ex) => ex.data)});
  }
});
const withFoil = () => sent.filter((s) => s.inputs.some((d) => 'foil' in d));

const kind = (i = 0) => inPane('view-kind', i).getAttribute('data-kind');
const legendNumbers = async (i = 0) => (await pane(i).locator('.legend .swatch').allTextContents()).map(Number);
const methodValue = () => control('method').evaluate((e) => e.value);

/** The prompt's chips as {value, rgb}: their score (tooltip) and background colour. */
async function chipColours(i = 0) {
  const [t, c] = [await titles(promptChips(i)), await backgrounds(promptChips(i))];
  return t.map((title, k) => ({value: Number((title ?? '').split(': ')[1]), rgb: c[k].match(/\d+/g).map(Number)}));
}
/**
 * Whether the colours are the diverging scale's: scores of both signs,
 * positive ones orange (red over blue), negative ones purple (blue over red).
 */
function diverging(chips) {
  const max = Math.max(...chips.map((c) => Math.abs(c.value)));
  const strong = chips.filter((c) => Math.abs(c.value) > 0.1 * max);
  const ok = strong.every(({value, rgb: [r, , b]}) => value > 0 ? r > b : b > r);
  return {ok: ok && strong.length > 0 && chips.some((c) => c.value > 0) && chips.some((c) => c.value < 0),
          strong: strong.length};
}

/** A plain view's legend sentence: what dark and light mean for the selected output, nothing contrastive. */
const plainLegend = async () => {
  const text = (await inPane('legend-text').textContent().catch(() => '')) ?? '';
  return /^For “.+”: the darker a part, the more it mattered to it\. White parts mattered little\.$/.test(text.trim()) &&
      !/Contrastive|instead of/.test(text);
};

try {
  await page.goto(`${url}/`);
  await page.locator('li[data-source="fewshot-mistake"]').click();
  await promptChips().first().waitFor({timeout: 60_000});
  await control('granularity').selectOption('lines');
  const lines = await outputChips().allTextContents();
  const rec = lines.findIndex((t) => t.trim().startsWith('Recommendation:'));
  check('the target has a Recommendation line', rec >= 0, lines);
  await outputChips().nth(rec).click();
  await waitForScores(page);
  const plainColours = await backgrounds(promptChips());
  const plainTitles = await titles(promptChips());
  check('a plain view first: indicator and legend say so',
        (await kind()) === 'plain' && /^Plain/.test((await inPane('view-kind').textContent()).trim()) &&
        (await pane().locator('.text.contrastive').count()) === 0 && (await plainLegend()) &&
        plainTitles.every((t) => t?.startsWith('grad_l2: ')), await inPane('view-kind').textContent());

  // "instead of" lists the model's alternatives at the span's first token.
  await inPane('alternative').first().waitFor({timeout: 30_000});
  const alternatives = await inPane('alternative').evaluateAll((els) => els.map((e) => ({
    foil: e.dataset.foil, text: e.textContent, disabled: e.disabled})));
  check('"instead of" shows the model\'s alternatives with their probabilities',
        alternatives.length >= 1 && alternatives.length <= 5 && alternatives.every((a) => /\d%/.test(a.text)) &&
        /instead of/.test(await inPane('foil-bar').textContent()), alternatives);
  const picked = alternatives.find((a) => !a.disabled);
  check('an alternative can be picked', picked, alternatives);

  // Pick one: one request for the selection, with the foil; the diverging scale.
  const before = sent.length;
  await inPane('alternative').nth(alternatives.indexOf(picked)).click();
  await page.waitForFunction(() => {
    const p = document.querySelector('seqsal-app').shadowRoot.querySelector('seqsal-salience-module')
        .shadowRoot.querySelector('seqsal-salience-pane');
    return p.settings.foil && p.scores && !p.status;
  }, null, {timeout: 60_000});
  await waitForScores(page);
  const request = sent.slice(before).find((s) => s.inputs.some((d) => 'foil' in d));
  const mask = request?.inputs[0].target_mask ?? [];
  const ones = mask.map((m, i) => m ? i : -1).filter((i) => i >= 0);
  const mistakePrompt = request?.inputs[0].prompt;
  check('picking it sends one input with the foil and a contiguous mask (a light request, not a job)',
        request && request.inputs.length === 1 && request.inputs[0].foil === picked.foil && ones.length > 0 &&
        ones.at(-1) - ones[0] === ones.length - 1 && !request.inputs[0].salience_methods && request.url.includes('/get_preds?'),
        {request: request && {url: request.url, foil: request.inputs[0].foil, ones}, picked});
  const notice = await control('method-notice').textContent().catch(() => '');
  check('grad_l2 is unsigned: the method switches to grad_dot_input, and the module says so',
        (await methodValue()) === 'grad_dot_input' && /grad_l2/.test(notice) && /grad_dot_input/.test(notice),
        {method: await methodValue(), notice});
  const contrastiveColours = await chipColours();
  const shape = diverging(contrastiveColours);
  const signedLegend = await legendNumbers();
  check('the prompt recolours on the diverging scale (orange toward the output, purple toward the foil)',
        shape.ok && signedLegend[0] < 0 && signedLegend.at(-1) > 0 &&
        contrastiveColours.every((c) => !Number.isNaN(c.value)) &&
        (await backgrounds(promptChips())).join() !== plainColours.join(),
        {shape, signedLegend, sample: contrastiveColours.slice(0, 4)});
  const caption = await pane().locator('.legend .caption').textContent();
  const ends = await pane().locator('.legend .end').allTextContents();
  const explanation = await inPane('legend-text').textContent();
  check('the legend says what the colours mean in contrastive mode',
        /contrastive/.test(caption) && ends.length === 2 && ends.every((e) => /^toward /.test(e)) &&
        /instead of/.test(explanation) && /Orange/.test(explanation) && /purple/.test(explanation),
        {caption, ends, explanation});
  check('an indicator shows the view is contrastive',
        (await kind()) === 'contrastive' && /^Contrastive/.test((await inPane('view-kind').textContent()).trim()) &&
        (await pane().locator('.text.contrastive').count()) === 1 &&
        (await pane().locator('[data-testid=alternative][aria-pressed=true]').count()) === 1,
        await inPane('view-kind').textContent());
  await page.screenshot({path: join(outDir, 'app_contrastive.png')});

  // Any text as the foil.
  const typedBefore = withFoil().length;
  await inPane('foil-input').fill('Avoid.');
  await inPane('foil-input').press('Enter');
  await page.waitForFunction(() => {
    const p = document.querySelector('seqsal-app').shadowRoot.querySelector('seqsal-salience-module')
        .shadowRoot.querySelector('seqsal-salience-pane');
    return p.settings.foil === 'Avoid.' && p.scores && !p.status;
  }, null, {timeout: 60_000});
  await waitForScores(page);
  const typed = withFoil().slice(typedBefore);
  const typedTitles = await titles(promptChips());
  check('a typed foil is sent as typed and explained',
        typed.length === 1 && typed[0].inputs[0].foil === 'Avoid.' && (await kind()) === 'contrastive' &&
        /“Avoid\.”/.test(await inPane('view-kind').textContent()) &&
        (await pane().locator('[data-testid=alternative][aria-pressed=true]').count()) === 0 &&
        typedTitles.every((t) => t?.startsWith('grad_dot_input: ')),
        {typed: typed.map((t) => t.inputs[0].foil), kind: await inPane('view-kind').textContent()});

  // Both exports carry the foil.
  const [jsonDownload] = await Promise.all([page.waitForEvent('download'), control('export-json').click()]);
  const jsonPath = join(outDir, 'contrastive.json');
  await jsonDownload.saveAs(jsonPath);
  const view = JSON.parse(readFileSync(jsonPath, 'utf8'));
  check('JSON export carries the foil and says the view is contrastive',
        view.foil === 'Avoid.' && view.view === 'contrastive' && view.method === 'grad_dot_input' && view.signed === true &&
        /Avoid\./.test(view.legendText?.negative ?? '') && jsonDownload.suggestedFilename().includes('contrastive'),
        {foil: view.foil, view: view.view, legendText: view.legendText, file: jsonDownload.suggestedFilename()});
  const shownColours = await backgrounds(promptChips());
  const [htmlDownload] = await Promise.all([page.waitForEvent('download'), control('export-html').click()]);
  const htmlPath = join(outDir, 'contrastive.html');
  await htmlDownload.saveAs(htmlPath);
  const standalone = await context.newPage();
  await standalone.goto(`file://${htmlPath}`);
  const exportedFoil = await standalone.locator('dd.foil').textContent().catch(() => null);
  const exportedKind = await standalone.locator('.kind').textContent().catch(() => null);
  const exportedColours = await backgrounds(standalone.locator('.seg.prompt'));
  const exportedLegend = await standalone.locator('.legend-text').textContent().catch(() => null);
  check('HTML export carries the foil, the kind of view and the legend, in the same colours',
        exportedFoil === 'Avoid.' && exportedKind === 'Contrastive view' && /instead of “Avoid\.”/.test(exportedLegend ?? '') &&
        exportedColours.join('|') === shownColours.join('|'),
        {exportedFoil, exportedKind, exportedLegend});
  await standalone.close();

  // Clearing the foil: the plain view again, with the method it switched away from.
  await inPane('foil-clear').click();
  await waitForScores(page);
  check('clearing the foil returns to the plain view (and to grad_l2)',
        (await kind()) === 'plain' && (await methodValue()) === 'grad_l2' &&
        (await pane().locator('.text.contrastive').count()) === 0 && (await plainLegend()) &&
        (await control('method-notice').count()) === 0 &&
        (await backgrounds(promptChips())).join() === plainColours.join(),
        {kind: await kind(), method: await methodValue()});

  // Compare: both panes explain against the same foil.
  await inPane('foil-input').fill('Avoid.');
  await inPane('foil-use').click();
  await waitForScores(page);
  const compareBefore = withFoil().length;
  await control('compare').check();
  await control('compare-example').selectOption({label: 'fewshot-fixed'});
  await waitForScores(page, 1);
  await page.waitForFunction(() => {
    const panes = document.querySelector('seqsal-app').shadowRoot.querySelector('seqsal-salience-module')
        .shadowRoot.querySelectorAll('seqsal-salience-pane');
    return panes[1]?.scores && !panes[1].status;
  }, null, {timeout: 60_000});
  const compared = withFoil().slice(compareBefore);
  const rightSelected = (await pane(1).locator('.seg.selected').allTextContents()).join('');
  check('compare mode carries the foil: the compared example is explained against it too',
        (await kind(1)) === 'contrastive' && /“Avoid\.”/.test(await inPane('view-kind', 1).textContent()) &&
        compared.some((s) => s.inputs[0].foil === 'Avoid.' && s.inputs[0].prompt !== mistakePrompt) &&
        rightSelected.trim().startsWith('Recommendation:') && diverging(await chipColours(1)).strong > 0,
        {right: await inPane('view-kind', 1).textContent(), compared: compared.length, rightSelected});
  await page.screenshot({path: join(outDir, 'app_contrastive_compare.png')});
  await control('compare').uncheck();

  // A costly method with the foil: the foil goes with it.
  const costlyBefore = sent.length;
  await control('method').selectOption('integrated_gradients');
  await waitForScores(page, 0, 120_000);
  const costly = sent.slice(costlyBefore).find((s) => s.inputs[0].salience_methods);
  check('integrated gradients with the foil: the request carries it; the view stays contrastive',
        costly && costly.inputs.length === 1 && costly.inputs[0].foil === 'Avoid.' &&
        costly.inputs[0].salience_methods.join() === 'integrated_gradients' && (await kind()) === 'contrastive' &&
        (await titles(promptChips())).every((t) => t?.startsWith('integrated_gradients: ')),
        {costly: costly && {url: costly.url, foil: costly.inputs[0].foil}});
  // The user chose grad_l2 with a foil: allowed, unsigned, and the legend says it has no direction.
  await control('method').selectOption('grad_l2');
  await waitForScores(page);
  const unsignedCaption = await pane().locator('.legend .caption').textContent();
  check('grad_l2 with a foil (the user\'s choice): a sequential scale, the legend says it has no sign',
        (await kind()) === 'contrastive' && /contrastive \(unsigned\)/.test(unsignedCaption) &&
        (await legendNumbers())[0] === 0 && /no sign/.test(await inPane('legend-text').textContent()), unsignedCaption);
  await inPane('foil-clear').click();
  await waitForScores(page);
  check('cleared again: plain, the user\'s method kept', (await kind()) === 'plain' && (await methodValue()) === 'grad_l2');

  check('no chat template, no Turns granularity',
        !(await control('granularity').locator('option').evaluateAll((els) => els.map((e) => e.value))).includes('turns'));

  // An example that comes with its foil (sample_prompts: recommendation-vs-avoid, " Avoid.").
  await page.locator('li[data-source="recommendation-vs-avoid"]').click();
  await promptChips().first().waitFor({timeout: 60_000});
  const sampleBefore = withFoil().length;
  await outputChips().last().click();
  await waitForScores(page);
  const sample = withFoil().slice(sampleBefore);
  check('an example with a foil opens contrastive, against its foil',
        (await kind()) === 'contrastive' && sample.some((s) => s.inputs[0].foil === ' Avoid.') &&
        (await methodValue()) === 'grad_dot_input' && /“Avoid\.”/.test(await inPane('view-kind').textContent()),
        {kind: await kind(), foils: sample.map((s) => s.inputs[0].foil)});
  await page.locator('li[data-source="fewshot-fixed"]').click();
  await promptChips().first().waitFor({timeout: 60_000});
  await outputChips().last().click();
  await waitForScores(page);
  check('the next example without a foil: plain again', (await kind()) === 'plain' && (await methodValue()) === 'grad_l2',
        {kind: await kind(), method: await methodValue()});

  check('no uncaught errors in the page', pageErrors.length === 0, pageErrors);
} catch (e) {
  await fail(e, join(outDir, 'app_contrastive_failure.png'));
}
await finish();
