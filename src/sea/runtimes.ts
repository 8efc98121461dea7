/**
 * What the executable build derives from a platform of bundles/node-runtimes.yaml (file names, the
 * platform of a target). The file's schema, parser and loader are catalog data: src/catalog/node-runtimes.ts,
 * re-exported here for the executable build's callers.
 */
import { BUNDLE } from '../model/layout.js'
import type { Arch, OsFamily } from '../model/target.js'
import { EXE_PLATFORMS, type ExePlatform } from '../catalog/node-runtimes.js'

export {
  EXE_PLATFORMS,
  type ExePlatform,
  NODE_RUNTIMES_FILE,
  type NodePackage,
  type NodeRuntimes,
  type PlatformRuntime,
  isPackaged,
  loadNodeRuntimes,
  nodeRuntimesSchema,
  parseNodeRuntimes,
} from '../catalog/node-runtimes.js'

export function withVersion(text: string, version: string): string {
  return text.replaceAll('{version}', version)
}

export function exePlatform(family: OsFamily, arch: Arch): ExePlatform {
  const platform = `${family}/${arch}`
  if (!(EXE_PLATFORMS as readonly string[]).includes(platform)) throw new Error(`internal: no installer executable for ${platform}`)
  return platform as ExePlatform
}

export function familyOf(platform: ExePlatform): OsFamily {
  return platform.startsWith('windows/') ? 'windows' : 'linux'
}

/** `install` or `install.exe`: the bundle layout's name, which is also what the cache stores. */
export function executableName(platform: ExePlatform): string {
  return BUNDLE.installExe[familyOf(platform)]
}

/** The name of the Node binary in the cache: Windows needs the .exe for wine and for postject's copy. */
export function nodeBinaryName(platform: ExePlatform): string {
  return familyOf(platform) === 'windows' ? 'node.exe' : 'node'
}

/** "linux/arm64" → "linux-arm64", for file names. */
export function platformSlug(platform: ExePlatform): string {
  return platform.replace('/', '-')
}

/**
 * Parses a --node-binary key: an architecture alone means Linux ("arm", "arm64", "amd64"), or a full
 * platform ("linux/arm", "windows/amd64"). Null when it names no platform.
 */
export function parsePlatformKey(key: string): ExePlatform | null {
  const full = key.includes('/') ? key : `linux/${key}`
  return (EXE_PLATFORMS as readonly string[]).includes(full) ? (full as ExePlatform) : null
}
