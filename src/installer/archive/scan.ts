/** One pass over an archive: every header decoded and checked; data read but not kept. */
import { type ArchiveFormat, type ZstdMethod, decompressed } from './decompress.js'
import { ArchiveError } from './errors.js'
import { type ArchiveMember, TreeRules, decodeMember } from './rules.js'
import { CorruptArchive, TarReader } from './tar.js'

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
  each: (member: ArchiveMember, reader: TarReader) => Promise<void>,
): Promise<void> {
  if (!Number.isSafeInteger(strip) || strip < 0) throw new Error(`internal: strip must be a whole number, not ${strip}`)
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
