/**
 * writeBundleArchive: a bundle's files into `<name>.tar.gz` (Linux) or `<name>.zip` (Windows), streamed
 * from disk, reproducible to the byte, written atomically.
 *
 * tar.gz is three stages: tar serialization (tar.ts) → compression in independent gzip members on all
 * cores, with cached members of large files copied instead (gzip.ts, member-cache.ts) → the output file,
 * with a tap that hashes the bytes on their way out (so the caller learns the archive's sha256 without
 * reading it back). zip is archiver's engine (zip.ts) → the same tap and output.
 */
import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import { Readable, Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { EdgebundleError } from '../model/errors.js'
import { writeStreamAtomically } from '../archive/publish.js'
import { USTAR_MAX_MTIME } from '../archive/tar-write.js'
import { type ArchiveFormat, type PackEntry, planEntries } from './entries.js'
import { PackError } from './errors.js'
import { type GzipOptions, type GzipStats, emptyGzipStats, gzipMembers } from './gzip.js'
import { CorruptMemberEntryError } from './member-cache.js'
import { tarSegments } from './tar.js'
import { zipStream } from './zip.js'

export interface WriteArchiveOptions {
  format: ArchiveFormat
  /**
   * The one timestamp of every entry: SOURCE_DATE_EPOCH, or a constant. Never the current time.
   * Whole seconds are used (tar has no finer field).
   */
  mtime: Date
  /** tar.gz only: workers and the member cache (neither changes the output), level and member size. */
  gzip?: GzipOptions
}

export interface PackResult {
  /** The archive as written (absolute path). */
  output: string
  /** Archive size in bytes and its sha256 (lowercase hex). */
  size: number
  sha256: string
  /** Number of entries, folders included. */
  entries: number
  /** tar.gz only: how the members were made; `evicted` counts damaged cache entries found and replaced. */
  gzip?: GzipStats & { evicted: number }
}

/** Damaged cache entries are replaced one at a time; more than this in one pack means something else is wrong. */
const MAX_EVICTIONS = 8

/** Hashes and counts the bytes that pass. */
class DigestTap extends Transform {
  private readonly hash = createHash('sha256')
  size = 0
  sha256 = ''

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk)
    this.size += chunk.length
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    this.sha256 = this.hash.digest('hex')
    callback()
  }
}

export async function writeBundleArchive(entries: readonly PackEntry[], output: string, options: WriteArchiveOptions): Promise<PackResult> {
  const millis = options.mtime.getTime()
  if (!Number.isFinite(millis) || millis < 0 || millis / 1000 > USTAR_MAX_MTIME) {
    throw new Error(`internal: archive mtime ${String(options.mtime)} is not a date between 1970 and 2242`)
  }
  const seconds = Math.floor(millis / 1000)
  const planned = await planEntries(entries, options.format)
  const target = resolve(output)
  let evicted = 0
  for (;;) {
    const tap = new DigestTap()
    const stats = emptyGzipStats()
    try {
      await writeStreamAtomically(target, async (sink) => {
        if (options.format === 'tar.gz') {
          const gz = Readable.from(gzipMembers(tarSegments(planned, seconds), options.gzip, stats), { objectMode: false, highWaterMark: 1024 * 1024 })
          await pipeline([gz, tap, sink])
        } else {
          // Whole seconds here too, so a tar.gz and a zip of one build carry the same time.
          await pipeline([zipStream(planned, new Date(seconds * 1000)), tap, sink])
        }
      })
      const result: PackResult = { output: target, size: tap.size, sha256: tap.sha256, entries: planned.length }
      return options.format === 'tar.gz' ? { ...result, gzip: { ...stats, evicted } } : result
    } catch (error) {
      // A damaged cache entry was caught while it was copied: the partial output is gone; remove the
      // entry and write the archive again, compressing that file afresh.
      if (error instanceof CorruptMemberEntryError && options.gzip?.cache !== undefined && evicted < MAX_EVICTIONS) {
        await options.gzip.cache.evict(error.entry)
        evicted++
        continue
      }
      if (error instanceof CorruptMemberEntryError) {
        throw new PackError(`${error.message}, after ${evicted} damaged cache entries were replaced`, { cause: error, hint: 'Check the disk holding the cache folder, or remove its gzip-members folder.' })
      }
      if (error instanceof EdgebundleError) throw error
      const code = (error as NodeJS.ErrnoException).code
      if (code !== undefined) {
        throw new PackError(`cannot write ${target}: ${code}`, { cause: error, hint: code === 'ENOSPC' ? 'The output folder\'s file system is full.' : undefined })
      }
      throw error
    }
  }
}
