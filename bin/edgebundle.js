#!/usr/bin/env node
// The `edgebundle` command: runs the bundled CLI that `npm ci` (prepare) or `npm run build` writes to dist/.
import { existsSync } from 'node:fs'

const cli = new URL('../dist/edgebundle.mjs', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write('edgebundle: dist/edgebundle.mjs is missing; run `npm ci` (or `npm run build`) in the project folder first.\n')
  process.exit(2)
}
await import(cli.href)
