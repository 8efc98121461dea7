/**
 * The installer's archive reader: component archives (tar.gz, tar.zst) checked by install.sh's rules and
 * unpacked without tar, so the executable needs nothing on the node but itself (and zstd on a Node
 * without it).
 */
export type { ArchiveFormat } from './decompress.js'
export { ArchiveError, UnsafeArchiveError } from './errors.js'
export { type ExtractOptions, checkTree, extractArchive } from './extract.js'
export type { ArchiveMember } from './rules.js'
export { memberDigests, scanArchive } from './scan.js'
import { scanArchive } from './scan.js'
import type { ArchiveFormat } from './decompress.js'
import type { ArchiveMember } from './rules.js'

/**
 * One scan per archive per run, shared: started while the bundle is being hashed (the decompression
 * runs on libuv's threads, the hashing on the main one), reused when the archive is unpacked.
 */
export class ArchiveScans {
  private readonly scans = new Map<string, Promise<ArchiveMember[]>>()

  private static key(file: string, format: ArchiveFormat, strip: number): string {
    return `${format}\0${strip}\0${file}`
  }

  scan(file: string, format: ArchiveFormat, strip: number): Promise<ArchiveMember[]> {
    const key = ArchiveScans.key(file, format, strip)
    let scan = this.scans.get(key)
    if (!scan) {
      scan = scanArchive(file, format, strip)
      // Awaited later (or never, when verification fails first): not an unhandled rejection meanwhile.
      scan.catch(() => undefined)
      this.scans.set(key, scan)
    }
    return scan
  }

  /** The members of a scan this run made, if it made one and it succeeded. */
  async done(file: string, format: ArchiveFormat, strip: number): Promise<ArchiveMember[] | undefined> {
    const scan = this.scans.get(ArchiveScans.key(file, format, strip))
    return scan ? scan.catch(() => undefined) : undefined
  }
}
