// Bundles src/main.jsx (React, the Electric and TanStack DB clients, the push client) into
// dist/app.js with esbuild. `node build.mjs` (run.sh and test/browser/run.sh call it).
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const here = dirname(fileURLToPath(import.meta.url))
await build({
  entryPoints: [join(here, 'src/main.jsx')],
  outfile: join(here, 'dist/app.js'),
  bundle: true,
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  minify: true,
  sourcemap: true,
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
})
console.log('built dist/app.js')
