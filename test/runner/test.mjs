/**
 * `npm test`: the type-check beside the suite instead of before it, so neither core waits for it (the
 * suite is CPU-bound, docs/architecture.md, "Tests"). Test bundles are made first (prebuild.mjs), then
 * tap runs with the arguments given. tsc's report is printed after tap's, and the exit code is tap's, or
 * tsc's when tap passed and the types did not.
 *
 * The type-check is TypeScript 7's native tsc (the `typescript-native` alias): 3 s and 6 CPU-s here
 * against TypeScript 5.9's 12 s and 19 CPU-s, with the same verdicts. 5.9 stays for its JavaScript
 * compiler API, which test/layers.test.ts and test/function-length.test.ts parse sources with (7 offers
 * one only as an unstable API over a server process).
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ROOT } from './bundle.mjs'

/** Runs `command` to its end: its exit code (1 for a signal), its output when `capture` is set. */
function run(command, args, capture = false) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit' })
    let output = ''
    if (capture) for (const stream of [child.stdout, child.stderr]) stream.setEncoding('utf8').on('data', (text) => (output += text))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code: code ?? 1, output }))
  })
}

const typecheck = run(process.execPath, [join(ROOT, 'node_modules', 'typescript-native', 'bin', 'tsc'), '--noEmit', '-p', '.'], true)
const prebuild = await run(process.execPath, [join(ROOT, 'test', 'runner', 'prebuild.mjs')])
const suite = prebuild.code === 0 ? await run(join(ROOT, 'node_modules', '.bin', 'tap'), process.argv.slice(2)) : prebuild
const types = await typecheck
if (types.code !== 0) console.log(`\ntsc --noEmit found type errors:\n${types.output}`)
process.exitCode = suite.code !== 0 ? suite.code : types.code
