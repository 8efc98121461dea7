/**
 * `npm run bench [-- --runs N] [--matrix full|containerd] [--cache-dir DIR] [--keep]`: the build and
 * install paths against their floors (docs/architecture.md "Performance", issue 8). Each row is a ratio to a baseline
 * measured in the same run, min/median/max over at least 5 runs, with the issue's target beside it:
 *
 *   warm single build             edgebundle build, every input cached    tar -cf - <payload> | gzip -6
 *   bundle bytes                  the .tar.gz                             that gzip baseline's output
 *   verify + dry-run              ./install --dry-run (it verifies first)  sha256sum -c SHA256SUMS
 *                                 and ./install verify, then --dry-run (two runs: the bundle hashed twice)
 *   installer apply               ./install --root <empty> (starts nothing: no services)   (absolute)
 *   warm matrix                   one `build` of every target             sum of warm single builds / cores
 *   two builds at once, cold      two `build`s side by side on one cache   one such build alone
 *     member cache                whose gzip members were removed (CI jobs sharing a cache: the
 *                                 second waits for the first's members instead of compressing them)
 *   KubeEdge parts: warm build    the same containerd bundle with          tar -cf - <its payload> | gzip -6
 *     and bundle bytes            --pull-kubeedge-images (the installation-package image and keadm)
 *   peak RSS                      a warm build, the installer             (absolute)
 *
 * The payload is real where it can be: Debian's containerd, runc and CNI plugins in upstream's layouts
 * (test/fetch/artifacts.ts), crictl as a tarball of Debian's ctr, the pause image from a loopback
 * registry (test/oci/fixtures.ts), the real installer executable. The installation-package image is a
 * stand-in built with umoci (keadm and edgecore at /usr/local/bin as incompressible bytes of about the
 * size of KubeEdge's own binaries, KEADM_MIB and EDGECORE_MIB) pushed to that registry under
 * kubeedge/installation-package:v<patch> and pulled with --image-repository. What Debian lacks (CRI-O, Docker,
 * cri-dockerd, Kata) and every arm64 file are stand-ins of about upstream's size under upstream's names,
 * pinned by a catalog override: incompressible bytes, as upstream's compressed archives are (arm64 ones
 * are the amd64 files plus a trailer, so their blobs differ). Only the amd64 containerd bundle is
 * installed, so only its files need to be real. Every file is served by the loopback mirror
 * (test/fetch/mirror.ts); a cold pass fetches them into the cache, then every timed build runs --offline.
 *
 * Builds run the CLI as shipped (dist/edgebundle.mjs, bundled by scripts/build-cli.mjs) in a child
 * process each, from a snapshot of the tree, so edits made while the bench runs cannot turn a warm
 * build cold (the installer executable is keyed by the installer's source). The cache is
 * <tmp>/edgebundle-bench-cache (kept between runs: its stand-ins are deterministic) with its sea/
 * folder linked to the executable cache the tests share (EDGEBUNDLE_TEST_SEA_CACHE, else
 * <tmp>/edgebundle-test-sea-cache). Peak RSS comes from GNU time (Debian's `time` package), else from
 * polling VmHWM in /proc while the child runs.
 *
 * Baselines and measurements alternate order from run to run, so a machine that gets busier or quieter
 * during the bench weighs on both sides alike.
 */
import { spawn } from 'node:child_process'
import { createCipheriv, createHash } from 'node:crypto'
import { once } from 'node:events'
import { appendFileSync, copyFileSync, cpSync, createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { parseDocument } from 'yaml'
import { loadCatalog, packageRoot } from '../src/catalog/load.js'
import { artifactRelativePath } from '../src/fetch/sources.js'
import { validateRequest } from '../src/resolve/request.js'
import { type ResolvedComponent, listMatrix, resolveTarget } from '../src/resolve/resolve.js'
import { debianArtifacts } from '../test/fetch/artifacts.js'
import { startMirror } from '../test/fetch/mirror.js'
import { buildTestImages, pushMultiPlatform, skipUnlessTools, startRegistry } from '../test/oci/fixtures.js'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    matrix: { type: 'string', default: 'full' },
    'cache-dir': { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
})
const RUNS = Math.max(5, Number(values.runs))
if (!['full', 'containerd'].includes(values.matrix!)) throw new Error('--matrix is full or containerd')
const CORES = availableParallelism()
const ROOT = packageRoot()
const SEA_CACHE = process.env['EDGEBUNDLE_TEST_SEA_CACHE'] || join(tmpdir(), 'edgebundle-test-sea-cache')
const CACHE = values['cache-dir'] ?? join(tmpdir(), 'edgebundle-bench-cache')
const WORK = join(tmpdir(), `edgebundle-bench-${process.pid}`)
const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null
const MiB = 1024 * 1024
const log = (message: string) => process.stderr.write(`${message}\n`)

/** Approximate sizes of upstream's files that Debian has no stand-in for (MiB): compressed archives all. */
const STAND_IN_MIB: Record<string, number> = { 'cri-o': 70, 'docker-static': 70, 'cri-dockerd': 20, 'kata-static': 230 }
/** Approximate sizes of keadm and edgecore (MiB) in the installation-package image: Go binaries, stored as incompressible bytes. */
const KEADM_MIB = 40
const EDGECORE_MIB = 60

// ------------------------------------------------------------------------------------------- children

interface Measured {
  ms: number
  /** Peak resident set of the child (the largest process of its tree under GNU time), KiB. */
  rssKb: number | null
  stdout: string
  stderr: string
}

/** Runs a command to its end; wall time from here, peak RSS from GNU time or /proc. Fails on a non-zero exit. */
async function measure(command: string, args: string[], options: { cwd?: string } = {}): Promise<Measured> {
  const rssFile = join(WORK, `rss-${process.hrtime.bigint()}`)
  const [file, argv] = GNU_TIME ? [GNU_TIME, ['-f', '%M', '-o', rssFile, command, ...args]] : [command, args]
  const started = performance.now()
  const child = spawn(file, argv, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()))
  let polledKb = 0
  const poll = GNU_TIME
    ? undefined
    : setInterval(() => {
        // VmHWM is the child's own peak; without GNU time its descendants (esbuild) are not counted.
        const status = (() => {
          try {
            return readFileSync(`/proc/${child.pid}/status`, 'utf8')
          } catch {
            return ''
          }
        })()
        const hwm = /VmHWM:\s+(\d+)/.exec(status)
        if (hwm) polledKb = Math.max(polledKb, Number(hwm[1]))
      }, 10)
  const [code] = (await once(child, 'close')) as [number | null]
  const ms = performance.now() - started
  if (poll) clearInterval(poll)
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}\n${stdout.slice(-2000)}\n${stderr.slice(-4000)}`)
  let rssKb: number | null = polledKb || null
  if (GNU_TIME) {
    rssKb = Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1))
    rmSync(rssFile, { force: true })
  }
  return { ms, rssKb, stdout, stderr }
}

// ------------------------------------------------------------------------------------------- statistics

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const triple = (values: number[], format: (n: number) => string) => `${format(Math.min(...values))} / ${format(median(values))} / ${format(Math.max(...values))}`
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const ratio = (n: number) => `${n.toFixed(3)}x`
const megabytes = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`

// ------------------------------------------------------------------------------------------- inputs

/** Deterministic incompressible bytes: AES-128-CTR over zeros, keyed by `seed`. */
async function writeStandIn(path: string, size: number, seed: string): Promise<void> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  const out = createWriteStream(path)
  const zeros = Buffer.alloc(MiB)
  for (let written = 0; written < size; written += MiB) {
    if (!out.write(cipher.update(zeros.subarray(0, Math.min(MiB, size - written))))) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

function sh(command: string, args: string[], cwd?: string): Promise<Measured> {
  return measure(command, args, cwd === undefined ? {} : { cwd })
}

interface Target {
  os: string
  arch: string
  runtime: string
}

const label = (t: Target) => `${t.os}/${t.arch}/${t.runtime}`
const targetFlags = (t: Target) => ['--os', t.os, '--arch', t.arch, '--runtime', t.runtime]

/**
 * The supported Linux targets at the default KubeEdge version whose executable builds offline (amd64,
 * arm64: no npm package carries Node for arm v7), and the distinct components they need.
 */
function matrixTargets(catalogDir: string): { targets: Target[]; components: ResolvedComponent[] } {
  const catalog = loadCatalog(catalogDir)
  const version = catalog.kubeedge.default
  const targets: Target[] = []
  const components = new Map<string, ResolvedComponent>()
  for (const entry of listMatrix(catalog)) {
    const { os, arch, runtime, kubeedge } = entry.target
    if (!entry.supported || kubeedge !== version || os === 'windows' || arch === 'arm') continue
    if (values.matrix === 'containerd' && (runtime !== 'containerd' || arch !== 'amd64')) continue
    targets.push({ os, arch, runtime })
    for (const c of resolveTarget(catalog, validateRequest(catalog, { os, arch, runtime })).components) components.set(`${c.id}@${c.version}@${c.platform}`, c)
  }
  return { targets, components: [...components.values()] }
}

/** The bench's files for every component, served by the mirror; the catalog copy pins their digests. */
async function prepareInputs(catalogDir: string, components: ResolvedComponent[], serve: (path: string, file: string) => void): Promise<void> {
  const debian = debianArtifacts()
  const real: Record<string, string> = {
    containerd: debian.files.find((f) => f.id === 'containerd' && f.platform === 'linux/amd64')!.path,
    runc: debian.files.find((f) => f.id === 'runc')!.path,
    'cni-plugins': debian.files.find((f) => f.id === 'cni-plugins' && f.platform === 'linux/amd64')!.path,
  }
  // crictl: upstream's layout (one `crictl` at the top), with Debian's ctr as the binary.
  const crictlDir = join(WORK, 'crictl')
  mkdirSync(crictlDir, { recursive: true })
  copyFileSync('/usr/bin/ctr', join(crictlDir, 'crictl'))
  real['crictl'] = join(WORK, 'crictl.tar.gz')
  await sh('sh', ['-c', `tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - -C '${crictlDir}' crictl | gzip -n -6 > '${real['crictl']}'`])

  const componentsPath = join(catalogDir, 'components.yaml')
  const document = parseDocument(readFileSync(componentsPath, 'utf8'))
  for (const c of components) {
    const file = join(WORK, 'inputs', artifactRelativePath(c))
    mkdirSync(join(file, '..'), { recursive: true })
    const source = real[c.id]
    if (existsSync(file)) {
      // A name without the architecture (docker-<v>.tgz): the mirror layout has one file for both, so
      // the platforms share it and its pin.
    } else if (source !== undefined) {
      copyFileSync(source, file)
      if (c.platform !== 'linux/amd64') appendFileSync(file, `\nedgebundle bench stand-in for ${c.platform}\n`)
    } else {
      const mib = STAND_IN_MIB[c.id]
      if (mib === undefined) throw new Error(`no stand-in size for ${c.id}: add it to STAND_IN_MIB`)
      await writeStandIn(file, mib * MiB, `${c.id} ${c.version} ${c.platform}`)
    }
    document.setIn(['components', c.id, 'versions', c.version, 'sha256', c.platform], sha256Of(file))
    serve(artifactRelativePath(c), file)
  }
  writeFileSync(componentsPath, document.toString())
}

/** The installation-package stand-in (linux/amd64) pushed to `registry` as kubeedge/installation-package:v<release>. */
async function pushInstallationPackage(registryHost: string, release: string): Promise<void> {
  const dir = join(WORK, 'installation-package')
  const layout = join(dir, 'layout')
  const bundle = join(dir, 'bundle')
  await sh('umoci', ['init', '--layout', layout])
  await sh('umoci', ['new', '--image', `${layout}:base`])
  await sh('umoci', ['unpack', '--rootless', '--image', `${layout}:base`, bundle])
  const bin = join(bundle, 'rootfs', 'usr', 'local', 'bin')
  mkdirSync(bin, { recursive: true })
  await writeStandIn(join(bin, 'keadm'), KEADM_MIB * MiB, `keadm ${release}`)
  await writeStandIn(join(bin, 'edgecore'), EDGECORE_MIB * MiB, `edgecore ${release}`)
  await sh('umoci', ['repack', '--image', `${layout}:base`, bundle])
  await sh('umoci', ['config', '--image', `${layout}:base`, '--tag', 'amd64', '--os', 'linux', '--architecture', 'amd64', '--no-history'])
  await sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:amd64`, `docker://${registryHost}/kubeedge/installation-package:v${release}`])
}

// ------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const missingTools = skipUnlessTools()
  if (missingTools) throw new Error(missingTools)
  rmSync(WORK, { recursive: true, force: true })
  mkdirSync(WORK, { recursive: true })
  log(`work folder ${WORK}, cache ${CACHE} (executables from ${SEA_CACHE})`)

  // A snapshot of the tree: the CLI and the installer it bundles stay what they were at the start.
  const tree = join(WORK, 'tree')
  for (const part of ['src', 'bundles', 'templates', 'scripts', 'package.json']) cpSync(join(ROOT, part), join(tree, part), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'))
  await sh(process.execPath, [join(tree, 'scripts', 'build-cli.mjs')])
  const cli = join(tree, 'dist', 'edgebundle.mjs')

  mkdirSync(CACHE, { recursive: true })
  mkdirSync(SEA_CACHE, { recursive: true })
  if (!existsSync(join(CACHE, 'sea'))) symlinkSync(join(SEA_CACHE, 'sea'), join(CACHE, 'sea'))
  mkdirSync(join(SEA_CACHE, 'sea'), { recursive: true })

  const catalogDir = join(WORK, 'bundles')
  cpSync(join(tree, 'bundles'), catalogDir, { recursive: true })
  const { targets, components } = matrixTargets(catalogDir)
  const mirror = await startMirror()
  const registry = await startRegistry(join(WORK, 'registry'))
  try {
    log(`inputs: ${components.length} artifacts for ${targets.length} targets`)
    await prepareInputs(catalogDir, components, (path, file) => mirror.serve(path, file))
    const layout = await buildTestImages(join(WORK, 'images'))
    await pushMultiPlatform(registry, layout, 'kubeedge/pause', '3.6', 'oci')
    const pause = `${registry.host}/kubeedge/pause:3.6`
    const loaded = loadCatalog(catalogDir)
    await pushInstallationPackage(registry.host, loaded.kubeedge.releases[loaded.kubeedge.default]!)
    const kubeedgeFlags = ['--pull-kubeedge-images', '--image-repository', `${registry.host}/kubeedge`]

    const common = ['--catalog', catalogDir, '--cache-dir', CACHE, '--pull-pause', '--pause-image', pause]
    const build = (flags: string[], out: string, online = false) =>
      measure(process.execPath, [cli, 'build', ...common, ...flags, ...(online ? ['--mirror', mirror.url, '--no-upstream'] : ['--offline']), '--out', out, '--json'])
    const matrixFlags = [...new Set(targets.map((t) => t.os))].flatMap((os) => ['--os', os])
      .concat([...new Set(targets.map((t) => t.arch))].flatMap((arch) => ['--arch', arch]))
      .concat([...new Set(targets.map((t) => t.runtime))].flatMap((runtime) => ['--runtime', runtime]))
    if (new Set(targets.map(label)).size !== targets.length) throw new Error('internal: duplicate targets')

    // Cold pass: fetch from the mirror, pull the pause image per platform, build missing executables,
    // fill the gzip member cache. Not measured.
    log('cold pass (fetch, pull, executables, member cache) ...')
    const coldOut = join(WORK, 'cold')
    const cold = await build(matrixFlags, coldOut, true)
    log(`  ${(cold.ms / 1000).toFixed(1)} s`)
    rmSync(coldOut, { recursive: true, force: true })
    await build([...targetFlags({ os: 'ubuntu', arch: 'amd64', runtime: 'containerd' }), ...kubeedgeFlags], coldOut, true)
    rmSync(coldOut, { recursive: true, force: true })

    const headline: Target = { os: 'ubuntu', arch: 'amd64', runtime: 'containerd' }
    const name = 'edgebundle-' + loadCatalog(catalogDir).kubeedge.default + '-ubuntu-amd64-containerd'
    const singleOut = join(WORK, 'single')
    const payload = join(WORK, 'payload')
    const baselineOut = join(WORK, 'baseline.tar.gz')
    const rows = {
      build: [] as number[],
      gzip: [] as number[],
      buildRatio: [] as number[],
      buildRss: [] as number[],
      bytes: [] as number[],
      baselineBytes: [] as number[],
      sums: [] as number[],
      verify: [] as number[],
      dryRun: [] as number[],
      verifyRatio: [] as number[],
      apply: [] as number[],
      installerRss: [] as number[],
      matrix: [] as number[],
      singlesSum: [] as number[],
      matrixRatio: [] as number[],
      matrixRss: [] as number[],
      coldOne: [] as number[],
      coldTwo: [] as number[],
      coldTwoRatio: [] as number[],
      reused: [] as number[],
      steps: [] as Record<string, number>[],
      keBuild: [] as number[],
      keGzip: [] as number[],
      keBuildRatio: [] as number[],
      keBytes: [] as number[],
      keBaselineBytes: [] as number[],
      keReused: [] as number[],
    }
    const kePayload = join(WORK, 'payload-kubeedge')
    const keOut = join(WORK, 'single-kubeedge')
    const keBaselineOut = join(WORK, 'baseline-kubeedge.tar.gz')

    for (let run = 1; run <= RUNS; run++) {
      log(`run ${run}/${RUNS}`)
      const flip = run % 2 === 0

      // Warm single build against tar | gzip -6 of the same payload (extracted once, from the first build).
      const single = async () => {
        rmSync(singleOut, { recursive: true, force: true })
        const result = await build(targetFlags(headline), singleOut)
        const json = JSON.parse(result.stdout) as { size: number; timings: Record<string, number>; gzip: { reusedFiles: number; compressed: number; members: number } }
        rows.build.push(result.ms)
        rows.buildRss.push(result.rssKb ?? NaN)
        rows.bytes.push(json.size)
        rows.reused.push(json.gzip.reusedFiles)
        rows.steps.push(json.timings)
        if (!existsSync(payload)) {
          mkdirSync(payload)
          await sh('tar', ['-xzf', join(singleOut, `${name}.tar.gz`), '-C', payload])
        }
      }
      const baseline = async () => {
        const result = await sh('sh', ['-c', `tar -cf - -C '${payload}' '${name}' | gzip -6 > '${baselineOut}'`])
        rows.gzip.push(result.ms)
        rows.baselineBytes.push(statSync(baselineOut).size)
      }
      if (flip || run === 1) {
        await single()
        await baseline()
      } else {
        await baseline()
        await single()
      }
      rows.buildRatio.push(rows.build.at(-1)! / rows.gzip.at(-1)!)

      // The same bundle with the KubeEdge parts, against tar | gzip -6 of its own payload.
      const keSingle = async () => {
        rmSync(keOut, { recursive: true, force: true })
        const result = await build([...targetFlags(headline), ...kubeedgeFlags], keOut)
        const json = JSON.parse(result.stdout) as { size: number; gzip: { reusedFiles: number } }
        rows.keBuild.push(result.ms)
        rows.keBytes.push(json.size)
        rows.keReused.push(json.gzip.reusedFiles)
        if (!existsSync(kePayload)) {
          mkdirSync(kePayload)
          await sh('tar', ['-xzf', join(keOut, `${name}.tar.gz`), '-C', kePayload])
        }
      }
      const keBaseline = async () => {
        const result = await sh('sh', ['-c', `tar -cf - -C '${kePayload}' '${name}' | gzip -6 > '${keBaselineOut}'`])
        rows.keGzip.push(result.ms)
        rows.keBaselineBytes.push(statSync(keBaselineOut).size)
      }
      if (flip || run === 1) {
        await keSingle()
        await keBaseline()
      } else {
        await keBaseline()
        await keSingle()
      }
      rows.keBuildRatio.push(rows.keBuild.at(-1)! / rows.keGzip.at(-1)!)

      // The installer on the node: verify and dry-run against sha256sum -c; apply into an empty root.
      const bundle = join(payload, name)
      const emptyRoot = join(WORK, `root-dry-${run}`)
      const applyRoot = join(WORK, `root-apply-${run}`)
      mkdirSync(emptyRoot)
      mkdirSync(applyRoot)
      const sums = async () => rows.sums.push((await sh('sha256sum', ['--quiet', '-c', 'SHA256SUMS'], bundle)).ms)
      const installer = async () => {
        const verify = await sh(join(bundle, 'install'), ['verify'], bundle)
        const dry = await sh(join(bundle, 'install'), ['--dry-run', '--root', emptyRoot], bundle)
        rows.verify.push(verify.ms)
        rows.dryRun.push(dry.ms)
        rows.installerRss.push(Math.max(verify.rssKb ?? 0, dry.rssKb ?? 0))
      }
      if (flip) {
        await installer()
        await sums()
      } else {
        await sums()
        await installer()
      }
      rows.verifyRatio.push((rows.verify.at(-1)! + rows.dryRun.at(-1)!) / rows.sums.at(-1)!)
      const apply = await sh(join(bundle, 'install'), ['--root', applyRoot], bundle)
      rows.apply.push(apply.ms)
      rows.installerRss[rows.installerRss.length - 1] = Math.max(rows.installerRss.at(-1)!, apply.rssKb ?? 0)
      rmSync(emptyRoot, { recursive: true, force: true })
      rmSync(applyRoot, { recursive: true, force: true })

      // The matrix in one invocation against each target built on its own.
      const singles = async () => {
        let sum = 0
        for (const target of targets) {
          const out = join(WORK, 'singles')
          sum += (await build(targetFlags(target), out)).ms
          rmSync(out, { recursive: true, force: true })
        }
        rows.singlesSum.push(sum)
      }
      const matrix = async () => {
        const out = join(WORK, 'matrix')
        const result = await build(matrixFlags, out)
        const built = (JSON.parse(result.stdout) as { status: string }[]).filter((row) => row.status === 'built').length
        if (built !== targets.length) throw new Error(`the matrix built ${built} of ${targets.length} targets`)
        rows.matrix.push(result.ms)
        rows.matrixRss.push(result.rssKb ?? NaN)
        rmSync(out, { recursive: true, force: true })
      }
      if (flip) {
        await matrix()
        await singles()
      } else {
        await singles()
        await matrix()
      }
      rows.matrixRatio.push(rows.matrix.at(-1)! / (rows.singlesSum.at(-1)! / CORES))

      // Two builds at once on a cache without gzip members, against one: the members are compressed once.
      // The warm members are set aside meanwhile and put back, so the other rows stay warm.
      const withColdMembers = async (count: number) => {
        const members = join(CACHE, 'gzip-members')
        const kept = `${members}.kept`
        renameSync(members, kept)
        try {
          const outs = Array.from({ length: count }, (_, index) => join(WORK, `cold-members-${index}`))
          const started = performance.now()
          await Promise.all(outs.map((out) => build(targetFlags(headline), out)))
          const ms = performance.now() - started
          for (const out of outs) rmSync(out, { recursive: true, force: true })
          return ms
        } finally {
          rmSync(members, { recursive: true, force: true })
          renameSync(kept, members)
        }
      }
      if (flip) {
        rows.coldTwo.push(await withColdMembers(2))
        rows.coldOne.push(await withColdMembers(1))
      } else {
        rows.coldOne.push(await withColdMembers(1))
        rows.coldTwo.push(await withColdMembers(2))
      }
      rows.coldTwoRatio.push(rows.coldTwo.at(-1)! / rows.coldOne.at(-1)!)
    }

    // --------------------------------------------------------------------------------------- report
    const payloadFiles = readdirSync(join(payload, name), { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile())
    const payloadBytes = payloadFiles.reduce((sum, entry) => sum + statSync(join(entry.parentPath, entry.name)).size, 0)
    const bytesRatio = rows.bytes.map((bytes, i) => bytes / rows.baselineBytes[i]!)
    const dryRatio = rows.dryRun.map((ms, i) => ms / rows.sums[i]!)
    const keBytesRatio = rows.keBytes.map((bytes, i) => bytes / rows.keBaselineBytes[i]!)
    // Judged on the median; whether the slowest run also made it is shown beside.
    const verdict = (values: number[], limit: number) => `${median(values) <= limit ? 'met' : 'NOT met'} (max: ${Math.max(...values) <= limit ? 'met' : 'not met'})`
    const table: string[][] = [
      ['row', 'measured (min / median / max)', 'baseline (min / median / max)', 'ratio (min / median / max)', 'target', 'verdict'],
      ['warm single build', triple(rows.build, seconds), `tar | gzip -6: ${triple(rows.gzip, seconds)}`, triple(rows.buildRatio, ratio), '<= 0.2x', verdict(rows.buildRatio, 0.2)],
      ['bundle bytes', triple(rows.bytes, (n) => `${n}`), `gzip -6: ${triple(rows.baselineBytes, (n) => `${n}`)}`, triple(bytesRatio, ratio), '<= 1.02x', verdict(bytesRatio, 1.02)],
      ['warm build, KubeEdge parts', triple(rows.keBuild, seconds), `tar | gzip -6: ${triple(rows.keGzip, seconds)}`, triple(rows.keBuildRatio, ratio), '<= 0.2x', verdict(rows.keBuildRatio, 0.2)],
      ['bundle bytes, KubeEdge parts', triple(rows.keBytes, (n) => `${n}`), `gzip -6: ${triple(rows.keBaselineBytes, (n) => `${n}`)}`, triple(keBytesRatio, ratio), '<= 1.02x', verdict(keBytesRatio, 1.02)],
      [
        'installer verify + dry-run: --dry-run',
        triple(rows.dryRun, seconds),
        `sha256sum -c: ${triple(rows.sums, seconds)}`,
        triple(dryRatio, ratio),
        '<= 1.5x',
        verdict(dryRatio, 1.5),
      ],
      [
        '  verify, then --dry-run (2 runs)',
        `${triple(rows.verify.map((v, i) => v + rows.dryRun[i]!), seconds)}`,
        '',
        triple(rows.verifyRatio, ratio),
        '<= 1.5x',
        verdict(rows.verifyRatio, 1.5),
      ],
      ['  verify alone', triple(rows.verify, seconds), '', triple(rows.verify.map((v, i) => v / rows.sums[i]!), ratio), '', ''],
      ['installer apply --root (no services)', triple(rows.apply, seconds), '', '', '<= 2 s', verdict(rows.apply, 2000)],
      [
        `warm matrix (${targets.length} targets)`,
        triple(rows.matrix, seconds),
        `sum of singles / ${CORES} cores: ${triple(rows.singlesSum.map((s) => s / CORES), seconds)}`,
        triple(rows.matrixRatio, ratio),
        '<= 1.2x',
        verdict(rows.matrixRatio, 1.2),
      ],
      ['two builds at once, cold member cache', triple(rows.coldTwo, seconds), `one build: ${triple(rows.coldOne, seconds)}`, triple(rows.coldTwoRatio, ratio), '<= 1.3x', verdict(rows.coldTwoRatio, 1.3)],
      ['peak RSS, warm build', triple(rows.buildRss, megabytes), '', '', '<= 300 MB', verdict(rows.buildRss.map((kb) => (kb * 1024) / 1e6), 300)],
      ['peak RSS, installer (verify/dry-run/apply)', triple(rows.installerRss, megabytes), '', '', '', ''],
      ['peak RSS, matrix build', triple(rows.matrixRss, megabytes), '', '', '', ''],
    ]
    const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)))
    const lines = table.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd())
    const stepNames = Object.keys(rows.steps[0] ?? {})
    process.stdout.write(
      [
        `edgebundle bench: ${RUNS} runs, ${CORES} cores, Node ${process.version}, ${GNU_TIME ? 'GNU time' : '/proc VmHWM'} for RSS`,
        `payload: ${name}, ${(payloadBytes / MiB).toFixed(1)} MiB in ${payloadFiles.length} files; matrix: ${targets.map(label).join(' ')}`,
        '',
        lines[0]!,
        ...lines.slice(1),
        '',
        `warm single build steps (median ms): ${stepNames.map((step) => `${step} ${median(rows.steps.map((s) => s[step] ?? 0)).toFixed(0)}`).join(', ')}; files whose gzip members were copied from the cache: ${triple(rows.reused, (n) => `${n}`)} (KubeEdge parts: ${triple(rows.keReused, (n) => `${n}`)})`,
        '',
      ].join('\n'),
    )
  } finally {
    await registry.stop()
    await mirror.close()
    if (!values.keep) rmSync(WORK, { recursive: true, force: true })
  }
}

await main()
