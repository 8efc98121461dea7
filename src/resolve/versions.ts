/** Version arithmetic over node-semver, accepting the short forms the catalog and users write ("1.23"). */
import semver from 'semver'

/** "1.23" → "1.23.0"; "2.3.4" stays; anything else → null. */
export function normalizeVersion(version: string): string | null {
  const match = /^v?(\d+)\.(\d+)(?:\.(\d+))?$/.exec(version.trim())
  if (!match) return null
  return `${Number(match[1])}.${Number(match[2])}.${Number(match[3] ?? 0)}`
}

export function satisfies(version: string, range: string): boolean {
  const normalized = normalizeVersion(version)
  if (normalized === null) throw new Error(`not a version: ${version}`)
  return semver.satisfies(normalized, range)
}

/** The value of the first entry whose range the version satisfies. */
export function pickByRange<V, E extends { range: string; value: V }>(entries: readonly E[], version: string): E | undefined {
  return entries.find((entry) => satisfies(version, entry.range))
}

export function compareVersions(a: string, b: string): number {
  return semver.compare(normalizeVersion(a) ?? '0.0.0', normalizeVersion(b) ?? '0.0.0')
}
