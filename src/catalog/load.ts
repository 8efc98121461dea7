/**
 * Reads bundles/ from disk (the I/O half of the catalog; parse.ts is the pure half). In the builder's
 * single executable there is no package folder: the catalog embedded in it at build time is used instead.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { embeddedFiles } from '../io/embedded.js'
import { packageRoot } from '../io/package-root.js'
import type { Catalog } from './schema.js'
import { type CatalogFiles, parseCatalog } from './parse.js'

/** Re-exported: tests and scripts take it from the catalog loader. */
export { packageRoot }

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

/**
 * The shipped catalog (or `dir`, e.g. --catalog). A SEA uses its embedded copy rather than any bundles/
 * folder that happens to sit near the executable: one executable behaves the same wherever it is copied.
 */
export function loadCatalog(dir?: string): Catalog {
  if (dir === undefined) {
    const embedded = embeddedFiles('catalog')
    if (embedded !== null) return parseCatalog(embedded)
  }
  return parseCatalog(readCatalogFiles(dir ?? defaultBundlesDir()))
}

/** One file of the shipped catalog by its path under bundles/ (embedded in a SEA, else read from disk). */
export function readShippedCatalogFile(name: string): string {
  const embedded = embeddedFiles('catalog')
  if (embedded !== null) {
    const text = embedded[name]
    if (text === undefined) throw new Error(`edgebundle: bundles/${name} is not embedded in this executable`)
    return text
  }
  return readFileSync(join(defaultBundlesDir(), ...name.split('/')), 'utf8')
}
