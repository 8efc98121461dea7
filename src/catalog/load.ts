/** Reads bundles/ from disk (the I/O half of the catalog; parse.ts is the pure half). */
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Catalog } from './schema.js'
import { type CatalogFiles, parseCatalog } from './parse.js'

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

export function defaultBundlesDir(): string {
  return join(packageRoot(), 'bundles')
}

export function readCatalogFiles(dir: string): CatalogFiles {
  const files: CatalogFiles = {}
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.isFile() && entry.name.endsWith('.yaml')) files[relative(dir, path).split('\\').join('/')] = readFileSync(path, 'utf8')
    }
  }
  walk(dir)
  return files
}

export function loadCatalog(dir: string = defaultBundlesDir()): Catalog {
  return parseCatalog(readCatalogFiles(dir))
}
