/**
 * Builds single executables and caches them (docs/architecture.md "The single executable"): the installer (`install`,
 * `install.exe`) for each platform, and the builder itself (builder-exe.ts) through the same path.
 *
 * An executable depends only on (kind, node version, platform, the base binary's identity, the script's
 * and assets' SHA-256), not on the bundle it goes into, so it is built once per machine and key and
 * reused by every bundle of that platform:
 *
 *   <cache>/sea/exe/<platform>-<kind>-node<version>-<key16>/{install|install.exe, build.json}
 *
 * One builder per key at a time (a lock); a second one waits and takes the first one's result.
 */
import type { DownloadHooks } from '../io/http-download.js'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { chmod, copyFile, mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { createRequire, isBuiltin } from 'node:module'
import { dirname, join } from 'node:path'
import { publishFile, tempPathFor } from '../archive/publish.js'
import { packageRoot } from '../io/package-root.js'
import { hashFile } from '../fetch/cache.js'
import type { RetryPolicy } from '../fetch/download.js'
import type { Http } from '../fetch/http.js'
import { embeddedText } from '../io/embedded.js'
import { ExecutableBuildError, NodeRuntimeUnavailableError, UnsupportedBuildHostError } from './errors.js'
import { isLinuxX64Host, runBinary, runnerFor } from './host.js'
import { type NodeRuntime, type RuntimeOrigin, checkGivenFile, givenFileKind, obtainNodeRuntime } from './node-runtime.js'
import { digestFile, resolveNpmRegistry } from './npm.js'
import { type ExePlatform, type NodeRuntimes, executableName, familyOf, isPackaged, loadNodeRuntimes, platformSlug, withVersion } from './runtimes.js'
import { copyBinary, injectBlob, makeBlob, stripIfSafe } from './sea.js'
import { memoizedScript } from './script-memo.js'
import { createWorkDir, ensureDir, seaDirs, withLock } from './workspace.js'

/** Bump when the way executables are made changes, so cached ones from the old way are not reused. */
const EXE_FORMAT = 1
/**
 * Executables kept per (platform, kind) beyond the one just built. Every source change makes a new
 * installer key (~100 MB each); the most recently used few stay so parallel checkouts sharing a cache
 * keep theirs, and the rest go.
 */
const KEEP_PER_PLATFORM = 3

export interface SeaScript {
  code: string
  sha256: string
  /** esbuild ran, the script was remembered from an earlier esbuild run (script-memo.ts), or the builder's executable carries it. */
  origin: 'esbuild' | 'memo' | 'embedded'
}

export interface SeaSpec {
  kind: 'installer' | 'builder'
  platform: ExePlatform
  /** The file name in the cache (and the usual name at its destination). */
  fileName: string
  script: SeaScript
  /** SEA assets: key → content. */
  assets?: Record<string, string | Uint8Array>
  /** Started once after injection where this machine can run it: these arguments, and stdout must contain `expect`. */
  smoke: { args: string[]; expect: string }
}

export interface ExecutableOptions {
  /** The cache root (resolveCacheDir). */
  cacheDir: string
  runtimes?: NodeRuntimes
  /** The network for Node packages; without it (or with offline) only the cache and given files serve. */
  http?: Http
  offline?: boolean
  /** --npm-registry (else env and npm's own setting: resolveNpmRegistry). */
  npmRegistry?: string
  /** --node-binary, per platform: a Node binary or the package's .tgz. */
  nodeBinaries?: Partial<Record<ExePlatform, string>>
  retry?: RetryPolicy
  env?: NodeJS.ProcessEnv
  /** Progress lines for people. */
  note?: (message: string) => void
  /** Progress of a Node package download (a bar on a terminal). */
  transfer?: ((label: string, source: string) => DownloadHooks) | undefined
}

export interface BuiltExecutable {
  kind: SeaSpec['kind']
  platform: ExePlatform
  fileName: string
  /** The executable in the cache: read-only, copy it out (installExecutable). */
  path: string
  sha256: string
  size: number
  nodeVersion: string
  /** Taken from the cache rather than built now. */
  cached: boolean
  key: string
  stripped: boolean
  /** Why it was not stripped, when it was not. */
  stripNote: string | null
  /** Whether it was started once after the build (only where this machine can run it). */
  smokeTested: boolean
  /** Where the target's Node came from in this build (null for a cache hit). */
  runtimeOrigin: RuntimeOrigin | null
  /** Peak resident memory of the postject child, KiB (null for a cache hit). */
  postjectMaxRssKb: number | null
  timings: { totalMs: number; runtimeMs?: number; blobMs?: number; stripMs?: number; injectMs?: number; smokeMs?: number }
}

interface BuildRecord {
  format: number
  kind: SeaSpec['kind']
  platform: ExePlatform
  nodeVersion: string
  base: string
  scriptSha256: string
  sha256: string
  size: number
  stripped: boolean
  stripNote: string | null
  smokeTested: boolean
}

const sha256Of = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex')

// ------------------------------------------------------------------------------------ the installer script

/**
 * esbuild, loaded on demand from the package's node_modules through a require the bundlers do not follow:
 * it is a development tool with a native binary, which neither dist/edgebundle.mjs nor the builder's own
 * executable can carry (the executable uses its embedded installer script instead).
 */
export function loadEsbuild(root: string = packageRoot()): typeof import('esbuild') {
  try {
    return createRequire(join(root, 'package.json'))('esbuild') as typeof import('esbuild')
  } catch (error) {
    throw new ExecutableBuildError('esbuild is needed to bundle the installer and is not installed', { hint: 'Run `npm ci` in the edgebundle folder.', cause: error })
  }
}

export function packageVersion(root: string = packageRoot()): string {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version
}

/** esbuild options every SEA script shares: one minified CommonJS file for Node 22, kept in memory. */
export function seaScriptOptions(root: string, entry: string) {
  return {
    entryPoints: [join(root, ...entry.split('/'))] as string[],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    write: false,
    logLevel: 'silent',
  } as const
}

/**
 * The npm packages the installer script may contain, each with why. Everything else from node_modules
 * (commander, handlebars, zod's full build, …) is refused rather than shipped: each package costs bundle size and
 * start-up time on every node, and the SEA's require() reaches Node's built-ins only, so nothing can be
 * loaded from disk at run time instead.
 */
export const INSTALLER_PACKAGES: Readonly<Record<string, string>> = {
  '@grpc/grpc-js': 'the runtime check over CRI (src/installer/cri) speaks gRPC to the runtime socket; loaded on first use',
  '@js-sdsl/ordered-map': "required by @grpc/grpc-js at load time (its channelz registry's ordered maps)",
  // Only zod/mini is imported (src/model/plan.ts): ~26 KB minified; the full zod build is many times that.
  zod: 'checking plan.json against the plan schema (src/model/plan.ts), the one the builder writes it from; zod/mini only',
  'smol-toml': "merging the bundle's containerd config.toml into the node's own (src/installer/merge.ts); dependency-free, ~20 KB",
}

/**
 * Left out of the bundle as a plain require(): @grpc/grpc-js loads @grpc/proto-loader (and through it
 * protobufjs and yargs, ~10x grpc-js's own size) only to parse the .proto files of channelz and ORCA,
 * two server-side features the installer never turns on. The codec in src/installer/cri replaces it.
 * Should that require ever run inside the executable, it fails with "Cannot find module".
 */
export const INSTALLER_EXTERNAL: readonly string[] = ['@grpc/proto-loader']

/** The npm package a node_modules path belongs to (its last node_modules segment), e.g. @grpc/grpc-js. */
export function packageOfInput(input: string): string {
  const rest = input.slice(input.lastIndexOf('node_modules/') + 'node_modules/'.length).split('/')
  return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
}

/** esbuild's options for the installer script. */
function installerScriptOptions(root: string) {
  return {
    ...seaScriptOptions(root, 'src/installer/main.ts'),
    metafile: true as const,
    external: [...INSTALLER_EXTERNAL],
    define: { EDGEBUNDLE_VERSION: JSON.stringify(packageVersion(root)) },
  }
}

/**
 * The installer script, remembered in `cacheDir` between builds (script-memo.ts): esbuild runs only when
 * a file it was made from changed.
 */
export async function installerScript(cacheDir: string): Promise<SeaScript> {
  if (embeddedText('installer') !== null) return bundleInstallerScript()
  const root = packageRoot()
  const esbuild = loadEsbuild(root)
  const keyParts = { esbuild: esbuild.version, root, options: installerScriptOptions(root) }
  const script = await memoizedScript(join(seaDirs(cacheDir).root, 'scripts'), keyParts, root, () => esbuildInstallerScript(root, esbuild))
  return { code: script.code, sha256: script.sha256, origin: script.recalled ? 'memo' : 'esbuild' }
}

/** The installer as one CommonJS script (the SEA main script): src/installer, Node built-ins and INSTALLER_PACKAGES only. */
export async function bundleInstallerScript(): Promise<SeaScript> {
  const embedded = embeddedText('installer')
  if (embedded !== null) return { code: embedded, sha256: sha256Of(embedded), origin: 'embedded' }
  const root = packageRoot()
  const { code, sha256 } = await esbuildInstallerScript(root, loadEsbuild(root))
  return { code, sha256, origin: 'esbuild' }
}

async function esbuildInstallerScript(root: string, esbuild: typeof import('esbuild')): Promise<{ code: string; sha256: string; inputs: Record<string, number | null> }> {
  const result = await esbuild.build(installerScriptOptions(root))
  const refused = [
    ...new Set(
      Object.keys(result.metafile.inputs)
        .filter((input) => input.includes('node_modules/'))
        .map(packageOfInput)
        .filter((name) => !Object.hasOwn(INSTALLER_PACKAGES, name)),
    ),
    // zod is allowed as zod/mini only: its classic build (`import { z } from 'zod'`) is several times the size.
    ...(Object.keys(result.metafile.inputs).some((input) => /node_modules\/zod\/(v4\/)?classic\//.test(input)) ? ["zod's classic build (import zod/mini)"] : []),
  ]
  // A require() left in the script must be a built-in or a known never-taken path (INSTALLER_EXTERNAL).
  const externals = Object.values(result.metafile.outputs).flatMap((output) => output.imports.filter((i) => i.external).map((i) => i.path))
  const unresolved = [...new Set(externals.filter((path) => !isBuiltin(path) && !INSTALLER_EXTERNAL.includes(path)))]
  if (refused.length > 0 || unresolved.length > 0) {
    const what = [
      ...(refused.length > 0 ? [`packages not allowed in the installer: ${refused.slice(0, 5).join(', ')}`] : []),
      ...(unresolved.length > 0 ? [`requires that would fail in the executable: ${unresolved.slice(0, 5).join(', ')}`] : []),
    ]
    throw new ExecutableBuildError(`the installer bundle pulls in dependencies, which slow its start (${what.join('; ')})`, {
      hint: `src/installer may import Node built-ins, dependency-free modules of src/ and these packages only: ${Object.keys(INSTALLER_PACKAGES).join(', ')} (INSTALLER_PACKAGES in src/sea/build-exe.ts says why each).`,
    })
  }
  const code = result.outputFiles[0]!.text
  // What esbuild read, and what steered how it resolved: every package.json on the way and the tsconfig.
  const inputs: Record<string, number | null> = { 'package.json': null, 'tsconfig.json': null }
  for (const [path, input] of Object.entries(result.metafile.inputs)) {
    inputs[path] = input.bytes
    const at = path.lastIndexOf('node_modules/')
    if (at !== -1) inputs[`${path.slice(0, at)}node_modules/${packageOfInput(path)}/package.json`] = null
  }
  return { code, sha256: sha256Of(code), inputs }
}

/** postject's API file: from node_modules, or (in the builder's own executable) its embedded copy. */
async function postjectApi(workDir: string): Promise<string> {
  const embedded = embeddedText('postject')
  if (embedded !== null) {
    const path = join(workDir, 'postject-api.js')
    await writeFile(path, embedded)
    return path
  }
  try {
    return createRequire(join(packageRoot(), 'package.json')).resolve('postject')
  } catch (error) {
    throw new ExecutableBuildError('postject is needed to inject the SEA blob and is not installed', { hint: 'Run `npm ci` in the edgebundle folder.', cause: error })
  }
}

// ------------------------------------------------------------------------------------------------ build

/** What identifies the base binary for the cache key, without fetching it: the pinned integrity or a given file's hash. */
async function baseIdentity(platform: ExePlatform, runtimes: NodeRuntimes, given: string | undefined): Promise<string> {
  const entry = runtimes.platforms[platform]
  if (given !== undefined) {
    await checkGivenFile(platform, given)
    // A package tarball yields the binary its integrity pins; a binary is identified by its own hash,
    // so the key changes when the user hands in a different one.
    if (isPackaged(entry) && (await givenFileKind(given)) === 'tarball') return entry.integrity
    return `sha256:${(await digestFile(given)).sha256}`
  }
  if (!isPackaged(entry)) throw new NodeRuntimeUnavailableError(platform, withVersion(entry.unavailable, runtimes.version), withVersion(entry.provide, runtimes.version))
  return entry.integrity
}

/** build.json's mtime is the last use: a hit refreshes it, so pruning keeps what is in use. */
async function markUsed(dir: string): Promise<void> {
  const now = new Date()
  await utimes(join(dir, 'build.json'), now, now).catch(() => {})
}

/** Removes all but the KEEP_PER_PLATFORM most recently used executables of this platform and kind. */
async function pruneExecutables(exeDir: string, prefix: string, keep: string): Promise<void> {
  const entries = await readdir(exeDir).catch(() => [] as string[])
  const used = await Promise.all(
    entries
      .filter((name) => name.startsWith(prefix) && name !== keep)
      .map(async (name) => ({ name, used: await stat(join(exeDir, name, 'build.json')).then((s) => s.mtimeMs, () => 0) })),
  )
  used.sort((a, b) => b.used - a.used)
  for (const { name } of used.slice(KEEP_PER_PLATFORM)) await rm(join(exeDir, name), { recursive: true, force: true })
}

async function readRecord(dir: string, fileName: string): Promise<BuildRecord | null> {
  try {
    const record = JSON.parse(await readFile(join(dir, 'build.json'), 'utf8')) as BuildRecord
    if (record.format !== EXE_FORMAT) return null
    if (!(await stat(join(dir, fileName))).isFile()) return null
    return record
  } catch {
    return null
  }
}

function fromRecord(spec: SeaSpec, dir: string, key: string, record: BuildRecord, cached: boolean, extra: Partial<BuiltExecutable> = {}): BuiltExecutable {
  return {
    kind: spec.kind,
    platform: spec.platform,
    fileName: spec.fileName,
    path: join(dir, spec.fileName),
    sha256: record.sha256,
    size: record.size,
    nodeVersion: record.nodeVersion,
    cached,
    key,
    stripped: record.stripped,
    stripNote: record.stripNote,
    smokeTested: record.smokeTested,
    runtimeOrigin: null,
    postjectMaxRssKb: null,
    timings: { totalMs: 0 },
    ...extra,
  }
}

/** Builds (or takes from the cache) one single executable. */
export async function buildSeaExecutable(spec: SeaSpec, options: ExecutableOptions): Promise<BuiltExecutable> {
  const started = performance.now()
  const runtimes = options.runtimes ?? loadNodeRuntimes()
  const version = runtimes.version
  const note = options.note ?? (() => {})
  const base = await baseIdentity(spec.platform, runtimes, options.nodeBinaries?.[spec.platform])
  const assetHashes = Object.fromEntries(Object.entries(spec.assets ?? {}).map(([name, content]) => [name, sha256Of(content)]))
  const key = sha256Of(JSON.stringify({ format: EXE_FORMAT, kind: spec.kind, nodeVersion: version, platform: spec.platform, base, script: spec.script.sha256, assets: assetHashes }))
  const name = `${platformSlug(spec.platform)}-${spec.kind}-node${version}-${key.slice(0, 16)}`
  const dirs = seaDirs(options.cacheDir)
  const finalDir = join(dirs.exe, name)

  const hit = await readRecord(finalDir, spec.fileName)
  if (hit) {
    await markUsed(finalDir)
    return fromRecord(spec, finalDir, key, hit, true, { timings: { totalMs: performance.now() - started } })
  }

  return withLock(
    dirs,
    name,
    async () => {
      // Whoever held the lock may have built it meanwhile.
      const built = await readRecord(finalDir, spec.fileName)
      if (built) {
        await markUsed(finalDir)
        return fromRecord(spec, finalDir, key, built, true, { timings: { totalMs: performance.now() - started } })
      }
      if (!isLinuxX64Host()) {
        throw new UnsupportedBuildHostError(`building executables needs a Linux x64 machine (this is ${process.platform}-${process.arch})`, {
          hint: 'The linux-x64 node of the pinned version makes every SEA blob. Build on Linux x64, or copy a cache that already holds the executables (--cache-dir).',
        })
      }
      return build(spec, options, { runtimes, key, name, finalDir, dirs, started, base, note })
    },
    (holder) => note(`waiting for process ${holder}, which is building ${spec.fileName} for ${spec.platform}`),
  )
}

interface BuildContext {
  runtimes: NodeRuntimes
  key: string
  name: string
  finalDir: string
  dirs: ReturnType<typeof seaDirs>
  started: number
  base: string
  note: (message: string) => void
}

async function build(spec: SeaSpec, options: ExecutableOptions, context: BuildContext): Promise<BuiltExecutable> {
  const { note } = context
  const version = context.runtimes.version
  const { x64, target, runtimeMs } = await obtainRuntimes(spec, options, context)
  const work = await createWorkDir(context.dirs)
  try {
    note(`building ${spec.fileName} for ${spec.platform} on Node v${version}`)
    const assets = await writeAssets(work, spec.assets)
    const blob = await makeBlob({ node: x64.path, workDir: work, script: spec.script.code, assets })

    const out = join(work, 'out')
    await mkdir(out)
    const executable = join(out, spec.fileName)
    await copyBinary(target.path, executable)
    const runner = runnerFor(spec.platform, options.env ?? process.env)
    const strip = await stripIfSafe(executable, spec.platform, runner, version)
    if (!strip.stripped && familyOf(spec.platform) === 'linux') note(`${spec.fileName} for ${spec.platform} is not stripped: ${strip.reason}`)

    // postject peaks at ~700-900 MB: one injection at a time per cache (parallel bundle builds or test
    // files would otherwise add those up), whatever the platform.
    const api = await postjectApi(work)
    const inject = await withLock(
      context.dirs,
      'postject',
      () => injectBlob({ node: x64.path, postjectApi: api, executable, blob: blob.path, workDir: work }),
      (holder) => note(`waiting for process ${holder}'s postject to finish (one injection at a time)`),
    )
    const smokeMs = runner === null ? undefined : await smokeTest(spec, runner, executable, work, options)

    await chmod(executable, 0o555)
    const { sha256, size } = await hashFile(executable)
    const record: BuildRecord = {
      format: EXE_FORMAT,
      kind: spec.kind,
      platform: spec.platform,
      nodeVersion: version,
      base: context.base,
      scriptSha256: spec.script.sha256,
      sha256,
      size,
      stripped: strip.stripped,
      stripNote: strip.stripped ? null : (strip.reason ?? null),
      smokeTested: runner !== null,
    }
    await publishBuild(spec, out, record, context)
    return fromRecord(spec, context.finalDir, context.key, record, false, {
      runtimeOrigin: target.origin,
      postjectMaxRssKb: inject.maxRssKb,
      timings: {
        totalMs: performance.now() - context.started,
        runtimeMs,
        blobMs: blob.ms,
        stripMs: strip.ms,
        injectMs: inject.ms,
        ...(smokeMs !== undefined ? { smokeMs } : {}),
      },
    })
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/** Node for linux/amd64 (it runs the SEA tooling here) and for the target platform (its bytes become the executable). */
async function obtainRuntimes(spec: SeaSpec, options: ExecutableOptions, context: BuildContext): Promise<{ x64: NodeRuntime; target: NodeRuntime; runtimeMs: number }> {
  let registry: Promise<string> | undefined
  const runtimeOptions = {
    cacheDir: options.cacheDir,
    runtimes: context.runtimes,
    ...(options.http ? { http: options.http } : {}),
    registry: () => (registry ??= resolveNpmRegistry(options.npmRegistry, options.env ?? process.env)),
    offline: options.offline ?? false,
    given: options.nodeBinaries ?? {},
    ...(options.retry ? { retry: options.retry } : {}),
    note: context.note,
    transfer: options.transfer,
  }
  const started = performance.now()
  const x64 = await obtainNodeRuntime('linux/amd64', runtimeOptions)
  const target = spec.platform === 'linux/amd64' ? x64 : await obtainNodeRuntime(spec.platform, runtimeOptions)
  return { x64, target, runtimeMs: performance.now() - started }
}

/** The SEA's embedded assets as files under work (names made safe), by asset key. */
async function writeAssets(work: string, specAssets: SeaSpec['assets']): Promise<Record<string, string>> {
  const assets: Record<string, string> = {}
  if (!specAssets) return assets
  await mkdir(join(work, 'assets'))
  for (const [key, content] of Object.entries(specAssets)) {
    const file = join(work, 'assets', `${Object.keys(assets).length}-${key.replace(/[^A-Za-z0-9._-]/g, '_')}`)
    await writeFile(file, content)
    assets[key] = file
  }
  return assets
}

/** Runs the new executable once; catches a broken one (a version skew, a damaged blob) before it is cached and shipped. */
async function smokeTest(spec: SeaSpec, runner: NonNullable<ReturnType<typeof runnerFor>>, executable: string, work: string, options: ExecutableOptions): Promise<number> {
  const check = await runBinary(runner, executable, spec.smoke.args, { timeoutMs: 120_000, cwd: work, env: { ...(options.env ?? process.env), NODE_OPTIONS: '' } })
  if (check.code !== 0 || !check.stdout.includes(spec.smoke.expect)) {
    throw new ExecutableBuildError(
      `the new ${spec.fileName} for ${spec.platform} does not start correctly (\`${spec.smoke.args.join(' ')}\` exit ${check.code ?? check.signal}, expected output containing ${JSON.stringify(spec.smoke.expect)}):\n${`${check.stderr}\n${check.stdout}`.trim().slice(-2000)}`,
    )
  }
  return check.ms
}

/** Writes build.json beside the executable and moves the folder into the cache; older builds of the kind are pruned. */
async function publishBuild(spec: SeaSpec, out: string, record: BuildRecord, context: BuildContext): Promise<void> {
  await writeFile(join(out, 'build.json'), `${JSON.stringify(record, null, 2)}\n`)
  await ensureDir(context.dirs.exe)
  try {
    await rename(out, context.finalDir)
  } catch (error) {
    // Another builder (without the lock: a different host on a shared cache) got there first: equivalent bytes.
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw error
  }
  await pruneExecutables(context.dirs.exe, `${platformSlug(spec.platform)}-${spec.kind}-`, context.name)
}

/** The installer executable for one platform. */
export async function buildInstallerExecutable(platform: ExePlatform, options: ExecutableOptions & { installer?: SeaScript }): Promise<BuiltExecutable> {
  const runtimes = options.runtimes ?? loadNodeRuntimes()
  const script = options.installer ?? (await installerScript(options.cacheDir))
  return buildSeaExecutable(
    { kind: 'installer', platform, fileName: executableName(platform), script, smoke: { args: ['--version'], expect: `Node.js v${runtimes.version}` } },
    { ...options, runtimes },
  )
}

/** Copies an executable out of the cache to `dest` (atomically: a temp file beside it, then a rename), mode 0755. */
export async function installExecutable(built: BuiltExecutable, dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true })
  const temp = tempPathFor(dest)
  try {
    await copyFile(built.path, temp)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
  await publishFile(temp, dest, { mode: 0o755 })
}
