/**
 * A single-pass tar reader over a stream (the output of gunzip), for archives that must not be trusted:
 * nothing is extracted, every entry is reported as what it is (links and devices included) for the checks
 * to judge, and the structure itself is validated: header checksums, sizes, the end-of-archive marker,
 * and that nothing follows it (GNU tar -i would read entries hidden there).
 *
 * Understands ustar (prefix field), PAX extended headers (path, linkpath, size) and GNU long names
 * (L, K): what GNU tar, bsdtar and edgebundle's own writer produce.
 */
import { UsageError } from '../model/errors.js'
import { ByteReader } from './byte-reader.js'
import type { ArchiveEntry, EntryType } from './entries.js'
import { ArchiveCorruptError } from './errors.js'

const BLOCK = 512
/** Extension headers (PAX, GNU long names) are a few hundred bytes; more is an attack on memory. */
const MAX_EXTENSION = 1024 * 1024

function cString(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length)
  const end = field.indexOf(0)
  return field.subarray(0, end === -1 ? length : end).toString('utf8')
}

function number(block: Buffer, offset: number, length: number, label: string): number {
  const field = block.subarray(offset, offset + length)
  const first = field[0] ?? 0
  if ((first & 0x80) !== 0) {
    // GNU base-256 (big-endian, top bit as marker); negative values make no sense here.
    if ((first & 0x40) !== 0) throw new ArchiveCorruptError(`${label} has a negative number in a tar header`)
    let value = first & 0x3f
    for (const byte of field.subarray(1)) value = value * 256 + byte
    if (!Number.isSafeInteger(value)) throw new ArchiveCorruptError(`${label} has a number out of range in a tar header`)
    return value
  }
  const text = cString(block, offset, length).trim()
  if (text === '') return 0
  if (!/^[0-7]+$/.test(text)) throw new ArchiveCorruptError(`${label} has a bad number ${JSON.stringify(text)} in a tar header`)
  return Number.parseInt(text, 8)
}

function checksumOk(block: Buffer): boolean {
  // The field counts as 8 spaces. Old tars summed signed bytes: accept either, as GNU tar does.
  let unsigned = 0
  let signed = 0
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!
    unsigned += byte
    signed += byte > 127 ? byte - 256 : byte
  }
  const text = cString(block, 148, 8).trim()
  if (!/^[0-7]+$/.test(text)) return false
  const stored = Number.parseInt(text, 8)
  return stored === unsigned || stored === signed
}

function parsePax(data: Buffer, label: string): Map<string, string> {
  const records = new Map<string, string>()
  let position = 0
  while (position < data.length) {
    const space = data.indexOf(0x20, position)
    const length = space === -1 ? Number.NaN : Number(data.subarray(position, space).toString('latin1'))
    if (!Number.isSafeInteger(length) || length <= 0 || position + length > data.length || data[position + length - 1] !== 0x0a) {
      throw new ArchiveCorruptError(`${label} has a malformed PAX header`)
    }
    const record = data.subarray(space + 1, position + length - 1).toString('utf8')
    const equals = record.indexOf('=')
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1))
    position += length
  }
  return records
}

const TYPES: Record<string, { type: EntryType; what: string }> = {
  '0': { type: 'file', what: 'a file' },
  '\0': { type: 'file', what: 'a file' },
  '7': { type: 'file', what: 'a file' }, // "contiguous file": a regular file everywhere that matters
  '5': { type: 'directory', what: 'a folder' },
  '1': { type: 'hardlink', what: 'a hard link' },
  '2': { type: 'symlink', what: 'a symbolic link' },
  '3': { type: 'special', what: 'a character device' },
  '4': { type: 'special', what: 'a block device' },
  '6': { type: 'special', what: 'a FIFO' },
}

const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK

/**
 * The entries of a tar stream. Throws UsageError when the stream is not a tar at all (first header
 * invalid), ArchiveCorruptError when it is damaged.
 */
export async function* readTar(source: AsyncIterable<Buffer>, label: string): AsyncGenerator<ArchiveEntry> {
  const reader = new ByteReader(source[Symbol.asyncIterator](), label)
  let pax = new Map<string, string>()
  let longName: string | undefined
  let longLink: string | undefined
  for (let first = true; ; first = false) {
    const block = await reader.read(BLOCK)
    if (block === null) {
      if (first) throw new UsageError(`${label} is empty: not a bundle archive`)
      throw new ArchiveCorruptError(`${label} is truncated: it ends without tar's end-of-archive marker`)
    }
    if (block.every((byte) => byte === 0)) {
      if (first) throw new UsageError(`${label} holds an empty tar archive: not a bundle`)
      // End of archive. What follows must be padding: GNU tar -i would read entries hidden after the marker.
      if (!(await reader.restIsZero())) throw new ArchiveCorruptError(`${label} has data after tar's end-of-archive marker (entries hidden from a plain \`tar -x\`)`)
      return
    }
    if (!checksumOk(block)) {
      if (first) throw new UsageError(`${label} is not a tar archive`, { hint: 'Give a bundle archive as edgebundle writes it: <name>.tar.gz or <name>.zip.' })
      throw new ArchiveCorruptError(`${label} is corrupt: bad tar header checksum at byte ${reader.position - BLOCK} of the tar stream`)
    }
    const flag = String.fromCharCode(block[156]!)
    let size = number(block, 124, 12, label)
    const dataStart = reader.position

    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_EXTENSION) throw new ArchiveCorruptError(`${label} has an oversized tar extension header (${size} bytes)`)
      const data = size === 0 ? Buffer.alloc(0) : await reader.read(size)
      if (data === null) throw new ArchiveCorruptError(`${label} is truncated inside a tar extension header`)
      if (flag === 'x') pax = parsePax(data, label)
      else if (flag === 'L') longName = cString(data, 0, data.length)
      else if (flag === 'K') longLink = cString(data, 0, data.length)
      // 'g' (global PAX) holds defaults such as a comment: nothing a bundle check uses.
      await reader.skipTo(dataStart + size + padding(size))
      continue
    }

    const magic = cString(block, 257, 6)
    const prefix = magic === 'ustar' ? cString(block, 345, 155) : ''
    let name = cString(block, 0, 100)
    if (prefix !== '') name = `${prefix}/${name}`
    name = pax.get('path') ?? longName ?? name
    const paxSize = pax.get('size')
    if (paxSize !== undefined) {
      if (!/^[0-9]+$/.test(paxSize) || !Number.isSafeInteger(Number(paxSize))) throw new ArchiveCorruptError(`${label} has a bad PAX size ${JSON.stringify(paxSize)}`)
      size = Number(paxSize)
    }
    const linkTarget = pax.get('linkpath') ?? longLink ?? cString(block, 157, 100)
    pax = new Map()
    longName = undefined
    longLink = undefined

    const known = TYPES[flag]
    const type: EntryType = known?.type ?? 'special'
    const what = known?.what ?? `an entry of unknown type ${JSON.stringify(flag)}`
    const mode = number(block, 100, 8, label) & 0o7777
    // Only regular files have content worth reading; any other type's data (rare) is skipped unread.
    const fileSize = type === 'file' ? size : 0
    const dataEnd = dataStart + size + padding(size)
    yield {
      name,
      type,
      what,
      mode,
      size: fileSize,
      linkTarget: type === 'symlink' || type === 'hardlink' ? linkTarget : null,
      content: () => (type === 'file' ? reader.stream(size) : emptyContent()),
    }
    // Whatever the consumer did not read of this entry is skipped, padding included.
    await reader.skipTo(dataEnd)
  }
}

async function* emptyContent(): AsyncGenerator<Buffer> {}
