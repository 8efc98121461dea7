/**
 * The bundle's archives as the steps use them: checked member by member, unpacked into scratch, and the
 * digest of each file they leave. Not the node: these read the bundle and write only this run's scratch
 * folder. A run reuses what verification already scanned or unpacked (ArchiveScans).
 */
import { type ArchiveFormat, type ArchiveScans, digestsOf, extractArchive, indexArchive } from './archive/index.js'

export interface BundleArchives {
  /**
   * Checks an archive member by member, then unpacks it into the empty host folder `into`; with
   * `contents: false` its files are left empty (a dry run's view of the tree).
   */
  extract(file: string, format: ArchiveFormat, strip: number, into: string, options: { contents: boolean }): Promise<void>
  /** The SHA-256 of each file the archive leaves, by its tree-relative path. */
  digests(file: string, format: ArchiveFormat, strip: number): Promise<Map<string, string>>
}

export function bundleArchives(scans: ArchiveScans): BundleArchives {
  return {
    async extract(file, format, strip, into, { contents }) {
      if (contents && (await scans.takeUnpacked(file, format, strip, into))) return
      const scanned = await scans.done(file, format, strip)
      await extractArchive(file, format, strip, into, scanned ? { scanned, contents } : { contents })
    },
    digests: async (file, format, strip) => (await scans.indexedDigests(file, format, strip)) ?? digestsOf(await indexArchive(file, format, strip)),
  }
}
