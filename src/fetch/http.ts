/**
 * The fetcher's only way to the network. The core takes an `Http` so tests hand it a real client aimed
 * at a server on 127.0.0.1, and --offline hands it one that refuses to connect at all: "never opens a
 * connection" is enforced here, not merely by the core not asking.
 */
import type { Readable } from 'node:stream'
import { EnvHttpProxyAgent, request } from 'undici'
import { OfflineViolationError } from './errors.js'

export interface HttpResponse {
  status: number
  /** The URL that answered, after redirects. */
  url: string
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string | undefined>
  /** The body as a stream; consume it or call destroy(), or the connection is held. */
  body: Readable
}

export interface HttpGetOptions {
  headers?: Record<string, string>
  signal?: AbortSignal
}

export interface Http {
  get(url: string, options?: HttpGetOptions): Promise<HttpResponse>
}

export interface HttpClient extends Http {
  /** Closes pooled connections (keep-alive sockets would otherwise hold the process open). */
  close(): Promise<void>
}

export interface HttpClientOptions {
  /** Where HTTP_PROXY, HTTPS_PROXY and NO_PROXY (or their lower-case forms) are read; default process.env. */
  env?: NodeJS.ProcessEnv
  userAgent?: string
  /** Longest wait for response headers, and for the next body chunk (a stalled transfer). */
  headersTimeoutMs?: number
  bodyTimeoutMs?: number
  connectTimeoutMs?: number
  maxRedirects?: number
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])

/** A response the client will not follow or a URL it will not fetch: retrying cannot help. */
export class HttpProtocolError extends Error {
  override name = 'HttpProtocolError'
}

/** The first defined value, keeping "" (an explicitly empty variable disables the proxy). */
function envValue(env: NodeJS.ProcessEnv, ...names: string[]): string {
  for (const name of names) {
    const value = env[name]
    if (value !== undefined) return value
  }
  return ''
}

/**
 * undici's EnvHttpProxyAgent announces itself as experimental through process.emitWarning on first use.
 * The API is what we want (it is the proxy handling Node's own fetch adopts), and a warning on every
 * build would teach users to ignore stderr, so exactly that one warning is dropped while it is built.
 */
function quietEnvHttpProxyAgent(options: ConstructorParameters<typeof EnvHttpProxyAgent>[0]): EnvHttpProxyAgent {
  const original = process.emitWarning
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : undefined
    if (code === 'UNDICI-EHPA') return
    return (original as (...args: unknown[]) => void).call(process, warning, ...rest)
  }) as typeof process.emitWarning
  try {
    return new EnvHttpProxyAgent(options)
  } finally {
    process.emitWarning = original
  }
}

/**
 * An HTTP client over undici that honors HTTP_PROXY, HTTPS_PROXY and NO_PROXY. Redirects are followed
 * here rather than by undici so a Range header survives them (GitHub release assets redirect to a
 * storage host that honors Range) and the final URL is known for messages.
 */
export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const env = options.env ?? process.env
  const agent = quietEnvHttpProxyAgent({
    // Explicit values (possibly "") so that an injected env is the whole truth and process.env is not consulted.
    httpProxy: envValue(env, 'http_proxy', 'HTTP_PROXY'),
    httpsProxy: envValue(env, 'https_proxy', 'HTTPS_PROXY'),
    noProxy: envValue(env, 'no_proxy', 'NO_PROXY'),
    headersTimeout: options.headersTimeoutMs ?? 60_000,
    bodyTimeout: options.bodyTimeoutMs ?? 60_000,
    connectTimeout: options.connectTimeoutMs ?? 30_000,
  })
  const userAgent = options.userAgent ?? 'edgebundle'
  const maxRedirects = options.maxRedirects ?? 10

  return {
    async get(url, getOptions = {}) {
      let current = url
      for (let hop = 0; ; hop++) {
        const parsed = new URL(current)
        if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new HttpProtocolError(`unsupported URL scheme in ${current}`)
        const response = await request(current, {
          method: 'GET',
          dispatcher: agent,
          headers: { 'user-agent': userAgent, 'accept-encoding': 'identity', ...getOptions.headers },
          ...(getOptions.signal ? { signal: getOptions.signal } : {}),
        })
        const headers: Record<string, string | undefined> = {}
        for (const [name, value] of Object.entries(response.headers)) {
          headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
        }
        const location = headers.location
        if (REDIRECTS.has(response.statusCode) && location !== undefined) {
          // Read the (tiny) redirect body to its end: the connection goes back to the pool for the next hop,
          // where destroying it would abort the request and surface as an error.
          await response.body.dump({ limit: 64 * 1024 })
          if (hop >= maxRedirects) throw new HttpProtocolError(`more than ${maxRedirects} redirects from ${url}`)
          const next = new URL(location, current)
          // Never downgrade: an https asset redirected to http would lose what TLS guarantees.
          if (parsed.protocol === 'https:' && next.protocol !== 'https:') throw new HttpProtocolError(`refusing redirect from ${current} to ${next.href}`)
          current = next.href
          continue
        }
        return { status: response.statusCode, url: current, headers, body: response.body }
      }
    },
    close: () => agent.close(),
  }
}

/** The client for --offline: every request is refused before any socket exists. */
export function offlineHttp(): Http {
  return {
    get(url) {
      return Promise.reject(new OfflineViolationError(url))
    },
  }
}
