/**
 * The one tar reader: ustar (with its 155-byte prefix), pax extended headers (path, linkpath, size), GNU
 * long names and links (L, K) and base-256 numbers. It reads decompressed chunks as they come, so memory
 * stays constant whatever the size of the members; it interprets nothing (src/installer/archive/rules.ts
 * judges members for the installer, src/inspect and src/oci judge them for their own purposes), and every
 * reader of a tar in edgebundle (installer, `edgebundle verify`, image archives, Node packages) uses it.
 * A source that can seek (fileSource) skips member data without reading it. Node built-ins only.
 */
import type { FileHandle } from 'node:fs/promises'

/** What is wrong with the tar stream: the header checksum, a numeric field, an extended header, or its end. */
export type CorruptKind = 'checksum' | 'field' | 'extended' | 'truncated' | 'source'

/** The tar stream is malformed or could not be decompressed; the caller names the archive. */
export class CorruptArchive extends Error {
  constructor(
    message: string,
    /** 'source': the decompressor or the file failed, not the tar. */
    readonly kind: CorruptKind = 'source',
    /** Byte of the tar stream the problem is at (a header's start, or where the stream ended). */
    readonly at = -1,
  ) {
    super(message)
  }
}

/** Chunks of a tar stream; `skip`, when there, drops n bytes unread and says whether the source held them all. */
export type TarSource = AsyncIterable<Buffer> & { skip?(n: number): Promise<boolean> }

/**
 * A seekable source over an open file: headers are read, member data the caller does not ask for is
 * skipped by moving the position (an image archive's layers are not read to list them).
 */
export function fileSource(handle: FileHandle, size: number, chunkSize = 64 * 1024): TarSource {
  let position = 0
  return {
    async skip(n: number): Promise<boolean> {
      position += n
      return position <= size
    },
    async *[Symbol.asyncIterator]() {
      while (position < size) {
        const buffer = Buffer.alloc(Math.min(chunkSize, size - position))
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position)
        if (bytesRead === 0) return
        position += bytesRead
        yield buffer.subarray(0, bytesRead)
      }
    },
  }
}

/** One member's header, extended headers applied. Names are decoded byte for byte (latin1), so a check can see every byte. */
export interface TarHeader {
  name: string
  linkName: string
  /** The typeflag character ('\0' for old regular files). */
  typeflag: string
  /** The whole mode field, setuid and friends included. */
  mode: number
  /** Bytes of data that follow the header. */
  size: number
  /** A pax header announced GNU sparse data, which this reader does not decode. */
  sparse: boolean
}

const BLOCK = 512
/** Extended headers are read whole: a bound keeps a hostile one from filling the memory. */
const META_LIMIT = 1024 * 1024
const EMPTY = Buffer.alloc(0)

interface Extended {
  path?: string
  linkpath?: string
  size?: number
  sparse?: boolean
}

export class TarReader {
  private readonly chunks: AsyncIterator<Buffer>
  private readonly source: TarSource
  private chunk: Buffer = EMPTY
  private at = 0
  /** Bytes of the tar stream consumed, for messages. */
  private offset = 0
  /** Data bytes of the current member not read yet, then its padding. */
  private pending = 0
  private padding = 0
  private ended = false
  private trailing = false
  private endBlock = false

  constructor(source: TarSource) {
    this.source = source
    this.chunks = source[Symbol.asyncIterator]()
  }

  /** Bytes of the tar stream consumed: right after next(), where the member's data starts. */
  get position(): number {
    return this.offset
  }

  /** After the end: whether it was the end-of-archive block (not just the end of the stream). */
  get sawEndMarker(): boolean {
    return this.endBlock
  }

  /** After the end: whether anything but zero bytes followed the end-of-archive block (entries `tar -i` would read). */
  get dataAfterEnd(): boolean {
    return this.trailing
  }

  /** Stops reading (the source is closed); for an early exit. */
  async close(): Promise<void> {
    this.ended = true
    await this.chunks.return?.()
  }

  /** The next member's header, or null after the end-of-archive block (or a clean end of the stream). */
  async next(): Promise<TarHeader | null> {
    if (this.ended) return null
    await this.skip(this.pending + this.padding, 'member data')
    this.pending = 0
    this.padding = 0
    const extended: Extended = {}
    let longName: string | undefined
    let longLink: string | undefined
    /** Where the first extended header waiting for its member starts, or -1. */
    let extendedAt = -1
    for (;;) {
      const at = this.offset
      const block = await this.read(BLOCK, 'a header')
      if (block === null || isZero(block)) {
        if (extendedAt !== -1) throw new CorruptArchive(`the extended header at byte ${extendedAt} is not followed by its member`, 'extended', extendedAt)
        // GNU tar stops at the first zero block too; the rest is read (not interpreted) so that a
        // decompression error after the end still fails the archive, as gzip -dc would.
        this.ended = true
        this.endBlock = block !== null
        await this.drain()
        return null
      }
      if (!checksumMatches(block)) throw new CorruptArchive(`the tar header at byte ${at} has a wrong checksum`, 'checksum', at)
      const typeflag = String.fromCharCode(block[156] ?? 0)
      const headerSize = numeric(block, 124, 12, 'size', at)
      if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
        const data = await this.meta(headerSize, typeflag, at)
        if (typeflag === 'x') Object.assign(extended, parsePax(data, at))
        else if (typeflag === 'L') longName = cString(data, 0, data.length)
        else if (typeflag === 'K') longLink = cString(data, 0, data.length)
        // 'g' (global) is ignored: it carries comments (git archive's commit id), nothing we use.
        if (typeflag !== 'g' && extendedAt === -1) extendedAt = at
        continue
      }
      // No data follows a hard link or a folder whatever the size field says, as GNU tar reads them.
      const size = typeflag === '1' || typeflag === '5' ? 0 : (extended.size ?? headerSize)
      this.pending = size
      this.padding = pad(size)
      return {
        name: extended.path ?? longName ?? ustarName(block),
        linkName: extended.linkpath ?? longLink ?? cString(block, 157, 100),
        typeflag,
        mode: numeric(block, 100, 8, 'mode', at),
        size,
        sparse: extended.sparse ?? false,
      }
    }
  }

  /** The current member's data, as slices of the decompressed chunks (valid until the next call). */
  async *data(): AsyncGenerator<Buffer> {
    while (this.pending > 0) {
      if (this.chunk.length === this.at && !(await this.more())) throw this.truncated('member data')
      const take = Math.min(this.pending, this.chunk.length - this.at)
      const slice = this.chunk.subarray(this.at, this.at + take)
      this.at += take
      this.offset += take
      this.pending -= take
      yield slice
    }
  }

  private truncated(what: string): CorruptArchive {
    return new CorruptArchive(`the tar stream ends in the middle of ${what} (byte ${this.offset})`, 'truncated', this.offset)
  }

  private async more(): Promise<boolean> {
    for (;;) {
      const result = await this.chunks.next()
      if (result.done === true) return false
      if (result.value.length > 0) {
        this.chunk = result.value
        this.at = 0
        return true
      }
    }
  }

  /** Exactly n bytes, or null when the stream ends before the first of them. */
  private async read(n: number, what: string): Promise<Buffer | null> {
    if (this.chunk.length - this.at >= n) {
      const slice = this.chunk.subarray(this.at, this.at + n)
      this.at += n
      this.offset += n
      return slice
    }
    const parts: Buffer[] = []
    let got = 0
    while (got < n) {
      if (this.chunk.length === this.at && !(await this.more())) {
        if (got === 0) return null
        throw this.truncated(what)
      }
      const take = Math.min(n - got, this.chunk.length - this.at)
      parts.push(this.chunk.subarray(this.at, this.at + take))
      this.at += take
      this.offset += take
      got += take
    }
    return Buffer.concat(parts, n)
  }

  private async skip(n: number, what: string): Promise<void> {
    const buffered = Math.min(n, this.chunk.length - this.at)
    this.at += buffered
    this.offset += buffered
    n -= buffered
    if (n > 0 && this.source.skip !== undefined) {
      const held = await this.source.skip(n)
      this.offset += n
      if (!held) throw this.truncated(what)
      return
    }
    while (n > 0) {
      if (this.chunk.length === this.at && !(await this.more())) throw this.truncated(what)
      const take = Math.min(n, this.chunk.length - this.at)
      this.at += take
      this.offset += take
      n -= take
    }
  }

  private async meta(size: number, typeflag: string, at: number): Promise<Buffer> {
    if (size > META_LIMIT) throw new CorruptArchive(`the extended header (type ${typeflag}) at byte ${at} is ${size} bytes long`, 'extended', at)
    const data = size === 0 ? EMPTY : await this.read(size, 'an extended header')
    if (data === null) throw this.truncated('an extended header')
    await this.skip(pad(size), 'an extended header')
    return Buffer.from(data)
  }

  private async drain(): Promise<void> {
    if (!isZero(this.chunk.subarray(this.at))) this.trailing = true
    this.chunk = EMPTY
    this.at = 0
    while (await this.more()) {
      if (!this.trailing && !isZero(this.chunk)) this.trailing = true
      this.chunk = EMPTY
    }
  }
}

function pad(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK
}

function isZero(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false
  return true
}

/** The text up to the first NUL of a field, one character per byte. */
function cString(buffer: Buffer, start: number, length: number): string {
  const end = start + length
  const nul = buffer.indexOf(0, start)
  return buffer.toString('latin1', start, nul === -1 || nul > end ? end : nul)
}

/** POSIX ustar ("ustar\0") joins prefix and name; GNU's "ustar  " keeps other fields there. */
function ustarName(block: Buffer): string {
  const name = cString(block, 0, 100)
  if (block.toString('latin1', 257, 263) !== 'ustar\0') return name
  const prefix = cString(block, 345, 155)
  return prefix === '' ? name : `${prefix}/${name}`
}

/** Historic tars summed signed chars; GNU tar accepts either sum, so do we. */
function checksumMatches(block: Buffer): boolean {
  let stored: number
  try {
    stored = numeric(block, 148, 8, 'checksum', 0)
  } catch {
    return false
  }
  let unsigned = 0
  let signed = 0
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0)
    unsigned += byte
    signed += byte >= 0x80 ? byte - 0x100 : byte
  }
  return stored === unsigned || stored === signed
}

/** An octal field (spaces or NULs around the digits), or GNU's base-256 when the high bit of the first byte is set. */
function numeric(block: Buffer, start: number, length: number, what: string, at: number): number {
  const end = start + length
  const first = block[start] ?? 0
  if (first & 0x80) {
    if (first & 0x40) throw new CorruptArchive(`the tar header at byte ${at} has a negative ${what}`, 'field', at)
    let value = first & 0x3f
    for (let i = start + 1; i < end; i++) {
      value = value * 256 + (block[i] ?? 0)
      if (value > Number.MAX_SAFE_INTEGER) throw new CorruptArchive(`the tar header at byte ${at} has a ${what} too large`, 'field', at)
    }
    return value
  }
  let i = start
  while (i < end && block[i] === 0x20) i++
  let value = 0
  let digits = 0
  for (; i < end; i++) {
    const byte = block[i] ?? 0
    if (byte < 0x30 || byte > 0x37) break
    value = value * 8 + (byte - 0x30)
    digits++
  }
  for (; i < end; i++) {
    if (block[i] !== 0 && block[i] !== 0x20) digits = 0
  }
  if (digits === 0) throw new CorruptArchive(`the tar header at byte ${at} has no valid ${what} field`, 'field', at)
  return value
}

/** pax records: "<length> <key>=<value>\n", the length counting the whole record in bytes. */
function parsePax(data: Buffer, at: number): Extended {
  const result: Extended = {}
  const text = data.toString('latin1')
  let pos = 0
  while (pos < text.length) {
    const space = text.indexOf(' ', pos)
    const length = space === -1 ? NaN : Number(text.slice(pos, space))
    if (!Number.isSafeInteger(length) || length <= space - pos + 1 || pos + length > text.length || text[pos + length - 1] !== '\n') {
      throw new CorruptArchive(`the pax header at byte ${at} has a malformed record`, 'extended', at)
    }
    const record = text.slice(space + 1, pos + length - 1)
    pos += length
    const equals = record.indexOf('=')
    if (equals <= 0) throw new CorruptArchive(`the pax header at byte ${at} has a record without a key`, 'extended', at)
    const key = record.slice(0, equals)
    const value = record.slice(equals + 1)
    // An empty value unsets the keyword: the header field applies again.
    if (key === 'path') result.path = value === '' ? undefined : value
    else if (key === 'linkpath') result.linkpath = value === '' ? undefined : value
    else if (key === 'size') {
      if (value === '') result.size = undefined
      else if (/^[0-9]+$/.test(value) && Number.isSafeInteger(Number(value))) result.size = Number(value)
      else throw new CorruptArchive(`the pax header at byte ${at} has a malformed size ${JSON.stringify(value)}`, 'extended', at)
    } else if (key.startsWith('GNU.sparse.')) result.sparse = true
  }
  return result
}
