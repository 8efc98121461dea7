/**
 * Pull-style reading over a stream of chunks (a gunzip output): exact-length reads for headers, bounded
 * streaming for content, skipping. Holds at most one source chunk at a time.
 */
import { ArchiveCorruptError } from './errors.js'

export class ByteReader {
  private chunk: Buffer = Buffer.alloc(0)
  private offset = 0
  private ended = false
  /** Bytes consumed so far. */
  position = 0

  constructor(
    private readonly source: AsyncIterator<Buffer>,
    private readonly label: string,
  ) {}

  private async fill(): Promise<boolean> {
    while (this.offset >= this.chunk.length) {
      if (this.ended) return false
      const next = await this.source.next()
      if (next.done) {
        this.ended = true
        return false
      }
      this.chunk = next.value
      this.offset = 0
    }
    return true
  }

  private take(max: number): Buffer {
    const end = Math.min(this.chunk.length, this.offset + max)
    const part = this.chunk.subarray(this.offset, end)
    this.offset = end
    this.position += part.length
    return part
  }

  /** Exactly `length` bytes; null at the end of the stream when not a single byte was left. */
  async read(length: number): Promise<Buffer | null> {
    const parts: Buffer[] = []
    let have = 0
    while (have < length) {
      if (!(await this.fill())) {
        if (have === 0) return null
        throw new ArchiveCorruptError(`${this.label} is truncated (it ends ${length - have} bytes into a ${length}-byte record)`)
      }
      const part = this.take(length - have)
      parts.push(part)
      have += part.length
    }
    // Copy: the caller may keep it, and a slice would pin the whole source chunk.
    return parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts, length)
  }

  /** The next `length` bytes as chunks (views into the source chunks, valid until the next read). */
  async *stream(length: number): AsyncGenerator<Buffer> {
    let left = length
    while (left > 0) {
      if (!(await this.fill())) throw new ArchiveCorruptError(`${this.label} is truncated (${left} bytes of content missing)`)
      const part = this.take(left)
      left -= part.length
      yield part
    }
  }

  /** Skips to absolute `position` (forward only). */
  async skipTo(position: number): Promise<void> {
    let left = position - this.position
    if (left < 0) throw new Error('internal: ByteReader cannot seek backwards')
    while (left > 0) {
      if (!(await this.fill())) throw new ArchiveCorruptError(`${this.label} is truncated (${left} bytes missing)`)
      left -= this.take(left).length
    }
  }

  /** Whether everything that is left is zero bytes (tar's end padding). Reads to the end. */
  async restIsZero(): Promise<boolean> {
    let zero = true
    while (await this.fill()) {
      const part = this.take(Number.MAX_SAFE_INTEGER)
      if (zero && part.some((byte) => byte !== 0)) zero = false
    }
    return zero
  }
}
