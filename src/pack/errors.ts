/** Errors of archive writing. */
import { EXIT, EdgebundleError } from '../model/errors.js'

/**
 * The archive could not be written: a source file vanished or changed while it was read, the disk is
 * full, the output folder is not writable. Nothing the user typed is wrong and nothing is corrupt, so it
 * is a failed step (exit 1); the partial output has been removed by then.
 */
export class PackError extends EdgebundleError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, EXIT.stepFailed, options)
  }
}
