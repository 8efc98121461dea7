/**
 * One artifact from one URL into a file of the cache's tmp/, verified against its SHA-256 while it
 * streams, through the builder's one download routine (src/io/http-download.ts: retries, Range resume,
 * restarts); and the small text files (published checksum files) with the same retries.
 */
import { type Hash, createHash } from 'node:crypto'
import type { ChecksumAlgorithm } from './checksum-file.js'
import { type DownloadHooks, downloadToFile } from '../io/http-download.js'
import { type Http, HttpError, statusError } from '../io/http.js'
import { type RetryPolicy, withRetries } from '../io/retry.js'
import { ChecksumMismatchError } from './errors.js'

export { DEFAULT_RETRY, backoffDelay, type RetryPolicy } from '../io/retry.js'
export { parseRetryAfter } from '../io/http.js'
export { parseContentRange, type DownloadHooks } from '../io/http-download.js'

export interface DownloadRequest {
  url: string
  /** How the source appears in messages, e.g. "mirror http://…/runc.amd64". */
  sourceLabel: string
  fileName: string
  expectedSha256: string
  /** The algorithm expectedSha256 is a digest of when it is not SHA-256 (KubeEdge publishes SHA-512). */
  algorithm?: ChecksumAlgorithm
  /** The file to download into; it may already hold a prefix from an earlier attempt. */
  partPath: string
  retry: RetryPolicy
  hooks?: DownloadHooks
  signal?: AbortSignal
}

/** The source cannot deliver (an HTTP status such as 404, or retries exhausted): try the next source. */
export class SourceUnavailableError extends Error {
  override name = 'SourceUnavailableError'
  /** HTTP status when the source answered with one. */
  readonly status: number | null
  constructor(message: string, status: number | null = null, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.status = status
  }
}

/** A failed request as "this source cannot deliver", keeping the reason for the list of sources tried. */
function unavailable(error: unknown): unknown {
  if (error instanceof HttpError) return new SourceUnavailableError(error.reason, error.status ?? null, error)
  return error
}

/** Hashes bytes as they come; asking for the digest does not end it (resumed prefixes are asked first). */
export function sha256Verifier(expected: string, algorithm: ChecksumAlgorithm = 'sha256'): { update(chunk: Buffer): void; mismatch(): string | null } {
  const hash: Hash = createHash(algorithm)
  return {
    update: (chunk) => void hash.update(chunk),
    mismatch: () => {
      const actual = hash.copy().digest('hex')
      return actual === expected ? null : actual
    },
  }
}

/**
 * Downloads `url` into `partPath` until the file hashes to `expectedSha256`. Throws
 * ChecksumMismatchError (the caller discards the file), SourceUnavailableError (the file keeps its
 * prefix for the next source) or a fatal error (offline violation, disk full, abort).
 */
export async function downloadVerified(http: Http, request: DownloadRequest): Promise<void> {
  try {
    await downloadToFile({
      url: request.url,
      http,
      label: request.fileName,
      partPath: request.partPath,
      verifier: () => sha256Verifier(request.expectedSha256, request.algorithm),
      mismatch: (actual) => new ChecksumMismatchError(request.fileName, request.sourceLabel, request.expectedSha256, actual, undefined, request.algorithm),
      retry: request.retry,
      ...(request.hooks ? { hooks: request.hooks } : {}),
      signal: request.signal,
    })
  } catch (error) {
    throw unavailable(error)
  }
}

export interface TextRequest {
  url: string
  /** A checksum file is a few lines; anything larger is not one, and is not read into memory whole. */
  maxBytes: number
  retry: RetryPolicy
  hooks?: Pick<DownloadHooks, 'retrying'>
  signal?: AbortSignal
}

/** A small body read whole, refusing more than `maxBytes`, with the same retries as a download. */
export async function getBytes(http: Http, request: TextRequest): Promise<Buffer> {
  const { url } = request
  return withRetries(
    request.retry,
    async () => {
      const response = await http.get(url, request.signal ? { signal: request.signal } : {})
      if (response.status !== 200) throw statusError(response)
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length
        // Leaving the loop by throwing destroys the body (and its connection).
        if (size > request.maxBytes) throw new HttpError(response.url, `larger than ${request.maxBytes} bytes`, { failure: 'body', retryable: false })
        chunks.push(chunk)
      }
      return Buffer.concat(chunks)
    },
    { signal: request.signal, onRetry: (event) => request.hooks?.retrying?.({ url, attempt: event.attempt, delayMs: event.delayMs, reason: event.reason }) },
  )
}

/** A published checksum file; a source that cannot deliver is SourceUnavailableError. */
export async function downloadText(http: Http, request: TextRequest): Promise<string> {
  try {
    return (await getBytes(http, request)).toString('utf8')
  } catch (error) {
    const e = unavailable(error)
    if (e instanceof SourceUnavailableError && /^larger than/.test(e.message)) throw new SourceUnavailableError(`${e.message}: not a checksum file`, null, error)
    throw e
  }
}
