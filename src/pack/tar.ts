/**
 * The tar serialization stage: planned entries in, tar bytes out, nothing compressed yet. Kept apart from
 * compression (gzip.ts) so the format does not depend on how it is compressed. tarSegments hands file
 * contents over unread, so the compressor can start a gzip member where a large file begins and reuse
 * that file's cached members instead of reading it. The headers are src/archive/tar-write.ts's.
 */
import { END_OF_ARCHIVE, USTAR_MAX_MTIME, entryHeaders, paddingBytes, tarPadding } from '../archive/tar-write.js'
import type { PlannedEntry } from './entries.js'
import { entryChunks } from './source.js'

/** Tar bytes that are not file content (headers, folder entries, the end blocks), or one file's content. */
export type TarSegment = { kind: 'bytes'; data: Buffer } | { kind: 'file'; entry: PlannedEntry & { kind: 'file' }; padding: number }

/**
 * The archive as segments, in order: what tarChunks yields, with each file's content and its zero
 * padding left to the consumer (entryChunks reads it). `mtime` is in whole seconds since the epoch.
 */
export function* tarSegments(entries: readonly PlannedEntry[], mtime: number): Generator<TarSegment> {
  if (!Number.isSafeInteger(mtime) || mtime < 0 || mtime > USTAR_MAX_MTIME) throw new Error(`internal: tar mtime ${mtime} out of range`)
  for (const entry of entries) {
    if (entry.kind === 'directory') {
      for (const data of entryHeaders(entry.path, '5', 0, entry.mode, mtime)) yield { kind: 'bytes', data }
      continue
    }
    for (const data of entryHeaders(entry.path, '0', entry.size, entry.mode, mtime)) yield { kind: 'bytes', data }
    yield { kind: 'file', entry, padding: tarPadding(entry.size) }
  }
  yield { kind: 'bytes', data: END_OF_ARCHIVE }
}

/** The tar bytes of the planned entries, in their order. `mtime` is in whole seconds since the epoch. */
export async function* tarChunks(entries: readonly PlannedEntry[], mtime: number): AsyncGenerator<Buffer> {
  for (const segment of tarSegments(entries, mtime)) {
    if (segment.kind === 'bytes') {
      yield segment.data
      continue
    }
    // entryChunks checks that a file still has the size its header declared.
    yield* entryChunks(segment.entry)
    if (segment.padding > 0) yield paddingBytes(segment.padding)
  }
}
