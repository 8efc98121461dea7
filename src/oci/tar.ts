/**
 * A minimal tar writer and a defensive tar reader, just what image archives need.
 *
 * Writing: POSIX ustar headers with fixed metadata (uid/gid 0, no user names, one mtime), pax records only
 * when a name or size does not fit, content streamed from the source. The caller supplies entries in
 * the order it wants them; image archives sort them so equal input gives byte-identical output.
 *
 * Reading: random access on a file (FileHandle reads by offset) so content can be hashed in a streaming
 * pass over a byte range and never has to sit in memory. Regular files and directories are accepted;
 * paths that escape the archive root, hard links, devices and fifos are refused. Symbolic links are
 * refused too, with one exception: a relative link that resolves inside the archive to a regular file
 * is read as an alias of that file. `docker save` writes those for repeated layers and skopeo's
 * docker-archive for every layer, and since nothing is ever extracted, such a link cannot reach outside.
 */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import type { FileHandle } from 'node:fs/promises'
import { open } from 'node:fs/promises'
import type { Readable, Writable } from 'node:stream'
import { UsageError } from '../model/errors.js'
import { IntegrityError } from './errors.js'

const BLOCK = 512
/** ustar's 11 octal digits of size. */
const USTAR_MAX_SIZE = 0o77777777777

function pad(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK
}

// ---------------------------------------------------------------------------------------------- writing

function writeString(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8')
  if (bytes.length > length) throw new Error(`internal: tar header field too long: ${value}`)
  bytes.copy(header, offset)
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  // length-1 digits, zero-padded, then NUL: the form GNU tar and Go's archive/tar write.
  writeString(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`)
}

function ustarHeader(name: string, type: '0' | '5' | 'x', size: number, mode: number, mtime: number): Buffer {
  const header = Buffer.alloc(BLOCK)
  writeString(header, 0, 100, name)
  writeOctal(header, 100, 8, mode)
  writeOctal(header, 108, 8, 0) // uid
  writeOctal(header, 116, 8, 0) // gid
  writeOctal(header, 124, 12, size)
  writeOctal(header, 136, 12, mtime)
  header.fill(0x20, 148, 156) // checksum field counts as spaces while summing
  header.write(type, 156, 'ascii')
  header.write('ustar\u000000', 257, 'binary') // magic "ustar\0" + version "00"
  // uname/gname stay empty: names of the build machine's users must not leak into the bytes.
  writeOctal(header, 329, 8, 0) // devmajor
  writeOctal(header, 337, 8, 0) // devminor
  let sum = 0
  for (const byte of header) sum += byte
  writeString(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `)
  return header
}

function paxRecord(key: string, value: string): string {
  // Each record is "<len> key=value\n" where len counts itself: find the fixed point.
  const body = ` ${key}=${value}\n`
  let length = Buffer.byteLength(body) + 1
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body)
  return `${length}${body}`
}

export interface TarWriterOptions {
  /** Modification time for every entry, seconds since the epoch. */
  mtime: number
  fileMode?: number
  dirMode?: number
}

/**
 * Streams a tar to `out`. Tracks the bytes and sha256 of everything written, so the caller learns the
 * archive's digest without reading it back.
 */
export class TarWriter {
  private readonly hash = createHash('sha256')
  private written = 0
  private readonly names = new Set<string>()

  constructor(
    private readonly out: Writable,
    private readonly options: TarWriterOptions,
  ) {
    if (!Number.isSafeInteger(options.mtime) || options.mtime < 0) throw new Error(`internal: bad tar mtime ${options.mtime}`)
  }

  get bytesWritten(): number {
    return this.written
  }

  private async put(chunk: Buffer | Uint8Array): Promise<void> {
    this.hash.update(chunk)
    this.written += chunk.length
    if (!this.out.write(chunk)) await once(this.out, 'drain')
  }

  private async header(name: string, type: '0' | '5', size: number, mode: number): Promise<void> {
    if (this.names.has(name)) throw new Error(`internal: duplicate tar entry ${name}`)
    this.names.add(name)
    const records: string[] = []
    let headerName = name
    if (Buffer.byteLength(name) > 100) {
      records.push(paxRecord('path', name))
      headerName = name.slice(0, 100).replace(/[\u0080-\uffff]/g, '_')
    }
    if (size > USTAR_MAX_SIZE) records.push(paxRecord('size', String(size)))
    if (records.length > 0) {
      const body = Buffer.from(records.join(''), 'utf8')
      await this.put(ustarHeader('PaxHeaders/entry', 'x', body.length, 0o644, this.options.mtime))
      await this.put(body)
      await this.put(Buffer.alloc(pad(body.length)))
    }
    await this.put(ustarHeader(headerName, type, Math.min(size, USTAR_MAX_SIZE), mode, this.options.mtime))
  }

  async directory(name: string): Promise<void> {
    await this.header(name.endsWith('/') ? name : `${name}/`, '5', 0, this.options.dirMode ?? 0o755)
  }

  /** Writes a file whose content comes from `source`, which must yield exactly `size` bytes. */
  async file(name: string, size: number, source: Readable | Uint8Array): Promise<void> {
    await this.header(name, '0', size, this.options.fileMode ?? 0o644)
    let count = 0
    if (source instanceof Uint8Array) {
      count = source.length
      if (count === size) await this.put(source)
    } else {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        count += chunk.length
        if (count > size) break
        await this.put(chunk)
      }
    }
    if (count !== size) throw new Error(`internal: tar entry ${name} declared ${size} bytes but its source gave ${count > size ? 'more' : count}`)
    await this.put(Buffer.alloc(pad(size)))
  }

  /** Writes the end-of-archive marker (two zero blocks) and returns the archive's size and sha256. */
  async finish(): Promise<{ size: number; sha256: string }> {
    await this.put(Buffer.alloc(BLOCK * 2))
    return { size: this.written, sha256: this.hash.digest('hex') }
  }
}

// ---------------------------------------------------------------------------------------------- reading

export interface TarEntry {
  /** Normalized path: no leading "./", no trailing "/". */
  path: string
  type: 'file' | 'directory'
  /** Offset of the content in the archive file. */
  offset: number
  size: number
}

function readString(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length)
  const end = field.indexOf(0)
  return field.subarray(0, end === -1 ? length : end).toString('utf8')
}

function readNumber(block: Buffer, offset: number, length: number, archive: string): number {
  const field = block.subarray(offset, offset + length)
  if (((field[0] ?? 0) & 0x80) !== 0) {
    // GNU base-256: big-endian two's complement with the top bit as marker; negative sizes are nonsense.
    if (((field[0] ?? 0) & 0x40) !== 0) throw new UsageError(`${archive} is not a valid tar archive (negative number in a header)`)
    let value = (field[0] ?? 0) & 0x3f
    for (const byte of field.subarray(1)) value = value * 256 + byte
    if (!Number.isSafeInteger(value)) throw new UsageError(`${archive} is not a valid tar archive (number out of range)`)
    return value
  }
  const text = readString(block, offset, length).trim()
  if (text === '') return 0
  if (!/^[0-7]+$/.test(text)) throw new UsageError(`${archive} is not a valid tar archive (bad number ${JSON.stringify(text)} in a header)`)
  return Number.parseInt(text, 8)
}

function parsePax(data: Buffer, archive: string): Map<string, string> {
  const records = new Map<string, string>()
  let pos = 0
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos)
    if (space === -1) break
    const length = Number(data.subarray(pos, space).toString('ascii'))
    if (!Number.isSafeInteger(length) || length <= 0 || pos + length > data.length) throw new UsageError(`${archive} has a malformed pax header`)
    const record = data.subarray(space + 1, pos + length - 1).toString('utf8')
    const eq = record.indexOf('=')
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1))
    pos += length
  }
  return records
}

/** Refuses anything that could land outside the extraction root, on Linux or Windows. */
function safePath(raw: string, archive: string): string {
  let path = raw
  while (path.startsWith('./')) path = path.slice(2)
  const trimmed = path.replace(/\/+$/, '')
  const bad = (why: string) =>
    new UsageError(`${archive} holds an unsafe path ${JSON.stringify(raw)} (${why})`, {
      hint: 'Image archives hold only relative paths inside the archive; this file was made by something else or tampered with.',
    })
  if (raw.includes('\0')) throw bad('NUL byte')
  if (trimmed === '' || trimmed === '.') return ''
  if (trimmed.startsWith('/')) throw bad('absolute path')
  if (trimmed.includes('\\')) throw bad('backslash')
  if (/^[A-Za-z]:/.test(trimmed)) throw bad('drive letter')
  const parts = trimmed.split('/')
  if (parts.includes('..')) throw bad('".." component')
  if (parts.some((p) => p === '' || p === '.')) return parts.filter((p) => p !== '' && p !== '.').join('/')
  return trimmed
}

/** Where a relative symlink at `path` points, as an archive path; undefined when it is absolute or escapes. */
function resolveSymlink(path: string, target: string): string | undefined {
  if (target === '' || target.startsWith('/') || target.includes('\\') || target.includes('\0')) return undefined
  const parts = path.split('/').slice(0, -1)
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (parts.length === 0) return undefined
      parts.pop()
    } else parts.push(part)
  }
  return parts.join('/')
}

const ENTRY_TYPE_NAMES: Record<string, string> = {
  '1': 'a hard link',
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a FIFO',
  S: 'a sparse file',
  V: 'a volume header',
  M: 'a multi-volume continuation',
}

const MAX_META = 1024 * 1024

/**
 * Lists a tar archive's entries without reading their content. Throws UsageError for anything that is
 * not a plain archive of regular files and directories, IntegrityError when it is cut short.
 */
export async function listTar(file: string, label = file): Promise<TarEntry[]> {
  const handle = await open(file, 'r')
  try {
    const { size: fileSize } = await handle.stat()
    const entries: TarEntry[] = []
    const seen = new Set<string>()
    const block = Buffer.alloc(BLOCK)
    let offset = 0
    let pax = new Map<string, string>()
    let longName: string | undefined
    let longLink: string | undefined
    const symlinks: { path: string; target: string; raw: string }[] = []
    let sawEnd = false
    const readAt = async (buffer: Buffer, length: number, position: number) => {
      const { bytesRead } = await handle.read(buffer, 0, length, position)
      if (bytesRead !== length) throw new IntegrityError(`${label} is truncated (ends inside a tar entry)`)
    }
    while (offset + BLOCK <= fileSize) {
      await readAt(block, BLOCK, offset)
      if (block.every((b) => b === 0)) {
        sawEnd = true
        break
      }
      let sum = 0
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0)
      const storedText = readString(block, 148, 8).trim()
      const stored = /^[0-7]+$/.test(storedText) ? Number.parseInt(storedText, 8) : -1
      if (stored !== sum) {
        if (offset === 0) throw new UsageError(`${label} is not a tar archive`, { hint: 'Give an OCI image layout tar (skopeo, ctr export, buildkit) or a `docker save` tar; decompress .tar.gz first.' })
        throw new IntegrityError(`${label} is corrupt: bad tar header checksum at byte ${offset}`)
      }
      const typeFlag = String.fromCharCode(block[156] ?? 0)
      let size = readNumber(block, 124, 12, label)
      const magic = readString(block, 257, 6)
      const prefix = magic.startsWith('ustar') ? readString(block, 345, 155) : ''
      let name = readString(block, 0, 100)
      if (prefix) name = `${prefix}/${name}`
      const dataOffset = offset + BLOCK

      if (typeFlag === 'x' || typeFlag === 'g' || typeFlag === 'L' || typeFlag === 'K') {
        if (size > MAX_META) throw new UsageError(`${label} has an oversized tar extension header`)
        const data = Buffer.alloc(size)
        await readAt(data, size, dataOffset)
        if (typeFlag === 'x') pax = parsePax(data, label)
        else if (typeFlag === 'L') longName = readString(data, 0, size)
        else if (typeFlag === 'K') longLink = readString(data, 0, size)
        // 'g' (global pax) only carries defaults such as comments or mtime: nothing we use.
        offset = dataOffset + size + pad(size)
        continue
      }

      const paxPath = pax.get('path')
      if (paxPath !== undefined) name = paxPath
      else if (longName !== undefined) name = longName
      const paxSize = pax.get('size')
      if (paxSize !== undefined) {
        if (!/^[0-9]+$/.test(paxSize) || !Number.isSafeInteger(Number(paxSize))) throw new UsageError(`${label} has a bad pax size`)
        size = Number(paxSize)
      }
      const linkTarget = pax.get('linkpath') ?? longLink ?? readString(block, 157, 100)
      pax = new Map()
      longName = undefined
      longLink = undefined

      if (typeFlag === '2') {
        const path = safePath(name, label)
        if (path === '') throw new UsageError(`${label} holds a symbolic link with an empty name`)
        if (seen.has(path)) throw new UsageError(`${label} holds ${JSON.stringify(path)} twice`, { hint: 'An image archive names each file once.' })
        seen.add(path)
        symlinks.push({ path, target: linkTarget, raw: name })
        offset = dataOffset + size + pad(size)
        continue
      }

      const what = ENTRY_TYPE_NAMES[typeFlag]
      if (what !== undefined || !['0', '\0', '7', '5'].includes(typeFlag)) {
        throw new UsageError(`${label} holds ${what ?? `an entry of unknown type ${JSON.stringify(typeFlag)}`}: ${JSON.stringify(name)}`, {
          hint: 'Image archives hold only regular files and directories (and symbolic links between those files).',
        })
      }
      const path = safePath(name, label)
      const type = typeFlag === '5' ? 'directory' : 'file'
      if (type === 'file' && path === '') throw new UsageError(`${label} holds a file with an empty name`)
      if (dataOffset + size > fileSize) throw new IntegrityError(`${label} is truncated: ${JSON.stringify(name)} needs ${size} bytes past the end`)
      if (path !== '') {
        // Two entries with one name would let the second silently replace a verified first.
        if (seen.has(path)) throw new UsageError(`${label} holds ${JSON.stringify(path)} twice`, { hint: 'An image archive names each file once.' })
        seen.add(path)
        entries.push({ path, type, offset: dataOffset, size: type === 'directory' ? 0 : size })
      }
      // A directory's size is 0 in practice; skipping `size` anyway keeps a strange one from desynchronizing us.
      offset = dataOffset + size + pad(size)
    }
    if (!sawEnd && offset < fileSize) throw new IntegrityError(`${label} is truncated (ends inside a tar header)`)
    const files = new Map(entries.map((e) => [e.path, e]))
    for (const link of symlinks) {
      const target = resolveSymlink(link.path, link.target)
      const found = target === undefined ? undefined : files.get(target)
      if (found?.type !== 'file') {
        throw new UsageError(
          `${label} holds a symbolic link ${JSON.stringify(link.raw)} -> ${JSON.stringify(link.target)} that ${target === undefined ? 'points outside the archive' : 'does not point at a regular file in it'}`,
          { hint: 'Image archives hold regular files; a link may only alias another file of the same archive.' },
        )
      }
      entries.push({ path: link.path, type: 'file', offset: found.offset, size: found.size })
    }
    if (entries.length === 0 && offset === 0) throw new UsageError(`${label} is empty`)
    return entries
  } finally {
    await handle.close()
  }
}

/** Random access to the content of entries found by listTar. */
export class TarFile {
  private constructor(
    private readonly handle: FileHandle,
    readonly label: string,
  ) {}

  static async open(file: string, label = file): Promise<TarFile> {
    return new TarFile(await open(file, 'r'), label)
  }

  /** Reads a small entry whole; refuses entries larger than `limit` so a hostile archive cannot exhaust memory. */
  async read(entry: TarEntry, limit: number): Promise<Buffer> {
    if (entry.size > limit) throw new UsageError(`${this.label}: ${entry.path} is ${entry.size} bytes, larger than the ${limit} allowed for it`)
    const buffer = Buffer.alloc(entry.size)
    const { bytesRead } = await this.handle.read(buffer, 0, entry.size, entry.offset)
    if (bytesRead !== entry.size) throw new IntegrityError(`${this.label} is truncated inside ${entry.path}`)
    return buffer
  }

  /** sha256 (hex) of an entry's content, streamed in chunks. */
  async sha256(entry: TarEntry): Promise<string> {
    const hash = createHash('sha256')
    const chunk = Buffer.alloc(Math.min(1024 * 1024, Math.max(entry.size, 1)))
    let position = entry.offset
    let left = entry.size
    while (left > 0) {
      const { bytesRead } = await this.handle.read(chunk, 0, Math.min(chunk.length, left), position)
      if (bytesRead === 0) throw new IntegrityError(`${this.label} is truncated inside ${entry.path}`)
      hash.update(chunk.subarray(0, bytesRead))
      position += bytesRead
      left -= bytesRead
    }
    return hash.digest('hex')
  }

  async close(): Promise<void> {
    await this.handle.close()
  }
}
