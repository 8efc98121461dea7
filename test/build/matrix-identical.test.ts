/**
 * Issue 6, "Must show": two builds of the same inputs, in different folders at different times, are
 * byte-identical, for every supported combination.
 *
 * Every combination `edgebundle list` supports at the default KubeEdge version (os × arch × runtime, each
 * runtime with its default source), plus Ubuntu iSulad from carried .deb packages, is built twice with
 * `edgebundle build --all`, one invocation per platform (each takes that platform's pause image archive),
 * in child processes, offline, from stand-ins in upstream's layouts (upstream-stand-ins.ts). The two runs
 * differ in everything that must not matter: input, cache and output folders, working directory,
 * absolute vs relative paths, time (a second apart at least), TZ, umask, locale, TMPDIR, the order
 * targets are built in (and so which run side by side), and a cold vs a warm cache.
 *
 * A combination whose installer executable cannot be built offline (linux/arm: no npm package has Node
 * for armv7, README "Executables") is listed with the builder's own reason; the rest are compared.
 */
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { defaultBundlesDir, loadCatalog, packageRoot } from '../../src/catalog/load.js'
import type { MatrixRow } from '../../src/cli/commands/build.js'
import { normalizedImageName } from '../../src/fetch/images.js'
import { archivesOfPlan } from '../../src/installer/archive/index.js'
import type { BundleManifest } from '../../src/model/manifest.js'
import type { Plan } from '../../src/model/plan.js'
import { bundleName, type Target } from '../../src/model/target.js'
import { planBundleFiles } from '../../src/plan/bundle-files.js'
import { validateRequest } from '../../src/resolve/request.js'
import { listMatrix, resolveTarget } from '../../src/resolve/resolve.js'
import { which } from '../../src/sea/host.js'
import { GUNZIP } from '../fixtures/gunzip.js'
import { TYPESCRIPT_ARGS } from '../fixtures/node-script.js'
import { skipUnlessTools } from '../oci/fixtures.js'
import { SEA_TEST_CACHE, installerFor } from '../sea/fixtures.js'
import { checkAgainstCatalog, distinctComponents, pauseArchives, platformSlug, standInCatalog, writeDebs, writeStandIns } from './upstream-stand-ins.js'

const execFileAsync = promisify(execFile)
const ENTRY = join(packageRoot(), 'src', 'cli', 'entry.ts')
const PAUSE = 'docker.io/kubeedge/pause:3.6'

// Two matrix builds of ~32 bundles, each packing a ~100 MB executable: minutes, more on a busy machine.
const TIMEOUT_MS = 15 * 60_000
t.setTimeout(TIMEOUT_MS)

const missingCommands = ['tar', 'gzip', 'zstd', 'unzip', 'dpkg-deb', 'python3'].filter((command) => which(command) === null)
// Debian's own python3 where it is: a version manager's shim in front of it costs a shell per call.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
const skip = skipUnlessTools() || (missingCommands.length > 0 && `missing ${missingCommands.join(', ')} (apt-get install zstd unzip python3)`)

/** One matrix invocation: targets of one platform, which share its pause image archive and artifacts folder. */
interface Group {
  key: string
  platform: 'linux/amd64' | 'linux/arm64' | 'linux/arm' | 'windows/amd64'
  family: 'linux' | 'windows'
  arch: Target['arch']
  targets: Target[]
  /** Labels the group's rows: `ubuntu/amd64/isulad` or `ubuntu/amd64/isulad+packages`. */
  suffix: string
  extraArgs: (inputs: string, arg: (path: string) => string) => string[]
}

interface RunSpec {
  label: string
  root: string
  cwd: string
  umask: string
  relativePaths: boolean
  /** Build the groups, and each group's targets, in reverse order. */
  reversed: boolean
  env: Record<string, string>
}

interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** The CLI from source in a child process with its own cwd, umask and environment. */
function runCli(args: string[], spec: RunSpec): Promise<CliResult> {
  // Nothing of the test runner's (coverage, loaders, SOURCE_DATE_EPOCH, locale) reaches the build.
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(TAP|NODE_|SOURCE_DATE_EPOCH$|TZ$|LANG$|LANGUAGE$|LC_|TMPDIR$|EDGEBUNDLE_)/.test(key)) env[key] = value
  }
  Object.assign(env, spec.env)
  return new Promise((done, fail) => {
    const child = spawn('sh', ['-c', 'umask "$1"; shift; exec "$@"', 'sh', spec.umask, process.execPath, ...TYPESCRIPT_ARGS, ENTRY, ...args], {
      cwd: spec.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => void (stdout += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => void (stderr += s))
    child.once('error', fail)
    child.once('close', (code) => done({ code, stdout, stderr }))
  })
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) hash.update(chunk)
  return hash.digest('hex')
}

/**
 * Lists the names in a tar stream on stdin and keeps its plan.json, manifest.json and SHA256SUMS in a
 * folder, with Python's tarfile in one pass. GNU tar would need a --to-command shell per member and the
 * ~100 MB executable piped through cat: twice the CPU over 32 archives.
 */
const LIST_AND_KEEP_DOCS = `
import sys, tarfile
docs = sys.argv[1]
with tarfile.open(fileobj=sys.stdin.buffer, mode='r|') as tar:
    for member in tar:
        if member.isdir():
            continue
        print(member.name)
        base = member.name.rsplit('/', 1)[-1]
        if '/' in member.name and base in ('plan.json', 'manifest.json', 'SHA256SUMS'):
            with open(docs + '/' + base, 'wb') as out:
                out.write(tar.extractfile(member).read())
`

/**
 * LIST_AND_KEEP_DOCS over a .tar.gz inflated by GUNZIP (igzip: a third of the CPU of Python's own zlib,
 * on ~3 GB of tar over the 32 archives). Python's output; fails when either process does.
 */
function listTarGz(archive: string, docs: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const gunzip = spawn(GUNZIP, ['-dc', archive], { stdio: ['ignore', 'pipe', 'pipe'] })
    const python = spawn(PYTHON, ['-c', LIST_AND_KEEP_DOCS, docs], { stdio: [gunzip.stdout, 'pipe', 'pipe'] })
    let listing = ''
    let errors = ''
    python.stdout.setEncoding('utf8').on('data', (text: string) => void (listing += text))
    for (const stream of [python.stderr, gunzip.stderr]) stream.setEncoding('utf8').on('data', (text: string) => void (errors += text))
    // gunzip's stdout went to python: 'exit' for it, as its streams never close here; 'close' for python, after its output.
    const ended = (child: typeof python, event: 'exit' | 'close') => new Promise<number | null>((done, fail) => child.once('error', fail).once(event, done))
    Promise.all([ended(gunzip, 'exit'), ended(python, 'close')]).then(([gunzipCode, pythonCode]) => {
      if (gunzipCode === 0 && pythonCode === 0) resolve(listing)
      else reject(new Error(`${GUNZIP} -dc ${archive} | python3 (list and keep docs): exit ${gunzipCode} and ${pythonCode}: ${errors}`))
    }, reject)
  })
}

/**
 * Entry names and the small documents of a built archive, read with Python's tarfile (one pass: the
 * listing and the documents at once) or unzip, not with edgebundle's own reader.
 */
async function readArchive(archive: string, name: string, scratch: string): Promise<{ entries: string[]; plan: Plan; manifest: BundleManifest; sums: string[] }> {
  const dir = mkdtempSync(join(scratch, 'x-'))
  try {
    let listing: string
    if (archive.endsWith('.zip')) {
      listing = (await execFileAsync('unzip', ['-Z1', archive], { maxBuffer: 16 << 20 })).stdout
      await execFileAsync('unzip', ['-q', '-j', archive, ...['plan.json', 'manifest.json', 'SHA256SUMS'].map((f) => `${name}/${f}`), '-d', dir])
    } else {
      listing = await listTarGz(archive, dir)
    }
    const read = (f: string) => readFileSync(join(dir, f), 'utf8')
    return {
      entries: listing.trim().split('\n').filter((e) => !e.endsWith('/')),
      plan: JSON.parse(read('plan.json')) as Plan,
      manifest: JSON.parse(read('manifest.json')) as BundleManifest,
      sums: read('SHA256SUMS').trim().split('\n').map((line) => line.slice(line.indexOf('  ') + 2)),
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Which members of two archives differ, for the failure message: a determinism bug's first clue. */
async function describeDifference(a: string, b: string, scratch: string): Promise<string> {
  const unpack = async (archive: string) => {
    const dir = mkdtempSync(join(scratch, 'diff-'))
    if (archive.endsWith('.zip')) await execFileAsync('unzip', ['-q', archive, '-d', dir])
    else await execFileAsync('tar', ['-xzf', archive, '-C', dir])
    return dir
  }
  const walk = (dir: string, prefix = ''): string[] =>
    readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(dir, `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
  const [da, db] = [await unpack(a), await unpack(b)]
  try {
    const [fa, fb] = [walk(da), walk(db)]
    const lines: string[] = []
    for (const f of [...new Set([...fa, ...fb])].sort()) {
      if (!fa.includes(f) || !fb.includes(f)) lines.push(`only in the ${fa.includes(f) ? 'first' : 'second'}: ${f}`)
      else if (!readFileSync(join(da, f)).equals(readFileSync(join(db, f)))) lines.push(`content differs: ${f}`)
    }
    if (lines.length > 0) return lines.join('\n')
    const list = async (archive: string) =>
      (await execFileAsync(...((archive.endsWith('.zip') ? ['unzip', ['-Zl', archive]] : ['tar', ['--numeric-owner', '--full-time', '-tvzf', archive]]) as [string, string[]]), { maxBuffer: 16 << 20 })).stdout
    const [la, lb] = [await list(a), await list(b)]
    return la === lb ? 'same members, contents and metadata: the container bytes differ (compression or header fields)' : `member metadata differs:\n${la}\n---\n${lb}`
  } finally {
    rmSync(da, { recursive: true, force: true })
    rmSync(db, { recursive: true, force: true })
  }
}

t.test('every supported combination builds byte-identical twice: other folders and paths, later, other TZ, umask, locale and cache state', { skip, timeout: TIMEOUT_MS }, async (t) => {
  const started = performance.now()
  const installers: Partial<Record<Group['platform'], string>> = {}
  for (const platform of ['linux/amd64', 'linux/arm64', 'windows/amd64'] as const) {
    const built = await installerFor(t, platform)
    if (!built) return
    installers[platform] = built.sha256
  }
  const work = t.testdir()

  // The matrix as `edgebundle list` has it, at the default KubeEdge version.
  const shipped = loadCatalog(defaultBundlesDir())
  const kubeedge = shipped.kubeedge.default
  const supported = listMatrix(shipped).filter((e) => e.supported && e.target.kubeedge === kubeedge)
  const label = (target: Target, suffix = '') => `${target.os}/${target.arch}/${target.runtime}${suffix}`
  const groups: Group[] = []
  for (const { target } of supported) {
    const family = shipped.platforms.oses[target.os].family
    const platform = `${family}/${target.arch}` as Group['platform']
    let group = groups.find((g) => g.key === platform)
    if (!group) groups.push((group = { key: platform, platform, family, arch: target.arch, targets: [], suffix: '', extraArgs: () => [] }))
    group.targets.push(target)
  }
  // No default runtime source installs OS packages, so the matrix has no such bundle: one leg stands for them.
  const debs = [
    { name: 'isulad', version: '2.1.6-1', binary: 'isulad' },
    { name: 'lcr', version: '2.1.4-1', binary: 'lcr' },
  ]
  groups.push({
    key: 'linux/amd64+packages',
    platform: 'linux/amd64',
    family: 'linux',
    arch: 'amd64',
    targets: [{ os: 'ubuntu', arch: 'amd64', runtime: 'isulad', kubeedge }],
    suffix: '+packages',
    extraArgs: (inputs, arg) => ['--runtime-source', 'packages', '--packages-dir', arg(join(inputs, 'packages', 'amd64'))],
  })

  // Inputs, made once: a stand-in for every component any target resolves to, pinned in a catalog copy.
  const inputs = join(work, 'inputs')
  const debNames = writeDebs(join(inputs, 'packages', 'amd64'), 'amd64', debs)
  const components = distinctComponents(
    groups.flatMap((g) =>
      g.targets.flatMap((target) => {
        const packages = g.suffix === '+packages' ? { 'runtime-source': 'packages', packages: debNames } : {}
        return resolveTarget(shipped, validateRequest(shipped, { os: target.os, arch: target.arch, runtime: target.runtime, ...packages })).components
      }),
    ),
  )
  const standIns = writeStandIns(join(inputs, 'artifacts'), components)
  standInCatalog(inputs, standIns)
  const pinned = loadCatalog(join(inputs, 'bundles'))
  checkAgainstCatalog(pinned, standIns)
  const decisions = (catalog: typeof shipped) => listMatrix(catalog).map((e) => `${label(e.target)} ${e.target.kubeedge} ${e.supported}`)
  t.same(decisions(pinned), decisions(shipped), `${supported.length} supported combinations at KubeEdge ${kubeedge}; pinning the stand-ins changes no support decision`)
  await pauseArchives(join(inputs, 'images'), [...new Set(groups.map((g) => g.platform))], PAUSE)
  t.comment(`${standIns.length} stand-in artifacts, ${groups.length} matrix invocations per run; inputs ready after ${((performance.now() - started) / 1000).toFixed(1)} s`)

  // Two runs that share nothing but the inputs' bytes and the executable cache (a SEA is made once per
  // platform); the second starts from a copy of the first one's cache, warm where the first was cold.
  const runs: RunSpec[] = [
    { label: 'first', root: join(work, 'a'), cwd: join(work, 'a'), umask: '022', relativePaths: false, reversed: false, env: { TZ: 'UTC', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' } },
    {
      label: 'second',
      root: join(work, 'second-run', 'elsewhere'),
      cwd: join(work, 'second-run', 'elsewhere', 'somewhere', 'deeper'),
      umask: '077',
      relativePaths: true,
      reversed: true,
      env: { TZ: 'Pacific/Kiritimati', LANG: 'de_DE.UTF-8', LC_ALL: 'tr_TR.UTF-8', TMPDIR: join(work, 'second-run', 'tmp') },
    },
  ]
  const rows: Record<string, Map<string, MatrixRow>> = {}
  const runSeconds: number[] = []
  let previousEnd = 0
  let previousCache: string | undefined
  for (const spec of runs) {
    mkdirSync(spec.cwd, { recursive: true })
    if (spec.env['TMPDIR']) mkdirSync(spec.env['TMPDIR'], { recursive: true })
    const runInputs = join(spec.root, 'inputs')
    cpSync(inputs, runInputs, { recursive: true })
    const cache = join(spec.root, 'cache')
    if (previousCache) cpSync(previousCache, cache, { recursive: true, verbatimSymlinks: true })
    else {
      mkdirSync(cache)
      symlinkSync(join(SEA_TEST_CACHE, 'sea'), join(cache, 'sea'))
    }
    previousCache = cache
    const arg = (path: string) => (spec.relativePaths ? relative(spec.cwd, path) : path)
    const ordered = <T>(list: T[]) => (spec.reversed ? [...list].reverse() : list)

    // At least a second after the previous run ended, so whole-second timestamps would show.
    const wait = previousEnd + 1100 - performance.now()
    if (wait > 0) await new Promise((done) => setTimeout(done, wait))
    const runStart = performance.now()
    const byTarget = (rows[spec.label] = new Map<string, MatrixRow>())
    const steps: Record<string, number> = {}
    for (const group of ordered(groups)) {
      const axis = (flag: string, values: string[]) => ordered([...new Set(values)]).flatMap((v) => [flag, v])
      const slug = platformSlug(group.platform)
      const args = [
        'build', '--all', '--json',
        ...axis('--os', group.targets.map((x) => x.os)),
        '--arch', group.arch,
        ...axis('--runtime', group.targets.map((x) => x.runtime)),
        '--catalog', arg(join(runInputs, 'bundles')),
        '--artifacts-dir', arg(join(runInputs, 'artifacts', slug)),
        '--pause-image-archive', arg(join(runInputs, 'images', `pause-${slug}.oci.tar`)),
        '--pause-image', PAUSE,
        '--offline', '--cache-dir', arg(cache),
        '--out', arg(join(spec.root, 'out', group.key.replace(/\W+/g, '-'))),
        ...group.extraArgs(runInputs, arg),
      ]
      const result = await runCli(args, spec)
      let groupRows: MatrixRow[]
      try {
        groupRows = JSON.parse(result.stdout) as MatrixRow[]
      } catch {
        t.fail(`${spec.label} run, ${group.key}: no JSON rows (exit ${result.code})`, { stderr: result.stderr.slice(-4000) })
        return
      }
      for (const row of groupRows) {
        byTarget.set(`${row.target}${group.suffix}`, row)
        for (const [step, ms] of Object.entries(row.result?.timings ?? {})) steps[step] = (steps[step] ?? 0) + ms
      }
    }
    previousEnd = performance.now()
    runSeconds.push((previousEnd - runStart) / 1000)
    const stepText = Object.entries(steps).map(([step, ms]) => `${step} ${(ms / 1000).toFixed(1)} s`).join(', ')
    t.comment(
      `${spec.label} run (umask ${spec.umask}, TZ ${spec.env['TZ']}, LC_ALL ${spec.env['LC_ALL']}, ${spec.relativePaths ? 'relative' : 'absolute'} paths, ${spec.reversed ? 'reversed order, warm cache' : 'cold cache'}): ` +
        `${runSeconds.at(-1)!.toFixed(1)} s; per-bundle steps summed: ${stepText}`,
    )
  }

  // Every combination is accounted for: built in both runs, or excluded with the builder's reason.
  const [first, second] = [rows['first']!, rows['second']!]
  const keys = groups.flatMap((g) => g.targets.map((target) => ({ key: label(target, g.suffix), target, group: g })))
  // A group's --os × --runtime may name an unsupported pair too: that one is skipped, a supported one never.
  t.same(
    [...first, ...second].filter(([key, r]) => r.status === 'skipped' && keys.some((k) => k.key === key)).map(([key, r]) => `${key}: ${r.note}`),
    [],
    `none of the ${keys.length} combinations (${supported.length} supported, 1 packages leg) skipped`,
  )
  // The one accepted failure: no Node for the platform's executable, which cannot be had offline.
  const noNode = (r: MatrixRow | undefined) => r?.status === 'failed' && /^cannot build the installer executable for linux\/arm: /.test(r.note)
  const excluded = keys.filter(({ key }) => noNode(first.get(key)) && noNode(second.get(key)))
  for (const { key } of excluded) t.comment(`excluded ${key}: ${first.get(key)!.note}`)
  const compared = keys.filter((k) => !excluded.includes(k))
  const notBuilt = compared.filter(({ key }) => first.get(key)?.status !== 'built' || second.get(key)?.status !== 'built')
  t.same(
    notBuilt.map(({ key }) => `${key}: ${first.get(key)?.status ?? 'missing'} / ${second.get(key)?.status ?? 'missing'}: ${first.get(key)?.note ?? ''} ${second.get(key)?.note ?? ''}`),
    [],
    'every other combination built in both runs',
  )

  // Byte-identical (the files on disk, not only what the builder reported) and non-trivial: each archive
  // holds the real executable, the install script, plan, manifest, SHA256SUMS and every file they name.
  const scratch = mkdtempSync(join(tmpdir(), 'edgebundle-matrix-identical-'))
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))
  const checks = compared.filter((k) => !notBuilt.includes(k))
  const verdicts = new Map<string, string[]>()
  const lanes = 2 // gunzip and hashing of ~100 MB archives: one per core
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (const [i, { key, target, group }] of checks.entries()) {
        if (i % lanes !== lane) continue
        const [a, b] = [first.get(key)!.result!, second.get(key)!.result!]
        const problems: string[] = []
        const [ha, hb] = [await sha256File(a.archive), await sha256File(b.archive)]
        if (a.archive === b.archive) problems.push('both runs wrote the same file')
        if (ha !== a.sha256 || hb !== b.sha256) problems.push('the reported sha256 is not the file\'s')
        if (ha !== hb) problems.push(`the two builds differ (${a.archive} ${ha}, ${b.archive} ${hb}):\n${await describeDifference(a.archive, b.archive, scratch)}`)

        const name = bundleName(target)
        const { entries, plan, manifest, sums } = await readArchive(a.archive, name, scratch)
        const has = (path: string) => entries.includes(`${name}/${path}`)
        const exe = group.family === 'windows' ? 'install.exe' : 'install'
        const script = group.family === 'windows' ? 'install.ps1' : 'install.sh'
        const named = [exe, script, 'plan.json', 'manifest.json', 'SHA256SUMS', 'README.md', 'sbom.cdx.json', ...planBundleFiles(plan), ...plan.components.map((c) => c.file), ...sums]
        if (archivesOfPlan(plan).length > 0) named.push('archives.json')
        const missing = [...new Set(named)].filter((path) => !has(path))
        if (missing.length > 0) problems.push(`missing from the archive: ${missing.join(', ')}`)
        if (manifest.name !== name || JSON.stringify(manifest.target) !== JSON.stringify(target)) problems.push(`manifest names ${manifest.name} ${JSON.stringify(manifest.target)}`)
        const exeFile = manifest.files.find((f) => f.path === exe)
        const expectedExe = installers[group.platform]
        if (expectedExe ? exeFile?.sha256 !== expectedExe : (exeFile?.size ?? 0) < 10 << 20) problems.push(`${exe} is not the ${group.platform} installer executable`)
        if (plan.components.length === 0 || !plan.components.every((c) => manifest.components.some((m) => m.file === c.file))) problems.push('artifacts missing from the manifest')
        if (!plan.steps.some((s) => s.kind === 'import-image' && s.image === normalizedImageName(PAUSE) && has(s.file))) problems.push('no pause image carried and imported')
        if (group.suffix === '+packages') {
          const carried = manifest.files.filter((f) => f.path.startsWith('packages/')).map((f) => f.path)
          if (JSON.stringify(carried) !== JSON.stringify(debNames.map((d) => `packages/${d}`))) problems.push(`packages: ${carried.join(', ')}`)
        }
        verdicts.set(key, problems)
        const size = (statSync(a.archive).size / 1024 / 1024).toFixed(1)
        const artifacts = plan.components.length
        t.same(problems, [], `${key}: byte-identical (sha256 ${ha.slice(0, 16)}…, ${size} MiB); holds ${exe}, ${script}, plan, manifest, SHA256SUMS, ${artifacts} artifact${artifacts === 1 ? '' : 's'} and the pause image`)
      }
    }),
  )
  const identical = [...verdicts.values()].filter((problems) => !problems.some((p) => p.startsWith('the two builds differ'))).length
  t.equal(identical, compared.length, `${identical} of ${compared.length} combinations byte-identical, ${excluded.length} excluded`)
  t.comment(`runs ${runSeconds.map((s) => `${s.toFixed(1)} s`).join(' and ')}; ${((performance.now() - started) / 1000).toFixed(1)} s in all`)
})
