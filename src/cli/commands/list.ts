/** edgebundle list: the support matrix with the reason for every unsupported combination. */
import type { Catalog } from '../../catalog/schema.js'
import { type MatrixEntry, listMatrix } from '../../resolve/resolve.js'
import { compareVersions } from '../../resolve/versions.js'

export interface ListRow {
  os: string
  arch: string
  runtime: string
  source: string
  /** Supported KubeEdge versions as ranges, e.g. "1.12-1.14". */
  supported: string
  /** Unsupported version ranges with their reasons. */
  unsupported: { versions: string; reason: string }[]
}

function ranges(versions: string[], all: string[]): string {
  const parts: string[] = []
  let start: string | undefined
  let previous: string | undefined
  for (const version of all) {
    if (versions.includes(version)) {
      start ??= version
      previous = version
    } else if (start !== undefined) {
      parts.push(start === previous ? start : `${start}-${previous}`)
      start = undefined
    }
  }
  if (start !== undefined) parts.push(start === previous ? start : `${start}-${previous}`)
  return parts.join(', ')
}

export function summarizeMatrix(catalog: Catalog, entries: MatrixEntry[] = listMatrix(catalog)): ListRow[] {
  const all = [...catalog.kubeedge.versions].sort(compareVersions)
  const groups = new Map<string, MatrixEntry[]>()
  for (const entry of entries) {
    const key = `${entry.target.os}/${entry.target.arch}/${entry.target.runtime}`
    groups.set(key, [...(groups.get(key) ?? []), entry])
  }
  return [...groups.values()].map((group) => {
    const first = group[0]!
    const reasons = new Map<string, string[]>()
    for (const entry of group) if (entry.reason) reasons.set(entry.reason, [...(reasons.get(entry.reason) ?? []), entry.target.kubeedge])
    return {
      os: first.target.os,
      arch: first.target.arch,
      runtime: first.target.runtime,
      source: first.source,
      supported: ranges(group.filter((e) => e.supported).map((e) => e.target.kubeedge), all),
      unsupported: [...reasons].map(([reason, versions]) => ({ versions: ranges(versions, all), reason })),
    }
  })
}

export function formatMatrix(rows: ListRow[]): string {
  const lines: string[] = []
  const width = { os: 9, arch: 5, runtime: 10, source: 12, kubeedge: 16 }
  const pad = (value: string, n: number) => value.padEnd(n)
  lines.push(`${pad('OS', width.os)} ${pad('ARCH', width.arch)} ${pad('RUNTIME', width.runtime)} ${pad('SOURCE', width.source)} ${pad('KUBEEDGE', width.kubeedge)} NOTES`)
  for (const row of rows) {
    const showVersions = row.supported !== '' || row.unsupported.length > 1
    const notes = row.unsupported.map((u) => `${showVersions ? `${u.versions}: ` : ''}${u.reason}`)
    lines.push(
      `${pad(row.os, width.os)} ${pad(row.arch, width.arch)} ${pad(row.runtime, width.runtime)} ${pad(row.source, width.source)} ${pad(row.supported || 'unsupported', width.kubeedge)} ${notes[0] ?? ''}`,
    )
    for (const note of notes.slice(1)) lines.push(`${' '.repeat(width.os + width.arch + width.runtime + width.source + width.kubeedge + 5)}${note}`)
  }
  const supported = rows.filter((r) => r.supported).length
  lines.push('', `${supported} of ${rows.length} os/arch/runtime combinations are supported for at least one KubeEdge version.`)
  return lines.join('\n')
}
