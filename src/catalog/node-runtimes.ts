/**
 * bundles/node-runtimes.yaml: the one pinned Node.js version the installer executables are built on,
 * and per platform the npm package that carries its binary with the registry's integrity hash. Validated
 * with zod like the rest of bundles/ (src/catalog/schema.ts), loaded from the package folder or, in the
 * builder's own single executable, from its embedded catalog. Catalog data, so it lives with the catalog;
 * src/sea/runtimes.ts adds what the executable build derives from a platform.
 */
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { CatalogError } from '../model/errors.js'
import { readShippedCatalogFile } from './load.js'
export const NODE_RUNTIMES_FILE = 'node-runtimes.yaml'

/** Platforms an installer executable is built for, named like the catalog's platform keys. */
export const EXE_PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/arm', 'windows/amd64'] as const
export type ExePlatform = (typeof EXE_PLATFORMS)[number]

/** npm's Subresource Integrity string: sha512 and 64 bytes of base64. */
const integrity = z
  .string()
  .regex(/^sha512-[A-Za-z0-9+/]{86}==$/, 'expected the registry\'s dist.integrity, "sha512-<base64>"')
  .describe('`npm view <package>@<version> dist.integrity`')

const availableSchema = z.strictObject({
  package: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]*$/, 'an unscoped npm package name')
    .describe('The npm package holding the Node binary.'),
  binary: z.enum(['bin/node', 'bin/node.exe']).describe('The binary inside the package (under package/ in its tarball).'),
  integrity,
})

const unavailableSchema = z.strictObject({
  unavailable: z.string().min(1).describe('Why no npm package serves this platform; {version} is replaced.'),
  provide: z.string().min(1).describe('What the user gives instead (--node-binary); {version} is replaced.'),
})

export const nodeRuntimesSchema = z.strictObject({
  version: z.string().regex(/^\d+\.\d+\.\d+$/, 'an exact version such as 22.23.3'),
  platforms: z.strictObject(
    Object.fromEntries(EXE_PLATFORMS.map((platform) => [platform, z.union([availableSchema, unavailableSchema])])) as Record<
      ExePlatform,
      z.ZodUnion<[typeof availableSchema, typeof unavailableSchema]>
    >,
  ),
})

export type NodePackage = z.infer<typeof availableSchema>
export type NodeRuntimes = z.infer<typeof nodeRuntimesSchema>
export type PlatformRuntime = NodePackage | z.infer<typeof unavailableSchema>

export function isPackaged(entry: PlatformRuntime): entry is NodePackage {
  return 'package' in entry
}

/** Parses and validates the text of node-runtimes.yaml. */
export function parseNodeRuntimes(text: string, file = `bundles/${NODE_RUNTIMES_FILE}`): NodeRuntimes {
  let data: unknown
  try {
    data = parseYaml(text, { prettyErrors: true, uniqueKeys: true })
  } catch (error) {
    throw new CatalogError(`${file} is invalid`, [`not valid YAML: ${(error as Error).message.split('\n')[0]}`])
  }
  const result = nodeRuntimesSchema.safeParse(data)
  if (!result.success) {
    throw new CatalogError(`${file} is invalid`, result.error.issues.map((issue) => `${issue.path.join('.') || '(top)'}: ${issue.message}`))
  }
  const runtimes = result.data
  // The blob is made by the linux-x64 node of the pinned version: without it no platform can be built.
  if (!isPackaged(runtimes.platforms['linux/amd64'])) throw new CatalogError(`${file} is invalid`, ['platforms.linux/amd64: must name a package (it makes every SEA blob)'])
  return runtimes
}

/** The shipped node-runtimes.yaml. */
export function loadNodeRuntimes(): NodeRuntimes {
  return parseNodeRuntimes(readShippedCatalogFile(NODE_RUNTIMES_FILE))
}
