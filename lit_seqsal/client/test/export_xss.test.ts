import assert from 'node:assert/strict';
import {readFileSync, readdirSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'node:test';

import {textColorFor} from '../src/colors.js';
import {viewToHtml, viewToJson} from '../src/export.js';
import type {ExportedView} from '../src/export.js';
import {exportedView, paneSegments, paneView} from '../src/pane_view.js';
import {DEFAULT_SETTINGS} from '../src/settings.js';

// User text (prompts, targets, sources, model output) is never markup.
const PAYLOAD = '<img src=x onerror=alert(1)>';
const ESCAPED = '&lt;img src=x onerror=alert(1)&gt;';

const PAGE_TAGS = new Set(['!DOCTYPE', 'html', 'head', 'meta', 'title', 'style', 'body', 'h1', 'dl', 'dt', 'dd', 'div', 'span', 'p']);

/** Only the page's own elements, and no attribute that runs code (text may say anything). */
function assertInert(page: string) {
  for (const [tag, name, attrs] of page.matchAll(/<\/?([a-zA-Z!][\w-]*)([^>]*)>/g)) {
    assert.ok(PAGE_TAGS.has(name), `unexpected element ${tag}`);
    const unquoted = attrs.replace(/"[^"]*"/g, '""');
    assert.doesNotMatch(unquoted, /\bon\w+\s*=|'|src\s*=|href\s*=/i, `attribute outside its quotes in ${tag}`);
  }
}

test('HTML export: a payload in the prompt, the source and the output is text', () => {
  // Tokens as the server gives them (▁ marks a word start): the payload in prompt and output.
  const tokens = ['<bos>', '▁Say', ':', '▁<img', '▁src=x', '▁onerror=alert(1)>',
                  '▁Sure', ':', '▁<img', '▁src=x', '▁onerror=alert(1)>', '.'];
  const t = {tokens, promptLength: 6};
  const segments = paneSegments(t, 'sentences');
  const scores = tokens.map((_, i) => (i % 3) / 3);
  const selection = {anchor: segments.output.length - 1, focus: segments.output.length - 1};
  const view = exportedView(paneView(segments, scores, selection, false), {
    model: 'tiny', settings: {...DEFAULT_SETTINGS, granularity: 'sentences'}, source: `${PAYLOAD} source`,
    prompt: ` Say: ${PAYLOAD}`, output: ` Sure: ${PAYLOAD}.`, selectionText: ` Sure: ${PAYLOAD}.`});
  const promptText = view.segments.filter((s) => s.role === 'prompt').map((s) => s.text).join('');
  const outputText = view.segments.filter((s) => s.role === 'output').map((s) => s.text).join('');
  assert.equal(promptText, ` Say: ${PAYLOAD}`);
  assert.equal(outputText, ` Sure: ${PAYLOAD}.`);
  const page = viewToHtml(view, textColorFor);
  assertInert(page);
  assert.ok(page.includes(`<dd>${ESCAPED} source</dd>`), 'the source');
  assert.ok(page.includes(`<dd> Sure: ${ESCAPED}.</dd>`), 'the explained output');
  assert.ok(page.includes(`<title>Sequence salience: Sure: ${ESCAPED}.</title>`));
  const chips = [...page.matchAll(/<span class="seg (prompt|output)[^"]*"[^>]*>([^<]*)<\/span>/g)];
  assert.equal(chips.map((m) => m[2]).join(''), ` Say: ${ESCAPED} Sure: ${ESCAPED}.`, 'every chip escaped');
  // JSON export keeps the text as it is (it is data).
  assert.equal(JSON.parse(viewToJson(view)).source, `${PAYLOAD} source`);
});

test('HTML export: attribute values cannot be broken out of', () => {
  const quote = '" onmouseover="alert(1)';
  const view: ExportedView = {
    model: `m${quote}`, view: 'plain', foil: null, method: `grad_l2${quote}`, granularity: 'custom',
    pattern: `</style>${PAYLOAD}`, legendText: {caption: `grad_l2${quote}`, explanation: PAYLOAD},
    prompt: quote, output: quote, source: `'${quote}`,
    selection: {text: quote, firstSegment: 0, lastSegment: 0}, scaleMax: 1, signed: false,
    legend: [{value: 0, color: 'rgb(255, 255, 255)'}],
    segments: [{role: 'prompt', text: quote, score: 0.5, color: 'rgb(66, 146, 198)', selected: false},
               {role: 'output', text: PAYLOAD, score: null, color: 'rgb(255, 255, 255)', selected: true}],
  };
  const page = viewToHtml(view, textColorFor);
  assertInert(page);
  assert.ok(page.includes('title="grad_l2&quot; onmouseover=&quot;alert(1): 0.5"'));
  assert.ok(page.includes(`custom /&lt;/style&gt;${ESCAPED}/`));
  assert.equal((page.match(/<\/style>/g) ?? []).length, 1, 'only the page\'s own style element ends');
});

test('no component renders text as HTML', () => {
  const dir = join(process.cwd(), 'src');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(dir, file), 'utf8');
    assert.doesNotMatch(source, /unsafeHTML|unsafeSVG|innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(/,
                        `${file} must not turn text into markup or code`);
  }
});
