/**
 * The installer's I/O on this machine, as main.ts gives it, for running the installer in-process. A module
 * of its own: crash-child.ts, started some forty times by the crash test, loads this and the installer only.
 */
import { hostNode } from '../../src/installer/host.js'
import type { InstallerIo } from '../../src/installer/run.js'

/** What the installer process would get from main.ts, for running it in-process with the real node. */
export function hostInstallerIo(overrides: Partial<InstallerIo> = {}): InstallerIo {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    isSea: false,
    execPath: process.execPath,
    cwd: process.cwd(),
    nodeVersion: process.version,
    platform: `${process.platform}-${process.arch}`,
    now: () => performance.now(),
    node: hostNode(),
    ...overrides,
  }
}
