/**
 * A minimal tar writer and a defensive tar reader, just what image archives need.
 *
 * Writing: the one tar writer's headers (src/archive/tar-write.ts: fixed metadata, pax records only when
 * a name or size does not fit), content streamed from the source. The caller supplies entries in
 * the order it wants them; image archives sort them so equal input gives byte-identical output.
 *
 * Reading: the one tar reader (src/archive/tar.ts) lists the members, seeking past their content, and
 * records where each one's content starts; content is then read by offset (FileHandle reads), so it can
 * be hashed in a streaming pass over a byte range and never has to sit in memory. Regular files and directories are accepted;
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
import { type PathHazard, pathHazard, resolveLinkTarget, strippedName } from '../archive/paths.js'
import { CorruptArchive, TarReader, fileSource } from '../archive/tar.js'
import { END_OF_ARCHIVE, entryHeaders, paddingBytes, tarPadding } from '../archive/tar-write.js'
import { UsageError } from '../model/errors.js'
import { IntegrityError } from './errors.js'

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
    for (const block of entryHeaders(name, type, size, mode, this.options.mtime)) await this.put(block)
  }

  async directory(name: string): Promise<void> {
    await this.header(name.replace(/\/$/, ''), '5', 0, this.options.dirMode ?? 0o755)
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
    await this.put(paddingBytes(tarPadding(size)))
  }

  /** Writes the end-of-archive marker (two zero blocks) and returns the archive's size and sha256. */
  async finish(): Promise<{ size: number; sha256: string }> {
    await this.put(END_OF_ARCHIVE)
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

const OCI_HAZARDS: Record<PathHazard, string> = {
  nul: 'NUL byte',
  backslash: 'backslash',
  absolute: 'absolute path',
  'drive-letter': 'drive letter',
  'dot-dot': '".." component',
}

/** Refuses anything that could land outside the extraction root, on Linux or Windows. */
function safePath(raw: string, archive: string): string {
  const bad = (why: string) =>
    new UsageError(`${archive} holds an unsafe path ${JSON.stringify(raw)} (${why})`, {
      hint: 'Image archives hold only relative paths inside the archive; this file was made by something else or tampered with.',
    })
  const path = strippedName(raw, 0)
  // The archive's root ("./", "/") names nothing to refuse.
  const hazard = path === '' && !raw.includes('\0') ? null : pathHazard(raw)
  if (hazard !== null) throw bad(OCI_HAZARDS[hazard])
  return path
}

/** Where a relative symlink at `path` points, as an archive path; undefined when it is absolute or escapes. */
function resolveSymlink(path: string, target: string): string | undefined {
  if (target === '' || target.startsWith('/') || target.includes('\\') || target.includes('\0')) return undefined
  return resolveLinkTarget(path, target) ?? undefined
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

/** The tar reader's finding about the file, in this module's words (a usage error unless the file is cut short or damaged). */
function corrupt(error: CorruptArchive, label: string): Error {
  if (error.kind === 'checksum' && error.at === 0) {
    return new UsageError(`${label} is not a tar archive`, { hint: 'Give an OCI image layout tar (skopeo, ctr export, buildkit) or a `docker save` tar; decompress .tar.gz first.' })
  }
  if (error.kind === 'checksum') return new IntegrityError(`${label} is corrupt: bad tar header checksum at byte ${error.at}`)
  if (error.kind === 'truncated') return new IntegrityError(`${label} is truncated (${error.message})`)
  if (error.kind === 'field') return new UsageError(`${label} is not a valid tar archive (${error.message})`)
  return new UsageError(`${label} has a malformed tar extension header (${error.message})`)
}

/**
 * Lists a tar archive's entries without reading their content (the one tar reader skips it by seeking).
 * Throws UsageError for anything that is not a plain archive of regular files and directories,
 * IntegrityError when it is cut short.
 */
export async function listTar(file: string, label = file): Promise<TarEntry[]> {
  const handle = await open(file, 'r')
  try {
    const reader = new TarReader(fileSource(handle, (await handle.stat()).size))
    try {
      return await listEntries(reader, label)
    } catch (error) {
      if (error instanceof CorruptArchive) throw corrupt(error, label)
      throw error
    }
  } finally {
    await handle.close()
  }
}

async function listEntries(reader: TarReader, label: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = []
  const seen = new Set<string>()
  const symlinks: { path: string; target: string; raw: string }[] = []
  const once = (path: string) => {
    // Two entries with one name would let the second silently replace a verified first.
    if (seen.has(path)) throw new UsageError(`${label} holds ${JSON.stringify(path)} twice`, { hint: 'An image archive names each file once.' })
    seen.add(path)
  }
  for (let first = true; ; first = false) {
    const header = await reader.next()
    if (header === null) {
      if (first) throw new UsageError(`${label} is empty`)
      break
    }
    // The reader keeps names byte for byte (latin1); image archives name their files in UTF-8.
    const name = Buffer.from(header.name, 'latin1').toString('utf8')
    const typeFlag = header.sparse ? 'S' : header.typeflag
    if (typeFlag === '2') {
      const path = safePath(name, label)
      if (path === '') throw new UsageError(`${label} holds a symbolic link with an empty name`)
      once(path)
      symlinks.push({ path, target: Buffer.from(header.linkName, 'latin1').toString('utf8'), raw: name })
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
    if (path !== '') {
      once(path)
      entries.push({ path, type, offset: reader.position, size: type === 'directory' ? 0 : header.size })
    }
  }
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
  return entries
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
