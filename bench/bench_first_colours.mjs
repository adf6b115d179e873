// Time to first colours on a long prompt, in Debian's headless chromium against
// a real server: a prompt of about --tokens tokens and an output of
// --sentences sentences (given as the target, so no generation is timed), at
// the Sentences granularity. Per repeat, on a fresh prompt (a number changes,
// so no cache helps):
//   alone:     one POST /get_preds for the clicked sentence's span alone, sent
//              from node (the same computation as the click asks for), on a
//              twin of the prompt that differs in one digit;
//   first:     from the click on that sentence in the page to its colours
//              (legend shown, no status);
//   all:       from the click until the other sentences are prefetched;
//   all-at-once (--all-at-once): one request for every sentence, as the
//              client asked before it prefetched (another twin).
// Ratio: first / alone (goal: at most 1.2).
//
// usage: node bench/bench_first_colours.mjs [--tokens 3600] [--sentences 6] [--repeats 3]
//          [--url http://127.0.0.1:5432 --group NAME | --models gemma:bundled] [--all-at-once]
// Without --url it starts the demo server (.venv/bin/python -m lit_seqsal.demos.lm_salience)
// on a free port with --models (default gemma:bundled) and stops it at the end.
// Needs the built client (make client) and tests/browser's playwright-core.
import {spawn} from 'node:child_process';
import {existsSync} from 'node:fs';
import {createServer} from 'node:net';
import {dirname, join} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const {chromium} = await import(pathToFileURL(join(root, 'tests/browser/node_modules/playwright-core/index.mjs')).href);
const {CHROMIUM_ARGS} = await import(pathToFileURL(join(root, 'tests/browser/chromium_args.mjs')).href);
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const TOKENS = Number(option('--tokens', 3600));
const SENTENCES = Number(option('--sentences', 6));
const REPEATS = Number(option('--repeats', 3));
const ALL_AT_ONCE = args.includes('--all-at-once');
let url = option('--url', '');
const MODELS = option('--models', 'gemma:bundled');
let group = option('--group', MODELS.split(':')[0]);
if (!existsSync(join(root, 'lit_seqsal/client/build/app.js'))) throw new Error('No built client: run make client.');

const post = async (path, body) => {
  const response = await fetch(`${url}${path}`, {method: 'POST', body: JSON.stringify(body)});
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${(await response.text()).slice(0, 300)}`);
  return response.json();
};
const freePort = () => new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const {port} = server.address();
    server.close(() => resolve(port));
  });
});

let server;
if (!url) {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const python = existsSync(join(root, '.venv/bin/python')) ? join(root, '.venv/bin/python') : 'python3';
  server = spawn(python, ['-m', 'lit_seqsal.demos.lm_salience', `--port=${port}`, `--models=${MODELS}`],
                 {cwd: root, stdio: ['ignore', 'ignore', 'pipe']});
  let log = '';
  server.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
  for (let i = 0; ; i++) {
    if (server.exitCode !== null) throw new Error(`the server exited:\n${log}`);
    try {
      await post('/get_info', {});
      break;
    } catch {
      if (i > 1800) throw new Error(`the server did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

// A report-like prompt: numbered findings, padded to about TOKENS tokens.
const FINDINGS = [
  'The kitchen reported that the onion soup sold out twice this week, mostly to regular guests.',
  'Several guests who dislike garlic asked whether the sauce could be made without it.',
  'The pastry section tried a new leaven for the baguette and the feedback was warm.',
  'Two tables mentioned that the quiche is heavy on eggs and cheese for a light lunch.',
  'Supplier prices for cream rose by eight percent, which affects the desserts.',
  'The new seasonal menu will add a lentil salad and remove the duck confit.',
];
const OUTPUT_SENTENCES = [
  'Recommendation: keep the onion soup on the menu.', 'Offer a garlic-free sauce on request.',
  'Keep the new leaven for the baguette.', 'Suggest the lentil salad to guests who want a light lunch.',
  'Raise the dessert prices slightly.', 'Review the quiche recipe next month.',
  'Train the staff on the new dishes.', 'Report back after two weeks.',
];
async function promptOf(run, tokens) {
  const lines = [`Weekly restaurant report ${run}.`, ''];
  let prompt = '';
  for (let i = 0; ; i++) {
    lines.push(`Finding ${i + 1}: ${FINDINGS[i % FINDINGS.length]}`);
    // Measured after each finding once near the goal (about 20 tokens each on Gemma).
    if (i * 18 >= tokens * 0.8 || i % 20 === 19 || tokens < 400) {
      prompt = `${lines.join('\n')}\n\nSummary and recommendations:`;
      const [{tokens: t}] = await post(`/get_preds?model=_${group}_tokenizer`, {inputs: [{id: 'p', data: {prompt}, meta: {}}]});
      if (t.length >= tokens) return {prompt, tokens: t.length};
    }
  }
}
const target = ' ' + OUTPUT_SENTENCES.slice(0, SENTENCES).join(' ');

/** The target mask of output sentence `k` (as the client explains it: its tokens, trailing space left out). */
async function sentenceMask(prompt, k) {
  const [both, alone] = await post(`/get_preds?model=_${group}_tokenizer`, {inputs: [
    {id: 'a', data: {prompt, target}, meta: {}}, {id: 'b', data: {prompt}, meta: {}}]}).then((r) => [r[0].tokens, r[1].tokens]);
  let start = 0;
  while (start < alone.length && alone[start] === both[start]) start++;
  // Sentence ends: a token ending with '.' in the output.
  const ends = [];
  for (let i = start; i < both.length; i++) if (/\.$/.test(both[i])) ends.push(i + 1);
  const from = k === 0 ? start : ends[k - 1];
  const mask = new Array(both.length).fill(0);
  for (let i = from; i < ends[k]; i++) mask[i] = 1;
  return {mask, tokens: both.length};
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const browser = await chromium.launch({executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: CHROMIUM_ARGS});
const rows = [];
try {
  // The model's first calls pay one-time costs (allocations, kernels): one pass on a
  // long prompt first, timed by no one.
  const warm = await promptOf(`warm-up ${Date.now() % 100000}`, Math.min(TOKENS, 512));
  const warmMask = await sentenceMask(warm.prompt, 0);
  await post(`/get_preds?model=_${group}_salience`, {inputs: [
    {id: 'w', data: {prompt: warm.prompt, target, target_mask: warmMask.mask}, meta: {}}]});
  const k = SENTENCES - 1;  // the last sentence: the longest context
  for (let run = 1; run <= REPEATS; run++) {
    const {prompt, tokens} = await promptOf(`${run}${Date.now() % 100000}`, TOKENS);
    // The twin: the same prompt but one digit, so the server has nothing cached for it.
    const twin = prompt.replace(/report (\d)/, (_, d) => `report ${(Number(d) + 1) % 10}`);
    const {mask} = await sentenceMask(twin, k);
    let t = performance.now();
    await post(`/get_preds?model=_${group}_salience`, {inputs: [{id: 'q0', data: {prompt: twin, target, target_mask: mask}, meta: {}}]});
    const alone = (performance.now() - t) / 1000;
    let allAtOnce;
    if (ALL_AT_ONCE) {
      const other = prompt.replace(/report (\d)/, (_, d) => `report ${(Number(d) + 2) % 10}`);
      const masks = await Promise.all(Array.from({length: SENTENCES}, (_, i) => sentenceMask(other, i)));
      t = performance.now();
      await post(`/get_preds?model=_${group}_salience`, {inputs: masks.map(({mask: m}, i) => ({
        id: `q${i}`, data: {prompt: other, target, target_mask: m}, meta: {}}))});
      allAtOnce = (performance.now() - t) / 1000;
    }

    const page = await browser.newPage({viewport: {width: 1440, height: 1000}});
    await page.goto(`${url}/?${new URLSearchParams({models: group, data0_prompt: prompt, data0_target: target})}`);
    const pane = page.locator('seqsal-salience-pane').first();
    await pane.locator('.seg[data-role=output]').first().waitFor({timeout: 600_000});
    await page.locator('[data-testid=granularity]').selectOption('sentences');
    await page.waitForFunction((n) => document.querySelector('seqsal-app').shadowRoot.querySelector('seqsal-salience-module')
        .shadowRoot.querySelector('seqsal-salience-pane').shadowRoot.querySelectorAll('[data-role=output]').length === n,
                                SENTENCES, {timeout: 60_000});
    // Timed in the page: from the mouse button going down on the sentence to the frame that shows its
    // colours (scores in, no status), and to the end of the prefetch.
    const timing = page.evaluate(() => new Promise((resolve, reject) => {
      const p = document.querySelector('seqsal-app').shadowRoot.querySelector('seqsal-salience-module')
          .shadowRoot.querySelector('seqsal-salience-pane');
      let start = 0, first = 0;
      p.shadowRoot.addEventListener('mousedown', () => { start = performance.now(); }, {capture: true, once: true});
      const poll = () => {
        if (p.error) return reject(new Error(p.error));
        if (start && !first && p.scores && !p.status) first = performance.now();
        if (first && p.prefetch && !p.prefetch.running) return resolve({first: first - start, all: performance.now() - start});
        requestAnimationFrame(poll);
      };
      poll();
    }));
    await pane.locator('.seg[data-role=output]').nth(k).click();
    const {first: firstMs, all: allMs} = await timing;
    const first = firstMs / 1000;
    const all = allMs / 1000;
    await page.close();
    rows.push({tokens, alone, first, all, allAtOnce});
    console.error(`run ${run}: ${JSON.stringify(rows.at(-1))}`);
  }
} finally {
  await browser.close();
  server?.kill();
}

console.log(`lit-seqsal client, time to first colours: ${group}, ~${rows[0]?.tokens} tokens, ${SENTENCES} output ` +
            `sentences, the last one clicked; Debian chromium headless; ${REPEATS} runs (median).`);
console.log('alone: one salience request for that span, from node; first: click to its colours in the page; ' +
            'all: click until every sentence is prefetched.');
const f = (x) => (x === undefined ? '–' : `${x.toFixed(2)} s`);
const header = ['tokens', 'alone', 'first', 'first / alone', 'all prefetched', ...(ALL_AT_ONCE ? ['all at once (before)'] : [])];
console.log(header.join(' | '));
for (const r of rows) {
  console.log([r.tokens, f(r.alone), f(r.first), (r.first / r.alone).toFixed(2), f(r.all),
               ...(ALL_AT_ONCE ? [f(r.allAtOnce)] : [])].join(' | '));
}
const m = (key) => median(rows.map((r) => r[key]));
console.log(['median', f(m('alone')), f(m('first')), (m('first') / m('alone')).toFixed(2), f(m('all')),
             ...(ALL_AT_ONCE ? [f(m('allAtOnce'))] : [])].join(' | '));
