// Explanations a person can check, in our client on the bundled Gemma: on
// fewshot-mistake's generation at Sentences, the Recommendation line with
// grad_l2 (the walkthrough's method): the ranked list's first prompt entry is
// in the faulty example, the deletion check's sentence and numbers, and
// "drop it and regenerate" of that entry with the changed words marked.
//
// usage: node app_checkable.mjs URL GROUP OUT_DIR
// Prints one JSON line: {checks, seen}. `seen` carries what the page showed and
// the requests it made (the check and the regeneration), which the Python test
// replays over LIT's API and compares.
import {waitForScores} from './app_page.mjs';
import {clientLocators, openChecks} from './client_checks.mjs';

const [url, group, outDir] = process.argv.slice(2);
const {page, check, pageErrors, fail, finish} = await openChecks({viewport: {width: 1440, height: 1000}});
const {pane, promptChips, outputChips, control, inPane} = clientLocators(page);
const seen = {};
const requests = [];
page.on('request', (req) => {
  const body = req.postData() || '';
  if (req.method() === 'POST' && /"(check|edits)"/.test(body)) requests.push({url: req.url(), body});
});
const LONG = 300_000;

try {
  await page.goto(`${url}/?models=${group}`);
  await page.locator('li[data-source="fewshot-mistake"]').click();
  await control('mode').selectOption('generation');
  await pane().locator('button.generate').click();
  await outputChips().first().waitFor({timeout: LONG});
  await control('granularity').selectOption('sentences');
  await control('method').selectOption('grad_l2');  // the walkthrough's, whatever the default at Sentences
  const recommendation = outputChips().filter({hasText: 'Recommendation'}).first();
  seen.span = await recommendation.textContent();
  await recommendation.click();
  await waitForScores(page, 0, LONG);
  check('the walkthrough method is shown', await control('method').inputValue() === 'grad_l2',
        await control('method').inputValue());
  check('its description is shown', (await control('method-help').textContent()).includes('Gradient norm'),
        await control('method-help').textContent());

  // The ranked list: its first prompt entry lies in the first (faulty) example.
  const prompt = await promptChips().evaluateAll((els) => els.map((e) => e.textContent));
  const starts = [];
  prompt.reduce((at, text) => (starts.push(at), at + text.length), 0);
  const promptText = prompt.join('');
  const faulty = promptText.indexOf('Taste-likes');
  const next = promptText.indexOf('Taste-likes', faulty + 1);
  const first = inPane('ranked-list').locator('li[data-role=prompt]').first();
  const index = Number(await first.getAttribute('data-i'));
  seen.topEntry = {index, text: prompt[index], at: starts[index]};
  check('the first prompt entry is in the faulty example', faulty >= 0 && starts[index] >= faulty &&
        starts[index] < next, seen.topEntry);
  const values = await promptChips().evaluateAll((els) => els.map((e) => Number((e.getAttribute('title') || '').split(': ')[1])));
  check('the first entry is the highest-scored prompt sentence',
        Number(await first.getAttribute('data-value')) === Math.max(...values.filter(Number.isFinite)),
        {entry: await first.getAttribute('data-value'), max: Math.max(...values.filter(Number.isFinite))});
  await first.locator('[data-testid=ranked-entry]').click();
  let flashed = false;
  for (let i = 0; i < 20 && !flashed; i++, await page.waitForTimeout(50)) {
    flashed = await promptChips().nth(index).evaluate((e) => e.classList.contains('flash'));
  }
  check('clicking it flashes its sentence in the text', flashed);

  // The check: one sentence, a verdict, a chart and the numbers.
  await inPane('check-run').click();
  await inPane('check-sentence').waitFor({timeout: LONG});
  seen.sentence = await inPane('check-sentence').textContent();
  seen.verdict = await inPane('check-verdict').getAttribute('data-verdict');
  await inPane('check-numbers').locator('summary').click();
  seen.rows = await inPane('check-numbers').locator('tbody tr').evaluateAll((rows) => rows.map((r) =>
    [...r.querySelectorAll('td')].map((td) => td.textContent)));
  check('the sentence says what removing the top sentences does',
        /^Removing the (\d+ )?top sentences? (lowers|raises|leaves) /.test(seen.sentence) &&
        /removing \d+ random sentences?: to /.test(seen.sentence), seen.sentence);
  check('a verdict is shown', ['supported', 'weak', 'not supported'].includes(seen.verdict), seen.verdict);
  check('a chart of the numbers', await inPane('check-chart').count() === 1);
  check('one row of numbers per k', seen.rows.length >= 1 && seen.rows.every((r) => r.length === 5), seen.rows);

  // Drop the top-ranked prompt sentence and regenerate.
  await inPane('drop-panel').locator('summary').click();
  await inPane('ranked-list').locator('li[data-role=prompt]').first().locator('[data-testid=ranked-mark]').check();
  check('the marked sentence is listed to drop', (await inPane('drop-marked').textContent()).includes(
    prompt[index].replace(/\s+/g, ' ').trim().slice(0, 20)), await inPane('drop-marked').textContent());
  await inPane('drop-run').click();
  await inPane('drop-result').waitFor({timeout: LONG});
  const parts = (id) => inPane(id).evaluate((el) => [...el.childNodes].filter((n) => n.nodeType !== Node.COMMENT_NODE).map((n) => ({
    kind: n.nodeName === 'DEL' ? 'removed' : n.nodeName === 'INS' ? 'added' : 'same', text: n.textContent,
  })).filter((p) => p.text));
  seen.before = await parts('drop-before');
  seen.after = await parts('drop-after');
  seen.original = (await outputChips().allTextContents()).join('');
  seen.editedPrompt = await inPane('drop-edited-prompt').textContent();
  seen.prompt = promptText;
  seen.summary = await inPane('drop-summary').textContent();
  check('the old generation is shown whole', seen.before.map((p) => p.text).join('') === seen.original,
        {before: seen.before, original: seen.original});
  check('the old text marks only removals', seen.before.every((p) => p.kind !== 'added'));
  check('the new text marks only additions', seen.after.every((p) => p.kind !== 'removed'));
  await inPane('drop-result').screenshot({path: `${outDir}/drop_and_regenerate.png`});
  await page.screenshot({path: `${outDir}/checkable.png`, fullPage: true});
  check('no page errors', pageErrors.length === 0, pageErrors);
} catch (e) {
  await fail(e, `${outDir}/checkable_failed.png`);
}
seen.requests = requests;
await finish({seen});
