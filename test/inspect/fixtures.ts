/** Helpers for the inspect tests: packing a folder, running the CLI, and hand-made hostile zips. */
import { crc32 } from 'node:zlib'
import { run } from '../../src/cli/main.js'
import { entriesFromFolder } from '../../src/pack/folder.js'
import { writeBundleArchive } from '../../src/pack/index.js'
import { BUNDLE_NAME } from '../pack/fixtures.js'

export const MTIME = new Date(1_700_000_000_000)

export async function pack(root: string, output: string, format: 'tar.gz' | 'zip' = 'tar.gz', name = BUNDLE_NAME): Promise<string> {
  await writeBundleArchive(await entriesFromFolder(root, name), output, { format, mtime: MTIME })
  return output
}

export async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
  return { code, stdout, stderr }
}

export interface ZipItem {
  name: string
  content?: string
  /** Full Unix st_mode (type bits included), e.g. 0o100644, 0o120777 for a link. */
  unixMode?: number
}

/**
 * A stored (uncompressed) zip written byte by byte: archivers sanitize names like "../x", and the point
 * is to feed the reader exactly those.
 */
export function zipBytes(items: ZipItem[]): Buffer {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const item of items) {
    const name = Buffer.from(item.name, 'utf8')
    const data = Buffer.from(item.content ?? '', 'utf8')
    const crc = crc32(data) >>> 0
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(0x0800, 6) // UTF-8 names
    local.writeUInt16LE(0, 8) // stored
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(data.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(name.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE((3 << 8) | 20, 4) // made by Unix
    central.writeUInt16LE(20, 6)
    central.writeUInt16LE(0x0800, 8)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(data.length, 20)
    central.writeUInt32LE(data.length, 24)
    central.writeUInt16LE(name.length, 28)
    central.writeUInt32LE(((item.unixMode ?? (item.name.endsWith('/') ? 0o40755 : 0o100644)) << 16) >>> 0, 38)
    central.writeUInt32LE(offset, 42)
    locals.push(local, name, data)
    centrals.push(central, name)
    offset += local.length + name.length + data.length
  }
  const directory = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(items.length, 8)
  end.writeUInt16LE(items.length, 10)
  end.writeUInt32LE(directory.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, directory, end])
}
