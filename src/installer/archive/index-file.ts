/**
 * archives.json: the members of every archive the plan unpacks, each file with its SHA-256, as the
 * builder read them. It is listed in SHA256SUMS (so the signature covers it) and names the SHA-256 of
 * the archive it describes, so once verification passed it says what the archive holds without
 * decompressing it: `verify` and a dry run check its members by the same rules as the archive's own
 * headers, and a dry run on a node that has the files compares digests. An install still unpacks and
 * checks the archive itself; the index never replaces that.
 */
import { createHash } from 'node:crypto'
import type { Plan } from '../../model/plan.js'
import type { ArchiveFormat } from './decompress.js'
import { UnsafeArchiveError } from './errors.js'
import { type ArchiveMember, TreeRules, decodeMember } from './rules.js'
import { type ReadOptions, forEachMember } from './scan.js'
import type { TarHeader } from '../../archive/tar.js'

/** The archives a plan unpacks: file (bundle-relative), format and strip. */
export function archivesOfPlan(plan: Plan): { file: string; format: ArchiveFormat; strip: number }[] {
  return plan.steps.flatMap((step) =>
    step.kind === 'install-archive' || step.kind === 'run-upstream-installer'
      ? [{ file: step.file, format: step.format, strip: step.kind === 'install-archive' ? step.strip : 0 }]
      : [],
  )
}
export const ARCHIVE_INDEX_FORMAT = 1

export interface IndexedMember extends ArchiveMember {
  /** Files (and hard links, their target's): the content's SHA-256. */
  sha256?: string
}

export interface IndexedArchive {
  /** The archive's own SHA-256 (its SHA256SUMS line): the index describes these bytes only. */
  sha256: string
  format: ArchiveFormat
  strip: number
  members: IndexedMember[]
}

export interface ArchiveIndex {
  format: typeof ARCHIVE_INDEX_FORMAT
  /** By bundle-relative path. */
  archives: Record<string, IndexedArchive>
}

/** One pass over an archive: its members, checked as a scan checks them, each file with its digest. */
export async function indexArchive(file: string, format: ArchiveFormat, strip: number, options: ReadOptions = {}): Promise<IndexedMember[]> {
  const members: IndexedMember[] = []
  const digests = new Map<string, string>()
  const rules = new TreeRules(file)
  await forEachMember(file, format, strip, options, async (member, reader) => {
    rules.add(member)
    const indexed: IndexedMember = { ...member }
    if (member.type === 'file') {
      const hash = createHash('sha256')
      for await (const chunk of reader.data()) hash.update(chunk)
      indexed.sha256 = hash.digest('hex')
      digests.set(member.name, indexed.sha256)
    } else if (member.type === 'hardlink') {
      const target = digests.get(member.linkTarget ?? '')
      if (target !== undefined) {
        indexed.sha256 = target
        digests.set(member.name, target)
      }
    } else {
      digests.delete(member.name)
    }
    members.push(indexed)
  })
  rules.finish()
  return members
}

/**
 * The SHA-256 of every file the members leave, by name: a later member of the same name wins, as it
 * does when the archive is unpacked, and a hard link has its target's.
 */
export function digestsOf(members: readonly IndexedMember[]): Map<string, string> {
  const digests = new Map<string, string>()
  for (const member of members) {
    if (member.sha256 !== undefined) digests.set(member.name, member.sha256)
    else digests.delete(member.name)
  }
  return digests
}

/** archives.json's bytes: one member per line, so a diff of two bundles reads like a diff of their archives. */
export function formatArchiveIndex(index: ArchiveIndex): string {
  const archives = Object.keys(index.archives)
    .sort()
    .map((path) => {
      const { sha256, format, strip, members } = index.archives[path]!
      const head = `    ${JSON.stringify(path)}: {\n      "sha256": ${JSON.stringify(sha256)},\n      "format": ${JSON.stringify(format)},\n      "strip": ${strip},\n`
      const lines = members.map((member) => `        ${JSON.stringify(member)}`).join(',\n')
      return `${head}      "members": [\n${lines}\n      ]\n    }`
    })
  const body = archives.length === 0 ? '{}' : `{\n${archives.join(',\n')}\n  }`
  return `{\n  "format": ${ARCHIVE_INDEX_FORMAT},\n  "archives": ${body}\n}\n`
}

/** Why an archives.json cannot be used, or its content. Only a shape problem makes it unusable; its members are checked later. */
export function parseArchiveIndex(text: string): ArchiveIndex | { unusable: string } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return { unusable: `it is not JSON (${(error as Error).message})` }
  }
  const index = value as ArchiveIndex
  if (typeof index !== 'object' || index === null || index.format !== ARCHIVE_INDEX_FORMAT) return { unusable: `its format is not ${ARCHIVE_INDEX_FORMAT}` }
  if (typeof index.archives !== 'object' || index.archives === null) return { unusable: 'it has no archives' }
  for (const [path, entry] of Object.entries(index.archives)) {
    const fine =
      typeof entry === 'object' &&
      entry !== null &&
      typeof entry.sha256 === 'string' &&
      (entry.format === 'tar.gz' || entry.format === 'tar.zst' || entry.format === 'zip') &&
      Number.isSafeInteger(entry.strip) &&
      Array.isArray(entry.members)
    if (!fine) return { unusable: `its entry for ${path} is malformed` }
  }
  return index
}

const TYPEFLAGS: Record<ArchiveMember['type'], string> = { file: '0', dir: '5', symlink: '2', hardlink: '1' }
const SHA256_HEX = /^[0-9a-f]{64}$/

/**
 * The members an index lists for `file`, put through the rules a scan of the archive applies to its
 * headers (names, link targets, the tree they build): the index is trusted for what the archive holds,
 * never for whether that is safe.
 */
export function checkIndexedMembers(file: string, entry: IndexedArchive): IndexedMember[] {
  const rules = new TreeRules(file)
  const out: IndexedMember[] = []
  for (const [position, raw] of (entry.members as unknown[]).entries()) {
    const member = raw as IndexedMember
    const malformed = () => new UnsafeArchiveError(file, `archives.json: member ${position + 1} of ${file} is malformed`)
    if (typeof member !== 'object' || member === null || typeof member.name !== 'string' || !Object.hasOwn(TYPEFLAGS, member.type)) throw malformed()
    if (!Number.isSafeInteger(member.mode) || member.mode < 0 || member.mode > 0o777 || !Number.isSafeInteger(member.size) || member.size < 0) throw malformed()
    if (member.linkTarget !== undefined && typeof member.linkTarget !== 'string') throw malformed()
    if (member.sha256 !== undefined && (typeof member.sha256 !== 'string' || !SHA256_HEX.test(member.sha256))) throw malformed()
    const header: TarHeader = {
      name: member.type === 'dir' ? `${member.name}/` : member.name,
      linkName: member.linkTarget ?? '',
      typeflag: TYPEFLAGS[member.type],
      mode: member.mode,
      size: member.size,
      sparse: false,
    }
    // Names are already stripped: decoding them again must give them back unchanged (normalized).
    const decoded = decodeMember(file, header, 0)
    if (decoded === null || decoded.name !== member.name || decoded.linkTarget !== member.linkTarget || (member.type !== 'file' && member.size !== 0)) throw malformed()
    rules.add(decoded)
    out.push(member.sha256 === undefined ? decoded : { ...decoded, sha256: member.sha256 })
  }
  rules.finish()
  return out
}
