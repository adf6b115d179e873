// First colours from the selected span alone, the rest prefetched behind it,
// in Debian's chromium against a running server with a tiny model group. The
// page's network layer (playwright's route) holds prefetch requests, so the
// order of events is the test's, not the machine's:
// - a click asks for its span alone (one mask) and shows its colours;
// - the other spans follow in the background, nearest the selection first, in
//   requests of at most the server's masks per request, with progress that
//   stays in view (sticky) while the text scrolls;
// - a click while a prefetch request is held gets its own request, and its
//   colours come before the held prefetch is let through;
// - another granularity replaces the prefetch, and Stop ends it: nothing more
//   of it is sent after the request on its way.
//
// usage: node app_prefetch.mjs URL GROUP OUT_DIR
// Prints one JSON line {checks: [{name, ok, detail}]}; exits non-zero if any failed.
import {join} from 'node:path';
import {waitForPrefetch, waitForScores} from './app_page.mjs';
import {clientLocators, openChecks} from './client_checks.mjs';

const [url, group, outDir] = process.argv.slice(2);

const {page, check, pageErrors, fail, finish} = await openChecks({viewport: {width: 1440, height: 900}});
const {pane, outputChips, control} = clientLocators(page);

/** What happened, in order: requests sent and answered, and the test's own steps. */
const events = [];
const log = (name) => events.push(name) - 1;
/** Every salience request as sent: its masks as "first target token+count", when it was sent and answered. */
const requests = [];
const byRequest = new Map();
let holding = false;
const held = [];
const maskKey = (data) => {
  const mask = data.target_mask ?? [];
  return `${mask.indexOf(1)}+${mask.filter((m) => m).length}`;
};
await page.route(`**/get_preds?model=_${group}_salience*`, async (route) => {
  const inputs = JSON.parse(route.request().postData()).inputs.map((ex) => ex.data);
  const entry = {masks: inputs.map(maskKey), sent: log(`sent ${requests.length}`), answered: -1};
  requests.push(entry);
  byRequest.set(route.request(), entry);
  // Prefetch requests (more than one mask) wait for the test while it holds them.
  if (holding && inputs.length > 1) {
    held.push(route);
    return;
  }
  await route.continue();
});
page.on('requestfinished', (r) => {
  const entry = byRequest.get(r);
  if (entry) entry.answered = log('answered');
});
/** Stops holding and lets the held requests through, in order. */
async function release() {
  holding = false;
  while (held.length) {
    log('released');
    await held.shift().continue();
  }
}
const until = async (what, test, ms = 60_000) => {
  for (const end = Date.now() + ms; Date.now() < end; await page.waitForTimeout(50)) if (await test()) return true;
  throw new Error(`timed out waiting for ${what}`);
};
const paneState = () => page.evaluate(() => {
  const p = document.querySelector('seqsal-app').shadowRoot.querySelector('seqsal-salience-module')
      .shadowRoot.querySelector('seqsal-salience-pane');
  return {promptLength: p.tokenized?.promptLength, tokens: p.tokenized?.tokens.length, prefetch: p.prefetch,
          status: p.status};
});
const selectedText = async () => (await pane().locator('.seg.selected').allTextContents()).join('');
const inView = (locator) => locator.evaluate((e) => {
  const r = e.getBoundingClientRect();
  return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
});

// A prompt of about 105 tokens and an output of 51 words in 17 sentences (the tiny model takes 256 in all).
const block = 'Taste-likes: Cheese\nTaste-dislikes: eggs\nSuggestion: Quiche\nAnalysis: it has eggs.\n\n';
const prompt = `Analyze a menu item.\n\n${block.repeat(4)}Taste-likes: Cheese\nSuggestion: Soup\nAnalysis:`;
const words = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];
const target = ' ' + Array.from({length: 17}, (_, i) => `${words[i % 10]} ${words[(i + 3) % 10]} ${words[(i + 6) % 10]}.`).join(' ');

try {
  const info = await (await fetch(`${url}/seqsal/info`)).json();
  const maxMasks = Math.min(32, info.limits?.max_masks_per_request || 32);
  await page.goto(`${url}/?${new URLSearchParams({models: group, data0_prompt: prompt, data0_target: target})}`);
  await outputChips().first().waitFor({timeout: 60_000});
  await control('granularity').selectOption('words');
  const {promptLength, tokens} = await paneState();
  const nOut = await outputChips().count();

  // --- The click: its span alone, shown; the rest held in the network layer. ------
  holding = true;
  const k = 12;
  await outputChips().nth(k).click();
  await waitForScores(page);
  const shown = log('first colours');
  await until('a prefetch request', () => held.length > 0);
  const [first, second] = requests;
  check('first colours from a request for the selected word alone (one pass of the model)',
        first?.masks.length === 1 && Number(first.masks[0].split('+')[0]) >= promptLength &&
        first.answered >= 0 && first.answered < shown && second.sent > first.answered,
        {first, second: second && {sent: second.sent, n: second.masks.length}, promptLength, tokens, events});
  check('then the others in the background, at most the server\'s masks per request',
        second && second.masks.length === Math.min(maxMasks, nOut - 1) && nOut - 1 > maxMasks &&
        !second.masks.includes(first.masks[0]), {n: second?.masks.length, nOut, maxMasks});
  const progress = await control('prefetch').textContent();
  check('its progress shows while it runs',
        new RegExp(`Fetching the other ${nOut - 1} words in the background \\(0 of ${nOut - 1} ready\\)`).test(progress),
        progress);

  // The status and legend stay in view while the text scrolls (sticky under the controls).
  const area = page.locator('main .area.lower');
  await area.evaluate((e) => e.scrollTo(0, e.scrollHeight));
  await page.waitForTimeout(200);
  const scrolled = await area.evaluate((e) => e.scrollTop);
  check('progress, legend and controls stay in view while the text scrolls',
        scrolled > 0 && (await inView(control('prefetch'))) && (await inView(pane().locator('.legend'))) &&
        (await inView(control('granularity'))), {scrolled});
  await page.screenshot({path: join(outDir, 'app_prefetch_sticky.png')});
  await area.evaluate((e) => e.scrollTo(0, 0));

  // --- A click while the prefetch is held: its own request, its colours first. ------
  const j = nOut - 2;
  const beforeClick = requests.length;
  await outputChips().nth(j).click();
  await waitForScores(page);
  const clickShown = log('click colours');
  const clickRequest = requests[beforeClick];
  check('a click during the prefetch gets its own request of one mask, answered while the prefetch is held',
        clickRequest?.masks.length === 1 && clickRequest.answered >= 0 && clickRequest.answered < clickShown &&
        held.length === 1 && second.answered < 0 &&
        (await pane().locator('.seg.selected').first().getAttribute('data-i')) === String(j),
        {clickRequest, held: held.length, events});
  await release();
  await waitForPrefetch(page);
  const done = log('prefetch done');
  check('the click\'s colours came before the prefetch was let through and answered',
        clickShown < events.indexOf('released') && second.answered > clickShown && second.answered < done, events);
  const fetched = new Set(requests.flatMap((r) => r.masks));
  check('every output word\'s scores were fetched', fetched.size >= nOut, {fetched: fetched.size, nOut});
  const settled = requests.length;
  await outputChips().nth(3).click();
  await waitForScores(page);
  check('then a click costs nothing: no request', requests.length === settled, {requests: requests.length, settled});

  // --- Stop ends the prefetch. --------------------------------------------------------
  holding = true;
  await control('granularity').selectOption('tokens');
  await waitForScores(page);
  await until('a held tokens prefetch', () => held.length > 0);
  const nTokens = await outputChips().count();
  const beforeStop = requests.length;
  await control('prefetch-stop').click();
  await release();
  await page.waitForTimeout(1500);
  const state = await paneState();
  check('Stop ends the prefetch: nothing more is sent after the request on its way, and its progress goes',
        nTokens - 1 > maxMasks && requests.length === beforeStop && state.prefetch === undefined &&
        (await control('prefetch').count()) === 0, {sent: requests.length - beforeStop, nTokens, state});

  // --- Another granularity replaces the prefetch. ------------------------------------
  holding = true;
  await outputChips().nth(40).click();  // the tokens not fetched yet are prefetched again
  await waitForScores(page);
  await until('a held tokens prefetch', () => held.length > 0);
  const beforeSwitch = requests.length;
  await control('granularity').selectOption('sentences');
  await waitForScores(page);
  await release();
  await waitForPrefetch(page);
  await page.waitForTimeout(500);
  const nSentences = await outputChips().count();
  const after = requests.slice(beforeSwitch);
  const masksAfter = after.reduce((n, r) => n + r.masks.length, 0);
  check('another granularity replaces the prefetch: after the request on its way, only sentences are asked for',
        masksAfter <= nSentences && after.every((r) => r.masks.every((m) => Number(m.split('+')[1]) > 1)),
        {after: after.map((r) => r.masks.length), nSentences});

  check('no uncaught errors in the page', pageErrors.length === 0, pageErrors);
} catch (e) {
  await fail(e, join(outDir, 'app_prefetch_failure.png'));
}
await finish();
