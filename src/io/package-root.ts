/**
 * Where the package's own folders are (bundles/, templates/, node_modules). Lowest layer: the catalog,
 * template and executable loaders all read from it.
 */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The project root: the nearest folder above this module holding bundles/ and templates/ (works from src/ and dist/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'bundles', 'matrix.yaml')) && existsSync(join(dir, 'templates'))) return dir
    const parent = dirname(dir)
    if (parent === dir) throw new Error('edgebundle: cannot find its bundles/ folder above ' + fileURLToPath(import.meta.url))
    dir = parent
  }
}
