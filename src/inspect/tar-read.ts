/**
 * The entries of a tar stream (the output of gunzip) for archives that must not be trusted, read by the
 * one tar reader (src/archive/tar.ts): nothing is extracted, every entry is reported as what it is (links
 * and devices included) for the checks to judge, and the structure itself is validated: header
 * checksums, sizes, the end-of-archive marker, and that nothing follows it (GNU tar -i would read
 * entries hidden there).
 */
import { CorruptArchive, TarReader } from '../archive/tar.js'
import { UsageError } from '../model/errors.js'
import type { ArchiveEntry, EntryType } from './entries.js'
import { ArchiveCorruptError } from './errors.js'

const TYPES: Record<string, { type: EntryType; what: string }> = {
  '0': { type: 'file', what: 'a file' },
  '\0': { type: 'file', what: 'a file' },
  '7': { type: 'file', what: 'a file' }, // "contiguous file": a regular file everywhere that matters
  '5': { type: 'directory', what: 'a folder' },
  '1': { type: 'hardlink', what: 'a hard link' },
  '2': { type: 'symlink', what: 'a symbolic link' },
  '3': { type: 'special', what: 'a character device' },
  '4': { type: 'special', what: 'a block device' },
  '6': { type: 'special', what: 'a FIFO' },
}

/** The reader keeps names byte for byte (latin1); bundles name their files in UTF-8. */
const utf8 = (name: string) => Buffer.from(name, 'latin1').toString('utf8')

/** The reader's finding about the stream, in this command's words. */
function corrupt(error: CorruptArchive, label: string): Error {
  if (error.kind === 'checksum' && error.at === 0) {
    return new UsageError(`${label} is not a tar archive`, { hint: 'Give a bundle archive as edgebundle writes it: <name>.tar.gz or <name>.zip.' })
  }
  if (error.kind === 'checksum') return new ArchiveCorruptError(`${label} is corrupt: bad tar header checksum at byte ${error.at} of the tar stream`)
  if (error.kind === 'truncated') return new ArchiveCorruptError(`${label} is truncated (${error.message})`)
  return new ArchiveCorruptError(`${label} is corrupt: ${error.message}`)
}

/**
 * The entries of a tar stream. Throws UsageError when the stream is not a tar at all (first header
 * invalid), ArchiveCorruptError when it is damaged.
 */
export async function* readTar(source: AsyncIterable<Buffer>, label: string): AsyncGenerator<ArchiveEntry> {
  const reader = new TarReader(source)
  try {
    for (let first = true; ; first = false) {
      const header = await reader.next()
      if (header === null) {
        if (first) throw new UsageError(reader.position === 0 ? `${label} is empty: not a bundle archive` : `${label} holds an empty tar archive: not a bundle`)
        if (!reader.sawEndMarker) throw new ArchiveCorruptError(`${label} is truncated: it ends without tar's end-of-archive marker`)
        if (reader.dataAfterEnd) throw new ArchiveCorruptError(`${label} has data after tar's end-of-archive marker (entries hidden from a plain \`tar -x\`)`)
        return
      }
      const known = TYPES[header.typeflag]
      const type: EntryType = known?.type ?? 'special'
      const linkTarget = utf8(header.linkName)
      yield {
        name: utf8(header.name),
        type,
        what: known?.what ?? `an entry of unknown type ${JSON.stringify(header.typeflag)}`,
        mode: header.mode & 0o7777,
        // Only regular files have content worth reading; any other type's data (rare) is skipped unread.
        size: type === 'file' ? header.size : 0,
        linkTarget: type === 'symlink' || type === 'hardlink' ? linkTarget : null,
        content: () => (type === 'file' ? reader.data() : emptyContent()),
      }
    }
  } catch (error) {
    if (error instanceof CorruptArchive) throw corrupt(error, label)
    throw error
  } finally {
    await reader.close()
  }
}

async function* emptyContent(): AsyncGenerator<Buffer> {}
