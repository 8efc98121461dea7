/**
 * Node's single-executable-application flow (Node 22: runtime-facts.md section 9), offline and for any
 * target from a Linux x64 machine:
 *
 *   1. the linux-x64 node of the pinned version writes the blob (--experimental-sea-config) from one
 *      CommonJS script plus assets; code cache and snapshot off, so the blob is platform-neutral
 *   2. a copy of the target's node binary of the same version is stripped (Linux, when it still starts
 *      afterwards), then postject injects the blob (NODE_SEA_BLOB) and flips the sentinel fuse
 *   3. where this machine can run the result, it is started once to prove it works
 *
 * postject runs in a child process of that same linux-x64 node: it holds the whole binary several times
 * over in memory (~860 MB for a 120 MB node), which should not inflate the builder, and it reports its
 * peak memory back.
 */
import { copyFile, chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { publishFile } from '../archive/publish.js'
import { ExecutableBuildError } from './errors.js'
import { type Runner, type ToolResult, runBinary, runTool, stripToolFor } from './host.js'
import { type ExePlatform, familyOf } from './runtimes.js'

export const SEA_RESOURCE = 'NODE_SEA_BLOB'
/**
 * The sentinel postject flips to tell node a blob is present. Assembled at run time so no bundled copy
 * of this module contains it: the builder's own executable carries this code inside its blob, and
 * postject refuses a binary in which the sentinel appears twice.
 */
export const SEA_FUSE = ['NODE', 'SEA', 'FUSE', 'fce680ab2cc467b6e072b8b5df1996b2'].join('_')

function toolFailure(what: string, result: ToolResult): string {
  const output = `${result.stderr}\n${result.stdout}`.trim()
  const status = result.signal ? `killed by ${result.signal}` : `exit ${result.code}`
  return `${what} failed (${status})${output ? `:\n${output.slice(-4000)}` : ''}`
}

export interface BlobInput {
  /** The linux-x64 node of the pinned version. */
  node: string
  workDir: string
  /** The CommonJS main script. */
  script: string
  /** SEA assets: key → file path. */
  assets?: Record<string, string>
}

/** Writes sea-config.json and the script into workDir and makes the blob. Returns the blob's path. */
export async function makeBlob(input: BlobInput): Promise<{ path: string; size: number; ms: number }> {
  if (input.script.includes(SEA_FUSE)) {
    throw new ExecutableBuildError('the script to embed contains the SEA sentinel fuse string, so injection would find it twice', {
      hint: 'Build the string at run time (see SEA_FUSE in src/sea/sea.ts) instead of writing it as a literal.',
    })
  }
  const main = join(input.workDir, 'main.cjs')
  const output = join(input.workDir, 'sea-prep.blob')
  const config = join(input.workDir, 'sea-config.json')
  await writeFile(main, input.script)
  await writeFile(
    config,
    JSON.stringify({
      main,
      output,
      // Off: the blob must start on every target's node, not only the x64 one that writes it.
      useCodeCache: false,
      useSnapshot: false,
      disableExperimentalSEAWarning: true,
      ...(input.assets ? { assets: input.assets } : {}),
    }),
  )
  const result = await runTool(input.node, ['--experimental-sea-config', config], {
    cwd: input.workDir,
    env: { ...process.env, NODE_OPTIONS: '' },
    timeoutMs: 5 * 60_000,
  })
  if (result.code !== 0) throw new ExecutableBuildError(toolFailure('making the SEA blob', result))
  const blob = await readFile(output)
  // Assets go into the blob verbatim: one of them holding the sentinel is as fatal as the script.
  if (blob.includes(SEA_FUSE)) throw new ExecutableBuildError('the SEA blob contains the sentinel fuse string (from an asset), so injection would find it twice')
  return { path: output, size: blob.length, ms: result.ms }
}

export interface StripOutcome {
  stripped: boolean
  /** Why not, when not. */
  reason?: string
  ms: number
}

/**
 * Strips the copy at `path` in place when the platform has a strip tool here and the stripped binary
 * still answers `--version` with `expectedVersion` (run natively or under qemu). Otherwise the copy is
 * left as it was: a larger executable beats one that might not start.
 */
export async function stripIfSafe(path: string, platform: ExePlatform, runner: Runner | null, expectedVersion: string): Promise<StripOutcome> {
  const started = performance.now()
  const elapsed = () => performance.now() - started
  if (familyOf(platform) !== 'linux') return { stripped: false, reason: 'Windows binaries are not stripped', ms: 0 }
  const tool = stripToolFor(platform)
  if (tool === null) return { stripped: false, reason: `no strip tool for ${platform} on PATH`, ms: 0 }
  if (runner === null) return { stripped: false, reason: `cannot run ${platform} binaries here to check a stripped one`, ms: 0 }
  const stripped = `${path}.stripped`
  const result = await runTool(tool, ['-o', stripped, path], { timeoutMs: 5 * 60_000 })
  if (result.code !== 0) return { stripped: false, reason: toolFailure(tool, result), ms: elapsed() }
  const check = await runBinary(runner, stripped, ['--version'], { timeoutMs: 60_000, env: { ...process.env, NODE_OPTIONS: '' } })
  if (check.code !== 0 || check.stdout.trim() !== `v${expectedVersion}`) {
    return { stripped: false, reason: `the stripped binary does not start: ${toolFailure('--version', check)}`, ms: elapsed() }
  }
  await publishFile(stripped, path, { mode: 0o755 })
  return { stripped: true, ms: elapsed() }
}

/** The postject child: the API in one file, the blob passed by path, the fuse by argument (never a literal). */
const POSTJECT_WORKER = `'use strict'
const { readFileSync } = require('node:fs')
const [api, executable, resource, blob, fuse] = process.argv.slice(2)
require(api)
  .inject(executable, resource, readFileSync(blob), { sentinelFuse: fuse })
  .then(
    () => process.stdout.write(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS }) + '\\n'),
    (error) => {
      process.stderr.write(String((error && error.message) || error) + '\\n')
      process.exitCode = 1
    },
  )
`

export interface InjectInput {
  /** A node to run postject with (the pinned linux-x64 one). */
  node: string
  /** postject's dist/api.js. */
  postjectApi: string
  /** The binary copy to inject into (changed in place). */
  executable: string
  blob: string
  workDir: string
}

/** Injects the blob; returns postject's peak resident memory (KiB) and time. */
export async function injectBlob(input: InjectInput): Promise<{ maxRssKb: number; ms: number }> {
  const worker = join(input.workDir, 'postject-worker.cjs')
  await writeFile(worker, POSTJECT_WORKER)
  const result = await runTool(input.node, [worker, input.postjectApi, input.executable, SEA_RESOURCE, input.blob, SEA_FUSE], {
    cwd: input.workDir,
    env: { ...process.env, NODE_OPTIONS: '' },
    timeoutMs: 10 * 60_000,
  })
  if (result.code !== 0) throw new ExecutableBuildError(toolFailure('postject (injecting the SEA blob)', result))
  let maxRssKb = 0
  try {
    maxRssKb = Number((JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as { maxRssKb?: number }).maxRssKb ?? 0)
  } catch {
    // postject printed something else last; the memory figure is informational only
  }
  return { maxRssKb, ms: result.ms }
}

/** Copies a node binary to `dest` as a writable executable (cache copies are read-only). */
export async function copyBinary(source: string, dest: string): Promise<number> {
  await copyFile(source, dest)
  await chmod(dest, 0o755)
  return (await stat(dest)).size
}
