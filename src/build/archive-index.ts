/**
 * archives.json for a bundle (src/installer/archive/index-file.ts says what it is for). Each archive is
 * read once per machine: its members are cached by the archive's SHA-256, format and strip, so a warm
 * build decompresses nothing.
 *
 *   <cache>/archive-index/<sha256>-<format>-<strip>.json
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomically } from '../archive/publish.js'
import {
  type ArchiveFormat,
  type ArchiveIndex,
  type IndexedMember,
  UnsafeArchiveError,
  archivesOfPlan,
  checkIndexedMembers,
  indexArchive,
} from '../installer/archive/index.js'
import type { Plan } from '../model/plan.js'

export interface IndexableFile {
  /** Bundle-relative path. */
  path: string
  /** Where its bytes are on this machine. */
  file: string
  sha256: string
}

export async function buildArchiveIndex(plan: Plan, files: readonly IndexableFile[], cacheDir: string, note: (message: string) => void): Promise<ArchiveIndex> {
  const index: ArchiveIndex = { format: 1, archives: {} }
  for (const archive of archivesOfPlan(plan)) {
    const source = files.find((file) => file.path === archive.file)
    if (source === undefined) throw new Error(`internal: the plan unpacks ${archive.file}, which the bundle does not carry`)
    const cached = join(cacheDir, 'archive-index', `${source.sha256}-${archive.format}-${archive.strip}.json`)
    const entry = { sha256: source.sha256, format: archive.format, strip: archive.strip }
    // The targets of a matrix that carry one archive read it once, not once each.
    let indexing = inProcess.get(cached)
    if (indexing === undefined) {
      indexing = membersOf(cached, archive.file, source.file, entry)
      inProcess.set(cached, indexing)
      indexing.then(
        () => inProcess.delete(cached),
        () => inProcess.delete(cached),
      )
    }
    let members: IndexedMember[]
    try {
      members = await indexing
    } catch (error) {
      // An archive the installer would refuse fails the build now, naming the member, not on the node.
      if (error instanceof UnsafeArchiveError) throw error
      // One this machine cannot decompress (zstd on a Node without it, and no zstd command) is left
      // out: the installer then reads the archive itself.
      note(`${archive.file} is not indexed in archives.json (${(error as Error).message}); the installer will read it to list it`)
      continue
    }
    index.archives[archive.file] = { ...entry, members }
  }
  return index
}

/** Indexing in progress in this process, by cache path. */
const inProcess = new Map<string, Promise<IndexedMember[]>>()

async function membersOf(cached: string, file: string, path: string, entry: { sha256: string; format: ArchiveFormat; strip: number }): Promise<IndexedMember[]> {
  const known = await recall(cached, file, entry)
  if (known !== null) return known
  const members = await indexArchive(path, entry.format, entry.strip)
  await remember(cached, members).catch(() => {})
  return members
}

/** A cached entry that still passes the member rules; anything else is read again. */
async function recall(path: string, file: string, entry: { sha256: string; format: ArchiveFormat; strip: number }): Promise<IndexedMember[] | null> {
  try {
    const members = JSON.parse(await readFile(path, 'utf8')) as IndexedMember[]
    return checkIndexedMembers(file, { ...entry, members })
  } catch {
    return null
  }
}

async function remember(path: string, members: IndexedMember[]): Promise<void> {
  await writeFileAtomically(path, JSON.stringify(members))
}
