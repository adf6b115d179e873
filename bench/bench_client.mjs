// Browser benchmark of the lit-seqsal client: a 2,000-token prompt, timed in
// Debian's chromium. The server is simulated (page.route answers LIT's API
// with synthetic tokens and scores), so only the client's own work is timed:
// rendering the view once scores are there, and re-aggregating + re-rendering
// after a granularity or method change (all salience already cached), each
// with the ranked list of segments beside the text (ranked_list.ts), and a
// click on a ranked entry (scroll to its chip and flash it).
//
// usage: node bench/bench_client.mjs [--tokens 2000] [--repeats 7]
// Needs the built client (make client) and tests/browser's playwright-core.
import {existsSync, readFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const {chromium} = await import(pathToFileURL(join(root, 'tests/browser/node_modules/playwright-core/index.mjs')).href);
const {CHROMIUM_ARGS} = await import(pathToFileURL(join(root, 'tests/browser/chromium_args.mjs')).href);
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const NUM_TOKENS = option('--tokens', 2000);
const REPEATS = option('--repeats', 7);
const BUDGET_MS = 100;
const build = join(root, 'lit_seqsal/client/build');
if (!existsSync(join(build, 'app.js'))) throw new Error(`No built client in ${build}: run make client.`);

// Synthetic prompt: words, sentences, lines and paragraphs, as Gemma-style pieces.
const words = ['▁The', '▁menu', '▁has', '▁onion', '▁soup', ',', '▁which', '▁you', '▁don', "'", 't', '▁like', '.'];
const promptTokens = ['<bos>'];
for (let i = 0; promptTokens.length < NUM_TOKENS; i++) {
  promptTokens.push(words[i % words.length]);
  if (i % 40 === 39) promptTokens.push(i % 200 === 199 ? '\n\n' : '\n');
}
const outputTokens = ['▁Recommendation', ':', '▁Avoid', '.', '\n', '▁It', '▁has', '▁onions', '.'];
const tokens = [...promptTokens, ...outputTokens];
let seed = 1;
const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
const scoresFor = () => ({
  grad_l2: tokens.map(() => random()),
  grad_dot_input: tokens.map(() => random() * 2 - 1),
});
const prompt = promptTokens.slice(1).join('').replace(/▁/g, ' ');
const target = outputTokens.join('').replace(/▁/g, ' ');
const tokenScores = {__name__: 'TokenScores', __class__: 'LitType'};
const info = {
  models: {
    bench: {spec: {input: {}, output: {}}, datasets: ['bench']},
    _bench_salience: {spec: {input: {}, output: {tokens: {__name__: 'Tokens'}, grad_l2: tokenScores, grad_dot_input: tokenScores}}, datasets: ['bench']},
    _bench_tokenizer: {spec: {input: {}, output: {tokens: {__name__: 'Tokens'}}}, datasets: ['bench']},
  },
  datasets: {bench: {}},
  layouts: {left_right: {left: {Examples: ['data-table-module']}, upper: {Salience: ['sequence-salience-module']}}},
  defaultLayout: 'left_right',
};

const browser = await chromium.launch({executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: CHROMIUM_ARGS});
try {
  const page = await browser.newPage({viewport: {width: 1600, height: 1000}});
  await page.route('http://bench.local/**', async (route) => {
    const url = new URL(route.request().url());
    const path = url.pathname;
    const json = (body) => route.fulfill({contentType: 'application/json', body: JSON.stringify(body)});
    if (path === '/get_info') return json(info);
    if (path === '/get_dataset') return json([{id: 'ex', data: {prompt, target, source: 'long-prompt'}, meta: {}}]);
    if (path === '/get_preds') {
      const {inputs} = JSON.parse(route.request().postData());
      const model = url.searchParams.get('model');
      if (model === '_bench_tokenizer') {
        return json(inputs.map((ex) => ({tokens: ex.data.target ? tokens : promptTokens})));
      }
      return json(inputs.map(() => ({tokens, ...scoresFor()})));
    }
    // Not a plain LIT server's: /seqsal/info and the like answer 404, as from LIT.
    if (path.startsWith('/seqsal/')) return route.fulfill({status: 404, contentType: 'application/json', body: '{}'});
    const file = join(build, path === '/' ? 'index.html' : path.slice(1));
    return route.fulfill({body: readFileSync(file), contentType: file.endsWith('.js') ? 'text/javascript' : 'text/html'});
  });
  await page.goto('http://bench.local/');
  await page.locator('seqsal-salience-pane .seg[data-role=prompt]').first().waitFor({timeout: 60_000});

  // Times one change: from the state change to the end of the next frame after lit re-rendered.
  const timeChange = (change) => page.evaluate(async (change) => {
    const module = document.querySelector('seqsal-app').shadowRoot.querySelector('seqsal-salience-module');
    const pane = module.shadowRoot.querySelector('seqsal-salience-pane');
    const start = performance.now();
    if (change.settings) module.settings = {...module.settings, ...change.settings};
    if (change.select !== undefined) pane.select(change.select, change.select, false);
    const ranked = () => pane.renderRoot.querySelector('seqsal-ranked-list');
    if (change.reveal) ranked().renderRoot.querySelector('[data-testid=ranked-entry]').click();
    await module.updateComplete;
    await pane.updateComplete;
    await ranked()?.updateComplete;
    while (pane.status) await new Promise((r) => setTimeout(r, 0));  // scores arrive from the cache
    // Warming up: the other segments are prefetched behind the selection (prefetch.ts); wait for them.
    while (change.settle && pane.prefetch?.running) await new Promise((r) => setTimeout(r, 5));
    await pane.updateComplete;
    await ranked()?.updateComplete;
    pane.renderRoot.querySelector('.text').getBoundingClientRect();  // force layout
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));  // and paint
    return {ms: performance.now() - start, chips: pane.renderRoot.querySelectorAll('.seg').length,
            ranked: ranked()?.renderRoot.querySelectorAll('li').length ?? 0};
  }, change);

  // Warm the caches: every granularity fetched once (simulated server, instant), prefetch included.
  await timeChange({select: 0, settle: true});
  for (const granularity of ['tokens', 'words', 'sentences', 'lines', 'paragraphs']) {
    await timeChange({settings: {granularity}, settle: true});
    await timeChange({select: 0, settle: true});
  }
  const cases = [
    ['render: select an output segment (tokens)', [{settings: {granularity: 'tokens'}}], {select: 1}, {select: 0}],
    ['granularity: tokens -> words', [{settings: {granularity: 'tokens'}}], {settings: {granularity: 'words'}}],
    ['granularity: words -> sentences', [{settings: {granularity: 'words'}}], {settings: {granularity: 'sentences'}}],
    ['granularity: sentences -> tokens', [{settings: {granularity: 'sentences'}}], {settings: {granularity: 'tokens'}}],
    ['method: grad_l2 -> grad_dot_input (tokens)', [{settings: {granularity: 'tokens', method: 'grad_l2'}}], {settings: {method: 'grad_dot_input'}}],
    ['ranked list: click an entry (tokens)', [{settings: {granularity: 'tokens'}}], {reveal: true}],
    ['intensity (tokens)', [{settings: {granularity: 'tokens', intensity: 0.5}}], {settings: {intensity: 0.8}}],
  ];
  console.log(`lit-seqsal client, ${NUM_TOKENS}-token prompt, Debian chromium headless, median of ${REPEATS}.`);
  console.log(`Ratio: median / ${BUDGET_MS} ms budget (below 1.00 is within budget).`);
  console.log(`${'change'.padEnd(46)} ${'chips'.padStart(6)} ${'ranked'.padStart(7)} ${'median ms'.padStart(10)} ${'max ms'.padStart(8)} ${'ratio'.padStart(6)}`);
  for (const [name, setup, change, undo] of cases) {
    const times = [];
    let chips = 0, ranked = 0;
    for (let i = 0; i < REPEATS; i++) {
      for (const s of setup) await timeChange(s);
      if (undo) await timeChange(undo);
      const r = await timeChange(change);
      times.push(r.ms);
      chips = r.chips;
      ranked = r.ranked;
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    console.log(`${name.padEnd(46)} ${String(chips).padStart(6)} ${String(ranked).padStart(7)} ${median.toFixed(1).padStart(10)} ${times.at(-1).toFixed(1).padStart(8)} ${(median / BUDGET_MS).toFixed(2).padStart(6)}`);
  }
} finally {
  await browser.close();
}
