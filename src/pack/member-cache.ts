/**
 * Compressed gzip members of large files, kept between builds: the executable, artifacts and images are
 * the same in build after build, so a warm build copies their members instead of compressing again.
 *
 *   <cache>/gzip-members/<key>                     one file's members: a 512-byte header, then the members
 *   <cache>/gzip-members/.<key>.<pid>-<rand>.tmp   an entry being written
 *
 * The key is the SHA-256 of everything that decides the compressed bytes: this format, zlib's version,
 * the CPU architecture, the level, the member size, and the file's SHA-256 and size. A hit therefore
 * gives exactly the bytes compressing now would give, so an archive does not depend on what the cache
 * held (another Node's zlib may compress the same input differently: its members are other entries).
 *
 * The header (JSON, space-padded) repeats those inputs and records the length, CRC-32 and SHA-256 of the
 * member bytes. Copying checks the length and the CRC-32 as the bytes pass (zlib.crc32 costs a fifth of
 * SHA-256, and a warm build is mostly this copy; Node before 20.15 has no zlib.crc32 and checks the
 * SHA-256). The check is against damage (a flipped bit, a truncated or hand-edited file), as for the
 * cache's blobs; the bundle's own SHA256SUMS and every member's gzip CRC stand behind it. An entry that
 * does not match fails the copy with CorruptMemberEntryError, and the archive writer removes the entry
 * and writes the archive again, compressing that file afresh. Nothing unchecked is shipped.
 *
 * Entries are written like the artifact cache's blobs (src/fetch/cache.ts): into a temporary file of the
 * writer's own beside the entries (a killed writer's file is swept by the next writer), fsynced, made
 * read-only, renamed into place. Two writers of one key rename identical bytes.
 *
 * Builds side by side on one cache (CI jobs of a matrix, a user's second terminal) would each compress
 * the same 100 MB executable when the cache is cold. That temporary file is the claim other processes
 * see: a pack that misses while another live process's file for the key is still being written waits
 * for it (see otherProcessWriting), then copies the entry. It lies in gzip-members/ so that caches that
 * share only that folder (as the tests' do) see each other's claims too.
 */
import { createHash } from 'node:crypto'
import { mkdir, open as openFile, readdir, stat, unlink, utimes, type FileHandle } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { versions } from 'node:process'
import { setTimeout as sleep } from 'node:timers/promises'
import * as zlib from 'node:zlib'
import { publishFile, sweepDeadTemps, tempPathFor, tempWriterPid } from '../archive/publish.js'
import { pidAlive } from '../io/process.js'

/** Bump when the entry layout or the way members are cut changes. */
const ENTRY_FORMAT = 2
export const ENTRY_HEADER_SIZE = 512
/**
 * Entries are tens of MB each and every new installer version adds one per platform: when one is
 * written, the least recently used go until the rest fit this (a hit refreshes an entry's mtime).
 */
export const DEFAULT_BUDGET_BYTES = 4 * 1024 * 1024 * 1024
/**
 * Another process's entry that has not grown for this long is not waited for: its writer may be stopped,
 * or its output blocked. A member is ~1 MB, compressed in well under a second on any builder.
 */
export const DEFAULT_STALL_MS = 30_000
const OTHER_WRITER_POLL_MS = 100

export interface MemberParameters {
  level: number
  memberSize: number
}

interface EntryHeader {
  format: number
  zlib: string
  arch: string
  level: number
  memberSize: number
  contentSha256: string
  contentSize: number
  membersSha256: string
  membersCrc32: number
  membersSize: number
  memberCount: number
}

/** zlib.crc32 where this Node has it (20.15, 22.2 and later). */
const crc32: ((data: Uint8Array, value?: number) => number) | undefined = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32

/** A usable entry found by lookup. The member bytes start at ENTRY_HEADER_SIZE. */
export interface CachedMembers {
  path: string
  key: string
  membersSha256: string
  membersCrc32: number
  membersSize: number
  memberCount: number
}

/** An entry whose bytes are not what its header says (or that vanished while it was read). */
export class CorruptMemberEntryError extends Error {
  constructor(
    readonly entry: CachedMembers,
    reason: string,
  ) {
    super(`the cached gzip members ${entry.path} are damaged (${reason})`)
    this.name = 'CorruptMemberEntryError'
  }
}

const isCode = (error: unknown, ...codes: string[]) => codes.includes((error as NodeJS.ErrnoException)?.code ?? '')

/** The start of an entry's temporary files' names (tempPathFor: `.<key>.<pid>-<hex>.tmp`, hidden, not an entry's name). */
const tempPrefix = (key: string) => `.${key}.`

/**
 * Entries this process is writing now, by path. A matrix build packs several bundles side by side that
 * hold the same executable and artifacts: with a cold cache each would compress the same 100 MB, so a
 * pack that misses while an earlier pack of this process writes the entry waits for it and copies instead.
 */
const writing = new Map<string, { owner: number; finished: Promise<void> }>()

/** A pack's claim on an entry it missed: it either opens a writer for it or releases it (another wrote it). */
export interface EntryClaim {
  release(): void
  open(): Promise<MemberEntryWriter>
}

export class GzipMemberCache {
  readonly dir: string
  readonly budgetBytes: number
  readonly stallMs: number
  private readonly onWait: ((pid: number) => void) | undefined

  /**
   * `cacheRoot`: the artifact cache's root (resolveCacheDir); entries and the files they are written in
   * go to its gzip-members/. `onWait` hears each wait for another process (its pid) before it starts.
   */
  constructor(cacheRoot: string, options: { budgetBytes?: number; stallMs?: number; onWait?: (pid: number) => void } = {}) {
    this.dir = join(cacheRoot, 'gzip-members')
    this.budgetBytes = options.budgetBytes ?? DEFAULT_BUDGET_BYTES
    this.stallMs = options.stallMs ?? DEFAULT_STALL_MS
    this.onWait = options.onWait
  }

  private identity(contentSha256: string, contentSize: number, parameters: MemberParameters) {
    return { format: ENTRY_FORMAT, zlib: versions.zlib ?? 'unknown', arch: process.arch, level: parameters.level, memberSize: parameters.memberSize, contentSha256, contentSize }
  }

  key(contentSha256: string, contentSize: number, parameters: MemberParameters): string {
    return createHash('sha256').update(JSON.stringify(this.identity(contentSha256, contentSize, parameters))).digest('hex')
  }

  /** The entry for this content, when there is one whose header matches; anything else is a miss. */
  async lookup(contentSha256: string, contentSize: number, parameters: MemberParameters): Promise<CachedMembers | null> {
    const key = this.key(contentSha256, contentSize, parameters)
    const path = join(this.dir, key)
    let handle: FileHandle
    try {
      handle = await openFile(path, 'r')
    } catch (error) {
      if (isCode(error, 'ENOENT', 'ENOTDIR')) return null
      throw error
    }
    let header: EntryHeader | null
    let size: number
    try {
      const block = Buffer.alloc(ENTRY_HEADER_SIZE)
      const { bytesRead } = await handle.read(block, 0, ENTRY_HEADER_SIZE, 0)
      ;({ size } = await handle.stat())
      try {
        header = JSON.parse(block.subarray(0, bytesRead).toString('utf8')) as EntryHeader
      } catch {
        return null // torn or foreign: a miss; writing the entry again replaces it
      }
    } finally {
      await handle.close()
    }
    if (typeof header !== 'object' || header === null) return null
    const expected = this.identity(contentSha256, contentSize, parameters)
    const matches = (Object.keys(expected) as (keyof typeof expected)[]).every((field) => header[field] === expected[field])
    if (!matches || !Number.isSafeInteger(header.membersSize) || !Number.isSafeInteger(header.memberCount) || !Number.isSafeInteger(header.membersCrc32) || size !== ENTRY_HEADER_SIZE + header.membersSize || !/^[0-9a-f]{64}$/.test(String(header.membersSha256))) return null
    // Its last use, for pruning. Best effort: a cache on a read-only medium still serves.
    const now = new Date()
    await utimes(path, now, now).catch(() => {})
    return { path, key, membersSha256: header.membersSha256, membersCrc32: header.membersCrc32, membersSize: header.membersSize, memberCount: header.memberCount }
  }

  /**
   * The member bytes of an entry, in chunks, checked against its header as they pass. A mismatch, a
   * short file or a vanished one throws CorruptMemberEntryError after the last chunk (or at the read).
   */
  async *read(entry: CachedMembers, chunkSize = 1024 * 1024): AsyncGenerator<Buffer> {
    let handle: FileHandle
    try {
      handle = await openFile(entry.path, 'r')
    } catch (error) {
      throw new CorruptMemberEntryError(entry, `cannot open it: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
    }
    try {
      const hash = crc32 === undefined ? createHash('sha256') : null
      let crc = 0
      let offset = 0
      while (offset < entry.membersSize) {
        // A fresh buffer per chunk: the consumer may still hold the previous one.
        const buffer = Buffer.allocUnsafe(Math.min(chunkSize, entry.membersSize - offset))
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, ENTRY_HEADER_SIZE + offset)
        if (bytesRead === 0) throw new CorruptMemberEntryError(entry, `${offset} of ${entry.membersSize} bytes`)
        const chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead)
        if (hash === null) crc = crc32!(chunk, crc)
        else hash.update(chunk)
        offset += bytesRead
        yield chunk
      }
      if (hash === null && crc !== entry.membersCrc32) throw new CorruptMemberEntryError(entry, `CRC-32 ${crc}, its header says ${entry.membersCrc32}`)
      const actual = hash?.digest('hex')
      if (actual !== undefined && actual !== entry.membersSha256) throw new CorruptMemberEntryError(entry, `sha256 ${actual}, its header says ${entry.membersSha256}`)
    } finally {
      await handle.close()
    }
  }

  /** Removes an entry found damaged. */
  async evict(entry: CachedMembers): Promise<void> {
    await unlink(entry.path).catch((error: unknown) => {
      if (!isCode(error, 'ENOENT')) throw error
    })
  }

  /**
   * Claims the entry for this content for `owner` (a pack's serial number) in this process, synchronously,
   * so a pack that asks busyWriting right after its own miss sees every claim made before. The claim ends
   * with release(), or with the writer open() gives once that is committed or discarded.
   */
  claim(contentSha256: string, contentSize: number, parameters: MemberParameters, owner: number): EntryClaim {
    const key = this.key(contentSha256, contentSize, parameters)
    const target = join(this.dir, key)
    let settle = () => {}
    const finished = new Promise<void>((resolve) => (settle = resolve))
    const claimed = !writing.has(target)
    if (claimed) writing.set(target, { owner, finished })
    let released = false
    const release = () => {
      if (released) return
      released = true
      if (claimed) writing.delete(target)
      settle()
    }
    const open = async () => {
      try {
        await mkdir(this.dir, { recursive: true })
        await sweepDeadTemps(this.dir)
        // Other processes see it as this entry being written (otherProcessWriting).
        const temp = tempPathFor(target)
        const handle = await openFile(temp, 'wx', 0o644)
        return new MemberEntryWriter(this, handle, temp, target, this.identity(contentSha256, contentSize, parameters), release)
      } catch (error) {
        release()
        throw error
      }
    }
    return { release, open }
  }

  /**
   * When a pack that started before `owner` is writing the entry for this content: a promise that settles
   * once the entry is in place or given up (look it up again then); otherwise undefined. Only earlier packs
   * are waited for, never later ones nor the pack itself: a matrix build's packs start in order, so the
   * first to reach a file is the one to compress it.
   */
  busyWriting(contentSha256: string, contentSize: number, parameters: MemberParameters, owner: number): Promise<void> | undefined {
    const claim = writing.get(join(this.dir, this.key(contentSha256, contentSize, parameters)))
    return claim !== undefined && claim.owner < owner ? claim.finished : undefined
  }

  /**
   * Waits while another live process writes the entry for this content: until its temporary file is gone
   * (the entry is in place, or it gave up) or has not grown for stallMs. True when it waited (look the
   * entry up again then). The writer waited for completes without waiting for anything itself (see
   * MemberEntryWriter), so waits cannot go round in a circle.
   */
  async otherProcessWriting(contentSha256: string, contentSize: number, parameters: MemberParameters): Promise<boolean> {
    const prefix = tempPrefix(this.key(contentSha256, contentSize, parameters))
    for (let waited = false; ; waited = true) {
      const writer = await this.activeOtherWriter(prefix)
      if (writer === null) return waited
      if (!waited) this.onWait?.(writer)
      await sleep(OTHER_WRITER_POLL_MS)
    }
  }

  /** The pid of a live process other than this one whose temporary file for the entry grew within stallMs. */
  private async activeOtherWriter(prefix: string): Promise<number | null> {
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (!name.startsWith(prefix)) continue
      const pid = tempWriterPid(name)
      if (pid === null || pid === process.pid || !pidAlive(pid)) continue
      const modified = await stat(join(this.dir, name)).then((info) => info.mtimeMs, () => null)
      if (modified !== null && Date.now() - modified < this.stallMs) return pid
    }
    return null
  }

  /** Removes the least recently used entries (but `keep`) until the rest fit the budget. */
  async prune(keep: string): Promise<void> {
    const entries: { path: string; size: number; used: number }[] = []
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue
      const path = join(this.dir, name)
      const info = await stat(path).catch(() => null)
      if (info !== null) entries.push({ path, size: info.size, used: name === keep ? Infinity : info.mtimeMs })
    }
    let total = entries.reduce((sum, entry) => sum + entry.size, 0)
    entries.sort((a, b) => a.used - b.used)
    for (const entry of entries) {
      if (total <= this.budgetBytes || entry.used === Infinity) break
      // A reader that already opened it keeps reading; a later lookup misses and compresses again.
      await unlink(entry.path).catch(() => {})
      total -= entry.size
    }
  }
}

/**
 * One entry being written. Members are added as promises, in order, and appended as they are compressed,
 * whatever the pack's output is doing: an entry of a file whose members are all added completes on its
 * own. So a pack (or a process) that waits for another's entry never holds up an entry someone waits for
 * in turn, and no waiting can go round in a circle.
 */
export class MemberEntryWriter {
  private readonly hash = createHash('sha256')
  private crc = 0
  private size = 0
  private count = 0
  private state: 'open' | 'committed' | 'discarded' = 'open'
  /** The appends so far, one after another; rejected once one fails. */
  private appending: Promise<void> = Promise.resolve()
  /** Set by finish: the entry's outcome. */
  private finishing: Promise<boolean> | undefined

  constructor(
    private readonly cache: GzipMemberCache,
    private readonly handle: FileHandle,
    private readonly temp: string,
    private readonly target: string,
    private readonly identity: Omit<EntryHeader, 'membersSha256' | 'membersCrc32' | 'membersSize' | 'memberCount'>,
    /** Called once the entry is in place or given up: packs waiting for it look again. */
    private readonly settled: () => void,
  ) {}

  /** The next member of the file, appended once it is compressed and the ones before it are. */
  add(member: Promise<Buffer>): void {
    const next = this.appending.then(async () => {
      const data = await member
      if (this.state === 'open') await this.append(data)
    })
    // Observed by finish or discard; marked handled here so a failure before then is not an unhandled rejection.
    next.catch(() => {})
    this.appending = next
  }

  /**
   * Every member of the file was added (and the file's content checked against its key): publishes the
   * entry once they are appended. False (and the entry discarded) when an append or the publish failed.
   */
  finish(): Promise<boolean> {
    this.finishing ??= this.appending.then(
      () => this.commit(),
      async () => {
        await this.abandon()
        return false
      },
    )
    return this.finishing
  }

  private async append(data: Buffer): Promise<void> {
    let offset = 0
    while (offset < data.length) {
      const { bytesWritten } = await this.handle.write(data, offset, data.length - offset, ENTRY_HEADER_SIZE + this.size + offset)
      offset += bytesWritten
    }
    this.hash.update(data)
    if (crc32 !== undefined) this.crc = crc32(data, this.crc)
    this.size += data.length
    this.count++
  }

  /** Writes the header and publishes the entry. False (and the entry discarded) when that fails. */
  private async commit(): Promise<boolean> {
    if (this.state !== 'open') return false
    try {
      const header: EntryHeader = { ...this.identity, membersSha256: this.hash.digest('hex'), membersCrc32: this.crc, membersSize: this.size, memberCount: this.count }
      const text = JSON.stringify(header)
      if (Buffer.byteLength(text) >= ENTRY_HEADER_SIZE) throw new Error('internal: gzip member entry header too long')
      await this.handle.write(Buffer.from(text.padEnd(ENTRY_HEADER_SIZE - 1, ' ') + '\n'), 0, ENTRY_HEADER_SIZE, 0)
      await this.handle.close()
      this.state = 'committed'
      await mkdir(this.cache.dir, { recursive: true })
      // Read-only, like the cache's blobs: a stray write through a path handed out cannot damage it.
      await publishFile(this.temp, this.target, { mode: 0o444 })
      await this.cache.prune(basename(this.target)).catch(() => {})
      return true
    } catch {
      // The cache only saves time: a full disk or a read-only cache leaves the archive unaffected.
      await this.abandon()
      return false
    } finally {
      this.settled()
    }
  }

  /**
   * Gives the entry up, after the append in flight. An entry already finishing (its file was read and
   * checked whole) is let complete instead: the cache gains it even when the pack failed later.
   */
  async discard(): Promise<void> {
    if (this.finishing !== undefined) await this.finishing
    else await this.abandon()
  }

  private async abandon(): Promise<void> {
    if (this.state === 'discarded') return
    const wasOpen = this.state === 'open'
    this.state = 'discarded'
    await this.appending.catch(() => {})
    if (wasOpen) await this.handle.close().catch(() => {})
    await unlink(this.temp).catch(() => {})
    this.settled()
  }
}
