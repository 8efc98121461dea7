/**
 * Writes bundles/schema/*.schema.json from the zod schemas in src/catalog/schema.ts, so editors validate
 * bundles/*.yaml as you type. `npm run schema` regenerates; a test fails when the files are stale.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { defaultBundlesDir } from '../src/catalog/load.js'
import { catalogJsonSchemas } from '../src/catalog/json-schema.js'

const dir = join(defaultBundlesDir(), 'schema')
mkdirSync(dir, { recursive: true })
for (const [name, text] of Object.entries(catalogJsonSchemas())) {
  writeFileSync(join(dir, name), text)
  console.log(`wrote bundles/schema/${name}`)
}
