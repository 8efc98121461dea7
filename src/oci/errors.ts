/**
 * Errors of the image code. Usage problems (a bad reference, a platform the image lacks, an archive that is
 * not an image) are the shared UsageError (exit 2); these two add what the model has no class for yet.
 */
import { EXIT, EdgebundleError } from '../model/errors.js'

/**
 * Bytes are not what they claim to be: a digest or size mismatch, a truncated archive, a referenced blob
 * that is missing. Exit 3, like every integrity failure (docs/architecture.md "Exit codes").
 */
export class IntegrityError extends EdgebundleError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, EXIT.integrity, options)
  }
}

/**
 * The registry could not be used: unreachable, an HTTP error, credentials required, a malformed answer.
 * Nothing the user typed is wrong and no bytes were found corrupt, so it is a failed step (exit 1).
 */
export class RegistryError extends EdgebundleError {
  /** HTTP status when the registry answered, undefined for network failures. */
  readonly status: number | undefined
  constructor(message: string, options: { hint?: string; cause?: unknown; status?: number } = {}) {
    super(message, EXIT.stepFailed, options)
    this.status = options.status
  }
}
