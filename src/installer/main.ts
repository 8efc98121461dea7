/**
 * Entry point of the installer executable (`install` / `install.exe`, a Node single executable
 * application). esbuild bundles this file into one CommonJS script, so nothing on this path may use
 * top-level await, import.meta or dynamic import(): a SEA main script is CommonJS, and its require()
 * reaches only Node's built-in modules.
 */
import { isSea } from 'node:sea'
import { finishWith } from '../io/finish.js'
import { hostNode } from './host.js'
import { runInstaller } from './run.js'

/** node:sea throws where SEA support is compiled out; such a process is not a SEA either. */
function runningAsSea(): boolean {
  try {
    return isSea()
  } catch {
    return false
  }
}

/**
 * A reader that goes away (`install --dry-run | head`) must not turn into an unhandled EPIPE crash:
 * output to a closed stream is dropped and the run ends with its own exit code.
 */
function writer(stream: NodeJS.WriteStream): (text: string) => void {
  let closed = false
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
    closed = true
  })
  return (text) => {
    if (!closed) stream.write(text)
  }
}

const stderr = writer(process.stderr)
finishWith(
  runInstaller(process.argv.slice(2), {
    env: process.env,
    node: hostNode(),
    stdout: writer(process.stdout),
    stderr,
    isSea: runningAsSea(),
    execPath: process.execPath,
    cwd: process.cwd(),
    nodeVersion: process.version,
    platform: `${process.platform}-${process.arch}`,
    now: () => performance.now(),
  }),
  stderr,
  'install',
)
