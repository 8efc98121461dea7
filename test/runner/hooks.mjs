/**
 * The resolve hook registered by register.mjs: a .ts file of this repository resolves to its bundle
 * (bundle.mjs), made first if it is missing or stale. Only entries reach here as .ts: everything they
 * import from src/ and test/ is inside their bundle.
 */
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ROOT, bundleEntries, bundlePath, freshBundle } from './bundle.mjs'

const ROOT_URL = pathToFileURL(ROOT).href + '/'

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context)
  if (!resolved.url.startsWith(ROOT_URL) || !resolved.url.endsWith('.ts') || resolved.url.startsWith(ROOT_URL + 'node_modules/')) return resolved
  const entry = fileURLToPath(resolved.url)
  let bundle = freshBundle(entry)
  if (bundle === null) {
    await bundleEntries([entry])
    bundle = bundlePath(entry)
  }
  return { url: pathToFileURL(bundle).href, format: 'module', shortCircuit: true }
}
