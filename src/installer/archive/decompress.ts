/**
 * The decompressed bytes of an archive, as chunks. gzip through node:zlib (concatenated members too: the
 * builder writes independent members on all cores); zstd through node:zlib, frame by frame (zstd.ts), when
 * this Node has it (>= 22.15, which the executable runs), else through the zstd command, as install.sh does.
 */
import { spawn } from 'node:child_process'
import { accessSync, constants, createReadStream, statSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import type { Transform } from 'node:stream'
import { pipeline } from 'node:stream'
import * as zlib from 'node:zlib'
import { ArchiveError } from './errors.js'
import { CorruptArchive } from '../../archive/tar.js'
import { decodeZstdFrames } from './zstd.js'

/** zip is not a compressed stream but an archive with its own index: scan.ts reads it with src/inspect/zip-read.ts. */
export type ArchiveFormat = 'tar.gz' | 'tar.zst' | 'zip'

/** How to decompress zstd: 'auto' takes node:zlib when it has zstd, else the command. */
export type ZstdMethod = 'auto' | 'zlib' | 'command'

/** Larger than zlib's 16 KiB default: fewer chunks to hand through for a gigabyte of members. */
const CHUNK = 256 * 1024
/** Enough of zstd's complaints for a message. */
const STDERR_LIMIT = 4096

type ZlibWithZstd = typeof zlib & { createZstdDecompress?: (options?: zlib.ZlibOptions) => Transform }

export function nodeHasZstd(): boolean {
  return typeof (zlib as ZlibWithZstd).createZstdDecompress === 'function'
}

/** The decompressed stream; a decompression or read failure surfaces as CorruptArchive while iterating. */
export function decompressed(file: string, format: ArchiveFormat, zstd: ZstdMethod = 'auto'): AsyncIterable<Buffer> {
  if (format === 'tar.gz') return throughZlib(file, () => zlib.createGunzip({ chunkSize: CHUNK }), 'gzip')
  if (format !== 'tar.zst') throw new Error(`internal: ${String(format)} is not a compressed tar stream`)
  const createZstd = (zlib as ZlibWithZstd).createZstdDecompress
  if (zstd !== 'command' && createZstd !== undefined) return zstdThroughZlib(file, () => createZstd({ chunkSize: CHUNK }))
  if (zstd === 'zlib') throw new Error(`internal: node:zlib has no zstd in Node ${process.version}`)
  const command = onPath(process.platform === 'win32' ? 'zstd.exe' : 'zstd')
  if (command === null) {
    throw new ArchiveError(
      file,
      `${file} is compressed with zstd, which this Node (${process.version}) cannot decompress and which is not installed`,
      'Install zstd (apt-get install zstd, dnf install zstd) and run again.',
    )
  }
  return throughCommand(file, command)
}

async function* throughZlib(file: string, create: () => Transform, what: string): AsyncGenerator<Buffer> {
  const input = createReadStream(file, { highWaterMark: CHUNK })
  const decompressor = create()
  // pipeline destroys the decompressor with the input's error (an unreadable file), so one iterator reports both.
  const output = pipeline(input, decompressor, () => {})
  try {
    for await (const chunk of output) yield chunk as Buffer
  } catch (error) {
    throw new CorruptArchive(isZlibError(error) ? `${what} data: ${message(error)}` : message(error))
  } finally {
    input.destroy()
    decompressor.destroy()
  }
}

async function* zstdThroughZlib(file: string, create: () => Transform): AsyncGenerator<Buffer> {
  const input = createReadStream(file, { highWaterMark: CHUNK })
  try {
    yield* decodeZstdFrames(input, create)
  } catch (error) {
    if (error instanceof CorruptArchive) throw error
    throw new CorruptArchive(isZlibError(error) ? `zstd data: ${message(error)}` : message(error))
  } finally {
    input.destroy()
  }
}

async function* throughCommand(file: string, command: string): AsyncGenerator<Buffer> {
  let handle
  try {
    handle = await open(file, 'r')
  } catch (error) {
    throw new CorruptArchive(message(error))
  }
  // zstd reads the file we opened (its stdin), so both passes of a scan-then-extract read one file.
  const child = spawn(command, ['-dcq'], { stdio: [handle.fd, 'pipe', 'pipe'], windowsHide: true })
  // Every listener goes on before the first await, so no event of the child can pass unheard.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => resolve({ code, signal }))
  })
  // A spawn error can come while stdout is still being read: handled later, not an unhandled rejection now.
  exited.catch(() => {})
  const { stdout, stderr: errors } = child
  if (stdout === null || errors === null) throw new Error('internal: zstd started without pipes')
  const stderr: Buffer[] = []
  let stderrBytes = 0
  errors.on('data', (chunk: Buffer) => {
    if (stderrBytes < STDERR_LIMIT) stderr.push(chunk)
    stderrBytes += chunk.length
  })
  // The child has its own copy of the descriptor. Closing ours is not awaited here: nothing may wait
  // between spawn and the first read of stdout, because Node resumes an unread stdout when the child
  // exits, and a small archive's whole output would be dropped (an archive that reads as empty).
  const closed = handle.close()
  closed.catch(() => {})
  let finished = false
  try {
    try {
      for await (const chunk of stdout) yield chunk as Buffer
    } catch (error) {
      throw new CorruptArchive(`zstd: ${message(error)}`)
    }
    let status
    try {
      status = await exited
    } catch (error) {
      throw new CorruptArchive(`cannot run ${command}: ${message(error)}`)
    }
    finished = true
    if (status.code !== 0) {
      const said = Buffer.concat(stderr).toString('utf8').slice(0, STDERR_LIMIT).trim()
      throw new CorruptArchive(`zstd data: ${said !== '' ? said : `zstd exited with ${status.code ?? status.signal}`}`)
    }
  } finally {
    if (!finished) {
      stdout.destroy()
      child.kill()
      await exited.catch(() => {})
    }
    await closed.catch(() => {})
  }
}

/** The first executable `name` in PATH, like `command -v`. */
function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return null
}

function isZlibError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code
  return typeof code === 'string' && (code.startsWith('Z_') || code.startsWith('ZSTD_'))
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
