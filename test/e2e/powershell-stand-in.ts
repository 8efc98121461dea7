/**
 * A stand-in powershell.exe for running the Windows installer under wine. The installer asks PowerShell
 * whether it runs as Administrator (preflight, before any real install); wine's powershell.exe is a stub
 * that prints nothing, so the answer is "cannot tell" and the install stops with exit 4. This stand-in
 * answers that one question "True" (wine gives every program full rights, as an Administrator has) and
 * fails every other script, which the installer treats as "PowerShell did not answer" (a warning).
 *
 * It is a Node SEA made from the pinned win-x64 Node exactly as install.exe is (makeBlob + injectBlob),
 * cached in the shared test cache by script and Node version, so it is built once per machine (~15 s).
 */
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { PS_IS_ADMINISTRATOR } from '../../src/installer/preflight.js'
import { obtainNodeRuntime } from '../../src/sea/node-runtime.js'
import { loadNodeRuntimes } from '../../src/sea/runtimes.js'
import { copyBinary, injectBlob, makeBlob } from '../../src/sea/sea.js'
import { seaDirs, withLock } from '../../src/sea/workspace.js'
import { SEA_TEST_CACHE, Wine } from '../sea/fixtures.js'

const SCRIPT = `'use strict'
// -EncodedCommand carries the script as base64 of UTF-16LE.
const args = process.argv.slice(2)
const at = args.findIndex((arg) => arg.toLowerCase() === '-encodedcommand')
const script = at === -1 ? '' : Buffer.from(args[at + 1] || '', 'base64').toString('utf16le')
if (script.trim() === ${JSON.stringify(PS_IS_ADMINISTRATOR)}) process.stdout.write('True\\r\\n')
else process.exitCode = 1
`

/** The stand-in's path in the test cache, built there first when missing. */
export async function powershellStandIn(note: (message: string) => void): Promise<string> {
  const runtimes = loadNodeRuntimes()
  const key = createHash('sha256').update(`${runtimes.version}\n${SCRIPT}`).digest('hex').slice(0, 16)
  const dir = join(SEA_TEST_CACHE, 'e2e')
  const target = join(dir, `powershell-${key}.exe`)
  if (existsSync(target)) return target
  // The wine tests start together: one builds it, the others wait for it.
  return withLock(seaDirs(SEA_TEST_CACHE), `powershell-${key}`, async () => (existsSync(target) ? target : buildStandIn(runtimes, dir, target, note)))
}

async function buildStandIn(runtimes: ReturnType<typeof loadNodeRuntimes>, dir: string, target: string, note: (message: string) => void): Promise<string> {
  mkdirSync(dir, { recursive: true })
  const options = {
    cacheDir: SEA_TEST_CACHE,
    runtimes,
    offline: true,
    registry: () => Promise.reject(new Error('the Node packages must be in the test cache (installerFor warms it)')),
  }
  const builder = await obtainNodeRuntime('linux/amd64', options)
  const windows = await obtainNodeRuntime('windows/amd64', options)
  const work = mkdtempSync(join(dir, '.build-'))
  try {
    const started = performance.now()
    const blob = await makeBlob({ node: builder.path, workDir: work, script: SCRIPT })
    const exe = join(work, 'powershell.exe')
    await copyBinary(windows.path, exe)
    const postjectApi = createRequire(import.meta.url).resolve('postject')
    await injectBlob({ node: builder.path, postjectApi, executable: exe, blob: blob.path, workDir: work })
    chmodSync(exe, 0o755)
    renameSync(exe, target) // atomic: a reader sees no half-written stand-in
    note(`built the powershell.exe stand-in in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  return target
}

/**
 * A fresh wine prefix to run install.exe in, and a working folder holding the powershell.exe stand-in
 * (Windows finds a program in the working folder first). Both go with the test: wineserver keeps its socket
 * folder in /tmp/wine-XXXXXX/server-<dev>-<inode of the prefix>, which outlives the prefix, so it is found
 * now, while the prefix can still be looked up, and removed at teardown.
 */
export async function wineWithStandIn(t: Test, work: string): Promise<{ wine: Wine; cwd: string }> {
  const cwd = join(work, 'cwd')
  mkdirSync(cwd)
  copyFileSync(await powershellStandIn((message) => t.comment(message)), join(cwd, 'powershell.exe'))
  const wine = await Wine.create()
  const { dev, ino } = statSync(wine.prefix, { bigint: true })
  const serverDir = `server-${dev.toString(16)}-${ino.toString(16)}`
  t.teardown(() => {
    wine.close()
    for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith('wine-'))) {
      const parent = join(tmpdir(), name)
      if (!existsSync(join(parent, serverDir))) continue
      rmSync(join(parent, serverDir), { recursive: true, force: true })
      if (readdirSync(parent).length === 0) rmSync(parent, { recursive: true, force: true })
    }
  })
  return { wine, cwd }
}
