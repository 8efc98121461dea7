/**
 * A file's bytes read into two buffers that take turns, for consumers that are done with a chunk before
 * they ask for the next (a hash, an awaited write). createReadStream allocates a fresh buffer for every
 * read; measured here, hashing a 100 MiB file that way took 3-4x the time and 5x the system time.
 */
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'

/**
 * Two buffers of this size: the next read runs while the consumer works on the last chunk. Measured on a
 * 100 MiB file (hashing): 1 MiB double-buffered ~70-85 ms, 256 KiB single-buffered ~130 ms.
 */
export const READ_CHUNK = 1024 * 1024

/**
 * The chunks of `path`, in order. A yielded Buffer stays valid until the consumer asks for the next one,
 * then its memory is read into again: copy it to keep it.
 */
export async function* reusedChunks(path: string, chunkSize: number = READ_CHUNK): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r')
  const buffers = [Buffer.allocUnsafeSlow(chunkSize), Buffer.allocUnsafeSlow(chunkSize)]
  let current = 0
  let reading = handle.read(buffers[0]!, 0, chunkSize, null)
  try {
    for (;;) {
      const { bytesRead } = await reading
      if (bytesRead === 0) return
      const chunk = buffers[current]!
      current ^= 1
      // The other buffer is free: the consumer finished with it before asking for this chunk.
      reading = handle.read(buffers[current]!, 0, chunkSize, null)
      yield bytesRead === chunkSize ? chunk : chunk.subarray(0, bytesRead)
    }
  } finally {
    // A read still in flight (an early return) must finish before the handle closes.
    await reading.catch(() => undefined)
    await handle.close()
  }
}

/** SHA-256 (hex) and size of a file. */
export async function sha256OfFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of reusedChunks(path)) {
    hash.update(chunk)
    size += chunk.length
  }
  return { sha256: hash.digest('hex'), size }
}

/** SHA-256 and SHA-512 (hex) of a file in one pass: for files whose upstream publishes SHA-512 (KubeEdge). */
export async function sha256And512OfFile(path: string): Promise<{ sha256: string; sha512: string; size: number }> {
  const sha256 = createHash('sha256')
  const sha512 = createHash('sha512')
  let size = 0
  for await (const chunk of reusedChunks(path)) {
    sha256.update(chunk)
    sha512.update(chunk)
    size += chunk.length
  }
  return { sha256: sha256.digest('hex'), sha512: sha512.digest('hex'), size }
}
