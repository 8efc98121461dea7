/**
 * A read-only client for the OCI distribution API: where a reference lives, anonymous bearer tokens, and
 * which redirects may be followed. The requests themselves (proxies, timeouts, redirects, retries) are
 * the builder's one HTTP client's. It only ever GETs; nothing here writes to a registry.
 */
import { type Http, HttpError, type HttpResponse, discardBody, isRetryableStatus, redactUrl } from '../io/http.js'
import { type RetryPolicy, withRetries } from '../io/retry.js'
import type { ImageReference } from '../resolve/validate.js'
import { RegistryError } from './errors.js'

export { redactUrl } from '../io/http.js'

export interface RegistryClientOptions {
  /** Hosts (host or host:port) that may be spoken to over plain HTTP, besides loopback. */
  insecureRegistries?: readonly string[]
  /** The builder's HTTP client (proxy settings, timeouts); tests aim it at 127.0.0.1. */
  http: Http
  signal?: AbortSignal
  /** Retries of transient failures (network errors, 429, 5xx). Default 3 tries. */
  retry?: RetryPolicy
}

/** Where a repository is served from. */
export interface RegistryEndpoint {
  /** The registry as the image name spells it (docker.io for Docker Hub). */
  registry: string
  /** host[:port] the API lives at (registry-1.docker.io for Docker Hub). */
  host: string
  /** Repository path on that registry (library/pause for Docker Hub's "pause"). */
  repository: string
  scheme: 'https' | 'http'
  /** registry/repository: the normalized name containerd gives the image. */
  name: string
}

function hostname(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(0, hostPort.indexOf(']') + 1)
  const colon = hostPort.lastIndexOf(':')
  return colon === -1 ? hostPort : hostPort.slice(0, colon)
}

/** localhost, 127.0.0.0/8 and [::1]: plain HTTP there never leaves the machine. */
export function isLoopbackHost(hostPort: string): boolean {
  const host = hostname(hostPort).toLowerCase()
  if (host === 'localhost' || host === '[::1]' || host === '::1') return true
  const octets = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host)
  return octets !== null && octets.slice(1).every((o) => Number(o) <= 255)
}

/** Whether plain HTTP may be used for `hostPort`: loopback, or listed (with its port, or by host for any port). */
export function allowsPlainHttp(hostPort: string, insecure: readonly string[] = []): boolean {
  if (isLoopbackHost(hostPort)) return true
  const lower = hostPort.toLowerCase()
  return insecure.some((entry) => {
    const e = entry.toLowerCase().replace(/^https?:\/\//, '').replace(/\/+$/, '')
    return e === lower || e === hostname(lower)
  })
}

export function resolveEndpoint(reference: ImageReference, insecure: readonly string[] = []): RegistryEndpoint {
  const registry = reference.registry.toLowerCase()
  const dockerHub = registry === 'docker.io' || registry === 'index.docker.io' || registry === 'registry-1.docker.io'
  // Docker Hub's API host differs from the name people write, and its official images live under library/.
  const host = dockerHub ? 'registry-1.docker.io' : registry
  const repository = dockerHub && !reference.repository.includes('/') ? `library/${reference.repository}` : reference.repository
  return {
    registry: dockerHub ? 'docker.io' : registry,
    host,
    repository,
    scheme: allowsPlainHttp(host, insecure) ? 'http' : 'https',
    name: `${dockerHub ? 'docker.io' : registry}/${repository}`,
  }
}

interface Challenge {
  scheme: string
  params: Map<string, string>
}

/** Parses WWW-Authenticate (RFC 7235): one or more challenges, each a scheme and its auth-params. */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const challenges: Challenge[] = []
  const tchar = /[A-Za-z0-9!#$%&'*+.^_`|~-]/
  let pos = 0
  const skip = (chars: RegExp) => {
    while (pos < header.length && chars.test(header[pos] ?? '')) pos++
  }
  const token = () => {
    const start = pos
    while (pos < header.length && tchar.test(header[pos] ?? '')) pos++
    return header.slice(start, pos)
  }
  while (pos < header.length) {
    skip(/[\s,]/)
    const name = token()
    if (name === '') {
      pos++ // a stray character: skip it rather than loop forever
      continue
    }
    skip(/\s/)
    if (header[pos] !== '=') {
      challenges.push({ scheme: name.toLowerCase(), params: new Map() })
      continue
    }
    pos++
    skip(/\s/)
    let value = ''
    if (header[pos] === '"') {
      pos++
      while (pos < header.length && header[pos] !== '"') {
        if (header[pos] === '\\') pos++
        value += header[pos] ?? ''
        pos++
      }
      pos++
    } else {
      const start = pos
      while (pos < header.length && !/[\s,]/.test(header[pos] ?? '')) pos++
      value = header.slice(start, pos)
    }
    challenges.at(-1)?.params.set(name.toLowerCase(), value)
  }
  return challenges
}

/** The registry's error body ({errors:[{code,message}]}) as a short text, when there is one. */
async function describeErrorBody(response: HttpResponse): Promise<string> {
  try {
    const text = (await readLimitedBytes(response, 4096)).toString('utf8')
    const parsed = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] }
    const first = parsed.errors?.[0]
    if (first) return ` (${String(first.code ?? '')}${first.message ? `: ${String(first.message)}` : ''})`
  } catch {
    // Not JSON, too long, or the body failed: the status alone has to do.
  }
  return ''
}

/** Transient failures are retried quickly: a pull is a handful of small requests and one or two blobs. */
export const REGISTRY_RETRY: RetryPolicy = { tries: 3, baseDelayMs: 250, maxDelayMs: 5000 }

export class RegistryClient {
  readonly endpoint: RegistryEndpoint
  readonly retry: RetryPolicy
  readonly signal: AbortSignal | undefined
  private readonly http: Http
  private readonly insecure: readonly string[]
  /** Anonymous tokens by realm+service+scope, so one is fetched once per pull. */
  private readonly tokens = new Map<string, string>()
  private token: string | undefined

  constructor(endpoint: RegistryEndpoint, options: RegistryClientOptions) {
    this.endpoint = endpoint
    this.http = options.http
    this.insecure = options.insecureRegistries ?? []
    this.retry = options.retry ?? REGISTRY_RETRY
    this.signal = options.signal
  }

  /** True once the caller's signal has fired: no retry should start after that. */
  get aborted(): boolean {
    return this.signal?.aborted ?? false
  }

  apiUrl(path: string): string {
    return `${this.endpoint.scheme}://${this.endpoint.host}/v2/${this.endpoint.repository}/${path}`
  }

  private where(): string {
    return `${this.endpoint.scheme}://${this.endpoint.host}`
  }

  /**
   * GETs /v2/<repository>/<path> and reads the body whole (at most `limit` bytes), retrying transient
   * failures, a body cut short included. Any other status becomes a RegistryError, or the error
   * `notFound` makes for a 404.
   */
  async getBytes(path: string, accept: string, limit: number, notFound?: (detail: string) => Error): Promise<{ bytes: Buffer; headers: HttpResponse['headers'] }> {
    try {
      return await withRetries(
        this.retry,
        async () => {
          const response = await this.open(path, accept)
          if (response.status < 200 || response.status >= 300) throw await this.failure(path, response, notFound)
          return { bytes: await readLimitedBytes(response, limit), headers: response.headers }
        },
        { signal: this.signal },
      )
    } catch (error) {
      throw asRegistryError(error)
    }
  }

  /**
   * One GET of /v2/<repository>/<path> with a bearer token when the registry asks for one (a 401 is
   * answered once); every other status is the caller's. No retries: the caller's loop retries.
   */
  async open(path: string, accept: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
    let authRetried = false
    for (;;) {
      const sendHeaders: Record<string, string> = { ...headers, accept }
      // The client drops the token when a redirect leaves the registry's origin (blob storage on a CDN).
      if (this.token) sendHeaders['authorization'] = `Bearer ${this.token}`
      const response = await this.http.get(this.apiUrl(path), {
        headers: sendHeaders,
        onRedirect: (from, to) => this.assertTransportAllowed(to, `GET ${redactUrl(from.href)} redirected to`),
        ...(this.signal ? { signal: this.signal } : {}),
      })
      if (response.status === 401 && !authRetried) {
        const header = response.headers['www-authenticate'] ?? ''
        discardBody(response)
        await this.authenticate(header)
        authRetried = true
        continue
      }
      return response
    }
  }

  /** The error for a status `get` cannot use: retryable (an HttpError) for 408/429/5xx, else a RegistryError. */
  async failure(path: string, response: HttpResponse, notFound?: (detail: string) => Error): Promise<Error> {
    const detail = await describeErrorBody(response)
    const what = `GET ${this.where()}/v2/${this.endpoint.repository}/${path}: HTTP ${response.status}${detail}`
    if (response.status === 404 && notFound) return notFound(detail)
    if (response.status === 401 || response.status === 403) {
      return new RegistryError(`${what}: access denied to an anonymous pull`, {
        status: response.status,
        hint: 'edgebundle pulls anonymously. For a private image, pull it yourself and give the archive with --pause-image-archive.',
      })
    }
    if (isRetryableStatus(response.status)) {
      return new HttpError(response.url, `HTTP ${response.status}${detail}`, { failure: 'status', status: response.status, retryable: true })
    }
    return new RegistryError(what, { status: response.status })
  }

  /** Refuses a redirect target or token realm that is plain HTTP to a host not allowed it, or not HTTP at all. */
  private assertTransportAllowed(next: URL, what: string): void {
    if (next.protocol === 'https:') return
    if (next.protocol === 'http:' && allowsPlainHttp(next.host, this.insecure)) return
    throw new RegistryError(`${what} ${redactUrl(next.toString())}, which edgebundle does not follow`, {
      hint: next.protocol === 'http:' ? `Plain HTTP is used only for loopback hosts and --insecure-registry hosts; ${next.host} is neither.` : 'Only http and https are followed.',
    })
  }

  /** Answers a 401: fetch an anonymous bearer token for the challenge's realm, service and scope. */
  private async authenticate(header: string): Promise<void> {
    const challenges = parseWwwAuthenticate(header)
    const bearer = challenges.find((c) => c.scheme === 'bearer')
    if (!bearer) {
      const schemes = challenges.map((c) => c.scheme).join(', ') || 'none given'
      throw new RegistryError(`${this.where()} requires authentication (${schemes}) for ${this.endpoint.repository}`, {
        status: 401,
        hint: 'edgebundle pulls anonymously. For a private image, pull it yourself and give the archive with --pause-image-archive.',
      })
    }
    const realm = bearer.params.get('realm')
    if (!realm) throw new RegistryError(`${this.where()} sent a bearer challenge without a realm`, { status: 401 })
    let realmUrl: URL
    try {
      realmUrl = new URL(realm)
    } catch {
      throw new RegistryError(`${this.where()} sent a bearer realm that is not a URL: ${JSON.stringify(realm)}`, { status: 401 })
    }
    this.assertTransportAllowed(realmUrl, `${this.where()} sent a token realm at`)
    const service = bearer.params.get('service')
    // Without a scope the registry would hand out a token good for nothing; ask for pull on our repository.
    const scope = bearer.params.get('scope') ?? `repository:${this.endpoint.repository}:pull`
    const key = `${realmUrl.toString()}\n${service ?? ''}\n${scope}`
    const cached = this.tokens.get(key)
    if (cached !== undefined && cached !== this.token) {
      this.token = cached
      return
    }
    if (service !== undefined) realmUrl.searchParams.append('service', service)
    for (const s of scope.split(' ').filter(Boolean)) realmUrl.searchParams.append('scope', s)
    const tokenUrl = realmUrl.toString()
    let token: string
    try {
      token = await withRetries(
        this.retry,
        async () => {
          const response = await this.http.get(tokenUrl, {
            headers: { accept: 'application/json' },
            onRedirect: (from, to) => this.assertTransportAllowed(to, `GET ${redactUrl(from.href)} redirected to`),
            ...(this.signal ? { signal: this.signal } : {}),
          })
          if (response.status !== 200) {
            if (isRetryableStatus(response.status)) throw new HttpError(response.url, `token request failed: HTTP ${response.status}`, { failure: 'status', status: response.status, retryable: true })
            throw new RegistryError(`token request to ${redactUrl(tokenUrl)} failed: HTTP ${response.status}${await describeErrorBody(response)}`, {
              status: response.status,
              ...(response.status === 401 || response.status === 403 ? { hint: 'The registry does not grant anonymous pulls of this repository.' } : {}),
            })
          }
          const text = (await readLimitedBytes(response, 64 * 1024)).toString('utf8')
          let body: { token?: unknown; access_token?: unknown }
          try {
            body = JSON.parse(text) as typeof body
          } catch {
            throw new RegistryError(`token response from ${redactUrl(tokenUrl)} is not JSON`)
          }
          const value = typeof body.token === 'string' && body.token ? body.token : typeof body.access_token === 'string' ? body.access_token : ''
          if (!value) throw new RegistryError(`token response from ${redactUrl(tokenUrl)} has no token`)
          return value
        },
        { signal: this.signal },
      )
    } catch (error) {
      throw asRegistryError(error)
    }
    this.tokens.set(key, token)
    this.token = token
  }
}

/** A request that failed for good (network, retries spent) as the registry's error, naming the URL. */
export function asRegistryError(error: unknown): unknown {
  if (!(error instanceof HttpError)) return error
  return new RegistryError(error.message, { cause: error, ...(error.status === undefined ? {} : { status: error.status }), ...(error.hint ? { hint: error.hint } : {}) })
}

/** Reads a small body whole, refusing more than `limit` bytes (a manifest, a token). */
export async function readLimitedBytes(response: HttpResponse, limit: number): Promise<Buffer> {
  const declared = Number(response.headers['content-length'] ?? NaN)
  if (Number.isFinite(declared) && declared > limit) {
    discardBody(response)
    throw new RegistryError(`${redactUrl(response.url)}: response of ${declared} bytes exceeds the ${limit} allowed`)
  }
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    total += chunk.length
    // Throwing inside for-await destroys the body, which frees the connection.
    if (total > limit) throw new RegistryError(`${redactUrl(response.url)}: response exceeds the ${limit} bytes allowed`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}
