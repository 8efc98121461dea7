/**
 * Bundle verification against SHA256SUMS, the first thing the installer does (docs/architecture.md "The installer on
 * the node"): before it trusts plan.json or touches the node, every listed file must hash to its line.
 *
 * Paths come from a file an attacker may have edited, so each is checked before it is opened: the one
 * SHA256SUMS grammar (src/archive/sha256sums.ts, the form the builder writes) refuses absolute paths, `..`,
 * and whatever reads differently on Windows (drive letters, backslashes, colons); after symbolic links are
 * resolved a listed path must still be a regular file inside the bundle. Files are
 * hashed as streams, a few at once, so a bundle of any size verifies in constant memory.
 */
import { readFile, readdir, realpath, stat } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { type ChecksumLine, parseSha256Sums } from '../archive/sha256sums.js'
import { sha256OfFile } from '../io/file-chunks.js'
import type { IntegrityProblem } from './errors.js'

export interface ParsedChecksums {
  entries: ChecksumLine[]
  problems: IntegrityProblem[]
}

/** Streams a file through SHA-256. */
export const sha256File = sha256OfFile

export interface VerifyOptions {
  /** Files hashed at once: I/O overlaps with hashing; more than a few only thrashes a slow disk. */
  concurrency?: number
  /** Called after each file, in completion order (progress display). */
  onFile?: (entry: ChecksumLine, result: { ok: boolean; size: number }) => void
}

export interface VerifyResult {
  /** Files that verified. */
  files: number
  bytes: number
  problems: IntegrityProblem[]
}

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException)?.code

async function verifyEntry(root: string, realRoot: string, entry: ChecksumLine): Promise<{ problem: IntegrityProblem | null; size: number }> {
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
export async function verifyEntries(root: string, entries: ChecksumLine[], options: VerifyOptions = {}): Promise<VerifyResult> {
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
  const parsed = parseSha256Sums(text)
  return {
    entries: parsed.entries,
    problems: parsed.problems.map(({ kind, text, line, detail }) => ({ kind, path: text, line, ...(detail === undefined ? {} : { detail }) })),
  }
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
