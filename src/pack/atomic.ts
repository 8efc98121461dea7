/**
 * Writes a file so that it either appears complete or not at all: bytes go to a hidden temporary file in
 * the output's own folder (same file system, so the rename is atomic), which is fsynced and renamed over
 * the output. A crash or an error leaves the previous output (if any) untouched and, on error, removes
 * the temporary file. The folder is fsynced after the rename so the new name itself survives a power loss.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { Writable } from 'node:stream'

/** A Writable onto an open FileHandle that fsyncs on end and leaves closing to the owner. */
class FileHandleSink extends Writable {
  constructor(private readonly handle: FileHandle) {
    super({ highWaterMark: 1024 * 1024 })
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeAll(chunk).then(() => callback(), callback)
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

  private async writeAll(data: Buffer): Promise<void> {
    let offset = 0
    // write() may write less than asked (rare for regular files, but allowed): loop until all is out.
    while (offset < data.length) {
      const { bytesWritten } = await this.handle.write(data, offset, data.length - offset, null)
      offset += bytesWritten
    }
  }
}

/** fsync of a folder: makes a rename in it durable. */
export async function syncFolder(folder: string): Promise<void> {
  // Windows cannot open a folder for fsync, and does not need it for the rename to persist.
  if (process.platform === 'win32') return
  const handle = await open(folder, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Calls `write` with a Writable for the output's content (it must end it, e.g. as a pipeline's last
 * stream) and publishes the result at `output` (replacing an existing file) only when all went well.
 */
export async function writeFileAtomically(output: string, write: (sink: Writable) => Promise<void>, mode = 0o644): Promise<void> {
  const target = resolve(output)
  const folder = dirname(target)
  await mkdir(folder, { recursive: true })
  const temp = join(folder, `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`)
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
    await unlink(temp).catch(() => {})
    throw error
  }
  await syncFolder(folder)
}
