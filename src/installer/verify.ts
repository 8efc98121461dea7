/**
 * Bundle verification against SHA256SUMS, the first thing the installer does (docs/architecture.md "The installer on
 * the node"): before it trusts plan.json or touches the node, every listed file must hash to its line.
 *
 * Paths come from a file an attacker may have edited, so each is checked before it is opened: relative,
 * `/`-separated, no `..`, nothing that reads differently on Windows (drive letters, backslashes, colons),
 * and after symbolic links are resolved it must still be a regular file inside the bundle. Files are
 * hashed as streams, a few at once, so a bundle of any size verifies in constant memory.
 */
import { readFile, readdir, realpath, stat } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { sha256OfFile } from '../io/file-chunks.js'
import type { IntegrityProblem } from './errors.js'

export interface ChecksumEntry {
  /** Bundle-relative, `/`-separated, without `./` segments. */
  path: string
  sha256: string
  /** 1-based line in SHA256SUMS. */
  line: number
}

export interface ParsedChecksums {
  entries: ChecksumEntry[]
  problems: IntegrityProblem[]
}

const HEX64 = /^[0-9a-fA-F]{64}$/

/**
 * Why a listed path is refused, or null when it is fine. Refusing is cheaper than reasoning about what a
 * strange path would resolve to on each OS the installer runs on.
 */
export function unsafePathReason(path: string): string | null {
  if (path === '') return 'empty'
  if (path.includes('\0')) return 'contains a NUL byte'
  if (path.startsWith('/')) return 'absolute'
  if (/^[A-Za-z]:/.test(path)) return 'has a drive letter'
  if (path.includes('\\')) return 'contains a backslash (a path separator on Windows)'
  // A colon names an alternate data stream on NTFS: "a.txt:x" would hash another stream than it shows.
  if (path.includes(':')) return 'contains a colon'
  const segments = path.split('/')
  if (segments.includes('..')) return 'has a ".." segment'
  if (segments.slice(0, -1).includes('') || segments[segments.length - 1] === '') return 'has an empty segment'
  return null
}

/** "./a/./b" → "a/b": `find . | xargs sha256sum` writes the leading "./", which names the same file. */
function normalizeEntryPath(path: string): string {
  return path
    .split('/')
    .filter((segment) => segment !== '.')
    .join('/')
}

/** GNU sha256sum escapes "\" and newline in names and marks such lines with a leading "\". */
function unescapeName(name: string): string | null {
  let out = ''
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!
    if (c !== '\\') {
      out += c
      continue
    }
    const next = name[++i]
    if (next === '\\') out += '\\'
    else if (next === 'n') out += '\n'
    else if (next === 'r') out += '\r'
    else return null
  }
  return out
}

/**
 * Parses SHA256SUMS as `sha256sum -c` reads it: `<hex>  <name>` (text mode) or `<hex> *<name>` (binary
 * mode), escaped names, and the BSD `SHA256 (<name>) = <hex>` form of `sha256sum --tag`. Blank lines are
 * skipped; every other unreadable line is a problem, never silently ignored.
 */
export function parseSha256Sums(text: string): ParsedChecksums {
  const entries: ChecksumEntry[] = []
  const problems: IntegrityProblem[] = []
  const seen = new Map<string, ChecksumEntry>()
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  lines.forEach((raw, index) => {
    const line = index + 1
    // A CRLF checkout (a Windows copy tool) must not turn every name into "name\r".
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (text.trim() === '') return
    const escaped = text.startsWith('\\')
    const body = escaped ? text.slice(1) : text
    let sha256: string | undefined
    let name: string | undefined
    const gnu = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(body)
    const bsd = /^SHA256 \((.+)\) = ([0-9a-fA-F]{64})$/.exec(body)
    if (gnu) [sha256, name] = [gnu[1], gnu[2]]
    else if (bsd) [name, sha256] = [bsd[1], bsd[2]]
    if (sha256 === undefined || name === undefined || !HEX64.test(sha256)) {
      problems.push({ kind: 'malformed-line', path: text.slice(0, 200), line })
      return
    }
    const unescaped = escaped ? unescapeName(name) : name
    if (unescaped === null) {
      problems.push({ kind: 'malformed-line', path: text.slice(0, 200), line })
      return
    }
    const path = normalizeEntryPath(unescaped)
    const reason = unsafePathReason(path)
    if (reason !== null) {
      problems.push({ kind: 'unsafe-path', path: unescaped, line, detail: reason })
      return
    }
    const entry: ChecksumEntry = { path, sha256: sha256.toLowerCase(), line }
    const earlier = seen.get(path)
    if (earlier) {
      if (earlier.sha256 !== entry.sha256) problems.push({ kind: 'duplicate', path, line })
      return
    }
    seen.set(path, entry)
    entries.push(entry)
  })
  return { entries, problems }
}

/** Streams a file through SHA-256. */
export const sha256File = sha256OfFile

export interface VerifyOptions {
  /** Files hashed at once: I/O overlaps with hashing; more than a few only thrashes a slow disk. */
  concurrency?: number
  /** Called after each file, in completion order (progress display). */
  onFile?: (entry: ChecksumEntry, result: { ok: boolean; size: number }) => void
}

export interface VerifyResult {
  /** Files that verified. */
  files: number
  bytes: number
  problems: IntegrityProblem[]
}

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException)?.code

async function verifyEntry(root: string, realRoot: string, entry: ChecksumEntry): Promise<{ problem: IntegrityProblem | null; size: number }> {
  const path = join(root, ...entry.path.split('/'))
  let real: string
  try {
    real = await realpath(path)
  } catch (error) {
    const code = errorCode(error)
    if (code === 'ENOENT' || code === 'ENOTDIR') return { problem: { kind: 'missing', path: entry.path }, size: 0 }
    return { problem: { kind: 'unreadable', path: entry.path, detail: code ?? String(error) }, size: 0 }
  }
  if (!real.startsWith(realRoot + sep)) return { problem: { kind: 'outside-bundle', path: entry.path, detail: real }, size: 0 }
  try {
    if (!(await stat(real)).isFile()) return { problem: { kind: 'unreadable', path: entry.path, detail: 'not a regular file' }, size: 0 }
    const { sha256, size } = await sha256File(real)
    if (sha256 !== entry.sha256) return { problem: { kind: 'mismatch', path: entry.path, expected: entry.sha256, actual: sha256 }, size }
    return { problem: null, size }
  } catch (error) {
    return { problem: { kind: 'unreadable', path: entry.path, detail: errorCode(error) ?? String(error) }, size: 0 }
  }
}

/** Hashes every entry under `root` and reports each file that does not verify (all of them, not the first). */
export async function verifyEntries(root: string, entries: ChecksumEntry[], options: VerifyOptions = {}): Promise<VerifyResult> {
  const realRoot = await realpath(root)
  const results: { problem: IntegrityProblem | null; size: number }[] = new Array(entries.length)
  let next = 0
  const worker = async () => {
    while (next < entries.length) {
      const index = next++
      const entry = entries[index]!
      const result = await verifyEntry(root, realRoot, entry)
      results[index] = result
      options.onFile?.(entry, { ok: result.problem === null, size: result.size })
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 4, entries.length)) }, worker))
  // Report in SHA256SUMS order whatever order the workers finished in, so output is stable.
  const problems = results.flatMap((r) => (r.problem ? [r.problem] : []))
  const ok = results.filter((r) => r.problem === null)
  return { files: ok.length, bytes: ok.reduce((sum, r) => sum + r.size, 0), problems }
}

/** Reads and parses `<root>/SHA256SUMS`; a missing file is reported as null (the caller decides). */
export async function readSha256Sums(file: string): Promise<ParsedChecksums | null> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null
    throw error
  }
  return parseSha256Sums(text)
}

/**
 * Files (and links) under `root` that SHA256SUMS does not list, apart from SHA256SUMS and its signature:
 * `sha256sum -c` checks only what is listed, so an added file would otherwise slip through.
 */
export async function unlistedFiles(root: string, listed: ReadonlySet<string>, own: readonly string[]): Promise<string[]> {
  const out: string[] = []
  const walk = async (dir: string, prefix: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`
      if (entry.isDirectory()) await walk(join(dir, entry.name), relative)
      else if (!listed.has(relative) && !own.includes(relative)) out.push(relative)
    }
  }
  await walk(root, '')
  return out.sort()
}
