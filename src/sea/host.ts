/**
 * What this build machine can do with binaries of each platform: run them (natively, or under qemu user
 * emulation with the cross sysroot Debian's libc6-<arch>-cross packages install) and strip them (binutils).
 * The build uses these to check a binary still starts after stripping and after injection; tests use them
 * to run the executables.
 */
import { spawn } from 'node:child_process'
import { accessSync, constants, existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import type { ExePlatform } from './runtimes.js'

/** A command on PATH, or null. */
export function which(command: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const path = join(dir, command)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {
      // not here
    }
  }
  return null
}

/**
 * Debian's qemu-user-static and the cross sysroot its loader needs (`-L`), per foreign Linux platform, and
 * the CPU it emulates (`-cpu`) where qemu's default is not the right one.
 */
const EMULATION: Partial<Record<ExePlatform, { qemu: string; sysroot: string; packages: string; cpu?: string }>> = {
  'linux/arm64': {
    qemu: 'qemu-aarch64-static',
    sysroot: '/usr/aarch64-linux-gnu',
    // An ARMv8.0-A core with the crypto extensions, as on a Raspberry Pi 4, not qemu's default "max" (every
    // extension, SVE among them): Node and OpenSSL then take the paths an edge board takes, and hashing a
    // bundle under emulation costs about a third less CPU (an installer's verify: 5.0 -> 3.4 s).
    cpu: 'cortex-a72',
    packages: 'qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross',
  },
  'linux/arm': {
    qemu: 'qemu-arm-static',
    sysroot: '/usr/arm-linux-gnueabihf',
    packages: 'qemu-user-static libc6-armhf-cross libstdc++6-armhf-cross libgcc-s1-armhf-cross',
  },
}

/** binutils that can strip each Linux platform's ELF from an x64 host. */
const STRIP: Partial<Record<ExePlatform, { command: string; packages: string }>> = {
  'linux/amd64': { command: 'strip', packages: 'binutils' },
  'linux/arm64': { command: 'aarch64-linux-gnu-strip', packages: 'binutils-aarch64-linux-gnu' },
  'linux/arm': { command: 'arm-linux-gnueabihf-strip', packages: 'binutils-arm-linux-gnueabihf' },
}

export const isLinuxX64Host = () => process.platform === 'linux' && process.arch === 'x64'

export interface Runner {
  /** Prefix the binary's path and arguments with this command and these arguments. */
  command: string | null
  args: string[]
}

/** How to run a binary of `platform` here, or null when this machine cannot (Windows: see the tests' wine helper). */
export function runnerFor(platform: ExePlatform, env: NodeJS.ProcessEnv = process.env): Runner | null {
  if (platform === 'linux/amd64' && isLinuxX64Host()) return { command: null, args: [] }
  const emulation = EMULATION[platform]
  if (!emulation || process.platform !== 'linux') return null
  const qemu = which(emulation.qemu, env)
  if (qemu === null || !existsSync(emulation.sysroot)) return null
  return { command: qemu, args: [...(emulation.cpu ? ['-cpu', emulation.cpu] : []), '-L', emulation.sysroot] }
}

/** The apt packages that make runnerFor(platform) work, for messages. */
export function emulationPackages(platform: ExePlatform): string | null {
  return EMULATION[platform]?.packages ?? null
}

/** The strip tool for a Linux platform, or null (Windows binaries are not stripped; missing binutils). */
export function stripToolFor(platform: ExePlatform, env: NodeJS.ProcessEnv = process.env): string | null {
  const tool = STRIP[platform]
  return tool ? which(tool.command, env) : null
}

export interface ToolResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

/** Keeps the start and end of long output: enough for an error message, bounded in memory. */
function capture(limit: number) {
  let text = ''
  let dropped = 0
  return {
    add(chunk: Buffer) {
      text += chunk.toString('utf8')
      if (text.length > limit) {
        dropped += text.length - limit
        text = text.slice(text.length - limit)
      }
    },
    value: () => (dropped > 0 ? `[${dropped} characters dropped]\n${text}` : text),
  }
}

/** Runs a tool to completion, capturing its output; never throws for a non-zero exit (the caller decides). */
export function runTool(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    const stdout = capture(64 * 1024)
    const stderr = capture(64 * 1024)
    child.stdout.on('data', stdout.add)
    child.stderr.on('data', stderr.add)
    const timer = options.timeoutMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs)
    child.on('error', (error) => {
      if (timer) clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer)
      resolve({ code, signal, stdout: stdout.value(), stderr: stderr.value(), ms: performance.now() - started })
    })
  })
}

/** Runs a binary of `platform` through its runner. */
export function runBinary(runner: Runner, binary: string, args: string[], options: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ToolResult> {
  return runner.command === null ? runTool(binary, args, options) : runTool(runner.command, [...runner.args, binary, ...args], options)
}
