/** Errors of bundle inspection. Both are integrity failures (exit 3): the bytes are not what a bundle must be. */
import { EXIT, EdgebundleError } from '../model/errors.js'

/**
 * The archive's own structure is damaged: truncated, a bad header checksum, a gzip or deflate error, a
 * CRC mismatch, data hidden after the end. Past that point nothing in it can be trusted, so the scan stops.
 */
export class ArchiveCorruptError extends EdgebundleError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, EXIT.integrity, options)
  }
}

/**
 * A bundle failed verification. The problems themselves have been printed by then (or sit in the JSON),
 * so the message is a one-line summary.
 */
export class BundleVerificationError extends EdgebundleError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.integrity, hint === undefined ? {} : { hint })
  }
}
