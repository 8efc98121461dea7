/**
 * Writes an OCI image layout as a deterministic tar: the form `ctr images import`, `skopeo copy
 * oci-archive:` and `docker load` (25+) all read. Same blobs and index give the same bytes: entries sorted,
 * one mtime, uid/gid 0, fixed modes.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { Writable } from 'node:stream'
import { UsageError } from '../model/errors.js'
import { TarWriter } from './tar.js'
import { MEDIA_TYPES } from './types.js'

export interface LayoutBlob {
  /** 64 hex digits. */
  hex: string
  /** The file holding the verified content. */
  file: string
}

export interface LayoutManifestEntry {
  mediaType: string
  digest: string
  size: number
  platform: { architecture: string; os: string; variant?: string; 'os.version'?: string }
  annotations: Record<string, string>
}

/** index.json bytes: keys in a fixed order, annotations sorted, so the text never depends on insertion order. */
export function layoutIndexJson(entries: readonly LayoutManifestEntry[]): Buffer {
  const manifests = entries.map((entry) => {
    const platform: Record<string, string> = { architecture: entry.platform.architecture, os: entry.platform.os }
    if (entry.platform['os.version']) platform['os.version'] = entry.platform['os.version']
    if (entry.platform.variant) platform['variant'] = entry.platform.variant
    const annotations = Object.fromEntries(Object.entries(entry.annotations).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    return { mediaType: entry.mediaType, digest: entry.digest, size: entry.size, annotations, platform }
  })
  return Buffer.from(`${JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests })}\n`, 'utf8')
}

export const OCI_LAYOUT_JSON = Buffer.from(`${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`, 'utf8')

/**
 * Streams the layout tar to `out` (which the caller opened and will close). Returns its size and sha256.
 * Directory entries are included because some extractors do not create parents; they get 0755 since a
 * directory without x cannot be entered.
 */
export async function writeLayoutTar(
  out: Writable,
  blobs: readonly LayoutBlob[],
  indexJson: Buffer,
  mtime: number,
): Promise<{ size: number; sha256: string }> {
  const tar = new TarWriter(out, { mtime, fileMode: 0o644, dirMode: 0o755 })
  await tar.directory('blobs')
  await tar.directory('blobs/sha256')
  const sorted = [...new Map(blobs.map((b) => [b.hex, b])).values()].sort((a, b) => (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0))
  for (const blob of sorted) {
    const { size } = await stat(blob.file)
    await tar.file(`blobs/sha256/${blob.hex}`, size, createReadStream(blob.file))
  }
  await tar.file('index.json', indexJson.length, indexJson)
  await tar.file('oci-layout', OCI_LAYOUT_JSON.length, OCI_LAYOUT_JSON)
  return tar.finish()
}

/** SOURCE_DATE_EPOCH when set (reproducible-builds.org convention), else 0. */
export function archiveMtime(explicit?: number, env: NodeJS.ProcessEnv = process.env): number {
  if (explicit !== undefined) {
    if (!Number.isSafeInteger(explicit) || explicit < 0) throw new Error(`internal: bad sourceDateEpoch ${explicit}`)
    return explicit
  }
  const raw = env['SOURCE_DATE_EPOCH']
  if (raw === undefined || raw === '') return 0
  if (!/^[0-9]{1,10}$/.test(raw)) {
    throw new UsageError(`SOURCE_DATE_EPOCH=${JSON.stringify(raw)} is not a number of seconds`, { hint: 'Set it to a Unix time, e.g. $(git log -1 --format=%ct).' })
  }
  return Number(raw)
}
