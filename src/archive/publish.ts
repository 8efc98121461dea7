/**
 * Atomic publishing, the one way edgebundle puts a file at its final name: a file either appears complete
 * or not at all. Bytes go to a unique temporary name in the target's own folder (same file system, so
 * the rename is atomic), which is fsynced and renamed over the target; the folder is fsynced after the
 * rename so the new name itself survives a power loss. A crash or an error leaves the previous file (if
 * any) untouched and, on error, removes the temporary file. Node built-ins only (and io/process.ts for pids).
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, open, readdir, rename, rm, writeFile, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { Writable } from 'node:stream'
import { pidAlive } from '../io/process.js'

/**
 * A fresh name beside `target` for its bytes before they are published: `.<name>.<pid>-<hex>.tmp`, unique
 * per call (parallel writers of one process too), with the pid so a sweep can tell a dead writer's leftovers.
 */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`)
}

/** The writer's pid in a file name tempPathFor made, or null for any other name. */
export function tempWriterPid(fileName: string): number | null {
  const pid = Number(/\.(\d+)-[0-9a-f]+\.tmp$/.exec(fileName)?.[1])
  return Number.isInteger(pid) ? pid : null
}

/** Removes the temporary files in `dir` whose writer no longer runs (a killed build left them). */
export async function sweepDeadTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = tempWriterPid(name)
    if (pid !== null && pid !== process.pid && !pidAlive(pid)) await rm(join(dir, name), { force: true })
  }
}

/** fsync of a file's data, so a crash cannot leave a complete name over incomplete bytes. */
export async function syncFile(path: string): Promise<void> {
  // r+: Windows flushes only a handle that may write (FlushFileBuffers).
  const handle = await open(path, 'r+')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** A Writable onto an open FileHandle that fsyncs on end and leaves closing to the owner. */
class FileHandleSink extends Writable {
  constructor(private readonly handle: FileHandle) {
    super({ highWaterMark: 1024 * 1024 })
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeAllv([chunk]).then(() => callback(), callback)
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    // One writev call for what queued up, without first copying it into one buffer.
    this.writeAllv(chunks.map((c) => c.chunk)).then(() => callback(), callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.handle.sync().then(() => callback(), callback)
  }

  private async writeAllv(buffers: Buffer[]): Promise<void> {
    let rest = buffers
    while (rest.length > 0) {
      const { bytesWritten } = await this.handle.writev(rest)
      // A short write (rare for regular files, but allowed): drop what went out and write the rest.
      let skip = bytesWritten
      let index = 0
      while (index < rest.length && skip >= rest[index]!.length) skip -= rest[index++]!.length
      rest = rest.slice(index)
      if (rest.length > 0 && skip > 0) rest[0] = rest[0]!.subarray(skip)
    }
  }
}

/** fsync of a folder: makes a rename in it durable. */
export async function syncFolder(folder: string): Promise<void> {
  // Windows cannot open a folder for fsync, and NTFS journals the rename itself.
  if (process.platform === 'win32') return
  const handle = await open(folder, 'r')
  try {
    await handle.sync()
  } catch (error) {
    // Some file systems (network ones) cannot sync a folder: the rename is still atomic, only less durable.
    if (!['EINVAL', 'ENOTSUP', 'EOPNOTSUPP'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error
  } finally {
    await handle.close()
  }
}

const RENAME_REFUSED_OVER_EXISTING = ['EPERM', 'EEXIST', 'EACCES']

export interface PublishOptions {
  /** Set on the file before it gets its name (the umask does not apply). */
  mode?: number
  /**
   * Windows refuses to rename onto an existing read-only file (EPERM, EEXIST or EACCES): when this says
   * the file already there is as good (the same content, published by another writer), ours is dropped
   * and publishing succeeds; otherwise the error stands.
   */
  existingIsAsGood?: () => Promise<boolean>
}

/**
 * Publishes the complete file `temp` (on the target's file system; it is removed on failure) at `target`:
 * fsync it, set its mode, rename it over the target, fsync the folder.
 */
export async function publishFile(temp: string, target: string, options: PublishOptions = {}): Promise<void> {
  try {
    await syncFile(temp)
    if (options.mode !== undefined) await chmod(temp, options.mode)
    try {
      await rename(temp, target)
    } catch (error) {
      const refused = RENAME_REFUSED_OVER_EXISTING.includes((error as NodeJS.ErrnoException).code ?? '')
      if (!refused || options.existingIsAsGood === undefined || !(await options.existingIsAsGood())) throw error
      await rm(temp, { force: true })
      return
    }
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
  await syncFolder(dirname(target))
}

/**
 * Writes `content` to a temporary file beside `target` (creating its folder) and publishes it there, with
 * `options.mode` or 0644 (exactly, whatever the umask).
 */
export async function writeFileAtomically(target: string, content: string | Uint8Array, options: PublishOptions = {}): Promise<void> {
  await mkdir(dirname(target), { recursive: true })
  const temp = tempPathFor(target)
  try {
    // Owner-writable until published: the fsync opens it for writing, and a 0444 mode would refuse that.
    await writeFile(temp, content, { flag: 'wx', mode: 0o600 })
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
  await publishFile(temp, target, { ...options, mode: options.mode ?? 0o644 })
}

/**
 * Calls `write` with a Writable for the output's content (it must end it, e.g. as a pipeline's last
 * stream) and publishes the result at `output` (replacing an existing file) only when all went well.
 * The sink fsyncs as it ends, so the file is not opened again to be synced.
 */
export async function writeStreamAtomically(output: string, write: (sink: Writable) => Promise<void>, mode = 0o644): Promise<void> {
  const target = resolve(output)
  const folder = dirname(target)
  await mkdir(folder, { recursive: true })
  const temp = tempPathFor(target)
  const handle = await open(temp, 'wx', mode)
  let closed = false
  try {
    const sink = new FileHandleSink(handle)
    await write(sink)
    if (!sink.writableFinished) throw new Error('internal: the archive writer did not finish its output')
    await handle.close()
    closed = true
    await rename(temp, target)
  } catch (error) {
    if (!closed) await handle.close().catch(() => {})
    await rm(temp, { force: true })
    throw error
  }
  await syncFolder(folder)
}
