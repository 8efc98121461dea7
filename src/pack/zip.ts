/**
 * The zip writer (Windows bundles), on archiver's zip engine (zip-stream / compress-commons), which
 * writes what `unzip`, Windows Explorer and PowerShell's Expand-Archive read, ZIP64 included.
 *
 * What keeps it reproducible:
 * - every entry gets the same explicit date (archiver would otherwise stamp "now"); the engine stores it
 *   as a DOS date in UTC, not local time, so the time zone of the build machine does not show. DOS dates
 *   cover 1980..2043 in 2-second steps: an earlier SOURCE_DATE_EPOCH is stored as 1980-01-01;
 * - modes are given explicitly (0755 folders, 0644/0755 files), which also marks entries as made on Unix
 *   so `unzip` restores the executable bit of install scripts;
 * - no comment, no extra fields (the engine writes none unless ZIP64 needs them);
 * - every file goes in as a stream (data descriptor after the data), whether it came from disk or from
 *   memory, so the same bytes give the same record whatever their source;
 * - entries are appended one at a time, each after the previous one was written: archiver starts
 *   reading a stream as soon as it is appended, so appending everything up front would open every file
 *   at once.
 */
import { once } from 'node:events'
import { Readable } from 'node:stream'
import { ZipArchive } from 'archiver'
import type { PlannedEntry } from './entries.js'
import { entryChunks } from './source.js'

export const ZIP_LEVEL = 6

/** The zip bytes of the planned entries. Errors (a source that fails, a write that fails) destroy the returned stream. */
export function zipStream(entries: readonly PlannedEntry[], mtime: Date): Readable {
  const archive = new ZipArchive({ zlib: { level: ZIP_LEVEL }, forceLocalTime: false, forceZip64: false, comment: '' })
  // When the consumer gives up (a failed write destroys the pipeline), stop feeding instead of waiting
  // for an 'entry' that never comes, and close the file being read: archiver's own pipe would leave it
  // paused and open.
  const stop = new AbortController()
  let current: Readable | undefined
  archive.once('close', () => {
    stop.abort()
    current?.destroy()
  })

  const feed = async () => {
    for (const entry of entries) {
      if (stop.signal.aborted) return
      const written = once(archive, 'entry', { signal: stop.signal })
      if (entry.kind === 'directory') {
        archive.append(Buffer.alloc(0), { name: `${entry.path}/`, type: 'directory', date: mtime, mode: entry.mode })
      } else {
        const source = Readable.from(entryChunks(entry), { objectMode: false, highWaterMark: 256 * 1024 })
        current = source
        // archiver pipes the source into its own PassThrough, which does not forward errors: do it here.
        source.once('error', (error) => archive.destroy(error))
        archive.append(source, { name: entry.path, type: 'file', date: mtime, mode: entry.mode })
      }
      await written
      current = undefined
    }
    // finalize()'s promise settles only when the output has been read to the end; the pipeline that
    // reads it reports success or failure, so it is not awaited here.
    archive.finalize().catch(() => {})
  }
  feed().catch((error: unknown) => {
    if (!stop.signal.aborted) archive.destroy(error instanceof Error ? error : new Error(String(error)))
  })
  return archive
}
