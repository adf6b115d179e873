// Bundles the client into build/ (app.js + index.html), which the server serves.
import {copyFileSync, mkdirSync} from 'node:fs';
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
console.log(`Built the lit-seqsal client into ${out}`);
