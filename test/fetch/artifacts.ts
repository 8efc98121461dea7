/**
 * Real artifacts for fetch and build tests, made from Debian's packages (containerd, runc,
 * containernetworking-plugins; .ci/run installs them) in the layouts upstream publishes:
 *
 *   containerd-<v>-linux-amd64.tar.gz    bin/containerd, bin/ctr, bin/containerd-shim-runc-v2
 *   runc.amd64                           the runc binary itself
 *   cni-plugins-linux-amd64-v<v>.tgz     the plugins, flat (./bridge, ./host-local, ...)
 *
 * plus Windows-named stand-ins (Debian has no Windows builds; the bytes are the Linux binaries under
 * .exe names) published as upstream does, with a checksum file beside each and no pinned SHA-256; and
 * KubeEdge's Windows release assets in their layout (keadm-v<v>-windows-amd64/keadm/keadm.exe,
 * kubeedge-v<v>-windows-amd64/edge/edgecore.exe, each with its version file: hack/make-rules/release.sh
 * @ kubeedge v1.23.1) with the checksum_<asset>.txt KubeEdge publishes (the bare SHA-512 and a newline).
 * Archives are made by real tar and gzip, reproducibly (sorted, mtime 0, uid/gid 0, gzip -n).
 *
 * Building takes some seconds and tap runs test files in parallel, so the set is built once per machine
 * into the OS temp folder, keyed by the Debian package versions, under a lock, published by an atomic
 * rename, with a manifest of names, sizes and SHA-256.
 */
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseDocument } from 'yaml'
import { defaultBundlesDir } from '../../src/catalog/load.js'
import { fileDigest } from '../fixtures/files.js'

/** Bump when the recipe below changes, so stale sets in the temp folder are not reused. */
const RECIPE = 3

/** The KubeEdge release Windows targets pin at the default minor (bundles/kubeedge.yaml releases). */
export const KUBEEDGE_WINDOWS_RELEASE = '1.23.1'

export interface FixtureFile {
  id: string
  version: string
  platform: 'linux/amd64' | 'windows/amd64'
  fileName: string
  path: string
  sha256: string
  size: number
  /** Windows stand-ins: the checksum file upstream publishes beside the asset. */
  checksumFile?: { fileName: string; path: string }
}

export interface DebianArtifacts {
  dir: string
  versions: { containerd: string; runc: string; cni: string }
  files: FixtureFile[]
  file(fileName: string): FixtureFile
}

const PACKAGES = ['containerd', 'runc', 'containernetworking-plugins'] as const
const SOURCES = {
  containerd: ['/usr/bin/containerd', '/usr/bin/ctr', '/usr/bin/containerd-shim-runc-v2'],
  runc: '/usr/sbin/runc',
  cni: '/usr/lib/cni',
}

/** Whether the Debian packages are here (tests skip without them, except in CI where .ci/run installs them). */
export function debianPartsInstalled(): boolean {
  return [...SOURCES.containerd, SOURCES.runc, SOURCES.cni].every((path) => existsSync(path))
}

function debianVersion(pkg: string): string {
  let full: string
  try {
    full = execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch {
    throw new Error(`Debian package ${pkg} is not installed; .ci/run installs ${PACKAGES.join(' ')}`)
  }
  // 1.6.20~ds1-1+deb12u3 → 1.6.20 (drop epoch, repack suffix and Debian revision).
  const upstream = /^(?:\d+:)?(\d+\.\d+\.\d+)/.exec(full.trim())
  if (!upstream) throw new Error(`cannot read an upstream version from ${pkg} ${full}`)
  return upstream[1]!
}

const sha256Of = (path: string) => fileDigest(path)

/**
 * gzip -1: these stand in for upstream's archives, whose compression level no test depends on, and every
 * suite that needs them waits while the ~230 MB are compressed once per run (the set: 13 CPU-s at -6, 5 at -1).
 */
function tarGz(out: string, cwd: string, entries: string[]): void {
  execFileSync(
    'tar',
    ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=gnu', '-I', 'gzip -n -1', '-cf', out, '-C', cwd, ...entries],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
}

function build(dir: string, versions: DebianArtifacts['versions']): void {
  const stage = join(dir, '.stage')
  const { containerd, cni } = versions

  mkdirSync(join(stage, 'containerd', 'bin'), { recursive: true })
  for (const binary of SOURCES.containerd) copyFileSync(binary, join(stage, 'containerd', 'bin', binary.slice(binary.lastIndexOf('/') + 1)))
  tarGz(join(dir, `containerd-${containerd}-linux-amd64.tar.gz`), join(stage, 'containerd'), ['bin'])

  copyFileSync(SOURCES.runc, join(dir, 'runc.amd64'))

  cpSync(SOURCES.cni, join(stage, 'cni'), { recursive: true })
  tarGz(join(dir, `cni-plugins-linux-amd64-v${cni}.tgz`), join(stage, 'cni'), ['.'])

  // Windows stand-ins: upstream's names and layout, Linux bytes.
  mkdirSync(join(stage, 'containerd-win', 'bin'), { recursive: true })
  copyFileSync('/usr/bin/containerd', join(stage, 'containerd-win', 'bin', 'containerd.exe'))
  copyFileSync('/usr/bin/ctr', join(stage, 'containerd-win', 'bin', 'ctr.exe'))
  tarGz(join(dir, `containerd-${containerd}-windows-amd64.tar.gz`), join(stage, 'containerd-win'), ['bin'])
  mkdirSync(join(stage, 'cni-win'), { recursive: true })
  for (const plugin of ['host-local', 'bridge']) copyFileSync(join(SOURCES.cni, plugin), join(stage, 'cni-win', `${plugin}.exe`))
  tarGz(join(dir, `cni-plugins-windows-amd64-v${cni}.tgz`), join(stage, 'cni-win'), ['.'])
  // containerd publishes `<asset>.sha256sum` (sha256sum output), the CNI plugins `<asset>.sha256`.
  for (const name of [`containerd-${containerd}-windows-amd64.tar.gz`, `cni-plugins-windows-amd64-v${cni}.tgz`]) {
    const suffix = name.startsWith('containerd') ? 'sha256sum' : 'sha256'
    writeFileSync(join(dir, `${name}.${suffix}`), `${sha256Of(join(dir, name))}  ${name}\n`)
  }
  // KubeEdge: each archive holds one top folder named after it; the stand-in executables start with "MZ".
  const v = `v${KUBEEDGE_WINDOWS_RELEASE}`
  for (const [name, inner, exe] of [
    [`keadm-${v}-windows-amd64`, 'keadm', 'keadm.exe'],
    [`kubeedge-${v}-windows-amd64`, 'edge', 'edgecore.exe'],
  ] as const) {
    mkdirSync(join(stage, name, name, inner), { recursive: true })
    writeFileSync(join(stage, name, name, inner, exe), `MZ ${exe} ${v} (edgebundle test stand-in)\r\n`)
    writeFileSync(join(stage, name, name, 'version'), `${v}\n`)
    tarGz(join(dir, `${name}.tar.gz`), join(stage, name), [name])
    const sha512 = fileDigest(join(dir, `${name}.tar.gz`), 'sha512')
    writeFileSync(join(dir, `checksum_${name}.tar.gz.txt`), `${sha512}\n`)
  }
  rmSync(stage, { recursive: true, force: true })
}

function describe(dir: string, versions: DebianArtifacts['versions']): FixtureFile[] {
  const { containerd, runc, cni } = versions
  const entry = (id: string, version: string, platform: FixtureFile['platform'], fileName: string, checksumSuffix?: string): FixtureFile => {
    const path = join(dir, fileName)
    const file: FixtureFile = { id, version, platform, fileName, path, sha256: sha256Of(path), size: statSync(path).size }
    if (checksumSuffix) file.checksumFile = { fileName: `${fileName}.${checksumSuffix}`, path: `${path}.${checksumSuffix}` }
    return file
  }
  const kubeedge = (id: string, fileName: string): FixtureFile => ({
    ...entry(id, KUBEEDGE_WINDOWS_RELEASE, 'windows/amd64', fileName),
    checksumFile: { fileName: `checksum_${fileName}.txt`, path: join(dir, `checksum_${fileName}.txt`) },
  })
  return [
    entry('containerd', containerd, 'linux/amd64', `containerd-${containerd}-linux-amd64.tar.gz`),
    entry('runc', runc, 'linux/amd64', 'runc.amd64'),
    entry('cni-plugins', cni, 'linux/amd64', `cni-plugins-linux-amd64-v${cni}.tgz`),
    entry('containerd', containerd, 'windows/amd64', `containerd-${containerd}-windows-amd64.tar.gz`, 'sha256sum'),
    entry('cni-plugins', cni, 'windows/amd64', `cni-plugins-windows-amd64-v${cni}.tgz`, 'sha256'),
    kubeedge('keadm-windows', `keadm-v${KUBEEDGE_WINDOWS_RELEASE}-windows-amd64.tar.gz`),
    kubeedge('kubeedge-windows', `kubeedge-v${KUBEEDGE_WINDOWS_RELEASE}-windows-amd64.tar.gz`),
  ]
}

let memo: DebianArtifacts | undefined

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

/**
 * Builds the set unless it is published. A lock folder keeps parallel test files from all building at
 * once on two cores; a lock older than BUILD_STALE_MS is a crashed builder's and is taken over.
 */
function ensureBuilt(root: string, key: string, full: string, versions: DebianArtifacts['versions']): string {
  const dir = join(root, key)
  const done = join(dir, 'manifest.json')
  const lock = join(root, `.${key}.lock`)
  const BUILD_STALE_MS = 5 * 60 * 1000
  mkdirSync(root, { recursive: true })
  while (!existsSync(done)) {
    try {
      mkdirSync(lock)
    } catch {
      let age = 0
      try {
        age = Date.now() - statSync(lock).mtimeMs
      } catch {
        continue // released meanwhile
      }
      if (age > BUILD_STALE_MS) rmSync(lock, { recursive: true, force: true })
      else sleepSync(250)
      continue
    }
    try {
      if (existsSync(done)) break
      const staging = join(root, `.${key}.${process.pid}-${randomBytes(4).toString('hex')}`)
      mkdirSync(staging)
      try {
        build(staging, versions)
        const files = describe(staging, versions).map((f) => ({ ...f, path: join(dir, f.fileName), ...(f.checksumFile ? { checksumFile: { ...f.checksumFile, path: join(dir, f.checksumFile.fileName) } } : {}) }))
        writeFileSync(join(staging, 'manifest.json'), `${JSON.stringify({ packages: full, versions, files }, null, 2)}\n`)
        rmSync(dir, { recursive: true, force: true }) // a half-built set from a killed run
        renameSync(staging, dir)
      } catch (error) {
        rmSync(staging, { recursive: true, force: true })
        throw error
      }
    } finally {
      rmSync(lock, { recursive: true, force: true })
    }
  }
  return dir
}

/** The artifact set (built on first use on this machine). */
export function debianArtifacts(): DebianArtifacts {
  if (memo) return memo
  const versions = { containerd: debianVersion('containerd'), runc: debianVersion('runc'), cni: debianVersion('containernetworking-plugins') }
  const full = PACKAGES.map((pkg) => execFileSync('dpkg-query', ['-W', '-f=${Package}=${Version}', pkg], { encoding: 'utf8' })).join(',')
  const key = createHash('sha256').update(`${RECIPE}|${full}`).digest('hex').slice(0, 16)
  const dir = ensureBuilt(join(tmpdir(), 'edgebundle-test-artifacts'), key, full, versions)
  const files = (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: FixtureFile[] }).files
  memo = {
    dir,
    versions,
    files,
    file(fileName) {
      const found = files.find((f) => f.fileName === fileName)
      if (!found) throw new Error(`no fixture ${fileName}; have ${files.map((f) => f.fileName).join(', ')}`)
      return found
    },
  }
  return memo
}

/**
 * A copy of bundles/ in `dir` with the Debian versions added and pinned to the fixtures' real SHA-256
 * (Windows builds listed but not pinned, as upstream's are), and a containerd runtime version using
 * them whose support components are this CNI plugins version only (Debian ships no crictl).
 * Returns the catalog folder, for --catalog or loadCatalog().
 */
export function testCatalog(dir: string, artifacts: DebianArtifacts = debianArtifacts()): string {
  const bundles = join(dir, 'bundles')
  cpSync(defaultBundlesDir(), bundles, { recursive: true })
  const { containerd, runc, cni } = artifacts.versions
  const linuxSha = (id: string) => artifacts.files.find((f) => f.id === id && f.platform === 'linux/amd64')!.sha256

  const componentsPath = join(bundles, 'components.yaml')
  const components = parseDocument(readFileSync(componentsPath, 'utf8'))
  components.setIn(['components', 'containerd', 'versions', containerd], { sha256: { 'linux/amd64': linuxSha('containerd') }, platforms: ['linux/amd64', 'windows/amd64'] })
  components.setIn(['components', 'runc', 'versions', runc], { sha256: { 'linux/amd64': linuxSha('runc') }, platforms: ['linux/amd64'] })
  components.setIn(['components', 'cni-plugins', 'versions', cni], { sha256: { 'linux/amd64': linuxSha('cni-plugins') }, platforms: ['linux/amd64', 'windows/amd64'] })
  writeFileSync(componentsPath, components.toString())

  const runtimePath = join(bundles, 'runtimes', 'containerd.yaml')
  const runtime = parseDocument(readFileSync(runtimePath, 'utf8'))
  runtime.setIn(['versions', containerd], {
    components: [
      { id: 'containerd', version: containerd },
      { id: 'runc', version: runc, family: 'linux' },
    ],
  })
  runtime.setIn(['components'], [{ id: 'cni-plugins', version: cni }])
  writeFileSync(runtimePath, runtime.toString())
  return bundles
}

/** Lists a folder recursively (relative paths), for "nothing left behind" assertions. */
export function listTree(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? listTree(join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`]))
    .sort()
}
