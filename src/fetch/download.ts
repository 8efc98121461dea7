/**
 * One artifact from one URL into a file of the cache's tmp/, verified while it streams: retries with
 * exponential backoff, resumes after a cut with an HTTP Range request, and restarts when the server
 * ignores Range. No whole file is ever held in memory.
 */
import { type Hash, createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { truncate } from 'node:fs/promises'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { reusedChunks } from '../io/file-chunks.js'
import { ChecksumMismatchError, OfflineViolationError } from './errors.js'
import { type Http, type HttpResponse, HttpProtocolError } from './http.js'

export interface RetryPolicy {
  /** Attempts per source, the first included. */
  tries: number
  /** Delay before the second attempt; doubled for each next one. */
  baseDelayMs: number
  /** Upper bound of one delay, also of a server's Retry-After. */
  maxDelayMs: number
}

export const DEFAULT_RETRY: RetryPolicy = { tries: 4, baseDelayMs: 1000, maxDelayMs: 30_000 }

export interface DownloadHooks {
  /** A response is about to stream; totalBytes is the whole file's size when the server said. */
  started?(event: { url: string; totalBytes: number | null; resumedFrom: number }): void
  /** Bytes of the file present so far (the resumed prefix included). */
  progress?(bytes: number): void
  retrying?(event: { url: string; attempt: number; delayMs: number; reason: string }): void
  /** Something worth a line in --verbose output (a restart, a resume). */
  note?(message: string): void
}

export interface DownloadRequest {
  url: string
  /** How the source appears in messages, e.g. "mirror http://…/runc.amd64". */
  sourceLabel: string
  fileName: string
  expectedSha256: string
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
  constructor(message: string, status: number | null = null) {
    super(message)
    this.status = status
  }
}

/** Statuses worth asking again: the server or something between says "not now". */
const isRetryableStatus = (status: number) => status === 408 || status === 429 || (status >= 500 && status <= 599)

/** Local failures (disk full, permissions) that no retry or other source can fix. */
const FATAL_FS_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE', 'EISDIR'])

function isFatal(error: unknown): boolean {
  if (error instanceof OfflineViolationError || error instanceof HttpProtocolError || error instanceof ChecksumMismatchError) return true
  const { name, code } = error as { name?: string; code?: string }
  if (name === 'AbortError' || code === 'ABORT_ERR') return true
  return code !== undefined && (FATAL_FS_CODES.has(code) || code === 'UND_ERR_INVALID_ARG')
}

function describe(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string }
  const text = message ?? String(error)
  return code && !text.includes(code) ? `${text} (${code})` : text
}

async function hashPrefix(path: string): Promise<{ hash: Hash; size: number }> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of reusedChunks(path)) {
    hash.update(chunk)
    size += chunk.length
  }
  return { hash, size }
}

/** Seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | null {
  if (value === undefined) return null
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? null : Math.max(0, date - now)
}

/** Exponential backoff with jitter (so parallel builds hitting one mirror do not retry in lockstep). */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs: number | null, random: () => number = Math.random): number {
  if (retryAfterMs !== null) return Math.min(policy.maxDelayMs, retryAfterMs)
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  return Math.round(exponential * (0.5 + random() / 2))
}

/** `bytes <start>-<end>/<total|*>` → start and total. */
export function parseContentRange(value: string | undefined): { start: number; total: number | null } | null {
  const match = value === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim())
  if (!match) return null
  return { start: Number(match[1]), total: match[3] === '*' ? null : Number(match[3]) }
}

function discardBody(response: HttpResponse): void {
  response.body.on('error', () => {}) // a destroyed body may still report its socket's end
  response.body.destroy()
}

type Attempt =
  | { kind: 'done' }
  | { kind: 'again'; reason: string; retryAfterMs: number | null; delay: boolean; restartedAfterMismatch?: true }

/**
 * Downloads `url` into `partPath` until the file hashes to `expectedSha256`. Throws
 * ChecksumMismatchError (the caller discards the file), SourceUnavailableError (the file keeps its
 * prefix for the next source) or a fatal error (offline violation, disk full, abort).
 */
export async function downloadVerified(http: Http, request: DownloadRequest): Promise<void> {
  const { url, retry, hooks = {} } = request
  let restartedAfterMismatch = false
  for (let attempt = 1; ; attempt++) {
    let outcome: Attempt
    try {
      outcome = await attemptOnce(http, request, restartedAfterMismatch)
    } catch (error) {
      if (error instanceof SourceUnavailableError || isFatal(error)) throw error
      outcome = { kind: 'again', reason: describe(error), retryAfterMs: null, delay: true }
    }
    if (outcome.kind === 'done') return
    if (outcome.restartedAfterMismatch) restartedAfterMismatch = true
    if (attempt >= retry.tries) throw new SourceUnavailableError(`${outcome.reason} (gave up after ${retry.tries} tries)`)
    if (outcome.delay) {
      const delayMs = backoffDelay(retry, attempt, outcome.retryAfterMs)
      hooks.retrying?.({ url, attempt, delayMs, reason: outcome.reason })
      await sleep(delayMs, undefined, request.signal ? { signal: request.signal } : {})
    }
  }
}

async function attemptOnce(http: Http, request: DownloadRequest, restartedAfterMismatch: boolean): Promise<Attempt> {
  const { url, partPath, expectedSha256, hooks = {} } = request
  // Hash what earlier attempts left (this run's or a killed build's) so the download continues after it
  // and the final digest covers the whole file.
  let { hash, size: prefix } = await hashPrefix(partPath)
  if (prefix > 0 && hash.copy().digest('hex') === expectedSha256) return { kind: 'done' } // complete already; only the commit was missed

  const response = await http.get(url, {
    headers: prefix > 0 ? { range: `bytes=${prefix}-` } : {},
    ...(request.signal ? { signal: request.signal } : {}),
  })
  const { status } = response
  let totalBytes: number | null = null
  const length = response.headers['content-length']
  if (status === 206 && prefix > 0) {
    const range = parseContentRange(response.headers['content-range'])
    if (range === null || range.start !== prefix) {
      // A range other than the one asked for: appending would corrupt the file. Start over, at once.
      discardBody(response)
      await truncate(partPath, 0)
      hooks.note?.(`${request.fileName}: ${request.sourceLabel} answered an unexpected range (${response.headers['content-range'] ?? 'none'}); starting over`)
      return { kind: 'again', reason: 'unexpected Content-Range', retryAfterMs: null, delay: false }
    }
    totalBytes = range.total
    hooks.note?.(`${request.fileName}: resuming at byte ${prefix} from ${request.sourceLabel}`)
  } else if (status === 200) {
    if (prefix > 0) {
      // The server ignores Range and sends the whole file: drop the prefix and take it from the start.
      await truncate(partPath, 0)
      hash = createHash('sha256')
      prefix = 0
      hooks.note?.(`${request.fileName}: ${request.sourceLabel} ignored the Range request; downloading from the start`)
    }
    totalBytes = length !== undefined && /^\d+$/.test(length) ? Number(length) : null
  } else if (status === 416 && prefix > 0) {
    // The prefix is not a prefix of what the server has (longer than the file): start over.
    discardBody(response)
    await truncate(partPath, 0)
    hooks.note?.(`${request.fileName}: ${request.sourceLabel} refused the resume range; starting over`)
    return { kind: 'again', reason: 'HTTP 416 for the resume range', retryAfterMs: null, delay: false }
  } else if (isRetryableStatus(status)) {
    discardBody(response)
    return { kind: 'again', reason: `HTTP ${status}`, retryAfterMs: parseRetryAfter(response.headers['retry-after']), delay: true }
  } else {
    discardBody(response)
    throw new SourceUnavailableError(`HTTP ${status}`, status)
  }

  hooks.started?.({ url: response.url, totalBytes, resumedFrom: prefix })
  let received = prefix
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk)
      received += chunk.length
      hooks.progress?.(received)
      callback(null, chunk)
    },
  })
  // Append: after a 200 the file was truncated above, after a 206 the body continues the prefix.
  await pipeline(response.body, hashing, createWriteStream(partPath, { flags: 'a' }))

  const actual = hash.digest('hex')
  if (actual === expectedSha256) return { kind: 'done' }
  if (prefix > 0 && !restartedAfterMismatch) {
    // The prefix may have come from another source or a server that changed the file between
    // attempts: a fresh, whole download decides whether the source itself is wrong.
    await truncate(partPath, 0)
    hooks.note?.(`${request.fileName}: the resumed download does not verify; downloading again from the start`)
    return { kind: 'again', reason: `resumed download did not verify (sha256 ${actual})`, retryAfterMs: null, delay: false, restartedAfterMismatch: true }
  }
  throw new ChecksumMismatchError(request.fileName, request.sourceLabel, expectedSha256, actual)
}

export interface TextRequest {
  url: string
  /** A checksum file is a few lines; anything larger is not one, and is not read into memory whole. */
  maxBytes: number
  retry: RetryPolicy
  hooks?: Pick<DownloadHooks, 'retrying'>
  signal?: AbortSignal
}

/** A small text file (a published checksum file), with the same retries as an artifact. */
export async function downloadText(http: Http, request: TextRequest): Promise<string> {
  const { url, retry } = request
  for (let attempt = 1; ; attempt++) {
    let reason: string
    let retryAfterMs: number | null = null
    try {
      const response = await http.get(url, request.signal ? { signal: request.signal } : {})
      if (response.status === 200) {
        const chunks: Buffer[] = []
        let size = 0
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          size += chunk.length
          if (size > request.maxBytes) {
            // Leaving the loop by throwing destroys the body (and its connection).
            throw new SourceUnavailableError(`larger than ${request.maxBytes} bytes: not a checksum file`)
          }
          chunks.push(chunk)
        }
        return Buffer.concat(chunks).toString('utf8')
      }
      discardBody(response)
      if (!isRetryableStatus(response.status)) throw new SourceUnavailableError(`HTTP ${response.status}`, response.status)
      reason = `HTTP ${response.status}`
      retryAfterMs = parseRetryAfter(response.headers['retry-after'])
    } catch (error) {
      if (error instanceof SourceUnavailableError || isFatal(error)) throw error
      reason = describe(error)
    }
    if (attempt >= retry.tries) throw new SourceUnavailableError(`${reason} (gave up after ${retry.tries} tries)`)
    const delayMs = backoffDelay(retry, attempt, retryAfterMs)
    request.hooks?.retrying?.({ url, attempt, delayMs, reason })
    await sleep(delayMs, undefined, request.signal ? { signal: request.signal } : {})
  }
}
