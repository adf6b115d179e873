// Bundles the client into build/ (app.js + index.html), which the server serves.
import {copyFileSync, mkdirSync, writeFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build');
mkdirSync(out, {recursive: true});
await esbuild.build({
  entryPoints: [join(root, 'src', 'main.ts')],
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: 'es2022',
  outfile: join(out, 'app.js'),
  logLevel: 'warning',
});
copyFileSync(join(root, 'static', 'index.html'), join(out, 'index.html'));
buildLitFonts(join(out, 'lit-fonts'));
console.log(`Built the lit-seqsal client into ${out}`);

/**
 * The fonts LIT's own client (served at /lit/) asks Google's font servers for,
 * served from here instead, so that its page makes no request to another
 * origin (offline, air-gapped, or a hosted demo that must not hand visitors'
 * addresses to a third party). Google Sans is not free to redistribute:
 * Roboto stands in for it.
 */
function buildLitFonts(dir) {
  mkdirSync(dir, {recursive: true});
  const files = {
    'material-icons.woff2': ['material-icons', 'material-icons-latin-400-normal.woff2'],
    'material-icons-outlined.woff2':
        ['material-icons-outlined', 'material-icons-outlined-latin-400-normal.woff2'],
    'roboto-400.woff2': ['roboto', 'roboto-latin-400-normal.woff2'],
    'roboto-500.woff2': ['roboto', 'roboto-latin-500-normal.woff2'],
    'roboto-700.woff2': ['roboto', 'roboto-latin-700-normal.woff2'],
    'roboto-mono-400.woff2': ['roboto-mono', 'roboto-mono-latin-400-normal.woff2'],
    'share-tech-mono-400.woff2': ['share-tech-mono', 'share-tech-mono-latin-400-normal.woff2'],
  };
  for (const [name, [pkg, file]] of Object.entries(files)) {
    copyFileSync(join(root, 'node_modules', '@fontsource', pkg, 'files', file), join(dir, name));
  }
  for (const pkg of new Set(Object.values(files).map(([p]) => p))) {
    copyFileSync(join(root, 'node_modules', '@fontsource', pkg, 'LICENSE'), join(dir, `LICENSE-${pkg}`));
  }
  const face = (family, file, weight = 400, display = 'swap') =>
    `@font-face {font-family: '${family}'; font-style: normal; font-weight: ${weight};` +
    ` font-display: ${display}; src: url(${file}) format('woff2');}`;
  const icons = (cls, family) =>
    `.${cls} {font-family: '${family}'; font-weight: normal; font-style: normal;` +
    ' font-size: 24px; line-height: 1; letter-spacing: normal; text-transform: none;' +
    ' display: inline-block; white-space: nowrap; word-wrap: normal; direction: ltr;' +
    ' font-feature-settings: \'liga\'; -webkit-font-smoothing: antialiased;}';
  const css = [
    face('Material Icons', 'material-icons.woff2', 400, 'block'),
    face('Google Material Icons', 'material-icons.woff2', 400, 'block'),
    face('Material Icons Outlined', 'material-icons-outlined.woff2', 400, 'block'),
    ...[400, 500, 700].flatMap((w) => [
      face('Roboto', `roboto-${w}.woff2`, w),
      face('Google Sans', `roboto-${w}.woff2`, w),
    ]),
    face('Roboto Mono', 'roboto-mono-400.woff2'),
    face('Share Tech Mono', 'share-tech-mono-400.woff2'),
    icons('material-icons', 'Material Icons'),
    icons('material-icons-outlined', 'Material Icons Outlined'),
  ];
  writeFileSync(join(dir, 'lit-fonts.css'), css.join('\n') + '\n');
}
