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
  | { event: 'done'; exitCode: number; dryRun: boolean; steps: number }
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


/** Text: progress and results on stdout, problems and errors on stderr. */
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
        case 'done':
          out.stdout(event.dryRun ? `dry run complete: ${event.steps} steps listed, nothing changed\n` : `done: ${event.steps} steps\n`)
          return
        case 'error':
          out.stderr(`install: ${event.message}\n`)
          if (event.hint) out.stderr(`  ${event.hint}\n`)
          return
      }
    },
  }
}
