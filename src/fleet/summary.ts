/**
 * `edgebundle report DIR`: what the fleet playbooks fetched (one `<host>.jsonl` of installer --json events
 * per host) summarised per host and per version. Pure: report texts in, a summary and its text out; the
 * command reads the folder.
 */
import { describeProblem, type IntegrityProblem } from '../installer/errors.js'
import type { InstallerEvent } from '../installer/report.js'

export type HostState = 'installed' | 'unchanged' | 'would-change' | 'rolled-back' | 'uninstalled' | 'failed'
export const HOST_STATES: readonly HostState[] = ['installed', 'unchanged', 'would-change', 'rolled-back', 'uninstalled', 'failed']

export interface BundleVersion {
  bundle: string
  kubeedge: string
  os: string
  arch: string
  runtime: string
  runtimeVersion: string
}

export interface HostSummary {
  host: string
  state: HostState
  /** The installer's exit code; null when the report has no final event. */
  exitCode: number | null
  dryRun: boolean
  /** For a failed host: the installer's message, with the problems it named. */
  reason?: string
  /** The bundle the run used, when the report names it. */
  version?: BundleVersion
  changed?: number
  unchanged?: number
  warnings?: number
}

export interface FleetSummary {
  hosts: HostSummary[]
  counts: Record<HostState, number>
  /** Bundles now installed (hosts installed or unchanged by a real run), with their hosts. */
  versions: (BundleVersion & { hosts: string[] })[]
}

type Event = InstallerEvent & Record<string, unknown>

/** The events of one report: one JSON object per line; anything else (a crash's text) is kept apart. */
function parseEvents(text: string): { events: Event[]; other: string[] } {
  const events: Event[] = []
  const other: string[] = []
  for (const line of text.split('\n')) {
    const trimmed = line.trim()
    if (trimmed === '') continue
    try {
      const value: unknown = JSON.parse(trimmed)
      if (value !== null && typeof value === 'object' && typeof (value as { event?: unknown }).event === 'string') {
        events.push(value as Event)
        continue
      }
    } catch {
      // not an event
    }
    other.push(trimmed)
  }
  return { events, other }
}

const find = <K extends InstallerEvent['event']>(events: Event[], kind: K) => events.find((e) => e.event === kind) as Extract<InstallerEvent, { event: K }> | undefined

export function summarizeHost(host: string, text: string): HostSummary {
  const { events, other } = parseEvents(text)
  const bundle = find(events, 'bundle')
  const version: BundleVersion | undefined = bundle && {
    bundle: bundle.name,
    kubeedge: bundle.kubeedge,
    os: bundle.os,
    arch: bundle.arch,
    runtime: bundle.runtime,
    runtimeVersion: bundle.runtimeVersion,
  }
  const error = find(events, 'error')
  const done = find(events, 'done')
  const base = { host, ...(version ? { version } : {}) }
  if (error || !done || done.exitCode !== 0) {
    const problems = events.filter((e) => e.event === 'verify-problem').map((e) => describeProblem((e as { problem: IntegrityProblem }).problem))
    const message = error
      ? `${error.message}${problems.length > 0 ? `: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}` : ''}`
      : `the installer did not finish (no final event in the report)${other.length > 0 ? `: ${other.at(-1)}` : ''}`
    const exitCode = error?.exitCode ?? done?.exitCode ?? null
    return { ...base, state: 'failed', exitCode, dryRun: bundle?.dryRun ?? done?.dryRun ?? false, reason: exitCode === null ? message : `exit ${exitCode}: ${message}` }
  }
  const counts = { changed: done.changed ?? 0, unchanged: done.unchanged ?? 0, warnings: done.warnings ?? 0 }
  const undone = events.filter((e) => e.event === 'rolled-back') as Extract<InstallerEvent, { event: 'rolled-back' }>[]
  if (done.steps === 0 && bundle === undefined) {
    // rollback or uninstall: what they undid is in their rolled-back events.
    const state: HostState = undone.length === 0 ? 'unchanged' : done.dryRun ? 'would-change' : undone.some((e) => e.reason === 'uninstall') ? 'uninstalled' : 'rolled-back'
    return { ...base, state, exitCode: 0, dryRun: done.dryRun, changed: done.dryRun ? 0 : undone.length, unchanged: 0, warnings: counts.warnings }
  }
  const state: HostState = counts.changed === 0 ? 'unchanged' : done.dryRun ? 'would-change' : 'installed'
  return { ...base, state, exitCode: 0, dryRun: done.dryRun, ...counts }
}

export function summarizeFleet(reports: readonly { host: string; text: string }[]): FleetSummary {
  const hosts = reports.map((r) => summarizeHost(r.host, r.text)).sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))
  const counts = Object.fromEntries(HOST_STATES.map((s) => [s, 0])) as Record<HostState, number>
  const versions = new Map<string, BundleVersion & { hosts: string[] }>()
  for (const host of hosts) {
    counts[host.state]++
    if ((host.state === 'installed' || host.state === 'unchanged') && !host.dryRun && host.version) {
      const key = JSON.stringify(host.version)
      const entry = versions.get(key) ?? { ...host.version, hosts: [] }
      entry.hosts.push(host.host)
      versions.set(key, entry)
    }
  }
  return { hosts, counts, versions: [...versions.values()].sort((a, b) => (a.bundle < b.bundle ? -1 : a.bundle > b.bundle ? 1 : 0)) }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd()).join('\n')
}

export function formatFleetSummary(summary: FleetSummary): string {
  const n = summary.hosts.length
  const parts = HOST_STATES.filter((s) => summary.counts[s] > 0 || s === 'installed' || s === 'unchanged' || s === 'failed').map((s) => `${summary.counts[s]} ${s}`)
  const lines = [`${n} host${n === 1 ? '' : 's'}: ${parts.join(', ')}`, '']
  lines.push(
    table([
      ['HOST', 'STATE', 'BUNDLE', 'CHANGED', 'REASON'],
      ...summary.hosts.map((h) => [h.host, h.state, h.version?.bundle ?? '-', h.changed === undefined ? '-' : String(h.changed), h.reason ?? '']),
    ]),
  )
  lines.push('', 'Versions installed:')
  if (summary.versions.length === 0) lines.push('  none')
  else {
    lines.push(
      table([
        ['BUNDLE', 'KUBEEDGE', 'RUNTIME', 'PLATFORM', 'HOSTS'],
        ...summary.versions.map((v) => [v.bundle, v.kubeedge, `${v.runtime} ${v.runtimeVersion}`, `${v.os}/${v.arch}`, `${v.hosts.length} (${v.hosts.join(', ')})`]),
      ]),
    )
  }
  return `${lines.join('\n')}\n`
}
