/**
 * The one retry loop of every download (artifacts, checksum files, registry requests and blobs, Node
 * packages): what may be retried is decided by the error (HttpError.retryable), how long to wait by
 * exponential backoff with jitter, or the error's retryAfterMs: the server's Retry-After, or 0 for an
 * attempt that found something to undo (a resume gone wrong) rather than a busy server.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { HttpError } from './http.js'

export interface RetryPolicy {
  /** Attempts, the first included. */
  tries: number
  /** Delay before the second attempt; doubled for each next one. */
  baseDelayMs: number
  /** Upper bound of one delay, also of a server's Retry-After. */
  maxDelayMs: number
}

export const DEFAULT_RETRY: RetryPolicy = { tries: 4, baseDelayMs: 1000, maxDelayMs: 30_000 }

/** Exponential backoff with jitter (so parallel builds hitting one mirror do not retry in lockstep). */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs: number | null, random: () => number = Math.random): number {
  if (retryAfterMs !== null) return Math.min(policy.maxDelayMs, retryAfterMs)
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  return Math.round(exponential * (0.5 + random() / 2))
}

export interface RetryEvent {
  attempt: number
  delayMs: number
  reason: string
  error: Error
}

/**
 * Runs `attempt` until it returns, a failure is not retryable, or `policy.tries` attempts are spent;
 * then the last HttpError says how many tries it took.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  attempt: (n: number) => Promise<T>,
  options: { signal?: AbortSignal | undefined; onRetry?: ((event: RetryEvent) => void) | undefined } = {},
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n)
    } catch (error) {
      if (!(error instanceof HttpError) || !error.retryable || options.signal?.aborted) throw error
      if (n >= policy.tries) throw error.gaveUp(n)
      const delayMs = backoffDelay(policy, n, error.retryAfterMs)
      options.onRetry?.({ attempt: n, delayMs, reason: error.reason, error })
      if (delayMs > 0) await sleep(delayMs, undefined, options.signal ? { signal: options.signal } : {})
    }
  }
}
