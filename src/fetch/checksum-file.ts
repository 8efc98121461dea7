/**
 * Reading the checksum files upstream publishes beside an asset (`<asset>.sha256`, `<asset>.sha256sum`,
 * KubeEdge's `checksum_<asset>.txt`). Pure. Formats seen in the wild: a bare digest; GNU `sha256sum` /
 * `sha512sum` lines (`<hex>  name`, `<hex> *name`); BSD tags (`SHA256 (name) = <hex>`); PowerShell's
 * upper-case digests. The algorithm is the catalog's word (`checksumAlgorithm`), never guessed from the
 * length, so a digest of the wrong length is an error rather than a silent switch.
 */

export const SHA256_PATTERN = /^[0-9a-f]{64}$/
export const SHA512_PATTERN = /^[0-9a-f]{128}$/

export type ChecksumAlgorithm = 'sha256' | 'sha512'
export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['sha256', 'sha512']

const HEX_LENGTH: Record<ChecksumAlgorithm, number> = { sha256: 64, sha512: 128 }
const LABEL: Record<ChecksumAlgorithm, string> = { sha256: 'SHA-256', sha512: 'SHA-512' }

/** "SHA-256" / "SHA-512", for messages. */
export const checksumLabel = (algorithm: ChecksumAlgorithm) => LABEL[algorithm]

/** A lower-case SHA-256, or null when the text is not one. */
export function normalizeSha256(text: string): string | null {
  const lower = text.trim().toLowerCase()
  return SHA256_PATTERN.test(lower) ? lower : null
}

interface Entry {
  hex: string
  name: string | null
  /** The algorithm a BSD tag names, or null for a bare or GNU line. */
  tag: ChecksumAlgorithm | null
}

/** One line as a digest of any length (so a wrong length can be named), or null when it is no digest line. */
function parseLine(line: string): Entry | null {
  const bsd = /^SHA(256|512) ?\((.+)\) ?= ?([0-9A-Fa-f]+)$/.exec(line)
  if (bsd) return { hex: bsd[3]!.toLowerCase(), name: bsd[2]!, tag: bsd[1] === '256' ? 'sha256' : 'sha512' }
  const gnu = /^\\?([0-9A-Fa-f]{32,})(?:\s+\*?(.+))?$/.exec(line)
  if (gnu) return { hex: gnu[1]!.toLowerCase(), name: gnu[2]?.trim() ?? null, tag: null }
  return null
}

const baseName = (name: string) => name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1)

/**
 * The digest of `fileName` in a checksum file, lower case: the line naming it, else the digest of a file
 * that holds exactly one. Throws (with a reason) when the file names other files only, holds no digest,
 * or the digest is not `algorithm`'s length (a SHA-256 where SHA-512 is published, or a truncated one).
 */
export function parseChecksumFile(text: string, fileName: string, algorithm: ChecksumAlgorithm = 'sha256'): string {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
  const valid = lines.map(parseLine).filter((entry): entry is Entry => entry !== null)
  if (valid.length === 0) throw new Error(`it holds no ${LABEL[algorithm]} digest`)
  const named = valid.find((entry) => entry.name !== null && baseName(entry.name) === fileName)
  // A file with one digest sits beside exactly this asset, so that digest is the asset's even when the
  // name differs (upstream renamed the asset after hashing); the download is verified against it anyway.
  const entry = named ?? (valid.length === 1 ? valid[0]! : null)
  if (entry === null) throw new Error(`it lists ${valid.length} files and none is ${fileName}`)
  // A BSD tag names its algorithm: the other one is as wrong as a wrong length.
  if (entry.tag !== null && entry.tag !== algorithm) throw new Error(`it holds a ${LABEL[entry.tag]} for ${fileName}, not the ${LABEL[algorithm]} upstream publishes`)
  if (entry.hex.length !== HEX_LENGTH[algorithm]) {
    throw new Error(`its digest for ${fileName} has ${entry.hex.length} hex digits, not the ${HEX_LENGTH[algorithm]} of a ${LABEL[algorithm]}`)
  }
  return entry.hex
}
