/**
 * Files the builder's own single executable (`npm run build:exe` → dist/edgebundle-linux-x64) carries as
 * SEA assets. A SEA has no package folder around it, so bundles/ and templates/ travel inside it, and so
 * do the installer script and postject, which the builder otherwise finds in the source tree and
 * node_modules. Outside a SEA every function here answers null and callers read the package folder.
 *
 * Deliberately tiny (node:sea only): the catalog and template loaders import it.
 */
import { getAsset, isSea } from 'node:sea'

export const SEA_ASSETS = {
  /** JSON: bundles/ as { "<path under bundles/>": "<yaml text>" }. */
  catalog: 'catalog.json',
  /** JSON: templates/ as { "<path under templates/>": "<text>" }. */
  templates: 'templates.json',
  /** The bundled installer (CommonJS), ready to become an installer executable's SEA main script. */
  installer: 'installer.cjs',
  /** postject's API (one self-contained CommonJS file), run by a child node to inject blobs. */
  postject: 'postject-api.js',
} as const
export type SeaAssetKey = keyof typeof SEA_ASSETS

/** Whether this process is a Node single executable application. */
export function runningAsSea(): boolean {
  try {
    return isSea()
  } catch {
    // node:sea exists but SEA support can be compiled out of a Node build; such a process is no SEA.
    return false
  }
}

/** An embedded asset as text, or null when not running as a SEA (or the executable lacks it). */
export function embeddedText(key: SeaAssetKey): string | null {
  if (!runningAsSea()) return null
  try {
    return getAsset(SEA_ASSETS[key], 'utf8')
  } catch {
    return null
  }
}

/** An embedded file set (catalog, templates) as name → text, or null outside a SEA. */
export function embeddedFiles(key: 'catalog' | 'templates'): Record<string, string> | null {
  const text = embeddedText(key)
  return text === null ? null : (JSON.parse(text) as Record<string, string>)
}
