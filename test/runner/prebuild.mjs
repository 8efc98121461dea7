/**
 * Bundles every test file and every script a test starts with `node` in one esbuild run, before tap
 * starts them side by side (bundle.mjs). Run by `npm test`; prints how many bundles were made.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { CHILD_SCRIPTS, ROOT, bundleEntries, freshBundle } from './bundle.mjs'

const testFiles = readdirSync(join(ROOT, 'test'), { recursive: true, encoding: 'utf8' })
  .filter((name) => name.endsWith('.test.ts'))
  .map((name) => join('test', name))
const entries = [...testFiles, ...CHILD_SCRIPTS].map((name) => join(ROOT, name))
const stale = entries.filter((entry) => freshBundle(entry) === null)
const started = performance.now()
await bundleEntries(stale)
console.log(`test bundles: ${stale.length} made, ${entries.length - stale.length} unchanged (${Math.round(performance.now() - started)} ms)`)
