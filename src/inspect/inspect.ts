/**
 * Reads a built bundle archive (.tar.gz or .zip) in one streaming pass, without unpacking it, and checks
 * it against the bundle layout contract (docs/architecture.md "Bundle layout"):
 *
 * - safe entries only: no absolute paths, no `..`, no links, no devices or FIFOs, no name twice;
 * - exactly one top-level folder, named edgebundle-<kubeedge>-<os>-<arch>-<runtime>, and nothing beside it;
 * - SHA256SUMS, manifest.json and plan.json present;
 * - SHA256SUMS in canonical form, listing every file but itself and SHA256SUMS.sig, each with its sha256:
 *   changed, added and removed files are each named;
 * - manifest.json valid, naming this bundle, and its `files` agreeing with the archive on path, size,
 *   mode and sha256; each component's file present with the component's sha256;
 * - the signature: with a public key, SHA256SUMS.sig must exist and verify; without one, a signature is
 *   reported unverified, which is a problem only when a signature is required.
 *
 * Every file is hashed as it streams past; only SHA256SUMS, its signature, manifest.json and plan.json
 * are kept in memory (bounded), so memory does not grow with the bundle. All problems are collected, not
 * just the first, so one run tells the whole story.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { pipeline } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { UsageError } from '../model/errors.js'
import { BUNDLE } from '../model/layout.js'
import { MANIFEST_EXCLUDED_FILES } from '../model/manifest.js'
import { ARCHES, OSES, RUNTIMES, type Target, bundleName } from '../model/target.js'
import { type PathHazard, pathHazard, resolveLinkTarget, strippedName } from '../archive/paths.js'
import { parseSha256Sums } from '../archive/sha256sums.js'
import { SIGNATURE_LENGTH, checkChecksumsSignature, parsePublicKey, publicKeyFingerprint } from '../archive/signature.js'
import { type PlanSummary, type ReadManifest, readManifest, readPlanSummary } from './documents.js'
import type { ArchiveEntry } from './entries.js'
import { ArchiveCorruptError } from './errors.js'
import { readTar } from './tar-read.js'
import { readZip } from './zip-read.js'

export type BundleArchiveFormat = 'tar.gz' | 'zip'

export type BundleProblemKind =
  /** The archive itself is damaged (truncated, bad gzip/deflate data, CRC, data after the end). */
  | 'corrupt'
  /** An entry that must never be in a bundle: absolute or `..` path, a link, a device, a name twice. */
  | 'unsafe-entry'
  /** Not exactly one correctly named top folder, or something beside it. */
  | 'layout'
  /** A file whose sha256 differs from its SHA256SUMS line. */
  | 'changed'
  /** A file that SHA256SUMS does not list. */
  | 'added'
  /** A file that SHA256SUMS lists and the archive lacks. */
  | 'removed'
  /** SHA256SUMS missing, or a line of it malformed. */
  | 'checksums'
  /** manifest.json missing, invalid, or disagreeing with the archive. */
  | 'manifest'
  /** plan.json missing or not a plan. */
  | 'plan'
  /** A required signature missing, or a signature that does not verify. */
  | 'signature'

export interface BundleProblem {
  kind: BundleProblemKind
  /** The path concerned (bundle-relative when inside the bundle folder, else as in the archive), if any. */
  path: string | null
  /** One full sentence, naming the path. */
  message: string
}

export type SignatureStatus =
  /** SHA256SUMS.sig verifies with the given key. */
  | 'verified'
  /** SHA256SUMS.sig exists but does not verify with the given key (or SHA256SUMS is missing). */
  | 'invalid'
  /** SHA256SUMS.sig exists; no key was given to check it. */
  | 'unverified'
  /** No SHA256SUMS.sig. */
  | 'unsigned'

export interface InspectedFile {
  /** Relative to the bundle folder. */
  path: string
  size: number
  /** Four octal digits ('0644'), or null when the archive records no Unix mode. */
  mode: string | null
  sha256: string
}

export interface BundleReport {
  /** False when there is any problem. */
  ok: boolean
  archive: { file: string; format: BundleArchiveFormat; size: number }
  /** The bundle folder's name, when there is one. */
  name: string | null
  /** The target the name encodes, when it is a bundle name. */
  target: Target | null
  /** Files inside the bundle folder, in byte order of their paths. */
  files: InspectedFile[]
  fileCount: number
  totalSize: number
  checksums: { present: boolean; listed: number }
  signature: { status: SignatureStatus; keyFingerprint: string | null }
  manifest: ReadManifest | null
  plan: PlanSummary | null
  problems: BundleProblem[]
  /** Worth saying, not wrong: an unverified signature, an unusual archive format for the OS. */
  notes: string[]
}

export interface InspectOptions {
  /** PEM of the ed25519 public key SHA256SUMS.sig must verify with. */
  publicKeyPem?: string
  /** A valid signature is required: without a key an unverified one does not do. */
  requireSignature?: boolean
}

/** The bundle folder files kept in memory while streaming, with a cap far above any real one. */
const CAPTURED: Record<string, number> = {
  [BUNDLE.checksums]: 32 * 1024 * 1024,
  [BUNDLE.signature]: 4096,
  [BUNDLE.manifest]: 64 * 1024 * 1024,
  [BUNDLE.plan]: 32 * 1024 * 1024,
}

const NAME_PATTERN = new RegExp(`^edgebundle-(\\d+\\.\\d+)-(${OSES.join('|')})-(${ARCHES.join('|')})-(${RUNTIMES.map((r) => r.replace(/-/g, '\\-')).join('|')})$`)

/** The target an `edgebundle-<kubeedge>-<os>-<arch>-<runtime>` name encodes, or null. */
export function parseBundleName(name: string): Target | null {
  const match = NAME_PATTERN.exec(name)
  if (match === null) return null
  const [, kubeedge, os, arch, runtime] = match as unknown as [string, string, Target['os'], Target['arch'], Target['runtime']]
  return { os, arch, runtime, kubeedge }
}

export function modeString(mode: number | null): string | null {
  return mode === null ? null : (mode & 0o7777).toString(8).padStart(4, '0')
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** An archive entry name as a clean path, or why it is refused; '' for the archive root itself ("./"). */
const REFUSED_NAMES: Record<PathHazard, string> = {
  nul: 'has a NUL byte in its name',
  backslash: 'has a backslash in its name (a path separator on Windows)',
  absolute: 'has an absolute path',
  'drive-letter': 'has a drive letter',
  'dot-dot': 'has a ".." segment (it would land outside the extraction folder)',
}

function normalizeName(name: string): { path: string } | { refused: string } {
  const hazard = pathHazard(name)
  return hazard === null ? { path: strippedName(name, 0) } : { refused: REFUSED_NAMES[hazard] }
}

/** Where a relative link target at `path` leads, as an archive path; null when absolute or above the archive root. */
function resolveLink(path: string, target: string): string | null {
  if (target === '' || target.startsWith('/') || target.includes('\\') || /^[A-Za-z]:/.test(target)) return null
  return resolveLinkTarget(path, target)
}

async function sniffFormat(file: string): Promise<BundleArchiveFormat> {
  const handle = await open(file, 'r')
  try {
    const head = Buffer.alloc(4)
    const { bytesRead } = await handle.read(head, 0, 4, 0)
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'tar.gz'
    if (bytesRead === 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6))) return 'zip'
  } finally {
    await handle.close()
  }
  throw new UsageError(`${file} is neither a .tar.gz nor a .zip archive`, { hint: 'Give a bundle archive as `edgebundle build` writes it: <name>.tar.gz (Linux) or <name>.zip (Windows).' })
}

/** Gunzip output as chunks, with zlib's errors (bad data, truncation) turned into ArchiveCorruptError. */
async function* gunzipped(file: string): AsyncGenerator<Buffer> {
  const stream = pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), createGunzip({ chunkSize: 256 * 1024 }), () => {})
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) yield chunk
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? ''
    if (code.startsWith('Z_') || code === 'ERR_STREAM_PREMATURE_CLOSE') throw new ArchiveCorruptError(`${file} is corrupt: gzip data ${(error as Error).message}`, { cause: error })
    throw error
  }
}

interface SeenFile {
  size: number
  mode: number | null
  sha256: string
}

interface Scan {
  files: Map<string, SeenFile>
  directories: Set<string>
  /** Content of the CAPTURED files, keyed by their full archive path; null when over the cap. */
  captured: Map<string, Buffer | null>
  problems: BundleProblem[]
}

function captureLimit(path: string): number | undefined {
  const parts = path.split('/')
  return parts.length === 2 ? CAPTURED[parts[1]!] : undefined
}

async function scan(entries: AsyncIterable<ArchiveEntry>, scanned: Scan): Promise<void> {
  const { files, directories, captured, problems } = scanned
  const seen = new Set<string>()
  for await (const entry of entries) {
    const normalized = normalizeName(entry.name)
    if ('refused' in normalized) {
      problems.push({ kind: 'unsafe-entry', path: entry.name, message: `${JSON.stringify(entry.name)}: ${entry.what} that ${normalized.refused}` })
      continue
    }
    const path = normalized.path
    if (path === '') continue // "./": the extraction folder itself
    if (seen.has(path)) {
      // A second entry of one name would silently replace the first on extraction.
      problems.push({ kind: 'unsafe-entry', path, message: `${path}: in the archive twice (extraction would replace the first with the second)` })
      continue
    }
    seen.add(path)
    switch (entry.type) {
      case 'directory':
        directories.add(path)
        break
      case 'file': {
        const hash = createHash('sha256')
        const limit = captureLimit(path)
        const parts: Buffer[] = []
        let size = 0
        for await (const chunk of entry.content()) {
          hash.update(chunk)
          size += chunk.length
          if (limit !== undefined && size <= limit) parts.push(Buffer.from(chunk))
        }
        if (limit !== undefined) captured.set(path, size <= limit ? Buffer.concat(parts, size) : null)
        files.set(path, { size, mode: entry.mode, sha256: hash.digest('hex') })
        break
      }
      case 'symlink':
      case 'hardlink': {
        const target = entry.linkTarget ?? ''
        // A hard link's target is an archive path; a symbolic link's is relative to the link's folder.
        const resolved = entry.type === 'hardlink' ? (normalizeName(target) as { path?: string }).path ?? null : resolveLink(path, target)
        const top = path.split('/')[0]!
        const outside = resolved === null || !(resolved === top || resolved.startsWith(`${top}/`))
        problems.push({
          kind: 'unsafe-entry',
          path,
          message: outside
            ? `${path}: ${entry.what} to ${JSON.stringify(target)}, which points outside the bundle`
            : `${path}: ${entry.what} to ${JSON.stringify(target)}; bundles hold only files and folders`,
        })
        break
      }
      case 'special':
        problems.push({ kind: 'unsafe-entry', path, message: `${path}: ${entry.what}; bundles hold only files and folders` })
        break
    }
  }
}

/** Picks the bundle folder: the only top-level folder, else the best candidate; reports layout problems. */
function findRoot(scanned: Scan): string | null {
  const { files, directories, problems } = scanned
  const tops = new Map<string, number>()
  for (const path of [...directories, ...files.keys()]) {
    const slash = path.indexOf('/')
    if (slash === -1) {
      if (files.has(path)) problems.push({ kind: 'layout', path, message: `${path}: a file beside the bundle folder; a bundle archive holds one folder and nothing else` })
      else tops.set(path, tops.get(path) ?? 0)
    } else {
      const top = path.slice(0, slash)
      tops.set(top, (tops.get(top) ?? 0) + (files.has(path) ? 1 : 0))
    }
  }
  if (tops.size === 0) {
    problems.push({ kind: 'layout', path: null, message: 'the archive holds no bundle folder' })
    return null
  }
  const names = [...tops.keys()].sort(compareBytes)
  // Prefer a correctly named folder that holds SHA256SUMS, then the one with most files.
  const score = (name: string) => (parseBundleName(name) !== null ? 2 : 0) + (files.has(`${name}/${BUNDLE.checksums}`) ? 1 : 0)
  const root = [...names].sort((a, b) => score(b) - score(a) || (tops.get(b) ?? 0) - (tops.get(a) ?? 0) || compareBytes(a, b))[0]!
  if (tops.size > 1) {
    problems.push({
      kind: 'layout',
      path: null,
      message: `the archive holds ${tops.size} top-level folders (${names.join(', ')}); a bundle has exactly one. Checked: ${root}; the others are not part of it`,
    })
  }
  if (parseBundleName(root) === null) {
    problems.push({ kind: 'layout', path: root, message: `${root}: not a bundle folder name (edgebundle-<kubeedge>-<os>-<arch>-<runtime>, e.g. edgebundle-1.23-ubuntu-amd64-containerd)` })
  }
  return root
}

function shortHash(sha256: string): string {
  return `${sha256.slice(0, 12)}…`
}

function checkChecksums(bundle: Map<string, SeenFile>, sums: Buffer | null | undefined, problems: BundleProblem[]): number {
  if (sums === undefined) {
    problems.push({ kind: 'checksums', path: BUNDLE.checksums, message: `${BUNDLE.checksums}: missing, so no file of the bundle can be verified` })
    return 0
  }
  if (sums === null) {
    problems.push({ kind: 'checksums', path: BUNDLE.checksums, message: `${BUNDLE.checksums}: larger than any bundle's; not read` })
    return 0
  }
  const parsed = parseSha256Sums(sums.toString('utf8'))
  for (const problem of parsed.problems) problems.push({ kind: 'checksums', path: BUNDLE.checksums, message: `${BUNDLE.checksums}: ${problem.message}` })
  const listed = new Set<string>()
  for (const line of parsed.entries) {
    listed.add(line.path)
    if (line.path === BUNDLE.checksums || line.path === BUNDLE.signature) {
      problems.push({ kind: 'checksums', path: BUNDLE.checksums, message: `${BUNDLE.checksums}: line ${line.line} lists ${line.path}, which it cannot cover` })
      continue
    }
    const file = bundle.get(line.path)
    if (file === undefined) problems.push({ kind: 'removed', path: line.path, message: `${line.path}: listed in ${BUNDLE.checksums} but not in the archive (removed)` })
    else if (file.sha256 !== line.sha256) {
      problems.push({ kind: 'changed', path: line.path, message: `${line.path}: changed: its sha256 is ${shortHash(file.sha256)}, ${BUNDLE.checksums} says ${shortHash(line.sha256)}` })
    }
  }
  for (const path of bundle.keys()) {
    if (path === BUNDLE.checksums || path === BUNDLE.signature || listed.has(path)) continue
    problems.push({ kind: 'added', path, message: `${path}: in the archive but not listed in ${BUNDLE.checksums} (added)` })
  }
  return parsed.entries.length
}

function checkManifest(manifest: ReadManifest, root: string, bundle: Map<string, SeenFile>, problems: BundleProblem[]): void {
  const push = (path: string | null, message: string) => problems.push({ kind: 'manifest', path, message: `${BUNDLE.manifest}: ${message}` })
  if (manifest.name !== root) push(null, `names the bundle ${manifest.name}, but its folder is ${root}`)
  if (bundleName(manifest.target) !== manifest.name) push(null, `its target ${JSON.stringify(manifest.target)} does not match its name ${manifest.name}`)
  if (manifest.files !== undefined) {
    const listed = new Map<string, (typeof manifest.files)[number]>()
    for (const file of manifest.files) {
      if (listed.has(file.path)) push(file.path, `lists ${file.path} twice`)
      listed.set(file.path, file)
    }
    for (const [path, file] of listed) {
      if (MANIFEST_EXCLUDED_FILES.includes(path)) {
        push(path, `lists ${path}, which it must leave out`)
        continue
      }
      const actual = bundle.get(path)
      if (actual === undefined) {
        push(path, `lists ${path}, which the archive does not hold`)
        continue
      }
      const differences: string[] = []
      if (actual.size !== file.size) differences.push(`size ${actual.size}, manifest says ${file.size}`)
      const mode = modeString(actual.mode)
      if (mode !== null && mode !== file.mode) differences.push(`mode ${mode}, manifest says ${file.mode}`)
      if (actual.sha256 !== file.sha256) differences.push(`sha256 ${shortHash(actual.sha256)}, manifest says ${shortHash(file.sha256)}`)
      if (differences.length > 0) push(path, `${path} disagrees with the archive: ${differences.join('; ')}`)
    }
    for (const path of bundle.keys()) {
      if (!MANIFEST_EXCLUDED_FILES.includes(path) && !listed.has(path)) push(path, `does not list ${path}, which the archive holds`)
    }
  }
  for (const component of manifest.components) {
    const actual = bundle.get(component.file)
    if (actual === undefined) push(component.file, `component ${component.id} ${component.version} names ${component.file}, which the archive does not hold`)
    else if (actual.sha256 !== component.sha256) {
      push(component.file, `component ${component.id} ${component.version}: ${component.file} has sha256 ${shortHash(actual.sha256)}, the component's is ${shortHash(component.sha256)}`)
    }
  }
}

function checkSignature(
  sums: Buffer | null | undefined,
  signature: Buffer | null | undefined,
  options: InspectOptions,
  problems: BundleProblem[],
  notes: string[],
): BundleReport['signature'] {
  const key = options.publicKeyPem
  const keyFingerprint = key === undefined ? null : publicKeyFingerprint(key)
  const fail = (message: string) => problems.push({ kind: 'signature', path: BUNDLE.signature, message })
  if (signature === undefined) {
    if (key !== undefined) fail(`${BUNDLE.signature}: missing; the bundle is not signed, and --pubkey requires a signature`)
    else if (options.requireSignature) fail(`${BUNDLE.signature}: missing; the bundle is not signed, and a signature is required`)
    return { status: 'unsigned', keyFingerprint }
  }
  if (key === undefined) {
    if (options.requireSignature) fail(`${BUNDLE.signature}: present but not verified (no public key given), and a verified signature is required`)
    else notes.push(`${BUNDLE.signature} is present but was not verified: check it with \`edgebundle verify --pubkey FILE\``)
    return { status: 'unverified', keyFingerprint }
  }
  // A null capture was larger than any signature, so not read.
  const verdict = checkChecksumsSignature(sums ?? null, signature, key)
  if (!verdict.ok) {
    if (verdict.reason === 'no-checksums') fail(`${BUNDLE.signature}: cannot be verified, ${BUNDLE.checksums} is ${sums === undefined ? 'missing' : 'unreadable'}`)
    else if (verdict.reason === 'wrong-length') fail(`${BUNDLE.signature}: not an ed25519 signature (${verdict.length === null ? 'far too large' : `${verdict.length} bytes, expected ${SIGNATURE_LENGTH}`})`)
    else fail(`${BUNDLE.signature}: does not verify with key ${keyFingerprint}: ${BUNDLE.checksums} was altered, or the bundle was signed with another key`)
    return { status: 'invalid', keyFingerprint }
  }
  return { status: 'verified', keyFingerprint }
}

/**
 * Inspects and verifies a bundle archive. Throws UsageError (exit 2) when `file` is not a readable
 * .tar.gz/.zip or the key is not an ed25519 public key; every integrity finding is in the report.
 */
export async function inspectBundle(file: string, options: InspectOptions = {}): Promise<BundleReport> {
  if (options.publicKeyPem !== undefined) parsePublicKey(options.publicKeyPem)
  let info
  try {
    info = await stat(file)
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error })
  }
  if (!info.isFile()) throw new UsageError(`${file} is not a file`, { hint: 'Give the bundle archive (<name>.tar.gz or <name>.zip), not an unpacked folder.' })
  const format = await sniffFormat(file)
  const scanned: Scan = { files: new Map(), directories: new Set(), captured: new Map(), problems: [] }
  const report: BundleReport = {
    ok: false,
    archive: { file, format, size: info.size },
    name: null,
    target: null,
    files: [],
    fileCount: 0,
    totalSize: 0,
    checksums: { present: false, listed: 0 },
    signature: { status: 'unsigned', keyFingerprint: null },
    manifest: null,
    plan: null,
    problems: scanned.problems,
    notes: [],
  }
  try {
    await scan(format === 'tar.gz' ? readTar(gunzipped(file), file) : readZip(file, file), scanned)
  } catch (error) {
    if (!(error instanceof ArchiveCorruptError)) throw error
    // Past a structural fault nothing can be trusted: report it alone, not a cascade of "removed" files.
    report.problems = [{ kind: 'corrupt', path: null, message: error.message }]
    return report
  }

  const problems = scanned.problems
  const root = findRoot(scanned)
  if (root === null) return report
  report.name = root
  report.target = parseBundleName(root)
  const prefix = `${root}/`
  const bundle = new Map<string, SeenFile>()
  for (const [path, seen] of scanned.files) if (path.startsWith(prefix)) bundle.set(path.slice(prefix.length), seen)
  report.files = [...bundle.entries()]
    .sort(([a], [b]) => compareBytes(a, b))
    .map(([path, seen]) => ({ path, size: seen.size, mode: modeString(seen.mode), sha256: seen.sha256 }))
  report.fileCount = report.files.length
  report.totalSize = report.files.reduce((sum, f) => sum + f.size, 0)

  const capturedFile = (name: string): Buffer | null | undefined => (scanned.captured.has(`${prefix}${name}`) ? scanned.captured.get(`${prefix}${name}`)! : undefined)
  const sums = capturedFile(BUNDLE.checksums)
  report.checksums = { present: sums !== undefined, listed: checkChecksums(bundle, sums, problems) }

  readDocuments(report, root, bundle, capturedFile, problems)

  report.signature = checkSignature(sums, capturedFile(BUNDLE.signature), options, problems, report.notes)
  if (report.target !== null) {
    const expected: BundleArchiveFormat = report.target.os === 'windows' ? 'zip' : 'tar.gz'
    if (expected !== format) report.notes.push(`a ${report.target.os} bundle is normally a .${expected}; this one is a .${format}`)
  }
  report.ok = problems.length === 0
  return report
}

/** manifest.json and plan.json: read, checked against the bundle, and put in the report. */
function readDocuments(
  report: BundleReport,
  root: string,
  bundle: Map<string, SeenFile>,
  capturedFile: (name: string) => Buffer | null | undefined,
  problems: BundleProblem[],
): void {
  const manifestBytes = capturedFile(BUNDLE.manifest)
  if (manifestBytes === undefined) problems.push({ kind: 'manifest', path: BUNDLE.manifest, message: `${BUNDLE.manifest}: missing` })
  else if (manifestBytes === null) problems.push({ kind: 'manifest', path: BUNDLE.manifest, message: `${BUNDLE.manifest}: larger than any bundle's; not read` })
  else {
    const read = readManifest(manifestBytes)
    if ('error' in read) problems.push({ kind: 'manifest', path: BUNDLE.manifest, message: `${BUNDLE.manifest}: ${read.error}` })
    else {
      report.manifest = read.manifest
      checkManifest(read.manifest, root, bundle, problems)
    }
  }

  const planBytes = capturedFile(BUNDLE.plan)
  if (planBytes === undefined) problems.push({ kind: 'plan', path: BUNDLE.plan, message: `${BUNDLE.plan}: missing` })
  else if (planBytes === null) problems.push({ kind: 'plan', path: BUNDLE.plan, message: `${BUNDLE.plan}: larger than any bundle's; not read` })
  else {
    const read = readPlanSummary(planBytes)
    if ('error' in read) problems.push({ kind: 'plan', path: BUNDLE.plan, message: `${BUNDLE.plan}: ${read.error}` })
    else {
      report.plan = read.plan
      if (read.plan.name !== root) problems.push({ kind: 'plan', path: BUNDLE.plan, message: `${BUNDLE.plan}: names the bundle ${read.plan.name}, but its folder is ${root}` })
    }
  }
}
