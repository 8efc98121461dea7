/**
 * Takes one regular file out of a .tgz (a Node binary out of an npm package) while the archive streams
 * through gunzip: nothing but that one file is written, to a path the caller chooses, so no name in the
 * archive can place anything anywhere. The whole archive is read, so a second entry of the same name (which
 * a plain `tar x` would let win) is caught and refused. The tar is read by the one tar reader
 * (src/archive/tar.ts); links, devices and anything else named like the wanted file are refused.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { strippedName } from '../archive/paths.js'
import { CorruptArchive, TarReader } from '../archive/tar.js'

export class TarFormatError extends Error {
  override name = 'TarFormatError'
}

/** Names as npm packs them: UTF-8, maybe with a leading "./" (the reader keeps bytes as latin1). */
const normalizeName = (name: string) => strippedName(Buffer.from(name, 'latin1').toString('utf8'), 0)

export interface ExtractedFile {
  size: number
  sha256: string
}

/**
 * Writes the regular file `entryName` of the gzipped tar `archive` to `dest` (created with `mode`).
 * Throws TarFormatError when the archive is malformed, lacks the entry, holds it twice, holds it as
 * something other than a regular file, or it exceeds maxBytes.
 */
export async function extractTarGzEntry(archive: string, entryName: string, dest: string, options: { mode: number; maxBytes: number }): Promise<ExtractedFile> {
  const gunzip = createReadStream(archive).pipe(createGunzip())
  const reader = new TarReader(gunzip)
  let extracted: ExtractedFile | null = null
  try {
    for (;;) {
      const header = await reader.next()
      if (header === null) break
      if (normalizeName(header.name) !== entryName) continue
      const regular = header.typeflag === '0' || header.typeflag === '\0' || header.typeflag === '7'
      if (extracted !== null) throw new TarFormatError(`${entryName} appears twice in the archive`)
      if (!regular || header.sparse) throw new TarFormatError(`${entryName} is not a regular file in the archive (tar type ${JSON.stringify(header.sparse ? 'sparse' : header.typeflag)})`)
      if (header.size > options.maxBytes) throw new TarFormatError(`${entryName} is ${header.size} bytes, more than the ${options.maxBytes} allowed`)
      const hash = createHash('sha256')
      const hashing = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk)
          callback(null, chunk)
        },
      })
      await pipeline(Readable.from(reader.data()), hashing, createWriteStream(dest, { mode: options.mode }))
      extracted = { size: header.size, sha256: hash.digest('hex') }
    }
  } catch (error) {
    if (error instanceof CorruptArchive) throw new TarFormatError(error.kind === 'truncated' ? `the archive is truncated (${error.message})` : error.message)
    throw error
  } finally {
    await reader.close()
    gunzip.destroy()
  }
  if (extracted === null) throw new TarFormatError(`the archive has no ${entryName}`)
  return extracted
}
