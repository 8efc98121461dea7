/**
 * Reading the checksum files upstream publishes beside an asset (`<asset>.sha256`, `<asset>.sha256sum`).
 * Pure. Formats seen in the wild: a bare digest; GNU `sha256sum` lines (`<hex>  name`, `<hex> *name`);
 * BSD tags (`SHA256 (name) = <hex>`); PowerShell's upper-case digests.
 */

export const SHA256_PATTERN = /^[0-9a-f]{64}$/

/** A lower-case SHA-256, or null when the text is not one. */
export function normalizeSha256(text: string): string | null {
  const lower = text.trim().toLowerCase()
  return SHA256_PATTERN.test(lower) ? lower : null
}

interface Entry {
  sha256: string
  name: string | null
}

function parseLine(line: string): Entry | null {
  const bsd = /^SHA256 ?\((.+)\) ?= ?([0-9A-Fa-f]{64})$/.exec(line)
  if (bsd) return { sha256: bsd[2]!.toLowerCase(), name: bsd[1]! }
  const gnu = /^\\?([0-9A-Fa-f]{64})(?:\s+\*?(.+))?$/.exec(line)
  if (gnu) return { sha256: gnu[1]!.toLowerCase(), name: gnu[2]?.trim() ?? null }
  return null
}

const baseName = (name: string) => name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1)

/**
 * The SHA-256 of `fileName` in a checksum file: the line naming it, else the digest of a file that
 * holds exactly one. Throws (with a reason) when the file names other files only, or holds none.
 */
export function parseChecksumFile(text: string, fileName: string): string {
  const entries = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map(parseLine)
  const valid = entries.filter((entry): entry is Entry => entry !== null)
  if (valid.length === 0) throw new Error('it holds no SHA-256 digest')
  const named = valid.find((entry) => entry.name !== null && baseName(entry.name) === fileName)
  if (named) return named.sha256
  // A file with one digest sits beside exactly this asset, so that digest is the asset's even when the
  // name differs (upstream renamed the asset after hashing); the download is verified against it anyway.
  if (valid.length === 1) return valid[0]!.sha256
  throw new Error(`it lists ${valid.length} files and none is ${fileName}`)
}
