/**
 * The Node binaries executables are built on, one per platform, at the version node-runtimes.yaml pins.
 *
 * Resolution, first hit wins:
 *   --node-binary PLATFORM=FILE  a Node binary (format, architecture and version checked) or the
 *                                package's .tgz (`npm pack`, checked against the pinned integrity)
 *   cache                        the binary extracted earlier from a verified package
 *   npm registry                 the package tarball, verified while it streams, kept in the cache
 *
 * Cache layout, beside the fetcher's blobs/ in the same cache root:
 *   blobs/sha256/<hex>                    the package tarball (the fetcher's content-addressed store)
 *   checksums/<hash>.json                 "npm:<package>@<version>#<integrity>" → the tarball's SHA-256
 *   sea/node/<package>-<version>/node     the extracted binary (node.exe on Windows), mode 0555
 *   sea/node/<package>-<version>/source.json  written last: its presence says the binary is complete
 */
import { copyFile, open, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { publishFile, sweepDeadTemps, tempPathFor, writeFileAtomically } from '../archive/publish.js'
import { ArtifactCache } from '../fetch/cache.js'
import type { RetryPolicy } from '../fetch/download.js'
import type { Http } from '../fetch/http.js'
import type { DownloadHooks } from '../io/http-download.js'
import {
  ExecutableBuildError,
  NodeBinaryError,
  NodeRuntimeIntegrityError,
  NodeRuntimeNotCachedError,
  NodeRuntimeUnavailableError,
} from './errors.js'
import { type Runner, emulationPackages, runBinary, runnerFor } from './host.js'
import { digestFile, downloadPackage, integrityKey, tarballFileName, tarballUrl } from './npm.js'
import { type ExePlatform, type NodePackage, type NodeRuntimes, isPackaged, nodeBinaryName, withVersion } from './runtimes.js'
import { TarFormatError, extractTarGzEntry } from './tar-extract.js'
import { ensureDir, seaDirs } from './workspace.js'

export type RuntimeOrigin = 'cache' | 'registry' | 'given-binary' | 'given-tarball'

export interface NodeRuntime {
  platform: ExePlatform
  version: string
  /** An executable Node binary. Read-only: copy it before changing it. */
  path: string
  /**
   * What identifies these bytes in the executable cache key: the package integrity (any copy of the
   * package gives the same binary), or "sha256:<hex>" of a given binary.
   */
  identity: string
  origin: RuntimeOrigin
}

export interface RuntimeOptions {
  cacheDir: string
  runtimes: NodeRuntimes
  /** The network; not needed when offline or when everything is cached or given. */
  http?: Http
  /** The npm registry root, resolved on first need (asking npm costs a process start). */
  registry: () => Promise<string>
  offline?: boolean
  /** --node-binary: a binary or package tarball per platform. */
  given?: Partial<Record<ExePlatform, string>>
  retry?: RetryPolicy
  /** Progress for people: "downloading …", "verified …". */
  note?: (message: string) => void
  /** Progress of a package download (a bar on a terminal). */
  transfer?: ((label: string, source: string) => DownloadHooks) | undefined
}

interface SourceRecord {
  package: string
  version: string
  integrity: string
  tarballSha256: string
  binarySha256: string
  size: number
}

/** Largest Node binary accepted from a package (node.exe 22 is ~80 MB, linux x64 ~120 MB). */
const MAX_BINARY_BYTES = 400 * 1024 * 1024

const ELF_MACHINE: Partial<Record<ExePlatform, { machine: number; bits: 32 | 64; name: string }>> = {
  'linux/amd64': { machine: 62, bits: 64, name: 'x86-64' },
  'linux/arm64': { machine: 183, bits: 64, name: 'AArch64' },
  'linux/arm': { machine: 40, bits: 32, name: 'ARM (32-bit)' },
}

/** ELF e_machine numbers and PE machine numbers, for naming what a wrong binary actually is. */
const KNOWN_MACHINES: Record<number, string> = { 3: 'x86 (32-bit)', 40: 'ARM (32-bit)', 62: 'x86-64', 183: 'AArch64', 243: 'RISC-V' }

/** Checks that `path` is an executable of `platform`'s format and architecture, from its headers. */
export async function checkBinaryFormat(path: string, platform: ExePlatform): Promise<void> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new NodeBinaryError(`--node-binary ${platform}=${path}: cannot open it (${error.code ?? error.message})`)
  })
  try {
    const head = Buffer.alloc(4096)
    const { bytesRead } = await handle.read(head, 0, head.length, 0)
    const bytes = head.subarray(0, bytesRead)
    if (platform === 'windows/amd64') {
      const peOffset = bytes.length >= 0x40 && bytes.toString('latin1', 0, 2) === 'MZ' ? bytes.readUInt32LE(0x3c) : -1
      if (peOffset < 0 || peOffset + 6 > bytes.length || bytes.toString('latin1', peOffset, peOffset + 4) !== 'PE\0\0') {
        throw new NodeBinaryError(`--node-binary ${platform}=${path} is not a Windows executable (no PE header)`)
      }
      const machine = bytes.readUInt16LE(peOffset + 4)
      if (machine !== 0x8664) throw new NodeBinaryError(`--node-binary ${platform}=${path} is a Windows executable for machine 0x${machine.toString(16)}, not x64 (0x8664)`)
      return
    }
    const expected = ELF_MACHINE[platform]!
    if (bytes.length < 20 || bytes.toString('latin1', 0, 4) !== '\x7fELF') throw new NodeBinaryError(`--node-binary ${platform}=${path} is not a Linux executable (no ELF header)`)
    const bits = bytes[4] === 1 ? 32 : bytes[4] === 2 ? 64 : 0
    const littleEndian = bytes[5] === 1
    const machine = littleEndian ? bytes.readUInt16LE(18) : bytes.readUInt16BE(18)
    if (machine !== expected.machine || bits !== expected.bits || !littleEndian) {
      const actual = KNOWN_MACHINES[machine] ?? `machine ${machine}`
      throw new NodeBinaryError(`--node-binary ${platform}=${path} is an ELF executable for ${actual} (${bits}-bit), not ${expected.name}`)
    }
  } finally {
    await handle.close()
  }
}

/**
 * What a --node-binary file is: an npm package tarball (gzip magic) or a binary. Decided by content, not
 * by name: `npm pack` writes .tgz, but a tarball taken from a cache or a download may have any name.
 */
export async function givenFileKind(path: string): Promise<'tarball' | 'binary'> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new NodeBinaryError(`--node-binary ${path}: cannot open it (${error.code ?? error.message})`)
  })
  try {
    const magic = Buffer.alloc(2)
    const { bytesRead } = await handle.read(magic, 0, 2, 0)
    return bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b ? 'tarball' : 'binary'
  } finally {
    await handle.close()
  }
}

/** Whether the file holds `needle`, read in streaming windows that overlap by the needle's length. */
async function fileContains(path: string, needle: string): Promise<boolean> {
  const pattern = Buffer.from(needle, 'latin1')
  const handle = await open(path, 'r')
  try {
    const window = Buffer.alloc(4 * 1024 * 1024)
    let position = 0
    let carried = 0
    for (;;) {
      const { bytesRead } = await handle.read(window, carried, window.length - carried, position)
      if (bytesRead === 0) return false
      const filled = carried + bytesRead
      if (window.subarray(0, filled).includes(pattern)) return true
      position += bytesRead
      carried = Math.min(pattern.length - 1, filled)
      window.copy(window, 0, filled - carried, filled)
    }
  } finally {
    await handle.close()
  }
}

export type VersionCheck = { how: 'ran'; output: string } | { how: 'scanned' }

/**
 * Checks a Node binary is version `version`: by running `--version` where this machine can (natively,
 * or under qemu), else by finding the "v<version>" string Node embeds (process.version). The scan cannot
 * tell a binary that mentions the version from one that is it, which is why running is preferred.
 */
export async function checkNodeVersion(path: string, platform: ExePlatform, version: string, runner: Runner | null = runnerFor(platform)): Promise<VersionCheck> {
  const expected = `v${version}`
  if (runner !== null) {
    let result
    try {
      result = await runBinary(runner, path, ['--version'], { timeoutMs: 60_000, env: { ...process.env, NODE_OPTIONS: '' } })
    } catch (error) {
      throw new NodeBinaryError(`--node-binary ${platform}=${path} cannot be started: ${(error as Error).message}`)
    }
    const output = result.stdout.trim()
    if (result.code !== 0) throw new NodeBinaryError(`--node-binary ${platform}=${path} fails to start (exit ${result.code ?? result.signal}): ${result.stderr.trim().slice(0, 500)}`)
    if (output !== expected) {
      throw new NodeBinaryError(`--node-binary ${platform}=${path} is Node ${output}, but executables are built on ${expected} (bundles/node-runtimes.yaml)`, {
        hint: 'The SEA blob is made by the linux-x64 node of the pinned version; a binary of any other version, even a patch apart, crashes at start.',
      })
    }
    return { how: 'ran', output }
  }
  if (!(await fileContains(path, `${expected}\0`)) && !(await fileContains(path, expected))) {
    const packages = emulationPackages(platform)
    throw new NodeBinaryError(`--node-binary ${platform}=${path} does not look like Node ${expected}: the version string is not in it`, {
      hint: packages ? `Give Node ${expected} for ${platform}. Installing ${packages} lets edgebundle run it to check.` : `Give Node ${expected} for ${platform}.`,
    })
  }
  return { how: 'scanned' }
}

export function packageSpec(pkg: NodePackage, version: string): string {
  return `${pkg.package}@${version}`
}

async function readSource(file: string): Promise<SourceRecord | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as SourceRecord
  } catch {
    return null
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

/** A --node-binary path must name a file; anything else is a usage error naming the flag. */
export async function checkGivenFile(platform: ExePlatform, path: string): Promise<void> {
  if (!(await isFile(path))) throw new NodeBinaryError(`--node-binary ${platform}=${path}: no such file`)
}

/** Extracts the binary of a verified package tarball into the runtime folder, atomically. */
async function installFromTarball(tarball: string, tarballSha256: string, pkg: NodePackage, version: string, platform: ExePlatform, dir: string): Promise<string> {
  await ensureDir(dir)
  await sweepDeadTemps(dir)
  const binary = join(dir, nodeBinaryName(platform))
  const temp = tempPathFor(binary)
  let extracted
  try {
    extracted = await extractTarGzEntry(tarball, `package/${pkg.binary}`, temp, { mode: 0o755, maxBytes: MAX_BINARY_BYTES })
  } catch (error) {
    if (error instanceof TarFormatError) throw new ExecutableBuildError(`${packageSpec(pkg, version)}: ${error.message}`, { cause: error })
    throw error
  }
  await publishFile(temp, binary, { mode: 0o555 })
  const record: SourceRecord = { package: pkg.package, version, integrity: pkg.integrity, tarballSha256, binarySha256: extracted.sha256, size: extracted.size }
  await writeFileAtomically(join(dir, 'source.json'), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o444 })
  return binary
}

/** The package tarball in the cache (verified against the integrity), or null. */
async function cachedTarball(cache: ArtifactCache, pkg: NodePackage, version: string): Promise<{ path: string; sha256: string } | null> {
  const learned = await cache.learnedChecksum(integrityKey(pkg.package, version, pkg.integrity), tarballFileName(pkg.package, version))
  if (learned === null || !(await cache.hasBlob(learned.sha256))) return null
  const path = cache.blobPath(learned.sha256)
  // 30-60 MB re-hashed in ~0.1 s: cheap insurance that the pairing and the blob still agree.
  const digests = await digestFile(path)
  if (digests.integrity !== pkg.integrity || digests.sha256 !== learned.sha256) return null
  return { path, sha256: learned.sha256 }
}

/** Obtains the Node binary for `platform` (see the module comment for the order). */
export async function obtainNodeRuntime(platform: ExePlatform, options: RuntimeOptions): Promise<NodeRuntime> {
  const { runtimes } = options
  const version = runtimes.version
  const entry = runtimes.platforms[platform]
  const given = options.given?.[platform]
  const note = options.note ?? (() => {})

  if (given !== undefined) await checkGivenFile(platform, given)
  const givenKind = given === undefined ? null : await givenFileKind(given)
  if (given !== undefined && givenKind === 'binary') {
    await checkBinaryFormat(given, platform)
    const check = await checkNodeVersion(given, platform, version)
    note(`Node for ${platform}: ${given} (${check.how === 'ran' ? `ran: ${check.output}` : `v${version} found in the binary; not run here`})`)
    const { sha256 } = await digestFile(given)
    return { platform, version, path: given, identity: `sha256:${sha256}`, origin: 'given-binary' }
  }
  if (!isPackaged(entry)) {
    if (given !== undefined) throw new NodeBinaryError(`--node-binary ${platform}=${given}: no npm package pins an integrity for ${platform}, so a .tgz cannot be verified`, { hint: withVersion(entry.provide, version) })
    throw new NodeRuntimeUnavailableError(platform, withVersion(entry.unavailable, version), withVersion(entry.provide, version))
  }

  const spec = packageSpec(entry, version)
  const dirs = seaDirs(options.cacheDir)
  const dir = join(dirs.node, `${entry.package}-${version}`)
  const binary = join(dir, nodeBinaryName(platform))
  const cache = await ArtifactCache.open(options.cacheDir)

  if (given !== undefined) {
    // A package tarball carried in by hand: verified like a download, then cached like one.
    const digests = await digestFile(given)
    if (digests.integrity !== entry.integrity) throw new NodeRuntimeIntegrityError(spec, given, entry.integrity, digests.integrity)
    const temp = await cache.tempFile('npm-package')
    try {
      await copyFile(given, temp)
      await cache.commit(temp, digests.sha256)
    } catch (error) {
      await cache.discard(temp)
      throw error
    }
    await cache.recordChecksum({ url: integrityKey(entry.package, version, entry.integrity), fileName: tarballFileName(entry.package, version), sha256: digests.sha256, learnedFrom: given })
    const path = await installFromTarball(cache.blobPath(digests.sha256), digests.sha256, entry, version, platform, dir)
    note(`Node for ${platform}: ${spec} from ${given}, integrity verified`)
    return { platform, version, path, identity: entry.integrity, origin: 'given-tarball' }
  }

  const source = await readSource(join(dir, 'source.json'))
  if (source !== null && source.integrity === entry.integrity && source.version === version && (await isFile(binary))) {
    return { platform, version, path: binary, identity: entry.integrity, origin: 'cache' }
  }

  let tarball = await cachedTarball(cache, entry, version)
  let origin: RuntimeOrigin = 'cache'
  if (tarball === null) {
    const registry = await options.registry()
    const url = tarballUrl(registry, entry.package, version)
    if (options.offline || options.http === undefined) throw new NodeRuntimeNotCachedError(platform, spec, url, entry.integrity, options.cacheDir)
    note(`downloading ${spec} from ${url}`)
    const downloaded = await downloadPackage({
      http: options.http,
      url,
      packageSpec: spec,
      integrity: entry.integrity,
      cache,
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.transfer ? { hooks: options.transfer(`${entry.package}-${version}.tgz`, 'npm') } : {}),
    })
    await cache.recordChecksum({ url: integrityKey(entry.package, version, entry.integrity), fileName: tarballFileName(entry.package, version), sha256: downloaded.sha256, learnedFrom: url })
    tarball = downloaded
    origin = 'registry'
  }
  const path = await installFromTarball(tarball.path, tarball.sha256, entry, version, platform, dir)
  return { platform, version, path, identity: entry.integrity, origin }
}
