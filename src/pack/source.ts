/**
 * Entry content as a stream of chunks. Files are read from disk a chunk at a time when their turn comes
 * (one open file at a time, whatever the bundle's size), and must still have the size they had when
 * planned: the tar header carries the size before the content, so a file that grows or shrinks while it
 * is packed would corrupt the archive; it fails the pack instead.
 */
import { open } from 'node:fs/promises'
import { PackError } from './errors.js'
import type { PlannedEntry } from './entries.js'

/** Big enough that per-chunk overhead vanishes next to gzip, small enough that memory stays flat. */
const CHUNK = 256 * 1024

async function* fileChunks(file: string, size: number, label: string): AsyncGenerator<Buffer> {
  let handle
  try {
    handle = await open(file, 'r')
  } catch (error) {
    throw new PackError(`cannot read ${file} (for ${label}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error })
  }
  try {
    let total = 0
    for (;;) {
      // One byte more than what is left, so growth is noticed without another read. A fresh buffer per
      // chunk: the consumer may still hold the previous one (zlib and the archiver queue chunks).
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, size - total + 1))
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null)
      if (bytesRead === 0) break
      total += bytesRead
      if (total > size) throw new PackError(`${file} (for ${label}) grew while it was being packed`)
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead)
    }
    if (total !== size) throw new PackError(`${file} (for ${label}) shrank while it was being packed (${size} bytes expected, ${total} read)`)
  } finally {
    await handle.close()
  }
}

/** The content of a planned file entry, streamed. */
export async function* entryChunks(entry: PlannedEntry & { kind: 'file' }): AsyncGenerator<Buffer> {
  if ('content' in entry.source) {
    if (entry.source.content.length > 0) yield entry.source.content
    return
  }
  yield* fileChunks(entry.source.file, entry.size, entry.path)
}
