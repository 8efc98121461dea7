/**
 * The compression stage of a .tar.gz: tar segments in, gzip bytes out, as independent gzip members
 * compressed on several cores at once and written in order (docs/architecture.md "Performance").
 *
 * RFC 1952 2.2 lets a .gz hold members one after another; gunzip, `gzip -t`, GNU tar and Node's zlib
 * read them as one stream. Where a member starts depends on the content only, never on timing or on the
 * number of workers, so the archive is the same bytes on any machine:
 * - a file of at least `memberSize` bytes starts a member at its first byte and is cut every
 *   `memberSize` bytes from there; its last member ends with the file's tar padding. Its members are
 *   the same wherever the file sits in an archive, which is what lets them be cached by the file's
 *   SHA-256 and copied into later archives (member-cache.ts);
 * - everything else (headers, small files, padding, the end blocks) is cut every `memberSize` bytes,
 *   counted from the end of the previous large file.
 * Each member starts without a dictionary: at 1 MiB that costs about 0.1% of the size.
 *
 * Members are compressed by zlib's one-shot gzip, which runs on libuv's thread pool, `workers` at a time.
 * zlib writes a minimal header: no name, no comment, MTIME 0. Only its OS byte depends on where zlib was
 * compiled (3 "Unix" on Linux and macOS, 10 "NTFS" on Windows); no CRC covers it, so it is set to 3, and
 * the rest is checked: if a future zlib wrote a time or a name, packing would fail loudly rather than
 * produce archives that differ from run to run.
 */
import { createHash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { gzip } from 'node:zlib'
import { paddingBytes } from '../archive/tar-write.js'
import type { PlannedEntry } from './entries.js'
import { PackError } from './errors.js'
import type { CachedMembers, GzipMemberCache, MemberEntryWriter, MemberParameters } from './member-cache.js'
import { entryChunks } from './source.js'
import type { TarSegment } from './tar.js'

export const GZIP_LEVEL = 6
/** OS field value written into every gzip header: 3, Unix (bundles are unpacked on Linux nodes). */
export const GZIP_OS_UNIX = 3
/** Uncompressed bytes per member: large enough that the restarts cost little, small enough to spread over cores. */
export const MEMBER_SIZE = 1024 * 1024
const HEADER_LENGTH = 10

export interface GzipOptions {
  /** zlib level; 6 is gzip's own default (the baseline in docs/architecture.md "Performance" is `tar | gzip -6`). */
  level?: number
  /** Members compressed at once; default the number of cores. Never changes the output. */
  workers?: number
  /** Where members of files with a known SHA-256 are reused from and kept. */
  cache?: GzipMemberCache | undefined
  /** Uncompressed bytes per member (a multiple of 512). Part of the format: tests make it small. */
  memberSize?: number
}

export interface GzipStats {
  /** Members in the output. */
  members: number
  /** Members compressed in this run; the others were copied from the cache. */
  compressed: number
  /** Files whose members were copied from the cache, and the bytes copied. */
  reusedFiles: number
  reusedBytes: number
  /** Files whose members were added to the cache in this run. */
  cachedFiles: number
}

export function emptyGzipStats(): GzipStats {
  return { members: 0, compressed: 0, reusedFiles: 0, reusedBytes: 0, cachedFiles: 0 }
}

/** One member: `input` compressed on the thread pool, its header checked and its OS byte pinned. */
export function compressMember(input: Buffer, level: number = GZIP_LEVEL): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    gzip(input, { level, chunkSize: 128 * 1024 }, (error, output) => {
      if (error) {
        reject(error)
        return
      }
      // ID1 ID2, CM 8 (deflate), FLG 0 (no name, comment, extra or header CRC), MTIME 0.
      if (output.length < HEADER_LENGTH || output[0] !== 0x1f || output[1] !== 0x8b || output[2] !== 8 || output[3] !== 0 || output.readUInt32LE(4) !== 0) {
        reject(new Error(`internal: zlib wrote an unexpected gzip header ${output.subarray(0, HEADER_LENGTH).toString('hex')}; archives would not be reproducible`))
        return
      }
      output[9] = GZIP_OS_UNIX
      resolve(output)
    })
  })
}

/** Bytes collected until a member's worth is there. */
class Pending {
  private parts: Buffer[] = []
  length = 0

  add(data: Buffer): void {
    if (data.length === 0) return
    this.parts.push(data)
    this.length += data.length
  }

  /** The first `size` bytes (all, when fewer are held), removed from what is held. */
  take(size: number): Buffer {
    const joined = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.length)
    const taken = joined.subarray(0, size)
    const rest = joined.subarray(taken.length)
    this.parts = rest.length > 0 ? [rest] : []
    this.length = rest.length
    return taken
  }
}

type Unit =
  /** A member being compressed (and kept for the cache by its file's writer, if any). */
  | { kind: 'compress'; output: Promise<Buffer> }
  /** A file's members, copied from the cache. */
  | { kind: 'copy'; entry: CachedMembers }

/** A file's content as read, checked against the SHA-256 the caller gave (entryChunks checks the size). */
async function* checkedChunks(entry: PlannedEntry & { kind: 'file' }): AsyncGenerator<Buffer> {
  const hash = entry.sha256 === undefined ? null : createHash('sha256')
  for await (const chunk of entryChunks(entry)) {
    hash?.update(chunk)
    yield chunk
  }
  const actual = hash?.digest('hex')
  if (actual !== undefined && actual !== entry.sha256) {
    const where = 'file' in entry.source ? `${entry.source.file} (for ${entry.path})` : entry.path
    throw new PackError(`${where} has sha256 ${actual}, not the ${entry.sha256} the bundle lists for it`, {
      hint: 'The file changed after it was checked (or the cache holding it is damaged). Build again; if it persists, remove the file from the cache.',
    })
  }
}

interface UnitContext {
  level: number
  memberSize: number
  cache: GzipMemberCache | undefined
  /** Every cache writer opened, so the ones left open by a failure can be discarded. */
  writers: Set<MemberEntryWriter>
  /** The outcomes of the entries of files read whole: true when published. */
  finished: Promise<boolean>[]
  /** This pack's place in the order packs of this process started in (see the cache's busyWriting). */
  serial: number
}

let packsStarted = 0

/**
 * The cached members of a large file, or a writer to cache them as they are compressed (null when the
 * cache cannot be written: that only costs time). A miss waits for a writer of the same content that
 * is already under way: an earlier pack of this process, or another process (a build beside this one).
 */
async function cachedOrWriter(cache: GzipMemberCache, sha256: string, size: number, context: UnitContext): Promise<{ hit: CachedMembers } | { writer: MemberEntryWriter | null }> {
  const parameters: MemberParameters = { level: context.level, memberSize: context.memberSize }
  let hit = await cache.lookup(sha256, size, parameters)
  const busy = hit === null ? cache.busyWriting(sha256, size, parameters, context.serial) : undefined
  if (busy !== undefined) {
    await busy
    hit = await cache.lookup(sha256, size, parameters)
  }
  if (hit !== null) return { hit }
  // Claimed before the next await, so later packs of this process wait for this one.
  const claim = cache.claim(sha256, size, parameters, context.serial)
  // Another process writing it is waited for too. Whatever this pack is writing completes meanwhile
  // (MemberEntryWriter appends on its own), so no two processes wait on each other.
  if (await cache.otherProcessWriting(sha256, size, parameters)) {
    hit = await cache.lookup(sha256, size, parameters)
    if (hit !== null) {
      claim.release()
      return { hit }
    }
  }
  const writer = await claim.open().catch(() => null)
  if (writer !== null) context.writers.add(writer)
  return { writer }
}

/** The members of the archive, in order, as units of work. Compression starts when a unit is made. */
async function* units(segments: Iterable<TarSegment>, context: UnitContext): AsyncGenerator<Unit> {
  const { level, memberSize, cache } = context
  const compress = (input: Buffer, writer: MemberEntryWriter | null): Unit => {
    const output = compressMember(input, level)
    // Awaited in order later; a unit dropped after a failure elsewhere must not be an unhandled rejection.
    output.catch(() => {})
    writer?.add(output)
    return { kind: 'compress', output }
  }
  const glue = new Pending()
  function* cutGlue(all: boolean): Generator<Unit> {
    while (glue.length >= memberSize || (all && glue.length > 0)) yield compress(glue.take(memberSize), null)
  }

  for (const segment of segments) {
    if (segment.kind === 'bytes') {
      glue.add(segment.data)
      yield* cutGlue(false)
      continue
    }
    const { entry, padding } = segment
    if (entry.size < memberSize) {
      for await (const chunk of checkedChunks(entry)) {
        glue.add(chunk)
        yield* cutGlue(false)
      }
      glue.add(paddingBytes(padding))
      yield* cutGlue(false)
      continue
    }

    // A large file: its members start at its first byte.
    yield* cutGlue(true)
    let writer: MemberEntryWriter | null = null
    if (cache !== undefined && entry.sha256 !== undefined) {
      const found = await cachedOrWriter(cache, entry.sha256, entry.size, context)
      if ('hit' in found) {
        yield { kind: 'copy', entry: found.hit }
        continue
      }
      writer = found.writer
    }
    const content = new Pending()
    for await (const chunk of checkedChunks(entry)) {
      content.add(chunk)
      while (content.length >= memberSize) yield compress(content.take(memberSize), writer)
    }
    content.add(paddingBytes(padding))
    if (content.length > 0) yield compress(content.take(content.length), writer)
    // Only after checkedChunks accepted the content: an entry is never made from other bytes than its key says.
    if (writer !== null) context.finished.push(writer.finish())
  }
  yield* cutGlue(true)
}

/**
 * The .gz bytes of the tar segments. Up to `workers` members are compressed ahead of the one being
 * written; cached members are copied (and checked: a damaged entry throws CorruptMemberEntryError, see
 * writeBundleArchive). `stats` is filled in as the bytes go out.
 */
export async function* gzipMembers(segments: Iterable<TarSegment>, options: GzipOptions = {}, stats: GzipStats = emptyGzipStats()): AsyncGenerator<Buffer> {
  const level = options.level ?? GZIP_LEVEL
  const memberSize = options.memberSize ?? MEMBER_SIZE
  const workers = options.workers ?? availableParallelism()
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`internal: gzip workers must be a positive integer, got ${workers}`)
  if (!Number.isInteger(memberSize) || memberSize < 512 || memberSize % 512 !== 0) throw new Error(`internal: gzip member size must be a positive multiple of 512, got ${memberSize}`)
  const context: UnitContext = { level, memberSize, cache: options.cache, writers: new Set(), finished: [], serial: ++packsStarted }
  const source = units(segments, context)
  const queue: Unit[] = []
  let compressing = 0
  let exhausted = false
  try {
    for (;;) {
      while (!exhausted && compressing < workers) {
        const next = await source.next()
        if (next.done === true) {
          exhausted = true
          break
        }
        queue.push(next.value)
        if (next.value.kind === 'compress') compressing++
      }
      const unit = queue.shift()
      if (unit === undefined) break
      if (unit.kind === 'compress') {
        const member = await unit.output
        compressing--
        stats.members++
        stats.compressed++
        yield member
      } else {
        const cache = options.cache!
        for await (const chunk of cache.read(unit.entry)) yield chunk
        stats.members += unit.entry.memberCount
        stats.reusedFiles++
        stats.reusedBytes += unit.entry.membersSize
      }
    }
    // The entries are in place when the archive is: the next pack finds them.
    for (const published of await Promise.all(context.finished)) if (published) stats.cachedFiles++
  } finally {
    // When the consumer stops early (a failed write) or a step failed: close the file being read, and
    // drop cache entries that were not completed.
    await source.return(undefined)
    for (const writer of context.writers) await writer.discard()
  }
}
