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

/** sudo's PATH may lack sbin (modprobe, sysctl) or /usr/local (the crictl and runc a bundle installs). */
const EXTRA_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']

export function searchPath(): string[] {
  const own = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '')
  return process.platform === 'win32' ? own : [...own, ...EXTRA_PATH.filter((dir) => !own.includes(dir))]
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
    which(command) {
      const names = process.platform === 'win32' && !/\.[a-z]+$/i.test(command) ? [`${command}.exe`, `${command}.cmd`, command] : [command]
      for (const dir of searchPath()) {
        for (const name of names) {
          const candidate = join(dir, name)
          try {
            if (!statSync(candidate).isFile()) continue
            if (process.platform !== 'win32') accessSync(candidate, constants.X_OK)
            return candidate
          } catch {
            // not here
          }
        }
      }
      return null
    },
    systemdRunning() {
      try {
        return statSync('/run/systemd/system').isDirectory()
      } catch {
        return false
      }
    },
  }
}
