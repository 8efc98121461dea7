/**
 * Merging the bundle's runtime config into the one the node already has, where the format allows it
 * (JSON daemon.json files, containerd's config.toml): the node's own settings stay, the bundle's win
 * where both set the same key. The base is the node's file as it was before edgebundle first touched it
 * (the oldest backup in the journal), so a re-install or an upgrade merges into the operator's settings,
 * not into edgebundle's own earlier output.
 */
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml'

export type MergeFormat = 'json' | 'toml'

type Table = Record<string, unknown>
const isTable = (value: unknown): value is Table => typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)

/** `ours` laid over `base`: tables merge key by key; anything else (scalars, arrays) is ours. */
export function deepMerge(base: Table, ours: Table): Table {
  const out: Table = { ...base }
  for (const [key, value] of Object.entries(ours)) {
    const existing = out[key]
    out[key] = isTable(existing) && isTable(value) ? deepMerge(existing, value) : value
  }
  return out
}

export type MergeResult = { content: string; merged: true } | { content: null; merged: false; reason: string }

/**
 * The merged file, or why it cannot be merged (then the caller replaces the file, keeping the backup).
 * containerd reads a config of another `version` with other table names, so versions must agree.
 */
export function mergeConfig(format: MergeFormat, base: string, ours: string, header: string): MergeResult {
  let baseData: unknown
  let ourData: unknown
  try {
    baseData = format === 'json' ? JSON.parse(base) : parseToml(base)
  } catch (error) {
    return { content: null, merged: false, reason: `it is not valid ${format.toUpperCase()} (${(error as Error).message.split('\n')[0]})` }
  }
  ourData = format === 'json' ? JSON.parse(ours) : parseToml(ours)
  if (!isTable(baseData) || !isTable(ourData)) return { content: null, merged: false, reason: `it is not a ${format.toUpperCase()} object` }
  if (format === 'toml' && (baseData.version ?? 1) !== (ourData.version ?? 1)) {
    return { content: null, merged: false, reason: `it is a version ${String(baseData.version ?? 1)} config and the bundle's is version ${String(ourData.version ?? 1)}` }
  }
  const merged = deepMerge(baseData, ourData)
  return {
    merged: true,
    content: format === 'json' ? `${JSON.stringify(merged, null, 2)}\n` : `${header}${stringifyToml(merged)}\n`,
  }
}
