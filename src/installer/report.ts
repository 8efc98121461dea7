/**
 * Everything the installer says goes through one typed event stream: text for people, or one JSON
 * object per line with --json (for fleet tooling that drives many nodes). The full installer adds event
 * kinds here; both renderings are exhaustive over them.
 */
import type { IntegrityProblem } from './errors.js'
import { describeProblem } from './errors.js'
import { formatBytes } from '../render/format-bytes.js'

export type InstallerEvent =
  | { event: 'version'; installer: string; node: string; platform: string; bundle: string | null }
  | { event: 'bundle'; dir: string; name: string; os: string; arch: string; runtime: string; runtimeVersion: string; kubeedge: string; dryRun: boolean }
  | { event: 'verify-start'; files: number }
  | { event: 'verify-problem'; problem: IntegrityProblem }
  | { event: 'verified'; files: number; bytes: number; ms: number }
  | { event: 'step'; index: number; total: number; id: string; kind: string; description: string; actions: string[]; dryRun: boolean }
  | { event: 'warning'; message: string }
  | { event: 'info'; message: string }
  | { event: 'signature'; status: 'verified' | 'unsigned' | 'unchecked'; key: 'pubkey' | 'trusted' | 'bundle' | null; fingerprint: string | null }
  | { event: 'check'; kind: string; severity: string; outcome: 'ok' | 'skipped' | 'failed'; message: string; whatToDo?: string }
  | { event: 'change'; step: string; action: string; dryRun: boolean }
  | { event: 'step-done'; id: string; changed: number; unchanged: number }
  | { event: 'rolled-back'; run: number; name: string; finished: boolean; records: number; dryRun: boolean; reason: 'rollback' | 'uninstall' | 'step-failed' }
  | { event: 'undo'; action: string; dryRun: boolean }
  | { event: 'status'; runs: { run: number; name: string; finished: boolean; changes: Record<string, number> }[] }
  /** Whether keadm join can run offline here: keadm at the pinned version, every image it asks for in the runtime. */
  | {
      event: 'join-ready'
      ready: boolean
      keadm: { expected: string; found: string | null }
      images: { image: string; carried: boolean; present: boolean | null }[]
      /** Windows: the release files keadm join reads instead of downloading, each in place and matching or not. */
      files?: { path: string; checksumPath: string; ready: boolean }[]
      problems: { message: string; hint: string }[]
      /** status under --root: the image is not the running node, so nothing was asked. */
      checked: boolean
    }
  /** The keadm join command: the token shown as <token>, never itself. */
  | { event: 'join'; command: string[]; ran: boolean; exitCode?: number }
  | { event: 'done'; exitCode: number; dryRun: boolean; steps: number; changed?: number; unchanged?: number; warnings?: number }
  | { event: 'error'; exitCode: number; message: string; hint?: string }

export interface Output {
  stdout(text: string): void
  stderr(text: string): void
}

export interface Reporter {
  emit(event: InstallerEvent): void
}

/** --json: every event as one line on stdout, errors included, so a reader needs one stream only. */
export function jsonReporter(out: Output): Reporter {
  return { emit: (event) => out.stdout(`${JSON.stringify(event)}\n`) }
}


const KEY_SOURCE = { pubkey: 'the --pubkey key', trusted: "this node's trusted key", bundle: "the bundle's own signer.pub" } as const

/**
 * Text: progress and results on stdout, problems and errors on stderr.
 * One switch over every event kind, kept whole (long by design): the compiler checks it covers them all, and each case is a line or two.
 */
export function textReporter(out: Output): Reporter {
  const width = (total: number) => String(total).length
  return {
    emit(event) {
      switch (event.event) {
        case 'version':
          out.stdout(`edgebundle installer ${event.installer} (Node.js ${event.node}, ${event.platform})\n`)
          out.stdout(event.bundle === null ? 'bundle: none found\n' : `bundle: ${event.bundle}\n`)
          return
        case 'bundle':
          out.stdout(
            `${event.name}: ${event.runtime} ${event.runtimeVersion} for KubeEdge ${event.kubeedge} on ${event.os}/${event.arch}\n` +
              `bundle folder: ${event.dir}\n`,
          )
          return
        case 'verify-start':
          out.stdout(`verifying ${event.files} files against SHA256SUMS\n`)
          return
        case 'verify-problem':
          out.stderr(`  FAILED ${describeProblem(event.problem)}\n`)
          return
        case 'verified':
          out.stdout(`verified ${event.files} files (${formatBytes(event.bytes)}) in ${(event.ms / 1000).toFixed(1)} s\n`)
          return
        case 'step': {
          if (event.index === 1) out.stdout(event.dryRun ? `dry run: ${event.total} steps, in order; nothing is changed\n` : `${event.total} steps\n`)
          out.stdout(`${String(event.index).padStart(width(event.total) + 2)}. ${event.id}: ${event.description}\n`)
          const indent = ' '.repeat(width(event.total) + 6)
          for (const action of event.actions) out.stdout(`${indent}${event.dryRun ? 'would ' : ''}${action}\n`)
          return
        }
        case 'warning':
          out.stderr(`warning: ${event.message}\n`)
          return
        case 'info':
          out.stdout(`  ${event.message}\n`)
          return
        case 'signature':
          if (event.status === 'verified') out.stdout(`signature verified with ${KEY_SOURCE[event.key ?? 'bundle']} (${event.fingerprint})\n`)
          else if (event.status === 'unsigned') out.stdout('the bundle is not signed\n')
          return
        case 'check':
          if (event.outcome === 'ok') out.stdout(`  ok: ${event.message}\n`)
          else if (event.outcome === 'skipped') out.stdout(`  skipped: ${event.message}\n`)
          else if (event.severity === 'error') out.stderr(`  FAILED: ${event.message}${event.whatToDo ? `\n    what to do: ${event.whatToDo}` : ''}\n`)
          else out.stderr(`warning: ${event.message}${event.whatToDo ? ` (${event.whatToDo})` : ''}\n`)
          return
        case 'change':
          out.stdout(`  ${event.dryRun ? 'would: ' : ''}${event.action}\n`)
          return
        case 'step-done':
          if (event.changed === 0 && event.unchanged > 0) out.stdout(`  unchanged: ${event.unchanged} already in place\n`)
          return
        case 'undo':
          out.stdout(`  ${event.dryRun ? 'would ' : ''}${event.action}\n`)
          return
        case 'rolled-back':
          out.stdout(
            event.dryRun
              ? `dry run: run ${event.run} (${event.name}) would be undone: ${event.records} records\n`
              : `${event.reason === 'step-failed' ? 'rolled back the failed run' : 'undid run'} ${event.run} (${event.name}${event.finished ? '' : ', interrupted'}): ${event.records} records\n`,
          )
          return
        case 'status':
          if (event.runs.length === 0) out.stdout('nothing installed: no edgebundle runs are recorded on this node\n')
          for (const run of event.runs) {
            const changes = Object.entries(run.changes).map(([kind, count]) => `${count} ${kind}`).join(', ')
            out.stdout(`run ${run.run}: ${run.name} (${run.finished ? 'finished' : 'interrupted: run install again to finish it, or rollback'})${changes ? `: ${changes}` : ''}\n`)
          }
          return
        case 'join-ready': {
          if (!event.checked) {
            out.stdout('join: not checked under --root (joining is for the running node)\n')
            return
          }
          out.stdout(event.ready ? `ready to join: keadm ${event.keadm.expected}, ${event.images.length} image${event.images.length === 1 ? '' : 's'} in the runtime\n` : 'not ready to join:\n')
          for (const image of event.images) out.stdout(`  ${image.present === true ? 'present' : image.present === false ? 'MISSING' : 'unknown'}: ${image.image}${image.carried ? ' (carried)' : ''}\n`)
          for (const file of event.files ?? []) out.stdout(`  ${file.ready ? 'in place' : 'NOT READY'}: ${file.path} with ${file.checksumPath}\n`)
          for (const problem of event.problems) out.stderr(`  ${problem.message}\n    what to do: ${problem.hint}\n`)
          return
        }
        case 'join':
          if (event.ran) out.stdout(event.exitCode === 0 ? 'keadm join succeeded\n' : '')
          else out.stdout(`\nJoin the node to the cluster (the token is not shown; --join runs it with yours):\n\n    ${event.command.join(' ')}\n\n`)
          return
        case 'done':
          if (event.dryRun) out.stdout(`dry run complete: ${event.changed ?? 0} would change, ${event.unchanged ?? 0} unchanged; nothing was changed\n`)
          else if (event.changed === 0) out.stdout(`nothing to do: the node already matches the bundle (0 changed, ${event.unchanged ?? 0} unchanged)\n`)
          else if (event.changed !== undefined) out.stdout(`done: ${event.changed} changed, ${event.unchanged ?? 0} unchanged\n`)
          else out.stdout('done\n')
          if (event.warnings) out.stdout(`${event.warnings} warning(s) above\n`)
          return
        case 'error':
          out.stderr(`install: ${event.message}\n`)
          if (event.hint) out.stderr(`  ${event.hint}\n`)
          return
      }
    },
  }
}
