/** Typed errors of the runtime check over CRI. A runtime that does not answer fails the install step (exit 1). */
import { EXIT, EdgebundleError, UsageError } from '../../model/errors.js'

/** The endpoint is not a form the check understands (a plan defect, or a bad --cri-endpoint). */
export class CriEndpointError extends UsageError {}

/** Nothing answered on the endpoint over all attempts: the socket is missing, refuses, or the runtime hangs. */
export class CriUnavailableError extends EdgebundleError {
  readonly endpoint: string
  readonly attempts: number
  /** Why the last attempt failed, in words (e.g. "the socket does not exist"). */
  readonly reason: string

  constructor(endpoint: string, attempts: number, waitedMs: number, reason: string, cause?: unknown) {
    super(
      `no container runtime answered over CRI on ${endpoint} (${attempts} attempt${attempts === 1 ? '' : 's'} over ${(waitedMs / 1000).toFixed(1)} s): ${reason}`,
      EXIT.stepFailed,
      {
        hint: 'Check that the runtime service is running (systemctl status, or its log) and that it listens on this socket; the runtime check can be repeated once it is up.',
        cause,
      },
    )
    this.endpoint = endpoint
    this.attempts = attempts
    this.reason = reason
  }
}

/** The runtime answered, but with an error or with bytes that are not the CRI message expected. */
export class CriCallError extends EdgebundleError {
  readonly endpoint: string
  readonly method: string

  constructor(endpoint: string, method: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(`the container runtime on ${endpoint} failed ${method}: ${message}`, EXIT.stepFailed, options)
    this.endpoint = endpoint
    this.method = method
  }
}
