/**
 * Download progress for people: bars on a terminal (cli-progress), nothing when output goes to a file
 * or a pipe (logs and CI stay clean), and with --verbose one line per finished file, retry and resume.
 */
import { MultiBar, type SingleBar } from 'cli-progress'
import type { ResolvedComponent } from '../resolve/resolve.js'
import type { DownloadHooks } from '../io/http-download.js'
import type { FetchReporter, FetchedArtifact } from './fetch.js'
import { formatBytes } from '../render/format-bytes.js'

export interface ProgressStream extends NodeJS.WritableStream {
  isTTY?: boolean
}

export interface ProgressReporter extends FetchReporter {
  /** Hooks that show any other download (a Node package) the way artifacts are shown: a bar, retries, notes. */
  transfer(label: string, source: string): DownloadHooks
  /** Ends the bars (leaves the terminal as it was). Call once, after fetchArtifacts settles. */
  close(): void
}

export interface ProgressOptions {
  /** The terminal to draw bars on; bars only when it is a TTY. */
  stream?: ProgressStream | undefined
  verbose?: boolean
  /** Where --verbose lines go when there are no bars (stderr: stdout carries the command's result). */
  log: (line: string) => void
}

export { formatBytes } from '../render/format-bytes.js'

const key = (c: ResolvedComponent) => `${c.id}@${c.version}@${c.platform}`

export function describeArtifact(artifact: FetchedArtifact): string {
  return `${artifact.component.fileName}: ${artifact.source}, sha256 ${artifact.sha256}`
}

function newMultiBar(stream: NonNullable<ProgressOptions['stream']>): MultiBar {
  return new MultiBar({
    stream,
    format: ' {file} |{bar}| {percentage}% {got} of {size} from {source}',
    barsize: 24,
    hideCursor: true,
    clearOnComplete: false,
    stopOnComplete: false,
    autopadding: true,
    emptyOnZero: true,
    fps: 8,
  })
}

/**
 * The bars hide the cursor and turn off line wrapping. On Ctrl-C the terminal is given back (`stop`), then the
 * signal is raised again so the process still ends as Ctrl-C ends it (cli-progress's own gracefulExit
 * would keep a listener and so keep the process running). A killed download's partial file is
 * recovered by the next run's cache sweep.
 */
function terminalGivenBackOnSignal(stop: () => void): { listen(): void; unlisten(): void } {
  const signals = ['SIGINT', 'SIGTERM'] as const
  let listening = false
  const onSignal = (signal: NodeJS.Signals) => {
    unlisten()
    stop()
    process.kill(process.pid, signal)
  }
  const listen = () => {
    if (listening) return
    listening = true
    for (const signal of signals) process.once(signal, onSignal)
  }
  const unlisten = () => {
    if (!listening) return
    listening = false
    for (const signal of signals) process.removeListener(signal, onSignal)
  }
  return { listen, unlisten }
}

export function createProgressReporter(options: ProgressOptions): ProgressReporter {
  const verbose = options.verbose ?? false
  const stream = options.stream
  const tty = stream?.isTTY === true
  const multibar = tty && stream ? newMultiBar(stream) : null
  const bars = new Map<string, { bar: SingleBar; total: number }>()
  // With bars on screen a plain write would tear them; MultiBar.log prints above them (it only flushes
  // while bars are drawn, so with none a plain write it is).
  const line = (text: string) => (multibar?.isActive ? multibar.log(`${text}\n`) : options.log(`${text}\n`))
  const { listen, unlisten } = terminalGivenBackOnSignal(() => multibar?.stop())
  const dropKey = (id: string) => {
    const entry = bars.get(id)
    if (entry && multibar) multibar.remove(entry.bar)
    bars.delete(id)
  }
  const drop = (component: ResolvedComponent) => dropKey(key(component))
  const startBar = (id: string, file: string, source: string, event: { totalBytes: number | null; resumedFrom: number }) => {
    if (!multibar) return
    dropKey(id)
    listen()
    const total = event.totalBytes ?? 0
    const bar = multibar.create(total, event.resumedFrom, {
      file,
      got: formatBytes(event.resumedFrom),
      size: event.totalBytes === null ? '?' : formatBytes(event.totalBytes),
      source,
    })
    bars.set(id, { bar, total })
  }

  return {
    started(event) {
      startBar(key(event.component), event.component.fileName, event.source, event)
    },
    transfer(label, source) {
      const id = `transfer:${label}`
      return {
        started: (event) => startBar(id, label, source, event),
        progress: (bytes) => bars.get(id)?.bar.update(bytes, { got: formatBytes(bytes) }),
        retrying: (event) => {
          dropKey(id)
          if (verbose || tty) line(`${label}: ${event.reason} from ${event.url}; retry ${event.attempt + 1} in ${(event.delayMs / 1000).toFixed(1)} s`)
        },
        note: (message) => {
          if (verbose) line(message)
        },
      }
    },
    progress(component, bytes) {
      bars.get(key(component))?.bar.update(bytes, { got: formatBytes(bytes) })
    },
    retrying(event) {
      drop(event.component)
      if (verbose || tty) line(`${event.component.fileName}: ${event.reason} from ${event.url}; retry ${event.attempt + 1} in ${(event.delayMs / 1000).toFixed(1)} s`)
    },
    note(message) {
      if (verbose) line(message)
    },
    finished(artifact) {
      drop(artifact.component)
      if (verbose) line(describeArtifact(artifact))
    },
    failed(component) {
      // The error itself is reported once, by the caller, after every download settled.
      drop(component)
    },
    close() {
      unlisten()
      if (multibar?.isActive) {
        multibar.update() // flush lines logged since the last redraw
        multibar.stop()
      }
    },
  }
}
