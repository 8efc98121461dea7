/**
 * edgebundle report DIR: summarises the `<host>.jsonl` reports the fleet playbooks (ansible/install.yml
 * and friends) fetched: hosts installed, unchanged, failed with the reason, and the versions installed.
 * Exit 0, or 1 when a host failed (so a pipeline can stop on it); 2 when DIR holds no reports.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { EdgebundleError, EXIT, UsageError } from '../../model/errors.js'
import { formatFleetSummary, summarizeFleet } from '../../fleet/summary.js'

export interface ReportFlags {
  json?: boolean
}

export interface ReportIo {
  stdout: (text: string) => void
}

export function reportCommand(dir: string, flags: ReportFlags, io: ReportIo): void {
  let names: string[]
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a folder')
    names = readdirSync(dir).filter((name) => name.endsWith('.jsonl') && name !== '.jsonl').sort()
  } catch {
    throw new UsageError(`${dir} is not a folder of reports`, { hint: 'Give the edgebundle_report_dir the playbooks wrote to (default ./edgebundle-reports).' })
  }
  if (names.length === 0) throw new UsageError(`${dir} holds no <host>.jsonl reports`, { hint: 'Run ansible/install.yml from a bundle first; it writes one report per host there.' })
  const summary = summarizeFleet(names.map((name) => ({ host: name.slice(0, -'.jsonl'.length), text: readFileSync(join(dir, name), 'utf8') })))
  io.stdout(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : formatFleetSummary(summary))
  if (summary.counts.failed > 0) {
    throw new EdgebundleError(`${summary.counts.failed} of ${summary.hosts.length} hosts failed`, EXIT.stepFailed, { hint: 'Each failed host\'s reason is above; fix it and run install.yml again (only those hosts change).' })
  }
}
