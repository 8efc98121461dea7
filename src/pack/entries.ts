/**
 * What goes into an archive, and in which order. Both writers (tar, zip) take the output of
 * planEntries, so they agree on the rules that make an archive reproducible (docs/architecture.md "Determinism"):
 *
 * - every path is checked once here: relative, `/`-separated, no `.`/`..`/empty segments, nothing that
 *   means something else on Windows; a bad path is a defect of the caller, never silently "fixed";
 * - every folder that holds an entry is emitted explicitly with mode 0755, so extraction does not invent
 *   folders with the extracting user's umask;
 * - entries are sorted by the UTF-8 bytes of their path. A folder's path is a prefix of its contents'
 *   paths, and a prefix sorts first in byte order, so every folder comes before what it holds.
 *   (JavaScript's default sort compares UTF-16 code units, which orders some non-BMP characters
 *   differently from byte order: Buffer.compare is used instead.)
 */
import { stat } from 'node:fs/promises'
import { type PathHazard, pathHazard } from '../archive/paths.js'
import { PackError } from './errors.js'

export type PackMode = 0o644 | 0o755

export interface PackEntry {
  /** Archive path of a file, `/`-separated, e.g. 'edgebundle-1.23-ubuntu-amd64-containerd/install.sh'. */
  path: string
  mode: PackMode
  /** A file streamed from disk when packed (never read whole), or content held in memory (small files). */
  source: { file: string } | { content: Buffer | string }
  /**
   * The content's SHA-256 (lowercase hex), when the caller knows it (the build lists it in SHA256SUMS).
   * The .tar.gz writer then reuses this file's cached gzip members, and checks the file against it when
   * it does read it, so a cache entry is only ever made from content that has this digest.
   */
  sha256?: string | undefined
}

export type ArchiveFormat = 'tar.gz' | 'zip'

export type PlannedEntry =
  | { kind: 'directory'; path: string; mode: 0o755 }
  | { kind: 'file'; path: string; mode: PackMode; size: number; source: { file: string } | { content: Buffer }; sha256: string | undefined }

/** Characters Windows cannot have in a file name: a zip (the Windows archive) holding one cannot be extracted there. */
const WINDOWS_RESERVED = /[<>:"|?*\u0000-\u001f]/

const PACK_HAZARDS: Record<PathHazard, string> = {
  nul: 'contains a NUL byte',
  backslash: 'contains a backslash',
  absolute: 'absolute',
  'drive-letter': 'starts with a drive letter',
  'dot-dot': 'has a ".." segment',
}

function pathProblem(path: string, format: ArchiveFormat): string | null {
  if (path === '') return 'empty'
  const hazard = pathHazard(path)
  if (hazard !== null) return PACK_HAZARDS[hazard]
  if (path.endsWith('/')) return 'ends with "/" (folders are implied by the files they hold)'
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') return `has a ${JSON.stringify(segment)} segment`
    if (format === 'zip') {
      if (WINDOWS_RESERVED.test(segment)) return `segment ${JSON.stringify(segment)} has a character Windows refuses in file names`
      if (/[. ]$/.test(segment)) return `segment ${JSON.stringify(segment)} ends with a dot or space, which Windows drops`
    }
  }
  return null
}

export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/**
 * Validates the entries, stats file sources (so a missing file fails before any output exists) and
 * returns folders and files in archive order.
 */
export async function planEntries(entries: readonly PackEntry[], format: ArchiveFormat): Promise<PlannedEntry[]> {
  const files = new Map<string, PlannedEntry & { kind: 'file' }>()
  const directories = new Set<string>()
  for (const entry of entries) {
    const problem = pathProblem(entry.path, format)
    if (problem !== null) throw new Error(`internal: archive path ${JSON.stringify(entry.path)} ${problem}`)
    if (entry.mode !== 0o644 && entry.mode !== 0o755) {
      throw new Error(`internal: archive entry ${entry.path} has mode ${(entry.mode as number).toString(8)}; bundles use 0644 and 0755 only`)
    }
    if (files.has(entry.path)) throw new Error(`internal: archive entry ${entry.path} is given twice`)
    let source: { file: string } | { content: Buffer }
    let size: number
    if ('file' in entry.source) {
      const file = entry.source.file
      let info
      try {
        info = await stat(file)
      } catch (error) {
        throw new PackError(`cannot read ${file} (for ${entry.path}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error })
      }
      if (!info.isFile()) throw new PackError(`${file} (for ${entry.path}) is not a regular file`)
      source = { file }
      size = info.size
    } else {
      const content = entry.source.content
      source = { content: typeof content === 'string' ? Buffer.from(content, 'utf8') : content }
      size = source.content.length
    }
    if (entry.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(entry.sha256)) throw new Error(`internal: archive entry ${entry.path} has a malformed sha256 ${JSON.stringify(entry.sha256)}`)
    files.set(entry.path, { kind: 'file', path: entry.path, mode: entry.mode, size, source, sha256: entry.sha256 })
    const parts = entry.path.split('/')
    for (let i = 1; i < parts.length; i++) directories.add(parts.slice(0, i).join('/'))
  }
  for (const directory of directories) {
    if (files.has(directory)) throw new Error(`internal: archive path ${directory} is both a file and a folder`)
  }
  const planned: PlannedEntry[] = [...[...directories].map((path) => ({ kind: 'directory' as const, path, mode: 0o755 as const })), ...files.values()]
  return planned.sort((a, b) => compareBytes(a.path, b.path))
}
