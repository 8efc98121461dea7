// Bundles the builder CLI into dist/edgebundle.mjs (run by `npm ci` through the prepare script).
import { readFileSync } from 'node:fs'
import { build } from 'esbuild'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))

await build({
  entryPoints: [new URL('../src/cli/entry.ts', import.meta.url).pathname],
  outfile: new URL('../dist/edgebundle.mjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  define: { EDGEBUNDLE_VERSION: JSON.stringify(pkg.version) },
  // Bundled CommonJS dependencies (handlebars) call require() for Node built-ins.
  banner: { js: "import { createRequire as __edgebundleCreateRequire } from 'node:module'; const require = __edgebundleCreateRequire(import.meta.url);" },
})
