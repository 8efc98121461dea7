/**
 * One download into a file, verified while it streams, for every caller (artifacts, registry blobs, Node
 * packages): retried by the one retry loop, resumed after a cut with a Range request that is checked
 * (Content-Range must continue the file, If-Range keeps a changed file from being spliced onto an old
 * prefix), restarted when the server ignores Range. No whole file is held in memory; what the caller's
 * verifier rejects is reported by the caller's own error.
 */
import { createWriteStream } from 'node:fs'
import { stat, truncate } from 'node:fs/promises'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { reusedChunks } from './file-chunks.js'
import { type Http, HttpError, type HttpResponse, discardBody, statusError } from './http.js'
import { type RetryEvent, type RetryPolicy, withRetries } from './retry.js'

/** Incremental verification of the file's bytes, the resumed prefix included. */
export interface Verifier {
  /** Takes the next bytes; throws (the caller's error) when they cannot be right, e.g. too many. */
  update(chunk: Buffer): void
  /**
   * Null when the bytes so far are the whole, right file, else what they are instead (e.g. their digest).
   * Asked after the prefix and after the body, so it must not end the verifier (hash a copy).
   */
  mismatch(): string | null
}

export interface DownloadHooks {
  /** A response is about to stream; totalBytes is the whole file's size when the server said. */
  started?(event: { url: string; totalBytes: number | null; resumedFrom: number }): void
  /** Bytes of the file present so far (the resumed prefix included). */
  progress?(bytes: number): void
  retrying?(event: { url: string; attempt: number; delayMs: number; reason: string }): void
  /** Something worth a line in --verbose output (a restart, a resume). */
  note?(message: string): void
}

export interface FileDownload {
  /** The URL, for messages and the default request. */
  url: string
  /** The client for the default request; or `open` for requests that need more (registry tokens). */
  http?: Http
  /** One GET of the file with these extra headers (Range, If-Range); no retries of its own. */
  open?: (headers: Record<string, string>) => Promise<HttpResponse>
  /** How the file is named in notes ("runc.amd64"). */
  label: string
  /** The file to download into; it may already hold a prefix from an earlier attempt or run. */
  partPath: string
  /** A fresh verifier; the prefix is fed to it before the body. */
  verifier: () => Verifier
  /** The size the file must have, when known: a response announcing another is refused at once. */
  expectedSize?: number
  /** The caller's error for an announced size other than expectedSize. */
  sizeMismatch?: (announced: number) => Error
  /** The caller's error for a file that does not verify (after one fresh retry when it was resumed). */
  mismatch: (actual: string) => Error
  retry: RetryPolicy
  hooks?: DownloadHooks
  signal?: AbortSignal | undefined
}

/** `bytes <start>-<end>/<total|*>` → start and total. */
export function parseContentRange(value: string | undefined): { start: number; total: number | null } | null {
  const match = value === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim())
  if (!match) return null
  return { start: Number(match[1]), total: match[3] === '*' ? null : Number(match[3]) }
}

/** An attempt that found something to undo: asked again at once, not after a backoff, and not a "retry". */
class Restart extends HttpError {}
const again = (url: string, reason: string) => new Restart(url, reason, { failure: 'body', retryable: true, retryAfterMs: 0 })

/**
 * Downloads until the file verifies. Throws the caller's mismatch error (the caller discards the file),
 * an HttpError (status, network, retries spent: the file keeps its prefix for another source) or what
 * the file system says (disk full).
 */
export async function downloadToFile(request: FileDownload): Promise<void> {
  const { url, hooks = {} } = request
  const open =
    request.open ??
    ((headers: Record<string, string>) => {
      if (!request.http) throw new Error('internal: downloadToFile needs http or open')
      return request.http.get(url, { headers, ...(request.signal ? { signal: request.signal } : {}) })
    })
  const state: State = { restartedAfterMismatch: false, validator: null }
  await withRetries(request.retry, () => attempt(request, open, state), {
    signal: request.signal,
    onRetry: (event: RetryEvent) => {
      if (!(event.error instanceof Restart)) hooks.retrying?.({ url, attempt: event.attempt, delayMs: event.delayMs, reason: event.reason })
    },
  })
}

interface State {
  restartedAfterMismatch: boolean
  /** ETag or Last-Modified of this download's first response, for If-Range on a resume. */
  validator: string | null
}

/** One try: resume after what is on disk, take what the server answers, append it, check the whole file. */
async function attempt(request: FileDownload, open: (headers: Record<string, string>) => Promise<HttpResponse>, state: State): Promise<void> {
  const resumed = await resumePoint(request)
  if (resumed.prefix > 0 && resumed.verifier.mismatch() === null) return // complete already; only the commit was missed
  const headers: Record<string, string> = {}
  if (resumed.prefix > 0) {
    headers['range'] = `bytes=${resumed.prefix}-`
    if (state.validator !== null) headers['if-range'] = state.validator
  }
  const response = await open(headers)
  const { verifier, prefix, totalBytes } = await acceptResponse(request, response, resumed, state)
  request.hooks?.started?.({ url: response.url, totalBytes, resumedFrom: prefix })
  const received = await appendBody(request, response, verifier, prefix)
  await checkComplete(request, verifier, prefix, received, state)
}

/** Feeds what earlier attempts left (this run's or a killed build's) to a new verifier, so the download continues after it. */
async function resumePoint(request: FileDownload): Promise<{ verifier: Verifier; prefix: number }> {
  const verifier = request.verifier()
  let prefix = 0
  if (await exists(request.partPath)) {
    for await (const chunk of reusedChunks(request.partPath)) {
      verifier.update(chunk)
      prefix += chunk.length
    }
  }
  return { verifier, prefix }
}

/**
 * The server's answer to the (range) request: a 206 continuing the prefix, a 200 from the start (the
 * prefix dropped), or a restart when the range it answered cannot be appended. Returns where the body
 * starts and the whole file's size when known.
 */
async function acceptResponse(
  request: FileDownload,
  response: HttpResponse,
  resumed: { verifier: Verifier; prefix: number },
  state: State,
): Promise<{ verifier: Verifier; prefix: number; totalBytes: number | null }> {
  const { url, partPath, hooks = {} } = request
  const { status } = response
  const { prefix } = resumed
  if (status === 206 && prefix > 0) {
    const range = parseContentRange(response.headers['content-range'])
    if (range === null || range.start !== prefix || (request.expectedSize !== undefined && range.total !== null && range.total !== request.expectedSize)) {
      // A range other than the one asked for: appending would corrupt the file. Start over, at once.
      discardBody(response)
      await truncate(partPath, 0)
      hooks.note?.(`${request.label}: ${url} answered an unexpected range (${response.headers['content-range'] ?? 'none'}); starting over`)
      throw again(url, 'unexpected Content-Range')
    }
    hooks.note?.(`${request.label}: resuming at byte ${prefix} from ${url}`)
    return { ...resumed, totalBytes: range.total }
  }
  if (status === 200) {
    let verifier = resumed.verifier
    if (prefix > 0) {
      // The server ignores Range (or the file changed, per If-Range): take it whole from the start.
      await truncate(partPath, 0)
      verifier = request.verifier()
      hooks.note?.(`${request.label}: ${url} ignored the Range request (or the file changed); downloading from the start`)
    }
    const length = response.headers['content-length']
    const totalBytes = length !== undefined && /^\d+$/.test(length) ? Number(length) : null
    if (totalBytes !== null && request.expectedSize !== undefined && totalBytes !== request.expectedSize) {
      discardBody(response)
      throw request.sizeMismatch?.(totalBytes) ?? new HttpError(url, `announces ${totalBytes} bytes, ${request.expectedSize} expected`, { failure: 'body', retryable: false })
    }
    state.validator = validatorOf(response)
    return { verifier, prefix: 0, totalBytes }
  }
  if (status === 416 && prefix > 0) {
    // The prefix is not a prefix of what the server has (longer than the file): start over.
    discardBody(response)
    await truncate(partPath, 0)
    hooks.note?.(`${request.label}: ${url} refused the resume range; starting over`)
    throw again(url, 'HTTP 416 for the resume range')
  }
  throw statusError(response)
}

/** Streams the body onto the part file through the verifier, reporting progress; returns the bytes the file now holds. */
async function appendBody(request: FileDownload, response: HttpResponse, verifier: Verifier, prefix: number): Promise<number> {
  const hooks = request.hooks ?? {}
  let received = prefix
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        verifier.update(chunk)
      } catch (error) {
        callback(error as Error)
        return
      }
      received += chunk.length
      hooks.progress?.(received)
      callback(null, chunk)
    },
  })
  // Append: after a 200 the file was truncated, after a 206 the body continues the prefix.
  const out = createWriteStream(request.partPath, { flags: 'a' })
  const closed = new Promise<void>((done) => out.once('close', done))
  try {
    await pipeline(response.body, meter, out)
  } catch (error) {
    // Wait for the file to close, so the next attempt (or the caller's removal) sees all that was written.
    out.destroy()
    await closed
    throw error
  }
  return received
}

/** A short body is resumed by the next attempt; a resumed file that does not verify is fetched whole once more before it counts as wrong. */
async function checkComplete(request: FileDownload, verifier: Verifier, prefix: number, received: number, state: State): Promise<void> {
  const { url } = request
  if (request.expectedSize !== undefined && received < request.expectedSize) {
    // A body without Content-Length that ended early: a cut, resumed by the next attempt.
    throw new HttpError(url, `the body ended after ${received} of ${request.expectedSize} bytes`, { failure: 'body', retryable: true })
  }
  const actual = verifier.mismatch()
  if (actual === null) return
  if (prefix > 0 && !state.restartedAfterMismatch) {
    // The prefix may have come from another source or a server that changed the file between
    // attempts: a fresh, whole download decides whether the source itself is wrong.
    state.restartedAfterMismatch = true
    await truncate(request.partPath, 0)
    request.hooks?.note?.(`${request.label}: the resumed download does not verify; downloading again from the start`)
    throw again(url, `the resumed download did not verify (${actual})`)
  }
  throw request.mismatch(actual)
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}

/** A strong ETag, else Last-Modified: what If-Range may carry. */
function validatorOf(response: HttpResponse): string | null {
  const etag = response.headers['etag']
  if (etag !== undefined && !etag.startsWith('W/')) return etag
  return response.headers['last-modified'] ?? null
}
