/**
 * The compression stage of a .tar.gz: tar bytes in, gzip bytes out.
 *
 * zlib writes a minimal gzip header: no file name (FNAME), no comment, MTIME 0. Only its last byte, the
 * OS field, depends on where zlib was compiled (3 "Unix" on Linux and macOS, 10 "NTFS" on Windows), so a
 * build on Windows would differ by that one byte. The header is not covered by the gzip CRC (which is over
 * the uncompressed data), so the stage rewrites the OS byte to 3 as the bytes pass, and checks the rest
 * of the header is what determinism needs: if a future zlib started writing a time or a name, packing
 * fails loudly instead of producing archives that differ from run to run.
 *
 * Parallel compression later: gzip allows concatenated members (RFC 1952 2.2) and gunzip, GNU tar and
 * Node's zlib read them as one stream, so a compressor that cuts the tar into fixed-size blocks, deflates
 * them on worker threads and emits them in order is a drop-in replacement for `gzipStages()`. Each member
 * would pass through normalizeGzipHeader (it handles one member; give each its own instance).
 */
import { Transform, type TransformCallback } from 'node:stream'
import { createGzip } from 'node:zlib'

export const GZIP_LEVEL = 6
/** OS field value written into every gzip header: 3, Unix (bundles are unpacked on Linux nodes). */
export const GZIP_OS_UNIX = 3
const HEADER_LENGTH = 10

/** Checks a gzip member's fixed 10-byte header and pins its OS byte, passing everything else through untouched. */
export function normalizeGzipHeader(): Transform {
  let head: Buffer | null = Buffer.alloc(0)
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      if (head === null) {
        callback(null, chunk)
        return
      }
      head = Buffer.concat([head, chunk])
      if (head.length < HEADER_LENGTH) {
        callback()
        return
      }
      const bytes = head
      head = null
      // ID1 ID2, CM 8 (deflate), FLG 0 (no name, comment, extra or header CRC), MTIME 0.
      if (bytes[0] !== 0x1f || bytes[1] !== 0x8b || bytes[2] !== 8 || bytes[3] !== 0 || bytes.readUInt32LE(4) !== 0) {
        callback(new Error(`internal: zlib wrote an unexpected gzip header ${bytes.subarray(0, HEADER_LENGTH).toString('hex')}; archives would not be reproducible`))
        return
      }
      bytes[9] = GZIP_OS_UNIX
      callback(null, bytes)
    },
    flush(callback: TransformCallback) {
      callback(head !== null && head.length > 0 ? new Error('internal: gzip output shorter than its header') : null)
    },
  })
}

/**
 * The streams that turn tar bytes into a deterministic .gz, in pipeline order. Level 6 is gzip's own
 * default: the DESIGN's baseline is `tar | gzip -6`. 64 KiB output chunks keep write calls few.
 */
export function gzipStages(level: number = GZIP_LEVEL): Transform[] {
  return [createGzip({ level, chunkSize: 64 * 1024 }), normalizeGzipHeader()]
}
