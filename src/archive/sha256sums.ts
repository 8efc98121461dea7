/**
 * SHA256SUMS in the one form edgebundle writes and the one form the builder, `edgebundle verify` and the
 * installer accept: `<64 lowercase hex>  <path>\n` per file
 * (GNU sha256sum's text-mode output, so `sha256sum -c SHA256SUMS` run in the bundle folder checks it),
 * sorted by path in byte order, paths relative to the bundle folder. The signature covers these exact
 * bytes, so there is exactly one way to write them.
 *
 * Names that sha256sum would have to escape (backslash, newline, CR) are refused: no bundle file has one,
 * and an escaped line is one more thing an installer script would have to parse right. A colon is refused too:
 * on NTFS "a.txt:x" names another stream of a.txt, so the Windows installer would hash something else
 * than the line shows. Node built-ins only: the installer's single executable carries this file.
 */
import { BUNDLE } from '../model/layout.js'
import { pathHazard } from './paths.js'

export interface ChecksumLine {
  path: string
  sha256: string
  /** 1-based. */
  line: number
}

export interface ChecksumProblem {
  /** 1-based. */
  line: number
  /** Not the line grammar; a path the rules below refuse; a path listed a second time. */
  kind: 'malformed-line' | 'unsafe-path' | 'duplicate'
  /** The offending text: the line (cut at 200 characters) when malformed, else the path. */
  text: string
  /** For an unsafe path: why (checksumPathProblem's answer). */
  detail?: string
  /** Human-readable, naming the line. */
  message: string
}

export interface ParsedChecksumFile {
  entries: ChecksumLine[]
  /** One per offending line, in line order. */
  problems: ChecksumProblem[]
}

/** Why a path cannot appear in SHA256SUMS, or null. */
export function checksumPathProblem(path: string): string | null {
  if (path === '') return 'empty path'
  const hazard = pathHazard(path)
  if (hazard === 'nul' || hazard === 'backslash' || /[\n\r]/.test(path)) return 'a backslash, newline, CR or NUL in the name'
  if (hazard === 'absolute') return 'absolute path'
  if (hazard === 'drive-letter') return 'has a drive letter (an absolute path on Windows)'
  if (path.includes(':')) return 'contains a colon (an NTFS alternate data stream)'
  if (hazard === 'dot-dot') return 'has a ".." segment'
  const segments = path.split('/')
  if (segments.some((segment) => segment === '' || segment === '.')) return 'not in canonical form (empty or "." segment)'
  return null
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/**
 * The SHA256SUMS content for these files. The caller leaves out SHA256SUMS and SHA256SUMS.sig themselves
 * (passing them is a defect and throws).
 */
export function formatSha256Sums(files: readonly { path: string; sha256: string }[]): string {
  const seen = new Set<string>()
  for (const file of files) {
    const problem = checksumPathProblem(file.path)
    if (problem !== null) throw new Error(`internal: cannot list ${JSON.stringify(file.path)} in SHA256SUMS: ${problem}`)
    if (file.path === BUNDLE.checksums || file.path === BUNDLE.signature) throw new Error(`internal: SHA256SUMS cannot list ${file.path}`)
    if (!/^[0-9a-f]{64}$/.test(file.sha256)) throw new Error(`internal: ${file.path}: not a lowercase sha256: ${file.sha256}`)
    if (seen.has(file.path)) throw new Error(`internal: ${file.path} listed twice in SHA256SUMS`)
    seen.add(file.path)
  }
  return [...files]
    .sort((a, b) => compareBytes(a.path, b.path))
    .map((file) => `${file.sha256}  ${file.path}\n`)
    .join('')
}

/**
 * Parses SHA256SUMS strictly (the form above). Every line that is not exactly that is reported, as is a
 * path listed twice; a missing final newline is accepted, as sha256sum accepts it.
 */
export function parseSha256Sums(text: string): ParsedChecksumFile {
  const entries: ChecksumLine[] = []
  const problems: ChecksumProblem[] = []
  const seen = new Set<string>()
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  lines.forEach((raw, index) => {
    const line = index + 1
    const match = /^([0-9a-f]{64}) {2}(.+)$/.exec(raw)
    if (match === null) {
      const message = `line ${line} is not "<sha256 in lowercase hex>  <path>": ${JSON.stringify(raw.length > 120 ? `${raw.slice(0, 120)}…` : raw)}`
      problems.push({ line, kind: 'malformed-line', text: raw.slice(0, 200), message })
      return
    }
    const [, sha256, path] = match as unknown as [string, string, string]
    const problem = checksumPathProblem(path)
    if (problem !== null) {
      problems.push({ line, kind: 'unsafe-path', text: path, detail: problem, message: `line ${line} lists ${JSON.stringify(path)}: ${problem}` })
      return
    }
    if (seen.has(path)) {
      problems.push({ line, kind: 'duplicate', text: path, message: `line ${line} lists ${path} again` })
      return
    }
    seen.add(path)
    entries.push({ path, sha256, line })
  })
  return { entries, problems }
}
