/**
 * The one tar writer's headers: what src/pack (bundle archives) and src/oci (image archives) put before
 * each member, and the zero blocks around and after members. Node built-ins only.
 *
 * Format: POSIX ustar, readable by every tar since 1988. Metadata is fixed so equal inputs give equal
 * bytes: uid/gid 0, uname/gname empty (the build machine's user names must not leak in, and GNU tar
 * extracting as root maps empty names to uid/gid 0), one mtime, the caller's mode, no device numbers.
 * A path longer than ustar's 100-byte name field is split into its 155-byte prefix field when it can be;
 * only a path that fits neither way, or a file of 8 GiB or more, gets a PAX extended header, whose own
 * name is derived from the entry (GNU tar puts its process id there, which would break determinism).
 */
const BLOCK = 512
/** The largest size the 12-byte octal field holds (11 digits). */
const USTAR_MAX_SIZE = 0o77777777777
/** The largest mtime the 12-byte octal field holds: year 2242. */
export const USTAR_MAX_MTIME = 0o77777777777
/** The end of an archive: two zero blocks (GNU tar's padding to a 10 KiB record is not needed to read it back). */
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2)

/** How many zero bytes follow a member of `size` bytes, up to the next 512-byte block. */
export function tarPadding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK
}

function putString(header: Buffer, offset: number, length: number, value: string | Buffer): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value
  if (bytes.length > length) throw new Error(`internal: tar header field too long: ${bytes.toString('utf8')}`)
  bytes.copy(header, offset)
}

function putOctal(header: Buffer, offset: number, length: number, value: number): void {
  // length-1 zero-padded digits and a NUL, as GNU tar writes them.
  putString(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`)
}

type TypeFlag = '0' | '5' | 'x'

function header(fields: { name: Buffer; prefix: Buffer; type: TypeFlag; size: number; mode: number; mtime: number }): Buffer {
  const block = Buffer.alloc(BLOCK)
  putString(block, 0, 100, fields.name)
  putOctal(block, 100, 8, fields.mode)
  putOctal(block, 108, 8, 0) // uid
  putOctal(block, 116, 8, 0) // gid
  putOctal(block, 124, 12, fields.size)
  putOctal(block, 136, 12, fields.mtime)
  block.fill(0x20, 148, 156) // the checksum field counts as spaces while summing
  block.write(fields.type, 156, 'ascii')
  block.write('ustar\u000000', 257, 'latin1') // magic "ustar\0", version "00"
  // uname (265) and gname (297) stay empty; linkname (157) too.
  putOctal(block, 329, 8, 0) // devmajor
  putOctal(block, 337, 8, 0) // devminor
  putString(block, 345, 155, fields.prefix)
  let sum = 0
  for (const byte of block) sum += byte
  putString(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `)
  return block
}

/** ustar's name/prefix split: the prefix takes whole leading segments, the name the rest (non-empty). */
function splitUstar(path: Buffer): { name: Buffer; prefix: Buffer } | null {
  if (path.length <= 100) return { name: path, prefix: Buffer.alloc(0) }
  // Leftmost slash that leaves a name of at most 100 bytes; the prefix before it must fit 155.
  for (let i = 0; i < path.length; i++) {
    if (path[i] !== 0x2f) continue
    const name = path.subarray(i + 1)
    if (name.length > 100) continue
    if (i > 155 || name.length === 0 || (name.length === 1 && name[0] === 0x2f)) return null
    return { name, prefix: path.subarray(0, i) }
  }
  return null
}

function paxRecord(key: string, value: string): string {
  // "<length> <key>=<value>\n", where length counts the whole record including its own digits.
  const body = ` ${key}=${value}\n`
  const bodyLength = Buffer.byteLength(body, 'utf8')
  let length = bodyLength + 1
  while (String(length).length + bodyLength !== length) length = String(length).length + bodyLength
  return `${length}${body}`
}

/** A stand-in name for readers without PAX support: ASCII, at most 100 bytes. */
function fallbackName(path: string, limit: number): Buffer {
  return Buffer.from(path.replace(/[^\x20-\x7e]/g, '_').slice(-limit), 'latin1')
}

/** The header block(s) of one entry: a PAX extended header first when the entry needs one. */
export function entryHeaders(path: string, type: '0' | '5', size: number, mode: number, mtime: number): Buffer[] {
  const full = Buffer.from(type === '5' ? `${path}/` : path, 'utf8')
  const split = splitUstar(full)
  const records: string[] = []
  if (split === null) records.push(paxRecord('path', full.toString('utf8')))
  if (size > USTAR_MAX_SIZE) records.push(paxRecord('size', String(size)))
  const blocks: Buffer[] = []
  if (records.length > 0) {
    const body = Buffer.from(records.join(''), 'utf8')
    const base = path.slice(path.lastIndexOf('/') + 1)
    blocks.push(header({ name: fallbackName(`PaxHeaders/${base}`, 100), prefix: Buffer.alloc(0), type: 'x', size: body.length, mode: 0o644, mtime }))
    blocks.push(Buffer.concat([body, Buffer.alloc(tarPadding(body.length))]))
  }
  const fields = split ?? { name: fallbackName(full.toString('utf8'), 100), prefix: Buffer.alloc(0) }
  blocks.push(header({ ...fields, type, size: size > USTAR_MAX_SIZE ? 0 : size, mode, mtime }))
  return blocks
}

/** Zero bytes for a member's padding to the next 512-byte block (less than one block). */
export function paddingBytes(length: number): Buffer {
  return END_OF_ARCHIVE.subarray(0, length)
}
