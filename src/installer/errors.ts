/**
 * The installer's typed errors. Each carries its exit code (docs/architecture.md "Exit codes": 0 done, 1 step failed, 2 usage,
 * 3 integrity, 4 preflight); only run.ts turns them into output and a code.
 */
import { EXIT, EdgebundleError, UsageError } from '../model/errors.js'

export type IntegrityProblemKind =
  /** The file hashes to something else than SHA256SUMS says. */
  | 'mismatch'
  /** SHA256SUMS lists it, the bundle does not hold it. */
  | 'missing'
  /** It exists but is not a regular file (a folder, a device) or cannot be read. */
  | 'unreadable'
  /** It resolves (through a symbolic link) to somewhere outside the bundle. */
  | 'outside-bundle'
  /** The path in SHA256SUMS is absolute, has a `..` segment or another form the installer refuses. */
  | 'unsafe-path'
  /** A line of SHA256SUMS is not `<sha256 in lowercase hex>  <path>` (src/archive/sha256sums.ts). */
  | 'malformed-line'
  /** One path listed twice. */
  | 'duplicate'
  /** plan.json uses a bundle file that SHA256SUMS does not cover, so it could not be verified. */
  | 'not-covered'
  /** The bundle holds a file SHA256SUMS does not list (added after the build). */
  | 'unlisted'
  /** SHA256SUMS.sig is missing where a key requires it, or does not verify. */
  | 'signature'

export interface IntegrityProblem {
  kind: IntegrityProblemKind
  /** The bundle-relative path (or the offending text of a malformed line). */
  path: string
  expected?: string
  actual?: string
  /** Line number in SHA256SUMS, when the problem is about a line. */
  line?: number
  detail?: string
}

export function describeProblem(problem: IntegrityProblem): string {
  const where = problem.line === undefined ? '' : ` (SHA256SUMS line ${problem.line})`
  switch (problem.kind) {
    case 'mismatch':
      return `${problem.path}: checksum mismatch: expected ${problem.expected}, got ${problem.actual}`
    case 'missing':
      return `${problem.path}: missing`
    case 'unreadable':
      return `${problem.path}: cannot be read${problem.detail ? `: ${problem.detail}` : ''}`
    case 'outside-bundle':
      return `${problem.path}: leads outside the bundle${problem.detail ? ` (${problem.detail})` : ''}`
    case 'unsafe-path':
      return `${JSON.stringify(problem.path)}${where}: refused path: ${problem.detail ?? 'unsafe'}`
    case 'malformed-line':
      return `SHA256SUMS line ${problem.line}: not "<sha256>  <path>": ${JSON.stringify(problem.path)}`
    case 'duplicate':
      return `${problem.path}${where}: listed again`
    case 'unlisted':
      return `${problem.path}: not listed in SHA256SUMS (added after the bundle was built)`
    case 'signature':
      return `${problem.path}: ${problem.detail ?? 'bad signature'}`
    case 'not-covered':
      return `${problem.path}: used by plan.json${problem.detail ? ` (${problem.detail})` : ''} but not listed in SHA256SUMS`
  }
}

/** The bundle fails verification: nothing may be touched. Exit 3. */
export class IntegrityError extends EdgebundleError {
  readonly problems: IntegrityProblem[]
  /** The message without the list of problems (for output that has reported each one already). */
  readonly summary: string

  constructor(message: string, problems: IntegrityProblem[], hint?: string) {
    const list = problems.map((p) => `  - ${describeProblem(p)}`).join('\n')
    super(problems.length > 0 ? `${message}:\n${list}` : message, EXIT.integrity, {
      hint:
        hint ??
        'The bundle was damaged or altered after it was built. Copy it again from the original archive (check the archive itself first), or rebuild it.',
    })
    this.problems = problems
    this.summary = message
  }
}

/** No bundle where the installer looked (not a SEA inside one, or a --bundle folder without plan.json). Exit 2. */
export class BundleNotFoundError extends UsageError {}

/** plan.json is not a plan this installer can carry out (another schema version, a malformed step). Exit 2. */
export class PlanFormatError extends UsageError {}
