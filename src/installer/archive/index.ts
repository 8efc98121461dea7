/**
 * The installer's archive reader: component archives (tar.gz, tar.zst, zip) checked by install.sh's rules and
 * unpacked without tar, so the executable needs nothing on the node but itself (and zstd on a Node
 * without it).
 */
export type { ArchiveFormat } from './decompress.js'
export { ArchiveError, UnsafeArchiveError } from './errors.js'
export { type ExtractOptions, checkTree, extractArchive } from './extract.js'
export type { ArchiveMember } from './rules.js'
export { scanArchive } from './scan.js'
export {
  type ArchiveIndex,
  type IndexedArchive,
  type IndexedMember,
  archivesOfPlan,
  checkIndexedMembers,
  digestsOf,
  formatArchiveIndex,
  indexArchive,
  parseArchiveIndex,
} from './index-file.js'
import { rmdir, mkdir, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { extractArchive } from './extract.js'
import { scanArchive } from './scan.js'
import type { ArchiveFormat } from './decompress.js'
import type { ArchiveMember } from './rules.js'
import { type IndexedMember, digestsOf } from './index-file.js'

/**
 * One check per archive per run, shared: started while the bundle is being hashed (decompression runs
 * on libuv's threads, hashing on the main one) and reused by the step that unpacks the archive.
 *
 * Given a scratch folder maker (a run that installs), the check is the unpacking itself, in one pass
 * into scratch, so the archive is decompressed once per run instead of twice. It waits for the
 * archive's own hash to verify: nothing is written from bytes the bundle does not vouch for. Without
 * one (verify, a dry run), it is a scan that writes nothing.
 */
export class ArchiveScans {
  private readonly scans = new Map<string, Promise<{ members: ArchiveMember[]; tree?: string; digests?: Map<string, string> }>>()

  constructor(private readonly scratch?: () => Promise<string>) {}

  /** This run unpacks archives as it checks them (it installs), rather than scanning them. */
  get unpacks(): boolean {
    return this.scratch !== undefined
  }

  /** Takes an archive's members from archives.json (already checked by checkIndexedMembers) instead of reading it. */
  fromIndex(file: string, format: ArchiveFormat, strip: number, members: IndexedMember[]): void {
    this.scans.set(ArchiveScans.key(file, format, strip), Promise.resolve({ members, digests: digestsOf(members) }))
  }

  /** The digest of each file the archive leaves, when archives.json gave them. */
  async indexedDigests(file: string, format: ArchiveFormat, strip: number): Promise<Map<string, string> | undefined> {
    const scan = await this.scans.get(ArchiveScans.key(file, format, strip))?.catch(() => undefined)
    return scan?.digests
  }

  private static key(file: string, format: ArchiveFormat, strip: number): string {
    return `${format}\0${strip}\0${file}`
  }

  /**
   * The archive's members, checked: unpacked into scratch as they are checked when this run has a
   * scratch folder (it installs; `verified` is when its bytes may be written), else read and discarded.
   * Once per archive per run: later calls share the first one's result.
   */
  async checkOrUnpack(file: string, format: ArchiveFormat, strip: number, verified: Promise<void> = Promise.resolve()): Promise<ArchiveMember[]> {
    const key = ArchiveScans.key(file, format, strip)
    let scan = this.scans.get(key)
    if (!scan) {
      const scratch = this.scratch
      scan = scratch
        ? verified.then(async () => {
            const tree = join(await scratch(), 'tree')
            await mkdir(tree, { mode: 0o700 })
            return { members: await extractArchive(file, format, strip, tree), tree }
          })
        : scanArchive(file, format, strip).then((members) => ({ members }))
      // Awaited later (or never, when verification fails first): not an unhandled rejection meanwhile.
      scan.catch(() => undefined)
      this.scans.set(key, scan)
    }
    return (await scan).members
  }

  /** When every check started has finished, well or not: their scratch folders may then be removed. */
  async settled(): Promise<void> {
    await Promise.allSettled(this.scans.values())
  }

  /** The members of a scan this run made, if it made one and it succeeded. */
  async done(file: string, format: ArchiveFormat, strip: number): Promise<ArchiveMember[] | undefined> {
    const scan = this.scans.get(ArchiveScans.key(file, format, strip))
    return scan ? scan.then((s) => s.members, () => undefined) : undefined
  }

  /**
   * Moves the tree this run unpacked the archive into to the empty folder `into` (both in scratch) and
   * says whether it did; once only.
   */
  async takeUnpacked(file: string, format: ArchiveFormat, strip: number, into: string): Promise<boolean> {
    const key = ArchiveScans.key(file, format, strip)
    const scan = await this.scans.get(key)?.catch(() => undefined)
    if (scan?.tree === undefined) return false
    this.scans.set(key, Promise.resolve({ members: scan.members }))
    await rmdir(into)
    await rename(scan.tree, into)
    return true
  }
}
