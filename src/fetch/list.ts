/**
 * What a target needs downloaded, without downloading: for people who carry files into an air-gapped
 * site by hand (`edgebundle fetch --print-urls`) and for setting up a mirror. Reads the cache's learned
 * checksums, opens no connection and writes nothing.
 */
import type { ResolvedComponent } from '../resolve/resolve.js'
import { ArtifactCache } from './cache.js'
import { artifactRelativePath, checksumFileName } from './sources.js'

export type ChecksumOrigin =
  /** Pinned in bundles/. */
  | { kind: 'pinned' }
  /** Given with --checksum. */
  | { kind: 'flag' }
  /** Learned earlier from upstream's checksum file, recorded in the cache. */
  | { kind: 'learned'; from: string }
  /** Not known yet: read from this checksum file at fetch time; download it too for an offline build. */
  | { kind: 'checksum-file'; url: string; fileName: string; path: string }
  /** Nothing says it: the user must give --checksum. */
  | { kind: 'unknown' }

export interface DownloadEntry {
  id: string
  version: string
  platform: string
  url: string
  fileName: string
  sha256: string | null
  checksum: ChecksumOrigin
  /** Where the file goes in an --artifacts-dir, and where a --mirror serves it: `<id>/<version>/<fileName>`. */
  path: string
}

export interface ListOptions {
  /** Consulted read-only for learned checksums; omit to ignore the cache. */
  cacheDir?: string
  checksums?: Record<string, string>
}

export async function listDownloads(components: ResolvedComponent[], options: ListOptions = {}): Promise<DownloadEntry[]> {
  const cache = options.cacheDir === undefined ? null : ArtifactCache.readOnly(options.cacheDir)
  const entries: DownloadEntry[] = []
  for (const component of components) {
    const base = {
      id: component.id,
      version: component.version,
      platform: component.platform,
      url: component.url,
      fileName: component.fileName,
    }
    const path = artifactRelativePath(component)
    const override = options.checksums?.[component.id]
    if (component.sha256 !== null) {
      entries.push({ ...base, sha256: component.sha256, checksum: { kind: 'pinned' }, path })
    } else if (override !== undefined) {
      entries.push({ ...base, sha256: override, checksum: { kind: 'flag' }, path })
    } else if (component.checksumUrl !== null) {
      const learned = cache ? await cache.learnedChecksum(component.checksumUrl, component.fileName) : null
      if (learned) {
        entries.push({ ...base, sha256: learned.sha256, checksum: { kind: 'learned', from: learned.learnedFrom }, path })
      } else {
        const name = checksumFileName(component.checksumUrl)
        entries.push({
          ...base,
          sha256: null,
          checksum: { kind: 'checksum-file', url: component.checksumUrl, fileName: name, path: artifactRelativePath(component, name) },
          path,
        })
      }
    } else {
      entries.push({ ...base, sha256: null, checksum: { kind: 'unknown' }, path })
    }
  }
  return entries
}
