/**
 * A zip reader for archives that must not be trusted, reading the file by offset (a zip's index, the
 * central directory, is at its end) and streaming each entry's data once, in file order.
 *
 * The central directory is what `unzip` and Windows use, so it is the authority for names, sizes and
 * modes; each local header is checked against it (a name that differs between the two is a known trick
 * to show one tool a different file than another), entries must not overlap each other or the
 * directory, and every entry's CRC-32 and size are checked after inflating. ZIP64 is understood;
 * encryption, multi-disk archives and compression other than stored/deflate are refused.
 */
import { type FileHandle, open } from 'node:fs/promises'
import { Readable, Transform, type TransformCallback, pipeline } from 'node:stream'
import * as zlib from 'node:zlib'
import { UsageError } from '../model/errors.js'
import type { ArchiveEntry, EntryType } from './entries.js'
import { ArchiveCorruptError } from './errors.js'

const SIG_LOCAL = 0x04034b50
const SIG_CENTRAL = 0x02014b50
const SIG_END = 0x06054b50
const SIG_ZIP64_END = 0x06064b50
const SIG_ZIP64_LOCATOR = 0x07064b50
const END_LENGTH = 22
const MAX_COMMENT = 0xffff
/** A bundle's directory is ~100 bytes per file; 64 MiB is far beyond any real one and bounds memory. */
const MAX_CENTRAL_DIRECTORY = 64 * 1024 * 1024
const CHUNK = 256 * 1024
/** "version made by" host systems whose external attributes carry a Unix mode in their top 16 bits. */
const UNIX_HOSTS = new Set([3 /* Unix */, 19 /* OS X */])

// ------------------------------------------------------------------------------------------------- CRC

let crcTable: Int32Array | undefined
function crc32Fallback(data: Uint8Array, value = 0): number {
  // zlib.crc32 arrived in Node 20.15; engines allow 20.12.
  if (crcTable === undefined) {
    crcTable = new Int32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      crcTable[n] = c
    }
  }
  let crc = ~value
  for (const byte of data) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}
const crc32: (data: Uint8Array, value?: number) => number = typeof zlib.crc32 === 'function' ? zlib.crc32 : crc32Fallback

// ---------------------------------------------------------------------------------- central directory

interface CentralEntry {
  name: string
  nameBytes: Buffer
  madeBy: number
  flags: number
  method: number
  crc: number
  compressedSize: number
  size: number
  externalAttributes: number
  localOffset: number
}

async function readAt(handle: FileHandle, position: number, length: number, label: string): Promise<Buffer> {
  const buffer = Buffer.alloc(length)
  let done = 0
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done)
    if (bytesRead === 0) throw new ArchiveCorruptError(`${label} is truncated`)
    done += bytesRead
  }
  return buffer
}

function readUInt64(buffer: Buffer, offset: number, label: string): number {
  const value = buffer.readBigUInt64LE(offset)
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ArchiveCorruptError(`${label} has a ZIP64 value out of range`)
  return Number(value)
}

async function findDirectory(handle: FileHandle, fileSize: number, label: string): Promise<{ offset: number; size: number; count: number }> {
  const tailLength = Math.min(fileSize, END_LENGTH + MAX_COMMENT)
  const tail = await readAt(handle, fileSize - tailLength, tailLength, label)
  // The end record is the last one whose comment reaches exactly to the end of the file.
  let at = -1
  for (let i = tail.length - END_LENGTH; i >= 0; i--) {
    if (tail.readUInt32LE(i) === SIG_END && i + END_LENGTH + tail.readUInt16LE(i + 20) === tail.length) {
      at = i
      break
    }
  }
  if (at === -1) throw new ArchiveCorruptError(`${label} is corrupt or truncated: no zip end-of-central-directory record`)
  const end = tail.subarray(at)
  const endOffset = fileSize - tailLength + at
  if (end.readUInt16LE(4) !== 0 || end.readUInt16LE(6) !== 0) throw new ArchiveCorruptError(`${label} is a multi-part zip, which bundles never are`)
  let count = end.readUInt16LE(10)
  let size = end.readUInt32LE(12)
  let offset = end.readUInt32LE(16)
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    if (endOffset < 20) throw new ArchiveCorruptError(`${label} lacks its ZIP64 end record`)
    const locator = await readAt(handle, endOffset - 20, 20, label)
    if (locator.readUInt32LE(0) !== SIG_ZIP64_LOCATOR) throw new ArchiveCorruptError(`${label} lacks its ZIP64 end record locator`)
    const zip64Offset = readUInt64(locator, 8, label)
    if (zip64Offset + 56 > endOffset) throw new ArchiveCorruptError(`${label} has a bad ZIP64 end record offset`)
    const zip64 = await readAt(handle, zip64Offset, 56, label)
    if (zip64.readUInt32LE(0) !== SIG_ZIP64_END) throw new ArchiveCorruptError(`${label} has a bad ZIP64 end record`)
    count = readUInt64(zip64, 32, label)
    size = readUInt64(zip64, 40, label)
    offset = readUInt64(zip64, 48, label)
  }
  if (offset + size > endOffset) throw new ArchiveCorruptError(`${label} is corrupt: its central directory runs past the end record`)
  if (size > MAX_CENTRAL_DIRECTORY) throw new ArchiveCorruptError(`${label} has a ${size}-byte central directory, more than any bundle needs`)
  return { offset, size, count }
}

function parseDirectory(data: Buffer, count: number, label: string): CentralEntry[] {
  const entries: CentralEntry[] = []
  let p = 0
  for (let index = 0; index < count; index++) {
    if (p + 46 > data.length || data.readUInt32LE(p) !== SIG_CENTRAL) throw new ArchiveCorruptError(`${label} is corrupt: central directory entry ${index + 1} is damaged`)
    const nameLength = data.readUInt16LE(p + 28)
    const extraLength = data.readUInt16LE(p + 30)
    const commentLength = data.readUInt16LE(p + 32)
    const next = p + 46 + nameLength + extraLength + commentLength
    if (next > data.length) throw new ArchiveCorruptError(`${label} is corrupt: central directory entry ${index + 1} runs past the directory`)
    const flags = data.readUInt16LE(p + 8)
    const nameBytes = Buffer.from(data.subarray(p + 46, p + 46 + nameLength))
    const entry: CentralEntry = {
      // Bit 11: UTF-8 names. Without it the name is CP437; bundles are ASCII, and any non-ASCII byte read
      // as UTF-8 shows up as U+FFFD in messages, which is good enough for naming a problem.
      name: nameBytes.toString('utf8'),
      nameBytes,
      madeBy: data.readUInt16LE(p + 4),
      flags,
      method: data.readUInt16LE(p + 10),
      crc: data.readUInt32LE(p + 16),
      compressedSize: data.readUInt32LE(p + 20),
      size: data.readUInt32LE(p + 24),
      externalAttributes: data.readUInt32LE(p + 38),
      localOffset: data.readUInt32LE(p + 42),
    }
    if (data.readUInt16LE(p + 34) !== 0) throw new ArchiveCorruptError(`${label} is a multi-part zip, which bundles never are`)
    // ZIP64 extended information: 8-byte values for exactly the fields that hold 0xFFFFFFFF, in this order.
    const extra = data.subarray(p + 46 + nameLength, p + 46 + nameLength + extraLength)
    for (let e = 0; e + 4 <= extra.length; ) {
      const id = extra.readUInt16LE(e)
      const length = extra.readUInt16LE(e + 2)
      if (e + 4 + length > extra.length) break
      if (id === 0x0001) {
        let q = e + 4
        const take = () => {
          if (q + 8 > e + 4 + length) throw new ArchiveCorruptError(`${label} has a short ZIP64 field for ${JSON.stringify(entry.name)}`)
          const value = readUInt64(extra, q, label)
          q += 8
          return value
        }
        if (entry.size === 0xffffffff) entry.size = take()
        if (entry.compressedSize === 0xffffffff) entry.compressedSize = take()
        if (entry.localOffset === 0xffffffff) entry.localOffset = take()
      }
      e += 4 + length
    }
    entries.push(entry)
    p = next
  }
  return entries
}

function describe(entry: CentralEntry): { type: EntryType; what: string; mode: number | null } {
  const host = entry.madeBy >> 8
  const directoryName = entry.name.endsWith('/')
  if (!UNIX_HOSTS.has(host)) {
    // No Unix mode recorded (made on Windows): the name and the DOS directory bit are all there is.
    const directory = directoryName || (entry.externalAttributes & 0x10) !== 0
    return directory ? { type: 'directory', what: 'a folder', mode: null } : { type: 'file', what: 'a file', mode: null }
  }
  const unix = entry.externalAttributes >>> 16
  const format = unix & 0o170000
  const mode = unix & 0o7777
  switch (format) {
    case 0o120000:
      return { type: 'symlink', what: 'a symbolic link', mode }
    case 0o040000:
      return { type: 'directory', what: 'a folder', mode }
    case 0o100000:
      return directoryName ? { type: 'directory', what: 'a folder', mode } : { type: 'file', what: 'a file', mode }
    case 0:
      // Some tools leave the type bits out; fall back on the name.
      return directoryName ? { type: 'directory', what: 'a folder', mode } : { type: 'file', what: 'a file', mode }
    case 0o020000:
      return { type: 'special', what: 'a character device', mode }
    case 0o060000:
      return { type: 'special', what: 'a block device', mode }
    case 0o010000:
      return { type: 'special', what: 'a FIFO', mode }
    case 0o140000:
      return { type: 'special', what: 'a socket', mode }
    default:
      return { type: 'special', what: `an entry of unknown type ${format.toString(8)}`, mode }
  }
}

// ----------------------------------------------------------------------------------------------- data

async function* rawChunks(handle: FileHandle, start: number, length: number, label: string): AsyncGenerator<Buffer> {
  let position = start
  let left = length
  while (left > 0) {
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK, left))
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position)
    if (bytesRead === 0) throw new ArchiveCorruptError(`${label} is truncated`)
    position += bytesRead
    left -= bytesRead
    yield buffer.subarray(0, bytesRead)
  }
}

/** Counts, bounds and CRC-checks the inflated bytes of one entry. */
class EntryCheck extends Transform {
  private crc = 0
  private count = 0
  constructor(
    private readonly entry: CentralEntry,
    private readonly label: string,
  ) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.count += chunk.length
    // Stop a deflate bomb at the declared size instead of inflating it all.
    if (this.count > this.entry.size) {
      callback(new ArchiveCorruptError(`${this.label} is corrupt: ${this.entry.name} inflates to more than its declared ${this.entry.size} bytes`))
      return
    }
    this.crc = crc32(chunk, this.crc)
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    if (this.count !== this.entry.size) callback(new ArchiveCorruptError(`${this.label} is corrupt: ${this.entry.name} has ${this.count} bytes, its header says ${this.entry.size}`))
    else if (this.crc >>> 0 !== this.entry.crc >>> 0) callback(new ArchiveCorruptError(`${this.label} is corrupt: ${this.entry.name} fails its CRC-32 check`))
    else callback()
  }
}

function entryContent(handle: FileHandle, entry: CentralEntry, dataStart: number, label: string): AsyncIterable<Buffer> {
  const source = Readable.from(rawChunks(handle, dataStart, entry.compressedSize, label), { objectMode: false, highWaterMark: CHUNK })
  // Output in CHUNK-sized pieces, not zlib's 16 KiB: a big entry takes ~16x fewer event-loop turns.
  const stages: NodeJS.ReadWriteStream[] = entry.method === 8 ? [zlib.createInflateRaw({ chunkSize: CHUNK }), new EntryCheck(entry, label)] : [new EntryCheck(entry, label)]
  // pipeline() destroys every stage with the first error, so iterating the last one rethrows it.
  const last = (pipeline as (...streams: unknown[]) => Transform)(source, ...stages, () => {})
  return (async function* () {
    try {
      for await (const chunk of last as AsyncIterable<Buffer>) yield chunk
    } catch (error) {
      if (error instanceof ArchiveCorruptError) throw error
      throw new ArchiveCorruptError(`${label} is corrupt: ${entry.name} does not inflate: ${(error as Error).message}`, { cause: error })
    }
  })()
}

/**
 * The entries of a zip file, in file order. Throws UsageError when the file is not a zip at all,
 * ArchiveCorruptError when it is damaged.
 */
export async function* readZip(file: string, label: string): AsyncGenerator<ArchiveEntry> {
  const handle = await open(file, 'r')
  try {
    const { size: fileSize } = await handle.stat()
    if (fileSize < END_LENGTH) throw new UsageError(`${label} is too short to be a zip archive`)
    const directory = await findDirectory(handle, fileSize, label)
    const central = parseDirectory(await readAt(handle, directory.offset, directory.size, label), directory.count, label)
    if (central.length === 0) throw new UsageError(`${label} is an empty zip archive: not a bundle`)
    const ordered = [...central].sort((a, b) => a.localOffset - b.localOffset)
    let previousEnd = 0
    for (const entry of ordered) {
      if (entry.localOffset < previousEnd) throw new ArchiveCorruptError(`${label} is corrupt: ${entry.name} overlaps the entry before it`)
      const local = await readAt(handle, entry.localOffset, 30, label)
      if (local.readUInt32LE(0) !== SIG_LOCAL) throw new ArchiveCorruptError(`${label} is corrupt: no local header for ${entry.name}`)
      const nameLength = local.readUInt16LE(26)
      const extraLength = local.readUInt16LE(28)
      const localName = await readAt(handle, entry.localOffset + 30, nameLength, label)
      if (!localName.equals(entry.nameBytes)) {
        throw new ArchiveCorruptError(`${label} names one entry twice differently: ${JSON.stringify(entry.name)} in its directory, ${JSON.stringify(localName.toString('utf8'))} in its data`)
      }
      const dataStart = entry.localOffset + 30 + nameLength + extraLength
      const dataEnd = dataStart + entry.compressedSize
      if (dataEnd > directory.offset) throw new ArchiveCorruptError(`${label} is corrupt: ${entry.name} runs into the central directory`)
      // A data descriptor (bit 3) follows the data; it repeats what the directory says, so it is skipped.
      previousEnd = dataEnd
      if ((entry.flags & 0x1) !== 0) throw new ArchiveCorruptError(`${label}: ${entry.name} is encrypted; bundles never are`)
      const described = describe(entry)
      if (described.type === 'file' && entry.method !== 0 && entry.method !== 8) {
        throw new ArchiveCorruptError(`${label}: ${entry.name} uses compression method ${entry.method}; bundles use deflate or none`)
      }
      const isFile = described.type === 'file'
      const isLink = described.type === 'symlink'
      // A zip symbolic link stores its target as content; read it (bounded) so the checks can judge it.
      let linkTarget: string | null = null
      if (isLink) {
        if (entry.size > 4096 || (entry.method !== 0 && entry.method !== 8)) linkTarget = '(unreadable)'
        else {
          const parts: Buffer[] = []
          for await (const chunk of entryContent(handle, entry, dataStart, label)) parts.push(Buffer.from(chunk))
          linkTarget = Buffer.concat(parts).toString('utf8')
        }
      }
      yield {
        name: entry.name,
        type: described.type,
        what: described.what,
        mode: described.mode,
        size: isFile ? entry.size : 0,
        linkTarget,
        content: () => (isFile ? entryContent(handle, entry, dataStart, label) : (async function* () {})()),
      }
    }
  } finally {
    await handle.close()
  }
}
