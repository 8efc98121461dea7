/** One pass over an archive: every header decoded and checked; data read but not kept. */
import { ArchiveCorruptError } from '../../inspect/errors.js'
import { readZip } from '../../inspect/zip-read.js'
import { UsageError } from '../../model/errors.js'
import { type ArchiveFormat, type ZstdMethod, decompressed } from './decompress.js'
import { ArchiveError, UnsafeArchiveError, shown } from './errors.js'
import { type ArchiveMember, TreeRules, decodeMember } from './rules.js'
import { CorruptArchive, type TarHeader, TarReader } from '../../archive/tar.js'

/** Where a member's data is read from: the tar stream, or a zip entry. */
export interface MemberData {
  data(): AsyncIterable<Buffer>
}

export interface ReadOptions {
  /** For tests: force one zstd decompressor. */
  zstd?: ZstdMethod
}

/**
 * Calls `each` for every member that survives stripping, in archive order, with the reader positioned at
 * its data (which `each` may stream, or leave to be skipped). A malformed or undecompressable archive is
 * an ArchiveError; errors of `each` pass through.
 */
export async function forEachMember(
  file: string,
  format: ArchiveFormat,
  strip: number,
  options: ReadOptions,
  each: (member: ArchiveMember, reader: MemberData) => Promise<void>,
): Promise<void> {
  if (!Number.isSafeInteger(strip) || strip < 0) throw new Error(`internal: strip must be a whole number, not ${strip}`)
  if (format === 'zip') return forEachZipMember(file, strip, each)
  const reader = new TarReader(decompressed(file, format, options.zstd))
  try {
    for (;;) {
      const header = await reader.next()
      if (header === null) break
      const member = decodeMember(file, header, strip)
      if (member !== null) await each(member, reader)
    }
  } catch (error) {
    if (error instanceof CorruptArchive) throw new ArchiveError(file, `cannot read the archive ${file}: ${error.message}`)
    throw error
  } finally {
    await reader.close()
  }
}

/** A zip entry's types, as tar typeflags, so one set of rules (decodeMember) judges both formats. */
const ZIP_TYPEFLAGS = { file: '0', directory: '5', symlink: '2', hardlink: '1' } as const

/**
 * forEachMember for a zip (Windows components): src/inspect/zip-read.ts reads it by its central
 * directory, checking each local header, CRC and size; each entry then goes through the same rules as a
 * tar member. A zip made on Windows records no Unix modes: files get 0644, folders 0755.
 */
async function forEachZipMember(file: string, strip: number, each: (member: ArchiveMember, reader: MemberData) => Promise<void>): Promise<void> {
  try {
    for await (const entry of readZip(file, file)) {
      if (entry.type === 'special') throw new UnsafeArchiveError(file, `member ${shown(entry.name)} is ${entry.what}; only files, directories and links are allowed`, entry.name)
      const header: TarHeader = {
        name: entry.name,
        linkName: entry.linkTarget ?? '',
        typeflag: ZIP_TYPEFLAGS[entry.type],
        mode: entry.mode ?? (entry.type === 'directory' ? 0o755 : 0o644),
        size: entry.size,
        sparse: false,
      }
      const member = decodeMember(file, header, strip)
      if (member !== null) await each(member, { data: () => entry.content() })
    }
  } catch (error) {
    // zip-read's own errors (not a zip, damaged): the archive cannot be read, like a corrupt tar.
    if (error instanceof ArchiveCorruptError || error instanceof UsageError) throw new ArchiveError(file, `cannot read the archive ${file}: ${error.message}`)
    throw error
  }
}

/**
 * Reads the whole archive (decompressing it all, so a corrupt end is caught) and checks every member;
 * writes nothing. Throws UnsafeArchiveError for a member that could land outside its folder, ArchiveError
 * for an archive that cannot be read.
 */
export async function scanArchive(file: string, format: ArchiveFormat, strip: number, options: ReadOptions = {}): Promise<ArchiveMember[]> {
  const members: ArchiveMember[] = []
  const rules = new TreeRules(file)
  await forEachMember(file, format, strip, options, async (member) => {
    rules.add(member)
    members.push(member)
  })
  rules.finish()
  return members
}
