/**
 * Shared by the executable tests: one cache for every test file and run (under os.tmpdir(), or
 * EDGEBUNDLE_TEST_SEA_CACHE), so each executable is built once per installer version and later runs and
 * files reuse it; runners for each platform (native, qemu-aarch64-static, wine64); and the rule for
 * missing prerequisites: skipped with the apt-get line locally, a failure under CI=true.
 *
 * Node packages come from the npm registry npm itself uses, once, into that cache. It is the one place
 * a test reaches beyond 127.0.0.1, and only when the cache lacks them (see README, "Executables").
 */
import { spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { createHttpClient } from '../../src/fetch/http.js'
import { EdgebundleError } from '../../src/model/errors.js'
import { type BuiltExecutable, buildInstallerExecutable } from '../../src/sea/build-exe.js'
import { seaDirs, withLock } from '../../src/sea/workspace.js'
import { isLinuxX64Host, runnerFor } from '../../src/sea/host.js'
import type { ExePlatform } from '../../src/sea/runtimes.js'

export const SEA_TEST_CACHE = process.env.EDGEBUNDLE_TEST_SEA_CACHE || join(tmpdir(), 'edgebundle-test-sea-cache')
export const CI = process.env.CI === 'true'
export const APT_LINE =
  'apt-get install -y qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross binutils-aarch64-linux-gnu wine64'
export const WINE64 = '/usr/lib/wine/wine64'
export const WINESERVER = '/usr/lib/wine/wineserver'
/** Building on a cold cache downloads ~100 MB and runs postject per platform; qemu and wine are slow to start. */
export const EXE_TEST_TIMEOUT_MS = 15 * 60_000

/** True when `ok`; otherwise skips the test (fails it under CI=true) naming what to install. */
export function need(t: Test, ok: boolean, what: string, install = APT_LINE): boolean {
  if (ok) return true
  if (CI) t.fail(`${what} is missing, and CI=true requires it (${install})`)
  else t.skip(`${what} is missing; install it with: ${install}`, () => {})
  return false
}

/** The installer executable for `platform`, built into the shared cache (or taken from it); null when skipped. */
export async function installerFor(t: Test, platform: ExePlatform): Promise<BuiltExecutable | null> {
  if (!need(t, isLinuxX64Host(), 'a Linux x64 machine (executables are built with the linux-x64 Node)', 'a Linux x64 machine')) return null
  const http = createHttpClient()
  try {
    const built = await buildInstallerExecutable(platform, { cacheDir: SEA_TEST_CACHE, http, note: (message) => t.comment(message) })
    t.comment(`${built.fileName} for ${platform}: ${(built.size / 1024 / 1024).toFixed(1)} MiB, ${built.cached ? 'cached' : `built in ${(built.timings.totalMs / 1000).toFixed(1)} s`}`)
    return built
  } catch (error) {
    // Without the registry there are no Node packages: a prerequisite, like the apt packages.
    if (error instanceof EdgebundleError && error.exitCode === 1 && /cannot download/.test(error.message)) {
      need(t, false, `the npm registry (for Node packages: ${error.message})`, 'network access to the npm registry, or EDGEBUNDLE_TEST_SEA_CACHE pointing at a warm cache')
      return null
    }
    throw error
  } finally {
    await http.close()
  }
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a Linux executable natively or under qemu (runnerFor). */
export function runLinux(platform: ExePlatform, executable: string, args: string[], cwd: string): RunResult {
  const runner = runnerFor(platform)
  if (runner === null) throw new Error(`internal: no runner for ${platform}`)
  const [command, argv] = runner.command === null ? [executable, args] : [runner.command, [...runner.args, executable, ...args]]
  const result = spawnSync(command, argv, { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_OPTIONS: '' } })
  if (result.error) throw result.error
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

/**
 * wine64 with its own prefix (made with mktemp, set to Windows 10, which Node requires). Output goes to
 * files: under wine a pipe as stdout breaks Node's writes.
 */
export class Wine {
  private static version: string | undefined

  private constructor(readonly prefix: string) {}

  /**
   * A prefix of its own, copied from a template made once per wine version in the shared cache: making a
   * prefix (wineboot, then winecfg) costs some 4 CPU-s, copying one a few hundredths.
   */
  static async create(): Promise<Wine> {
    const template = await Wine.template()
    const prefix = mkdtempSync(join(tmpdir(), 'edgebundle-wine-'))
    const copy = spawnSync('cp', ['-a', `${template}/.`, prefix], { stdio: 'ignore', timeout: 60_000 })
    if (copy.status !== 0) throw new Error(`could not copy the wine prefix ${template} to ${prefix} (status ${copy.status})`)
    return new Wine(prefix)
  }

  /**
   * The template prefix, set to Windows 10: made aside and renamed into place, so a reader sees it whole,
   * under a lock (withLock makes the cache folder), so that wine tests starting together make it once.
   */
  private static async template(): Promise<string> {
    // Asked once per process: each test that makes a prefix would otherwise start wine64 to ask again.
    const version = (Wine.version ??= spawnSync(WINE64, ['--version'], { encoding: 'utf8', timeout: 60_000 }).stdout?.trim().replace(/[^\w.-]+/g, '_') || 'unknown')
    const template = join(SEA_TEST_CACHE, `wine-prefix-${version}`)
    if (existsSync(join(template, 'system.reg'))) return template
    return withLock(seaDirs(SEA_TEST_CACHE), `wine-prefix-${version}`, async () => Wine.makeTemplate(template))
  }

  /** Run under the template's lock: anything at `template` without a registry is a remnant and is replaced. */
  private static makeTemplate(template: string): string {
    if (existsSync(join(template, 'system.reg'))) return template
    const making = new Wine(mkdtempSync(join(SEA_TEST_CACHE, 'wine-prefix-making-')))
    const setup = spawnSync(WINE64, ['winecfg', '-v', 'win10'], { env: making.env(), stdio: 'ignore', timeout: 180_000 })
    if (setup.status !== 0) throw new Error(`winecfg -v win10 failed in ${making.prefix} (status ${setup.status}, ${setup.error?.message ?? ''})`)
    // wineserver writes the registry when it exits: wait for that before the prefix is copied anywhere.
    if (existsSync(WINESERVER)) spawnSync(WINESERVER, ['-w'], { env: making.env(), stdio: 'ignore', timeout: 60_000 })
    rmSync(template, { recursive: true, force: true })
    renameSync(making.prefix, template)
    return template
  }

  private env(): NodeJS.ProcessEnv {
    return { ...process.env, WINEPREFIX: this.prefix, WINEDEBUG: '-all', NODE_OPTIONS: '' }
  }

  run(executable: string, args: string[], cwd: string): RunResult {
    const dir = mkdtempSync(join(tmpdir(), 'edgebundle-wine-out-'))
    const out = openSync(join(dir, 'stdout'), 'w')
    const err = openSync(join(dir, 'stderr'), 'w')
    try {
      const result = spawnSync(WINE64, [executable, ...args], { cwd, env: this.env(), stdio: ['ignore', out, err], timeout: 180_000 })
      if (result.error) throw result.error
      const read = (name: string) => readFileSync(join(dir, name), 'utf8').replace(/\r\n/g, '\n')
      return { code: result.status, stdout: read('stdout'), stderr: read('stderr') }
    } finally {
      closeSync(out)
      closeSync(err)
      rmSync(dir, { recursive: true, force: true })
    }
  }

  /** Stops this prefix's wineserver (it would linger a few seconds) and removes the prefix. */
  close(): void {
    if (existsSync(WINESERVER)) spawnSync(WINESERVER, ['-k'], { env: this.env(), stdio: 'ignore', timeout: 30_000 })
    rmSync(this.prefix, { recursive: true, force: true })
  }
}
