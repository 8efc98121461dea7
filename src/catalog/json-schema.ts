/** JSON Schema (draft 2020-12) for each catalog file, generated from the zod schemas. */
import { z } from 'zod'
import { nodeRuntimesSchema } from './node-runtimes.js'
import { componentsSchema, kubeedgeSchema, matrixSchema, platformsSchema, runtimeSchema } from './schema.js'

export function catalogJsonSchemas(): Record<string, string> {
  const schemas = {
    'platforms.schema.json': platformsSchema,
    'kubeedge.schema.json': kubeedgeSchema,
    'components.schema.json': componentsSchema,
    'matrix.schema.json': matrixSchema,
    'runtime.schema.json': runtimeSchema,
    'node-runtimes.schema.json': nodeRuntimesSchema,
  }
  return Object.fromEntries(
    Object.entries(schemas).map(([name, schema]) => [name, `${JSON.stringify(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }), null, 2)}\n`]),
  )
}
