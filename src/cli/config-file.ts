/** --config FILE: the same options as the flags, in YAML or TOML; flags win. */
import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { UsageError } from '../model/errors.js'
import type { RawRequest } from '../resolve/request.js'

const text = z.string().min(1)
const scalar = z.union([z.string(), z.number()]).transform(String)

/** Keys are the long flag names. Unknown keys are errors: a typo must not silently fall back to a default. */
export const configFileSchema = z.strictObject({
  os: text.optional(),
  arch: text.optional(),
  runtime: text.optional(),
  'kubeedge-version': scalar.optional(),
  'cgroup-driver': text.optional(),
  'pause-image': text.optional(),
  'cni-subnet': text.optional(),
  'runtime-version': scalar.optional(),
  'runtime-source': text.optional(),
  'registry-mirror': z.union([text.transform((v) => [v]), z.array(text)]).optional(),
  'vm-runtime-image': text.optional(),
  'image-repository': text.optional(),
  'packages-dir': text.optional(),
  // Where artifacts come from (fetch, build).
  mirror: z.union([text.transform((v) => [v]), z.array(text)]).optional(),
  'artifacts-dir': z.union([text.transform((v) => [v]), z.array(text)]).optional(),
  'cache-dir': text.optional(),
  checksum: z.union([text.transform((v) => [v]), z.array(text)]).optional(),
  offline: z.boolean().optional(),
  'pull-pause': z.boolean().optional(),
  'pause-image-archive': text.optional(),
  'pull-kubeedge-images': z.boolean().optional(),
  'image-archive': z.union([text.transform((v) => [v]), z.array(text)]).optional(),
  'insecure-registry': z.union([text.transform((v) => [v]), z.array(text)]).optional(),
})
export type ConfigFile = z.infer<typeof configFileSchema>

export function parseConfigFile(path: string, content: string): ConfigFile {
  const extension = extname(path).toLowerCase()
  let data: unknown
  try {
    if (extension === '.toml') data = parseToml(content)
    else if (extension === '.yaml' || extension === '.yml') data = parseYaml(content, { uniqueKeys: true })
    else throw new UsageError(`--config ${path}: unknown file type "${extension}"`, { hint: 'Use a .yaml, .yml or .toml file.' })
  } catch (error) {
    if (error instanceof UsageError) throw error
    throw new UsageError(`--config ${path} cannot be parsed: ${(error as Error).message.split('\n')[0]}`)
  }
  if (data === null || data === undefined) data = {}
  const result = configFileSchema.safeParse(data)
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`
      return `${issue.path.join('.') || '(top)'}: ${issue.message}`
    })
    throw new UsageError(`--config ${path}: ${lines.join('; ')}`, {
      hint: `Allowed keys: ${Object.keys(configFileSchema.shape).join(', ')}.`,
    })
  }
  return result.data
}

export function readConfigFile(path: string): ConfigFile {
  let content: string
  try {
    content = readFileSync(path, 'utf8')
  } catch (error) {
    throw new UsageError(`--config ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
  return parseConfigFile(path, content)
}

const ARTIFACT_KEYS = ['mirror', 'artifacts-dir', 'cache-dir', 'checksum', 'offline', 'pull-pause', 'pause-image-archive', 'pull-kubeedge-images', 'image-archive', 'insecure-registry'] as const

/** Flags over config file values, key by key (target keys only; artifact keys go through artifactDefaults). */
export function mergeRequest(config: ConfigFile, flags: RawRequest): RawRequest & { 'packages-dir'?: string } {
  const merged: Record<string, unknown> = { ...config }
  for (const key of ARTIFACT_KEYS) delete merged[key]
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) merged[key] = value
  return merged as RawRequest & { 'packages-dir'?: string }
}

/** The config file's artifact settings, in the shape of the CLI's artifact flags. */
export function artifactDefaults(config: ConfigFile): {
  mirror?: string[]
  artifactsDir?: string[]
  cacheDir?: string
  checksum?: string[]
  offline?: boolean
  pullPause?: boolean
  pauseImageArchive?: string
  pullKubeedgeImages?: boolean
  imageArchive?: string[]
  insecureRegistry?: string[]
} {
  const defaults: ReturnType<typeof artifactDefaults> = {}
  if (config.mirror) defaults.mirror = config.mirror
  if (config['artifacts-dir']) defaults.artifactsDir = config['artifacts-dir']
  if (config['cache-dir']) defaults.cacheDir = config['cache-dir']
  if (config.checksum) defaults.checksum = config.checksum
  if (config.offline !== undefined) defaults.offline = config.offline
  if (config['pull-pause'] !== undefined) defaults.pullPause = config['pull-pause']
  if (config['pause-image-archive']) defaults.pauseImageArchive = config['pause-image-archive']
  if (config['pull-kubeedge-images'] !== undefined) defaults.pullKubeedgeImages = config['pull-kubeedge-images']
  if (config['image-archive']) defaults.imageArchive = config['image-archive']
  if (config['insecure-registry']) defaults.insecureRegistry = config['insecure-registry']
  return defaults
}
