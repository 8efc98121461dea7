/**
 * The archive reader's errors. Both are integrity failures (exit 3), as in install.sh: the bundle's
 * checksums passed, so the archive was packed that way, and nothing of it may reach the node.
 */
import { IntegrityError } from '../errors.js'

const REBUILD_HINT =
  "The archive passed the bundle's checksums, so it was already like this when the bundle was built. Rebuild the bundle from a good, trusted copy of the component."

/** The archive cannot be read: corrupt compression or tar headers, truncated, or no zstd to decompress it. */
export class ArchiveError extends IntegrityError {
  /** The archive file, as given by the caller. */
  readonly file: string

  constructor(file: string, message: string, hint: string = REBUILD_HINT) {
    super(message, [], hint)
    this.file = file
  }
}

/** A member could land outside its folder (or is not a file, folder or link): nothing was unpacked. */
export class UnsafeArchiveError extends ArchiveError {
  /** The offending member as the archive names it, when the refusal is about one member. */
  readonly member: string | undefined
  /** Why, naming the member: `member ../x contains ..`. */
  readonly reason: string

  constructor(file: string, reason: string, member?: string) {
    super(file, `refusing the archive ${file}: ${reason}`)
    this.member = member
    this.reason = reason
  }
}

/** A member name or link target for a message: as is when plain, quoted when it holds odd characters. */
export function shown(name: string): string {
  return /^[\x20-\x7e]+$/.test(name) ? name : JSON.stringify(name)
}
