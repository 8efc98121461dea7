/**
 * zstd through node:zlib, frame by frame. Node's decoder (22.23) stops after the first frame and says
 * nothing when the input ends inside a frame, where the zstd command fails; so the frame structure
 * (RFC 8878: headers and block sizes, no decoding) is followed here, each frame gets its own decoder, and
 * a cut-off frame or bytes that are no frame are errors, as with `zstd -d`.
 */
import { once } from 'node:events'
import type { Transform } from 'node:stream'
import { CorruptArchive } from '../../archive/tar.js'

export interface FramePiece {
  bytes: Buffer
  /** Part of a skippable frame (metadata no decoder needs). */
  skippable: boolean
  /** The last bytes of its frame. */
  ends: boolean
}

const ZSTD_MAGIC = 0xfd2fb528
const SKIPPABLE_MAGIC = 0x184d2a50
const DICTIONARY_ID_BYTES = [0, 1, 2, 4]
const CONTENT_SIZE_BYTES = [0, 2, 4, 8]

type State = 'magic' | 'skip-size' | 'skip-data' | 'descriptor' | 'header' | 'block-header' | 'block-data' | 'checksum'

/** Splits compressed chunks at frame ends. */
export class ZstdFrames {
  private state: State = 'magic'
  /** Bytes still needed to finish the current state. */
  private need = 4
  /** The small fields (magic, sizes, descriptor, block header) gathered across chunks. */
  private readonly field = Buffer.alloc(4)
  private fieldLength = 0
  private skippable = false
  private hasChecksum = false
  private lastBlock = false
  private frames = 0
  /** Input bytes consumed, for messages. */
  private offset = 0

  split(chunk: Buffer): FramePiece[] {
    const pieces: FramePiece[] = []
    let start = 0
    let i = 0
    while (i < chunk.length) {
      if (this.state === 'skip-data' || this.state === 'header' || this.state === 'block-data' || this.state === 'checksum') {
        const take = Math.min(this.need, chunk.length - i)
        i += take
        this.need -= take
        this.offset += take
      } else {
        this.field[this.fieldLength++] = chunk[i++] ?? 0
        this.need--
        this.offset++
      }
      if (this.need > 0) continue
      if (this.state === 'magic') {
        // The magic may have begun in an earlier chunk: it goes out as a piece of its own, once its frame's kind is known.
        const magic = Buffer.from(this.field.subarray(0, 4))
        this.advance()
        pieces.push({ bytes: magic, skippable: this.skippable, ends: false })
        start = i
      } else if (this.advance()) {
        pieces.push({ bytes: chunk.subarray(start, i), skippable: this.skippable, ends: true })
        start = i
      }
    }
    if (start < chunk.length && this.state !== 'magic') pieces.push({ bytes: chunk.subarray(start), skippable: this.skippable, ends: false })
    return pieces
  }

  /** At the end of the input: it must end between frames, after at least one. */
  finish(): void {
    if (this.state !== 'magic' || this.fieldLength > 0) throw new CorruptArchive(`zstd data: the input ends inside a frame (truncated, at byte ${this.offset})`)
    if (this.frames === 0) throw new CorruptArchive('zstd data: the input holds no zstd frame')
  }

  /** Moves on once the current state has its bytes; true when that ends a frame. */
  private advance(): boolean {
    switch (this.state) {
      case 'magic': {
        const magic = this.field.readUInt32LE(0)
        if (magic === ZSTD_MAGIC) {
          this.skippable = false
          return this.next('descriptor', 1)
        }
        if ((magic & 0xfffffff0) >>> 0 === SKIPPABLE_MAGIC) {
          this.skippable = true
          return this.next('skip-size', 4)
        }
        throw new CorruptArchive(
          this.frames === 0 ? 'zstd data: not zstd (unknown magic number)' : `zstd data: bytes that are no zstd frame after frame ${this.frames} (at byte ${this.offset - 4})`,
        )
      }
      case 'skip-size':
        return this.next('skip-data', this.field.readUInt32LE(0))
      case 'skip-data':
      case 'checksum':
        return this.frameEnd()
      case 'descriptor': {
        const descriptor = this.field[0] ?? 0
        if (descriptor & 0x08) throw new CorruptArchive('zstd data: a frame header sets its reserved bit')
        const singleSegment = (descriptor >> 5) & 1
        this.hasChecksum = ((descriptor >> 2) & 1) === 1
        const contentSizeFlag = descriptor >> 6
        const contentSize = contentSizeFlag === 0 ? singleSegment : (CONTENT_SIZE_BYTES[contentSizeFlag] ?? 0)
        return this.next('header', (singleSegment ? 0 : 1) + (DICTIONARY_ID_BYTES[descriptor & 3] ?? 0) + contentSize)
      }
      case 'header':
        return this.next('block-header', 3)
      case 'block-header': {
        const header = (this.field[0] ?? 0) | ((this.field[1] ?? 0) << 8) | ((this.field[2] ?? 0) << 16)
        const type = (header >> 1) & 3
        if (type === 3) throw new CorruptArchive('zstd data: a block of the reserved type')
        this.lastBlock = (header & 1) === 1
        // An RLE block holds one byte, repeated; raw and compressed blocks hold their size.
        return this.next('block-data', type === 1 ? 1 : header >>> 3)
      }
      case 'block-data':
        if (!this.lastBlock) return this.next('block-header', 3)
        return this.hasChecksum ? this.next('checksum', 4) : this.frameEnd()
    }
  }

  private next(state: State, need: number): boolean {
    this.state = state
    this.need = need
    this.fieldLength = 0
    // A state with nothing to read (an empty header, an empty last block) is over already.
    return need === 0 ? this.advance() : false
  }

  private frameEnd(): boolean {
    this.frames++
    this.state = 'magic'
    this.need = 4
    this.fieldLength = 0
    return true
  }
}

/** The decoded bytes of every frame in `chunks`, one decoder (from `create`) per frame, with back-pressure. */
export async function* decodeZstdFrames(chunks: AsyncIterable<Buffer>, create: () => Transform): AsyncGenerator<Buffer> {
  const frames = new ZstdFrames()
  const input = chunks[Symbol.asyncIterator]()
  let queue: FramePiece[] = []
  const nextPiece = async (): Promise<FramePiece | null> => {
    while (queue.length === 0) {
      const result = await input.next()
      if (result.done === true) {
        frames.finish()
        return null
      }
      queue = frames.split(result.value)
    }
    return queue.shift() ?? null
  }
  const abort = new AbortController()
  try {
    for (let piece = await nextPiece(); piece !== null; piece = await nextPiece()) {
      if (piece.skippable) continue
      const decoder = create()
      const first: FramePiece = piece
      // Writes this frame into its decoder while the loop below reads it out: memory stays bounded
      // however much a frame expands.
      const feeding = (async () => {
        for (let part: FramePiece | null = first; ; part = await nextPiece()) {
          if (part === null) throw new Error('internal: zstd input ended inside a frame')
          if (!decoder.write(part.bytes)) await once(decoder, 'drain', { signal: abort.signal })
          if (part.ends) break
        }
        decoder.end()
      })()
      feeding.catch((error: unknown) => decoder.destroy(error instanceof Error ? error : new Error(String(error))))
      for await (const out of decoder) yield out as Buffer
      await feeding
    }
  } finally {
    abort.abort()
    await input.return?.()
  }
}
