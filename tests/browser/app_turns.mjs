// Chat templates in our client (served at /), in Debian's chromium, against a
// running server whose model group wraps prompts in its chat template (the
// server tags every token with its turn: token_turns): the sample
// conversation goes in as its messages; the template's own tokens are greyed,
// unscored and out of the colour scale; the Turns granularity groups the
// prompt by turn.
//
// usage: node app_turns.mjs URL GROUP OUT_DIR
// Prints one JSON line {checks: [{name, ok, detail}]}; exits non-zero if any failed.
import {join} from 'node:path';
import {waitForScores} from './app_page.mjs';
import {clientLocators, openChecks} from './client_checks.mjs';

const [url, group, outDir] = process.argv.slice(2);

const {context, page, check, pageErrors, fail, finish} = await openChecks({viewport: {width: 1500, height: 1000}, acceptDownloads: false});
const {pane, promptChips, outputChips, control} = clientLocators(page);
const tokenizerInputs = [];
page.on('request', (r) => {
  if (r.url().includes(`model=_${group}_tokenizer`)) tokenizerInputs.push(...JSON.parse(r.postData()).inputs.map((ex) => ex.data));
});

const chipInfo = (loc) => loc.evaluateAll((els) => els.map((e) => ({
  text: e.textContent, template: e.classList.contains('template'), title: e.getAttribute('title'),
  background: getComputedStyle(e).backgroundColor})));

try {
  await page.goto(`${url}/`);
  await page.locator('li[data-source="chat-cooking-assistant"]').click();
  await promptChips().first().waitFor({timeout: 60_000});
  const sent = tokenizerInputs.at(-1) ?? {};
  let roles = [];
  try { roles = JSON.parse(sent.messages).map((m) => m.role); } catch { /* checked below */ }
  check('the sample conversation goes in as its messages', roles[0] === 'system' && roles.filter((r) => r === 'user').length === 2,
        {roles, fields: Object.keys(sent)});
  const options = await control('granularity').locator('option').evaluateAll((els) => els.map((e) => e.value));
  check('Turns is offered: the model returns token_turns', options.includes('turns'), options);

  // Words: the template's tokens are greyed and unscored; the scale leaves them out.
  await control('granularity').selectOption('words');
  await outputChips().first().click();
  await waitForScores(page);
  const words = await chipInfo(promptChips());
  const template = words.filter((c) => c.template);
  const scored = words.filter((c) => !c.template);
  check('template tokens are greyed out, with no score',
        template.length >= 3 && template.some((c) => c.text.includes('<start_of_turn>')) &&
        template.every((c) => c.title === 'chat template (not scored)' && c.background !== 'rgb(255, 255, 255)') &&
        scored.every((c) => /^grad_l2: /.test(c.title ?? '')),
        {template: template.map((c) => [c.text, c.title, c.background]).slice(0, 4)});
  const values = scored.map((c) => Math.abs(Number(c.title.split(': ')[1].split(' ')[0])));
  const legend = (await pane().locator('.legend .swatch').allTextContents()).map(Number);
  const max = Math.max(...values);
  check('the colour scale is set by the text, not by the template',
        Math.abs(legend.at(-1) - Number(max.toPrecision(4))) <= 1e-3 * max, {legendMax: legend.at(-1), max});

  // Turns: one segment per turn of the prompt, named in its tooltip.
  await control('granularity').selectOption('turns');
  await waitForScores(page);
  const turns = await chipInfo(promptChips());
  const named = turns.map((c) => (c.title ?? '').match(/turn (\d+), (\w[\w ]*)$/)?.slice(1) ?? null);
  check('Turns: a segment per turn of the conversation (system, user, model, user), then the model\'s',
        turns.length >= 4 && named[0]?.[1] === 'system' && named.filter((n) => n?.[1] === 'user').length === 2 &&
        named.some((n) => n?.[1] === 'model') && turns[0].text.includes('You are a concise cooking assistant'),
        {turns: turns.map((c) => [c.text.slice(0, 30), c.title])});
  await page.screenshot({path: join(outDir, 'app_turns.png')});
  await control('granularity').selectOption('lines');
  check('the Turns option stays while the model returns turns', (await control('granularity').locator('option[value=turns]').count()) === 1);

  check('no uncaught errors in the page', pageErrors.length === 0, pageErrors);
} catch (e) {
  await fail(e, join(outDir, 'app_turns_failure.png'));
}
await finish();
