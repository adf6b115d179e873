// The client's side of a public server, in Debian's chromium, against a running
// server whose model group is slowed down (tests/test_client_app.py wraps its
// objectives in a sleep): gradient requests of at most 32 masks, the selection's
// first; integrated gradients as a job with a progress bar that advances, a
// Cancel that stops it (on the server too) and a restart that completes; a
// server error shown as its message with the request id; an <img onerror>
// payload in a prompt, a target, a source and a generation rendered as text
// (and escaped in the exported HTML); nothing the page's Content-Security-Policy
// refuses.
//
// usage: node app_hosted.mjs URL GROUP OUT_DIR
// Prints one JSON line {checks: [{name, ok, detail}]}; exits non-zero if any failed.
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {waitForScores} from './app_page.mjs';
import {clientLocators, openChecks} from './client_checks.mjs';

const [url, group, outDir] = process.argv.slice(2);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const {context, page, check, pageErrors, fail, finish} = await openChecks({viewport: {width: 1500, height: 1000}, initScript: () => {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation',
      (e) => window.__cspViolations.push(`${e.violatedDirective}: ${e.blockedURI}`));
}});
const {pane, promptChips, outputChips, control, titles, backgrounds} = clientLocators(page);
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });

const salience = `_${group}_salience`;
const gradientRequests = [];
const jobStarts = [];
const jobPolls = [];
page.on('request', (r) => {
  const u = r.url();
  if (u.includes(`/get_preds?model=${salience}`)) gradientRequests.push(JSON.parse(r.postData()).inputs.map((ex) => ex.data));
  const poll = u.match(/\/seqsal\/jobs\/([0-9a-f]+)$/);
  if (poll && r.method() === 'GET') jobPolls.push({id: poll[1], t: Date.now()});
});
page.on('response', async (resp) => {
  if (resp.url().includes('/seqsal/jobs?') && resp.request().method() === 'POST') {
    const body = await resp.json().catch(() => ({}));
    jobStarts.push({url: resp.url(), status: resp.status(), id: body.job?.id});
  }
});

const progressBar = () => pane().locator('[data-testid=progress] progress');
const paneState = () => page.evaluate(() => {
  const p = document.querySelector('seqsal-app').shadowRoot.querySelector('seqsal-salience-module')
      .shadowRoot.querySelector('seqsal-salience-pane');
  return {promptLength: p.tokenized?.promptLength, status: p.status, error: p.error, notice: p.notice};
});
async function serverJob(id) {
  const resp = await fetch(`${url}/seqsal/jobs/${id}`);
  return (await resp.json()).job;
}

const PAYLOAD = '<img src=x onerror="window.__xss=1">';
const ESCAPED = '&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;';
// Chips show token strings: a small vocabulary turns some characters into the
// literal text "<unk>" (itself markup-looking, so also a test), the rest stays.
const asText = (text) => text.includes(PAYLOAD) || text.includes('<unk>img src=x onerror=');
/** <img> elements anywhere in a page, shadow roots included. */
const imgElements = (p) => p.evaluate(() => {
  let n = 0;
  const walk = (root) => {
    n += root.querySelectorAll('img').length;
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return n;
});

try {
  const info = await (await fetch(`${url}/seqsal/info`)).json();
  check('the server offers jobs', info.jobs === true, info);
  const maxMasks = Math.min(32, info.limits?.max_masks_per_request || 32);

  // An output of 60 words: at tokens granularity more masks than one request may carry.
  const words = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];
  const target = ' ' + Array.from({length: 60}, (_, i) => words[i % 10]).join(' ') + '.';
  await page.goto(`${url}/?${new URLSearchParams({models: group, data0_prompt: 'Count slowly:', data0_target: target})}`);
  await promptChips().first().waitFor({timeout: 60_000});
  await control('granularity').selectOption('tokens');
  const nOut = await outputChips().count();
  const picked = Math.min(40, nOut - 2);
  gradientRequests.length = 0;
  await outputChips().nth(picked).click();
  await waitForScores(page, 0, 120_000);
  const {promptLength} = await paneState();
  const firstAnswered = gradientRequests.length;
  // The other chunks follow, one request after the other.
  const masksSent = () => gradientRequests.reduce((a, inputs) => a + inputs.length, 0);
  for (let i = 0; i < 600 && masksSent() < nOut; i++) await sleep(100);
  await sleep(500);
  const sizes = gradientRequests.map((inputs) => inputs.length);
  const firstMasks = (gradientRequests[0] ?? []).map((d) => d.target_mask.indexOf(1));
  check('gradient prefetch: requests of at most N masks, the selection in the first',
        nOut > maxMasks && sizes.length >= 2 && sizes.every((n) => n <= maxMasks) &&
        sizes.reduce((a, b) => a + b, 0) >= nOut && firstMasks.includes(promptLength + picked) && firstAnswered < sizes.length,
        {nOut, sizes, maxMasks, firstAnswered, selected: promptLength + picked, firstMasks: firstMasks.slice(0, 5)});
  await waitForScores(page);

  // Integrated gradients as a job: a progress bar that advances, then Cancel.
  await control('granularity').selectOption('sentences');
  await outputChips().last().click();
  await waitForScores(page, 0, 120_000);
  jobStarts.length = 0;
  await control('method').selectOption('integrated_gradients');
  await progressBar().waitFor({timeout: 30_000});
  const label = await pane().locator('.status').textContent();
  const samples = [];
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const value = await progressBar().evaluate((e) => e.hasAttribute('value') ? e.value : null).catch(() => null);
    const text = await pane().locator('.progress-text').textContent().catch(() => null);
    if (value !== null) samples.push({value, text});
    if (!(await pane().locator('[data-testid=progress]').count())) break;  // finished (or failed) already
    const positives = [...new Set(samples.map((s) => s.value).filter((v) => v > 0))];
    if (positives.length >= 2) break;
    await sleep(100);
  }
  const values = samples.map((s) => s.value);
  const last = samples.at(-1) ?? {};
  check('integrated gradients: a job with a progress bar that advances',
        jobStarts.length === 1 && jobStarts[0].status === 202 && jobStarts[0].url.includes(`model=${salience}`) &&
        values.length >= 2 && values.at(-1) > values[0] && values.at(-1) < 1,
        {jobStarts, values: values.slice(-5)});
  check('progress: label, percentage, elapsed time and time left',
        /integrated gradients/.test(label ?? '') && /^\d+% · \d+ s elapsed · about \d+ s left$/.test(last.text ?? ''),
        {label, text: last.text});
  const jobId = jobStarts[0]?.id;
  await pane().screenshot({path: join(outDir, 'app_progress.png')}).catch(() => {});
  await control('cancel').click();
  const cancelledAt = Date.now();
  await pane().locator('.notice').waitFor({timeout: 10_000});
  const notice = await pane().locator('.notice').textContent();
  const afterCancel = await paneState();
  check('Cancel: the pane says it was cancelled; no bar, no error, no scores',
        /Cancelled/.test(notice ?? '') && (await pane().locator('[data-testid=progress]').count()) === 0 &&
        !afterCancel.error && (await pane().locator('.legend').count()) === 0 &&
        (await control('restart').count()) === 1, {notice, afterCancel});
  let state = '';
  for (let i = 0; i < 100 && state !== 'cancelled'; i++) {
    state = (await serverJob(jobId)).state;
    if (state !== 'cancelled') await sleep(200);
  }
  check('Cancel: the job is cancelled on the server', state === 'cancelled', {jobId, state});
  await sleep(2000);  // the client may poll once more to see it stopped
  const pollsOf = () => jobPolls.filter((p) => p.id === jobId).length;
  const settled = pollsOf();
  await sleep(2500);
  check('Cancel: polling stopped', pollsOf() === settled && jobPolls.some((p) => p.id === jobId && p.t < cancelledAt),
        {settled, later: pollsOf()});

  // Picking the method again starts a new job, which completes and colours the prompt.
  await control('method').selectOption('grad_l2');
  await waitForScores(page);
  await control('method').selectOption('integrated_gradients');
  await progressBar().waitFor({timeout: 30_000});
  await waitForScores(page, 0, 180_000);
  const igTitles = await titles(promptChips());
  const igColours = await backgrounds(promptChips());
  check('picking it again: a new job completes and colours the prompt',
        jobStarts.length === 2 && jobStarts[1].id !== jobId &&
        igTitles.every((t) => t?.startsWith('integrated_gradients: ')) &&
        igColours.some((c) => c !== 'rgb(255, 255, 255)') && (await pane().locator('[data-testid=progress]').count()) === 0,
        {jobStarts, titles: igTitles.slice(0, 3), colours: igColours.slice(0, 3)});
  await control('method').selectOption('grad_l2');
  await waitForScores(page);

  // A server error reads as its message and request id: no traceback, no markup.
  const errorResponses = [];
  const onError = async (resp) => {
    if (resp.status() >= 400) errorResponses.push({url: resp.url(), status: resp.status(), body: await resp.text().catch(() => '')});
  };
  page.on('response', onError);
  await control('edit-prompt').fill('word '.repeat(400));
  await control('edit-target').fill(' end.');
  await control('add-example').click();
  await pane().locator('.seg[data-role=output]', {hasText: 'end.'}).click();
  await pane().locator('.error').waitFor({timeout: 60_000});
  const shown = (await pane().locator('.error').textContent()) ?? '';
  page.off('response', onError);
  const answered = errorResponses.at(-1) ?? {};
  let errorBody = {};
  try { errorBody = JSON.parse(answered.body).error ?? {}; } catch { /* checked below */ }
  check('a too-long prompt: HTTP 400 with a JSON error', answered.status === 400 && errorBody.kind === 'bad_request' &&
        /^[0-9a-f]+$/.test(errorBody.request_id ?? ''), answered);
  check('the error shows as its message and request id, nothing else',
        shown.startsWith(errorBody.message ?? '\u0000') && shown.includes(`(request ${errorBody.request_id})`) &&
        !/Traceback|Details:|File "|\.py|<\w/.test(shown), shown);

  // User text is never markup: a payload in a source, a prompt and a target (URL),
  // in a prompt written in the editor, and in a generation.
  await page.goto(`${url}/?${new URLSearchParams({
    models: group, data0_prompt: `Say ${PAYLOAD} now:`, data0_target: ` ${PAYLOAD}`, data0_source: PAYLOAD})}`);
  await promptChips().first().waitFor({timeout: 60_000});
  const sourceText = await page.locator('li.selected .source').textContent();
  const previewText = await page.locator('li.selected .preview').textContent();
  const promptText = (await promptChips().allTextContents()).join('');
  const outputText = (await outputChips().allTextContents()).join('');
  check('payload in source, prompt and target: shown as text',
        sourceText === PAYLOAD && previewText === `Say ${PAYLOAD} now:` && asText(promptText) && asText(outputText) &&
        (await imgElements(page)) === 0, {sourceText, previewText, promptText, outputText});
  await outputChips().last().click();
  await waitForScores(page, 0, 120_000);
  const [htmlDownload] = await Promise.all([page.waitForEvent('download'), control('export-html').click()]);
  const htmlPath = join(outDir, 'xss_view.html');
  await htmlDownload.saveAs(htmlPath);
  const exported = readFileSync(htmlPath, 'utf8');
  check('exported HTML: the payload escaped, never markup',
        exported.includes(`<dd>${ESCAPED}</dd>`) && exported.includes(ESCAPED) && !/<img/i.test(exported),
        exported.match(/<dt>Example<\/dt><dd>[^\n]*/)?.[0]);
  const standalone = await context.newPage();
  await standalone.goto(`file://${htmlPath}`);
  const standaloneText = await standalone.locator('.text').textContent();
  const standaloneSource = await standalone.locator('dd').last().textContent();
  const standaloneXss = await standalone.evaluate(() => window.__xss);
  check('exported HTML opened: the payload is text, nothing ran',
        standaloneXss === undefined && (await imgElements(standalone)) === 0 && standaloneSource === PAYLOAD &&
        asText(standaloneText), {standaloneXss, standaloneSource, standaloneText});
  await standalone.close();

  await control('edit-prompt').fill(`Write ${PAYLOAD} please:`);
  await control('edit-target').fill('');
  await control('add-example').click();
  await promptChips().first().waitFor({timeout: 60_000});
  check('payload in a prompt from the editor: shown as text',
        asText((await promptChips().allTextContents()).join('')) && (await imgElements(page)) === 0 &&
        (await page.locator('li.selected .preview').textContent()) === `Write ${PAYLOAD} please:`);

  // The generation: the server's answer to the generation job is replaced by the payload.
  await page.route('**/seqsal/jobs/*', async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    const result = body.job?.result;
    if (Array.isArray(result) && result[0] && 'response' in result[0]) result[0].response = ` ${PAYLOAD} done.`;
    await route.fulfill({response, json: body});
  });
  jobStarts.length = 0;
  await pane().locator('button.generate').click();
  await outputChips().first().waitFor({timeout: 60_000});
  await page.unroute('**/seqsal/jobs/*');
  const generated = (await outputChips().allTextContents()).join('');
  check('generation runs as a job; a payload in it is shown as text',
        jobStarts.some((j) => j.url.includes(`jobs?model=${group}&`)) && asText(generated) &&
        (await imgElements(page)) === 0, {generated, jobStarts});
  await outputChips().last().click();
  await waitForScores(page, 0, 120_000);

  const xss = await page.evaluate(() => window.__xss);
  check('no payload ran (window.__xss stays undefined)', xss === undefined, {xss});
  const csp = await page.evaluate(() => window.__cspViolations);
  const cspHeader = (await (await fetch(`${url}/`)).headers.get('content-security-policy')) ?? '';
  check("the page keeps to its Content-Security-Policy", csp.length === 0 && /script-src 'self'/.test(cspHeader),
        {csp, cspHeader});
  check('no uncaught errors in the page', pageErrors.length === 0, pageErrors);
  check('no console errors but the expected failed request',
        consoleErrors.every((m) => /status of (400|413)/.test(m)), consoleErrors);
  await page.screenshot({path: join(outDir, 'app_hosted.png')});
} catch (e) {
  await fail(e, join(outDir, 'app_hosted_failure.png'));
}
await finish();
