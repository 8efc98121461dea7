/**
 * The commands the installer runs on the node (systemctl, modprobe, sysctl, dpkg, ctr, docker, …): one
 * seam, so tests can see what would be run and the crash tests can stop the process around it.
 * Arguments go to the program as an argv array, never through a shell.
 */
import { spawn } from 'node:child_process'
import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'

export interface CommandResult {
  code: number
  stdout: string
  stderr: string
}

export interface RunOptions {
  cwd?: string
  /** Added to the installer's environment. */
  env?: Record<string, string>
  timeoutMs?: number
}

export interface NodeSystem {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>
  /** The program's path on PATH (plus the sbin folders sudo may drop), or null. */
  which(command: string): string | null
  /** systemd is PID 1 here (the test systemd itself uses). */
  systemdRunning(): boolean
}

/**
 * Where Linux keeps commands, searched after PATH (install.sh appends the same folders): sudo's PATH may
 * lack sbin (modprobe, sysctl) or /usr/local (the crictl and runc a bundle installs). Also where a --root
 * preflight looks for a command inside the root.
 */
export const LINUX_COMMAND_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'] as const

/** PATH's folders (never the working folder, which an empty entry would mean), then LINUX_COMMAND_DIRS on Linux. */
export function searchPath(): string[] {
  const own = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '')
  return process.platform === 'win32' ? own : [...own, ...LINUX_COMMAND_DIRS.filter((dir) => !own.includes(dir))]
}

/**
 * The one command lookup of the installer (NodeSystem.which, NodeProbe.commandExists): the executable
 * file a command name runs, or null. A name with a slash is that path; on Windows a name without one of
 * PATHEXT's extensions is tried with each of them.
 */
export function findCommand(command: string): string | null {
  const windows = process.platform === 'win32'
  const executable = (candidate: string): boolean => {
    try {
      if (!statSync(candidate).isFile()) return false
      if (!windows) accessSync(candidate, constants.X_OK)
      return true
    } catch {
      return false
    }
  }
  if (!windows && command.includes('/')) return executable(command) ? command : null
  let names = [command]
  if (windows) {
    const extensions = (process.env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD').split(';').filter((ext) => ext !== '')
    const hasExtension = extensions.some((ext) => command.toLowerCase().endsWith(ext.toLowerCase()))
    names = [...(hasExtension ? [command] : []), ...extensions.map((ext) => command + ext)]
  }
  for (const dir of searchPath()) {
    for (const name of names) {
      const candidate = join(dir, name)
      if (executable(candidate)) return candidate
    }
  }
  return null
}

export function hostSystem(): NodeSystem {
  const path = searchPath().join(delimiter)
  return {
    run(command, args, options = {}) {
      return new Promise((resolve) => {
        const child = spawn(command, [...args], {
          cwd: options.cwd,
          env: { ...process.env, PATH: path, ...options.env },
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: options.timeoutMs,
          windowsHide: true,
        })
        const stdout: Buffer[] = []
        const stderr: Buffer[] = []
        child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
        child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
        child.on('error', (error) => resolve({ code: 127, stdout: '', stderr: error.message }))
        child.on('close', (code, signal) =>
          resolve({
            code: code ?? (signal ? 128 : 1),
            stdout: Buffer.concat(stdout).toString('utf8'),
            stderr: Buffer.concat(stderr).toString('utf8') + (signal ? `\n(killed by ${signal})` : ''),
          }),
        )
      })
    },
    which: findCommand,
    systemdRunning() {
      try {
        return statSync('/run/systemd/system').isDirectory()
      } catch {
        return false
      }
    },
  }
}
