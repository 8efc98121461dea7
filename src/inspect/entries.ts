/**
 * What the archive readers (tar-read.ts, zip-read.ts) hand to the checks: one entry at a time, in archive
 * order, content streamed. Nothing is extracted, so an entry can be anything an archive can hold; the
 * readers describe it faithfully and the checks decide what is acceptable.
 */
export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'special'

export interface ArchiveEntry {
  /** The name exactly as the archive stores it (PAX/GNU long names applied). */
  name: string
  type: EntryType
  /** For messages: "a character device", "a FIFO", "an entry of unknown type 'S'". */
  what: string
  /** Permission bits (0o7777), or null when the archive does not record Unix modes (a zip made on Windows). */
  mode: number | null
  /** Content length of a file; 0 for the rest. */
  size: number
  /** Target of a symbolic or hard link. */
  linkTarget: string | null
  /**
   * The content of a file (empty for other types), streamed. Must be consumed, or abandoned, before the
   * next entry is requested: the readers are single-pass. Yields exactly `size` bytes or throws
   * ArchiveCorruptError.
   */
  content(): AsyncIterable<Buffer>
}
