/**
 * The resolve hook registered by register.mjs: a .ts file of this repository resolves to its bundle
 * (bundle.mjs), made first if it is missing or stale. Only entries reach here as .ts: everything they
 * import from src/ and test/ is inside their bundle. The entry Node was started with comes first, and its
 * bundle, which register.mjs has already loaded, is handed over in `data`.
 */
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ROOT, bundleEntries, bundlePath, freshBundle } from './bundle.mjs'

const ROOT_URL = pathToFileURL(ROOT).href + '/'
/** @type {{ entry: string, bundle: string } | undefined} */
let loaded

export function initialize(data) {
  loaded = data
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context)
  if (!resolved.url.startsWith(ROOT_URL) || !resolved.url.endsWith('.ts') || resolved.url.startsWith(ROOT_URL + 'node_modules/')) return resolved
  if (resolved.url === loaded?.entry) return { url: loaded.bundle, format: 'module', shortCircuit: true }
  const entry = fileURLToPath(resolved.url)
  let bundle = freshBundle(entry)
  if (bundle === null) {
    await bundleEntries([entry])
    bundle = bundlePath(entry)
  }
  return { url: pathToFileURL(bundle).href, format: 'module', shortCircuit: true }
}
