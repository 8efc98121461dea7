/**
 * The one HTTP client of the builder: artifact downloads, mirrors, registry pulls (tokens included) and
 * Node package downloads all go through it. Built on node:http and node:https, whose HTTP/1 parser
 * holds back a connection's end while the body is paused by backpressure (undici 6 asserted there on
 * close-delimited bodies, nodejs/undici#5360, and its fix needs Node 22.19). Proxies are ours too, so
 * the same rules apply on every Node version the package supports:
 *
 *   HTTP_PROXY  (http:// URLs)   requests in absolute-URI form to the proxy
 *   HTTPS_PROXY (https:// URLs)  a CONNECT tunnel through the proxy, TLS end to end inside it
 *   NO_PROXY                     hosts, .domains, host:port, IP/CIDR, or * for none
 *
 * Every failure is an HttpError naming the URL (exit 1); no socket, request or body is ever left
 * without an error listener, so no server behaviour can raise an uncaught exception.
 */
import { request as httpRequest, Agent as HttpAgent, type ClientRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https'
import { BlockList, isIP, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { EXIT, EdgebundleError, UsageError } from '../model/errors.js'

export interface HttpResponse {
  status: number
  /** The URL that answered, after redirects. */
  url: string
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string | undefined>
  /** The body; consume it or destroy() it. Errors are HttpErrors; idle and total timeouts apply. */
  body: Readable
}

export interface HttpGetOptions {
  headers?: Record<string, string>
  signal?: AbortSignal
  /** Called before each redirect is followed; throw to refuse it (the registry's plain-HTTP rules). */
  onRedirect?: (from: URL, to: URL) => void
}

export interface Http {
  get(url: string, options?: HttpGetOptions): Promise<HttpResponse>
}

export interface HttpClient extends Http {
  /** Closes pooled keep-alive connections (they would otherwise hold the process open). */
  close(): Promise<void>
}

export interface HttpClientOptions {
  /** Where HTTP_PROXY, HTTPS_PROXY and NO_PROXY (or their lower-case forms) are read; default process.env. */
  env?: NodeJS.ProcessEnv
  userAgent?: string
  /** Longest wait without progress: connecting, the response headers, the next body bytes. Default 60 s. */
  idleTimeoutMs?: number
  /** Longest one request may take, headers through the last body byte. Default 1 hour. */
  totalTimeoutMs?: number
  maxRedirects?: number
  /**
   * The certificates trusted for https, instead of Node's bundled roots (tests trust a self-signed one).
   * Users add a company CA with NODE_EXTRA_CA_CERTS, which Node applies to the default roots.
   */
  ca?: string | Buffer | (string | Buffer)[]
}

/** How a failure happened, for the retry rules and for messages. */
export type HttpFailure = 'network' | 'timeout' | 'status' | 'redirect' | 'tls' | 'proxy' | 'body'

const HINT =
  'Check the network, the proxy settings (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) and the URL; on a machine without internet give the files with --artifacts-dir or --mirror.'

/**
 * A request that did not deliver: the URL, what went wrong, whether asking again can help (network
 * errors, timeouts, 408/429/5xx) and, for a status, the server's Retry-After. Exit 1: a failed step.
 */
export class HttpError extends EdgebundleError {
  readonly url: string
  readonly failure: HttpFailure
  readonly status: number | undefined
  readonly retryable: boolean
  readonly retryAfterMs: number | null
  /** What happened, without the URL (for lists of sources). */
  readonly reason: string

  constructor(
    url: string,
    reason: string,
    details: { failure: HttpFailure; retryable: boolean; status?: number; retryAfterMs?: number | null; hint?: string; cause?: unknown },
  ) {
    super(`GET ${redactUrl(url)}: ${reason}`, EXIT.stepFailed, { hint: details.hint ?? HINT, ...(details.cause === undefined ? {} : { cause: details.cause }) })
    this.url = url
    this.reason = reason
    this.failure = details.failure
    this.status = details.status
    this.retryable = details.retryable
    this.retryAfterMs = details.retryAfterMs ?? null
  }

  /** The same failure after `tries` attempts, said so in the message. */
  gaveUp(tries: number): HttpError {
    if (tries <= 1) return this
    return new HttpError(this.url, `${this.reason} (gave up after ${tries} tries)`, {
      failure: this.failure,
      retryable: false,
      ...(this.status === undefined ? {} : { status: this.status }),
      ...(this.hint === undefined ? {} : { hint: this.hint }),
      cause: this,
    })
  }
}

/** Drops query strings from URLs in messages: pre-signed storage URLs carry credentials there. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`
  } catch {
    return url
  }
}

/** Statuses worth asking again: the server or something between says "not now". */
export const isRetryableStatus = (status: number): boolean => status === 408 || status === 429 || (status >= 500 && status <= 599)

/** Seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | null {
  if (value === undefined) return null
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? null : Math.max(0, date - now)
}

/** Throws away a body the caller does not want; a late error from its socket is expected and ignored. */
export function discardBody(response: HttpResponse): void {
  response.body.on('error', () => {})
  response.body.destroy()
}

/** The HttpError for a response whose status the caller cannot use; the body is discarded. */
export function statusError(response: HttpResponse, hint?: string): HttpError {
  discardBody(response)
  return new HttpError(response.url, `HTTP ${response.status}`, {
    failure: 'status',
    status: response.status,
    retryable: isRetryableStatus(response.status),
    retryAfterMs: parseRetryAfter(response.headers['retry-after']),
    ...(hint === undefined ? {} : { hint }),
  })
}

// ---- proxy settings ----

/** The first defined value, keeping "" (an explicitly empty variable disables the proxy). */
function envValue(env: NodeJS.ProcessEnv, ...names: string[]): string {
  for (const name of names) {
    const value = env[name]
    if (value !== undefined) return value
  }
  return ''
}

export interface ProxySettings {
  http: URL | null
  https: URL | null
  /** Whether a URL's host is reached directly. */
  bypass(url: URL): boolean
}

function parseProxy(name: string, value: string): URL | null {
  if (value.trim() === '') return null
  let url: URL
  try {
    // "proxy:3128" without a scheme is common in the wild and means http.
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`)
  } catch {
    throw new UsageError(`${name}=${value} is not a proxy URL`, { hint: `Set ${name} to http://HOST:PORT (user:password@ allowed), or unset it.` })
  }
  if (url.protocol !== 'http:') {
    throw new UsageError(`${name}=${value}: only http:// proxies are supported`, {
      hint: `Give the proxy as http://HOST:PORT; https:// URLs are still tunnelled end to end through it with CONNECT.`,
    })
  }
  return url
}

/** An address without IPv6 brackets. */
const bare = (host: string) => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host).toLowerCase()

/**
 * NO_PROXY as curl and Go read it: comma- or space-separated entries, each a host name (itself and its
 * subdomains; a leading "." or "*." means the same), an IP address or CIDR block, optionally with
 * ":port"; "*" alone bypasses the proxy for every host.
 */
export function noProxyMatcher(value: string): (url: URL) => boolean {
  const entries = value
    .split(/[,\s]+/)
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean)
  if (entries.includes('*')) return () => true
  const rules = entries.map((entry) => {
    let host = entry
    let port: string | null = null
    const withPort = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry)
    if (withPort) {
      host = withPort[1]!
      port = withPort[2]!
    }
    host = bare(host)
    const cidr = /^([0-9a-f:.]+)\/(\d{1,3})$/.exec(host)
    if (cidr && isIP(cidr[1]!)) {
      const list = new BlockList()
      const family = isIP(cidr[1]!) === 4 ? 'ipv4' : 'ipv6'
      try {
        list.addSubnet(cidr[1]!, Number(cidr[2]), family)
      } catch {
        return null // a prefix out of range matches nothing
      }
      return { port, match: (h: string) => isIP(h) !== 0 && list.check(h, isIP(h) === 4 ? 'ipv4' : 'ipv6') }
    }
    if (isIP(host)) return { port, match: (h: string) => h === host }
    const domain = host.replace(/^\*?\./, '')
    return { port, match: (h: string) => h === domain || h.endsWith(`.${domain}`) }
  })
  return (url) => {
    const host = bare(url.hostname)
    const port = url.port || (url.protocol === 'https:' ? '443' : '80')
    return rules.some((rule) => rule !== null && (rule.port === null || rule.port === port) && rule.match(host))
  }
}

/** The proxy settings from the environment; a malformed proxy URL is a usage error, raised at once. */
export function proxySettings(env: NodeJS.ProcessEnv): ProxySettings {
  const httpName = env['http_proxy'] !== undefined ? 'http_proxy' : 'HTTP_PROXY'
  const httpsName = env['https_proxy'] !== undefined ? 'https_proxy' : 'HTTPS_PROXY'
  return {
    http: parseProxy(httpName, envValue(env, 'http_proxy', 'HTTP_PROXY')),
    https: parseProxy(httpsName, envValue(env, 'https_proxy', 'HTTPS_PROXY')),
    bypass: noProxyMatcher(envValue(env, 'no_proxy', 'NO_PROXY')),
  }
}

function proxyAuthorization(proxy: URL): Record<string, string> {
  if (proxy.username === '') return {}
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
  return { 'proxy-authorization': `Basic ${Buffer.from(credentials).toString('base64')}` }
}

// ---- one hop: a single request, no redirects ----

/** One request without redirects; rejects with HttpError. Tests of callers may supply their own. */
export type HttpHop = (url: URL, init: { headers: Record<string, string>; signal: AbortSignal }) => Promise<HttpResponse>

const TLS_CODES = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT|ERR_SSL_|HOSTNAME_MISMATCH|ERR_TLS_)/

/** A transport error as ours: connection refused, reset, DNS, TLS. */
function networkError(url: string, error: unknown, phase: string): HttpError {
  if (error instanceof HttpError) return error
  const { code, message } = error as { code?: string; message?: string }
  const text = message ?? String(error)
  const reason = `${phase}: ${code && !text.includes(code) ? `${text} (${code})` : text}`
  if (code !== undefined && TLS_CODES.test(code)) {
    return new HttpError(url, reason, {
      failure: 'tls',
      retryable: false,
      cause: error,
      hint: "The server's certificate is not trusted. If a company proxy re-signs TLS traffic, add its CA with NODE_EXTRA_CA_CERTS=/path/to/ca.pem.",
    })
  }
  return new HttpError(url, reason, { failure: 'network', retryable: true, cause: error })
}

function headersOf(message: IncomingMessage): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(message.headers)) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
  return headers
}

/** Opens a CONNECT tunnel to `target` through `proxy`, then TLS inside it. */
function tunnel(proxy: URL, target: URL, ca: HttpClientOptions['ca'], signal: AbortSignal): Promise<TLSSocket> {
  const port = target.port || '443'
  const authority = `${target.hostname}:${port}`
  return new Promise((resolve, reject) => {
    const connectRequest = httpRequest({
      host: bare(proxy.hostname),
      port: proxy.port || 80,
      method: 'CONNECT',
      path: authority,
      headers: { host: authority, ...proxyAuthorization(proxy) },
      agent: false,
      signal,
    })
    connectRequest.on('error', (error) => reject(networkError(target.href, error, `CONNECT through the proxy ${proxy.host}`)))
    connectRequest.on('connect', (response: IncomingMessage, socket: Socket, head: Buffer) => {
      if (response.statusCode !== 200) {
        socket.on('error', () => {})
        socket.destroy()
        reject(
          new HttpError(target.href, `the proxy ${proxy.host} answered CONNECT ${authority} with HTTP ${response.statusCode}`, {
            failure: 'proxy',
            status: response.statusCode ?? 0,
            retryable: isRetryableStatus(response.statusCode ?? 0),
            hint: response.statusCode === 407 ? 'The proxy wants credentials: give them in the proxy URL (http://user:password@host:port).' : 'Check HTTPS_PROXY and NO_PROXY.',
          }),
        )
        return
      }
      if (head.length > 0) socket.unshift(head)
      const host = bare(target.hostname)
      const secure = tlsConnect({ socket, host, ...(isIP(host) ? {} : { servername: host }), ...(ca === undefined ? {} : { ca }) })
      // The request that takes this socket reports its errors; this keeps one before then from being uncaught.
      secure.on('error', () => {})
      resolve(secure)
    })
    connectRequest.end()
  })
}

/** The hop over node:http/node:https, through the proxy the environment names for the URL. */
function nodeHop(options: { proxies: ProxySettings; ca: HttpClientOptions['ca']; httpAgent: HttpAgent; httpsAgent: HttpsAgent }): HttpHop {
  const { proxies, ca, httpAgent, httpsAgent } = options
  return (url, init) =>
    new Promise<HttpResponse>((resolve, reject) => {
      const secure = url.protocol === 'https:'
      const proxy = proxies.bypass(url) ? null : secure ? proxies.https : proxies.http
      const headers = { host: url.host, ...init.headers }
      let request: ClientRequest
      if (proxy === null) {
        request = (secure ? httpsRequest : httpRequest)(url, { method: 'GET', headers, agent: secure ? httpsAgent : httpAgent, signal: init.signal })
      } else if (!secure) {
        // Absolute-URI form: the proxy makes the request for us.
        request = httpRequest({
          host: bare(proxy.hostname),
          port: proxy.port || 80,
          method: 'GET',
          path: url.href,
          headers: { ...headers, ...proxyAuthorization(proxy) },
          agent: httpAgent,
          signal: init.signal,
        })
      } else {
        // No agent: with one (even agent: false, which makes a fresh one) createConnection would be ignored.
        request = httpsRequest(url, {
          method: 'GET',
          headers,
          signal: init.signal,
          createConnection: ((_opts: unknown, done: (error: Error | null, socket?: Socket) => void) => {
            tunnel(proxy, url, ca, init.signal).then(
              (socket) => done(null, socket),
              (error: Error) => done(error),
            )
            return undefined
          }) as never,
        })
      }
      request.on('error', (error) => reject(init.signal.aborted && init.signal.reason instanceof HttpError ? init.signal.reason : networkError(url.href, error, 'request failed')))
      request.on('response', (message: IncomingMessage) => {
        resolve({ status: message.statusCode ?? 0, url: url.href, headers: headersOf(message), body: message })
      })
      request.end()
    })
}

// ---- the body: timeouts, length, errors as ours ----

/**
 * Passes a response body on with backpressure, and turns what can go wrong into HttpErrors naming the
 * URL: no bytes for `idleMs` while the consumer wants some (a paused body does not count), the total
 * deadline, fewer or more bytes than Content-Length, the connection breaking.
 */
class GuardedBody extends Readable {
  private received = 0
  private idle: NodeJS.Timeout | undefined
  private readonly deadline: NodeJS.Timeout
  private ended = false

  constructor(
    private readonly source: Readable,
    private readonly url: string,
    private readonly expected: number | null,
    private readonly idleMs: number,
    remainingMs: number,
    private readonly release: () => void,
  ) {
    super()
    this.deadline = setTimeout(() => this.fail(new HttpError(url, `the transfer did not finish within the total time allowed`, { failure: 'timeout', retryable: true })), Math.max(0, remainingMs))
    source.on('data', (chunk: Buffer) => {
      this.received += chunk.length
      if (this.expected !== null && this.received > this.expected) {
        this.fail(new HttpError(url, `more bytes than the ${this.expected} its Content-Length says`, { failure: 'body', retryable: true }))
        return
      }
      if (!this.push(chunk)) {
        // The consumer is busy: stop reading the socket, and stop the idle clock (the wait is ours).
        source.pause()
        clearTimeout(this.idle)
      } else {
        this.arm()
      }
    })
    source.on('end', () => {
      if (this.expected !== null && this.received < this.expected) {
        this.fail(this.broken(`the connection closed after ${this.received} of ${this.expected} bytes`))
        return
      }
      this.ended = true
      this.stop()
      this.push(null)
    })
    source.on('error', (error) =>
      this.fail(this.broken(`the connection broke after ${this.received}${this.expected === null ? '' : ` of ${this.expected}`} bytes: ${(error as Error).message}`, error)),
    )
    source.on('close', () => {
      if (!this.ended) this.fail(this.broken(`the connection closed after ${this.received} bytes${this.expected === null ? '' : ` of ${this.expected}`}`))
    })
    source.pause()
  }

  private broken(reason: string, cause?: unknown): HttpError {
    return new HttpError(this.url, reason, { failure: 'body', retryable: true, ...(cause === undefined ? {} : { cause }) })
  }

  private arm(): void {
    clearTimeout(this.idle)
    this.idle = setTimeout(() => this.fail(new HttpError(this.url, `no data for ${this.idleMs} ms`, { failure: 'timeout', retryable: true })), this.idleMs)
  }

  private stop(): void {
    clearTimeout(this.idle)
    clearTimeout(this.deadline)
    this.release()
  }

  private fail(error: HttpError): void {
    if (this.ended || this.destroyed) return
    this.ended = true
    this.stop()
    this.destroy(error)
  }

  override _read(): void {
    if (this.ended) return
    this.arm()
    this.source.resume()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.ended = true
    this.stop()
    this.source.on('error', () => {})
    this.source.destroy()
    callback(error)
  }
}

// ---- redirects and the client ----

const REDIRECTS = new Set([301, 302, 303, 307, 308])

export interface HttpOverHopOptions {
  userAgent?: string
  idleTimeoutMs?: number
  totalTimeoutMs?: number
  maxRedirects?: number
}

/**
 * The client's rules over any hop: redirects followed here (so a Range header survives them and the
 * final URL is known), never from https to http, Authorization dropped when the origin changes, a loop
 * or too many hops refused; the idle timeout for connecting and the headers; the body guarded.
 */
export function httpOverHop(hop: HttpHop, options: HttpOverHopOptions = {}): Http {
  const userAgent = options.userAgent ?? 'edgebundle'
  const idleMs = options.idleTimeoutMs ?? 60_000
  const totalMs = options.totalTimeoutMs ?? 60 * 60_000
  const maxRedirects = options.maxRedirects ?? 10
  return {
    async get(url, getOptions = {}) {
      const started = Date.now()
      let current: URL
      try {
        current = new URL(url)
      } catch {
        throw new HttpError(url, 'not a URL', { failure: 'redirect', retryable: false })
      }
      const origin = current.origin
      const seen = new Set<string>()
      for (let hops = 0; ; hops++) {
        if (current.protocol !== 'http:' && current.protocol !== 'https:') {
          throw new HttpError(current.href, `unsupported URL scheme ${current.protocol}`, { failure: 'redirect', retryable: false })
        }
        seen.add(current.href)
        const headers: Record<string, string> = { 'user-agent': userAgent, 'accept-encoding': 'identity' }
        for (const [name, value] of Object.entries(getOptions.headers ?? {})) {
          // Credentials belong to the origin asked first; a redirect elsewhere (a CDN) does not get them.
          if (name.toLowerCase() === 'authorization' && current.origin !== origin) continue
          headers[name.toLowerCase()] = value
        }
        const controller = new AbortController()
        const onAbort = () => controller.abort(getOptions.signal?.reason)
        getOptions.signal?.addEventListener('abort', onAbort, { once: true })
        if (getOptions.signal?.aborted) onAbort()
        const release = () => getOptions.signal?.removeEventListener('abort', onAbort)
        const here = current.href
        const waiting = setTimeout(
          () => controller.abort(new HttpError(here, `no response within ${idleMs} ms`, { failure: 'timeout', retryable: true })),
          Math.min(idleMs, Math.max(0, totalMs - (Date.now() - started))),
        )
        let response: HttpResponse
        try {
          response = await hop(current, { headers, signal: controller.signal })
        } catch (error) {
          release()
          if (getOptions.signal?.aborted) throw getOptions.signal.reason ?? error
          if (controller.signal.reason instanceof HttpError) throw controller.signal.reason
          throw networkError(here, error, 'request failed')
        } finally {
          clearTimeout(waiting)
        }
        const location = response.headers['location']
        if (REDIRECTS.has(response.status) && location !== undefined) {
          release()
          discardBody(response)
          let next: URL
          try {
            next = new URL(location, current)
          } catch {
            throw new HttpError(here, `HTTP ${response.status} to an unreadable Location ${JSON.stringify(location)}`, { failure: 'redirect', retryable: false })
          }
          if (seen.has(next.href)) throw new HttpError(url, `redirect loop: ${here} sends back to ${redactUrl(next.href)}`, { failure: 'redirect', retryable: false, hint: 'The server or mirror is misconfigured; fix it or use another source.' })
          if (hops >= maxRedirects) throw new HttpError(url, `more than ${maxRedirects} redirects`, { failure: 'redirect', retryable: false })
          // Never downgrade: an https download redirected to http would lose what TLS guarantees.
          if (current.protocol === 'https:' && next.protocol !== 'https:') {
            throw new HttpError(here, `refusing the redirect to ${redactUrl(next.href)} (from https to plain http)`, { failure: 'redirect', retryable: false })
          }
          getOptions.onRedirect?.(current, next)
          current = next
          continue
        }
        const length = response.headers['content-length']
        const expected = length !== undefined && /^\d+$/.test(length.trim()) ? Number(length.trim()) : null
        const body = new GuardedBody(response.body, response.url, expected, idleMs, totalMs - (Date.now() - started), release)
        return { ...response, body }
      }
    },
  }
}

/** The client for the network, honoring the proxy environment. */
export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const proxies = proxySettings(options.env ?? process.env)
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 16 })
  const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 16, ...(options.ca === undefined ? {} : { ca: options.ca }) })
  const http = httpOverHop(nodeHop({ proxies, ca: options.ca, httpAgent, httpsAgent }), options)
  return {
    get: http.get,
    close: async () => {
      httpAgent.destroy()
      httpsAgent.destroy()
    },
  }
}
