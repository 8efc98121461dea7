/**
 * `node --import=./test/runner/register.mjs test/x.test.ts` runs the test from its bundle (bundle.mjs).
 *
 * The entry's bundle is imported here, before any loader hook exists: a registered hook runs on a thread of
 * its own, and every module resolved after it is registered costs a round trip there (tap alone is some 200
 * modules), about 0.35 CPU-s per test process. Node then loads the entry itself, which the hook resolves to
 * the bundle already loaded, so it runs once. The hook stays for a .ts file imported later.
 */
import { register } from 'node:module'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { bundleEntries, bundlePath, freshBundle } from './bundle.mjs'

const entry = process.argv[1]?.endsWith('.ts') ? resolve(process.argv[1]) : null
if (entry !== null) {
  if (freshBundle(entry) === null) await bundleEntries([entry])
  const bundle = pathToFileURL(bundlePath(entry)).href
  await import(bundle)
  register('./hooks.mjs', { parentURL: import.meta.url, data: { entry: pathToFileURL(entry).href, bundle } })
} else {
  register('./hooks.mjs', import.meta.url)
}
