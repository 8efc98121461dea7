/**
 * A read-only client for the OCI distribution API: where a reference lives, anonymous bearer tokens,
 * redirects, retries, timeouts. It only ever GETs; nothing here writes to a registry.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { ImageReference } from '../resolve/validate.js'
import { RegistryError } from './errors.js'

/**
 * The HTTP seam: a fetch-compatible function. The default is Node's global fetch; tests inject a wrapper
 * to record or refuse URLs. Redirects are always 'manual' because this client follows them itself: it
 * must drop the token when a redirect leaves the registry's origin (blob storage on a CDN) and refuse a
 * downgrade from https to plain http.
 */
export type HttpFetch = (
  url: string,
  init: { method: 'GET'; headers: Record<string, string>; redirect: 'manual'; signal: AbortSignal },
) => Promise<Response>

export interface RegistryClientOptions {
  /** Hosts (host or host:port) that may be spoken to over plain HTTP, besides loopback. */
  insecureRegistries?: readonly string[]
  http?: HttpFetch
  signal?: AbortSignal
  /** Abort a request when no bytes arrive for this long (headers or body). Default 60 s. */
  idleTimeoutMs?: number
  /** Attempts for transient failures (network errors, 429, 5xx). Default 3. */
  attempts?: number
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
async function describeErrorBody(response: Response): Promise<string> {
  try {
    const text = (await response.text()).slice(0, 4096)
    const parsed = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] }
    const first = parsed.errors?.[0]
    if (first) return ` (${String(first.code ?? '')}${first.message ? `: ${String(first.message)}` : ''})`
  } catch {
    // Not JSON, or the body failed: the status alone has to do.
  }
  return ''
}

const TRANSIENT = new Set([408, 429, 500, 502, 503, 504])
const MAX_REDIRECTS = 5

/** A response whose body the caller streams; it must call `touch` per chunk and `done` at the end. */
export interface StreamingResponse {
  response: Response
  url: string
  /** Re-arms the idle timer: call it whenever body bytes arrive. */
  touch(): void
  /** Stops the idle timer. */
  done(): void
}

export class RegistryClient {
  readonly endpoint: RegistryEndpoint
  private readonly http: HttpFetch
  private readonly insecure: readonly string[]
  private readonly idleTimeoutMs: number
  private readonly attempts: number
  private readonly signal: AbortSignal | undefined
  /** Anonymous tokens by realm+service+scope, so one is fetched once per pull. */
  private readonly tokens = new Map<string, string>()
  private token: string | undefined

  constructor(endpoint: RegistryEndpoint, options: RegistryClientOptions = {}) {
    this.endpoint = endpoint
    this.http = options.http ?? ((url, init) => fetch(url, init))
    this.insecure = options.insecureRegistries ?? []
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000
    this.attempts = Math.max(1, options.attempts ?? 3)
    this.signal = options.signal
  }

  /** True once the caller's signal has fired: no retry should start after that. */
  get aborted(): boolean {
    return this.signal?.aborted ?? false
  }

  private apiUrl(path: string): string {
    return `${this.endpoint.scheme}://${this.endpoint.host}/v2/${this.endpoint.repository}/${path}`
  }

  private where(): string {
    return `${this.endpoint.scheme}://${this.endpoint.host}`
  }

  /**
   * GETs /v2/<repository>/<path> and returns the successful response, body unread. Handles a 401 bearer
   * challenge (anonymous token, then one retry), redirects, and transient failures. Any other status
   * becomes a RegistryError, or a UsageError for a 404 when `notFound` says what the user got wrong.
   */
  async get(path: string, accept: string, notFound?: (detail: string) => Error): Promise<StreamingResponse> {
    let lastError: unknown
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (attempt > 1) await sleep(Math.min(250 * 2 ** (attempt - 2), 2000), undefined, { signal: this.signal })
      try {
        return await this.getOnce(path, accept, notFound)
      } catch (error) {
        lastError = error
        if (!(error instanceof RetryableError) || this.signal?.aborted) break
      }
    }
    if (lastError instanceof RetryableError) {
      throw new RegistryError(`${lastError.message} (after ${this.attempts} attempts)`, { cause: lastError.cause, ...(lastError.status === undefined ? {} : { status: lastError.status }) })
    }
    throw lastError
  }

  private async getOnce(path: string, accept: string, notFound?: (detail: string) => Error): Promise<StreamingResponse> {
    let authRetried = false
    for (;;) {
      const result = await this.follow(this.apiUrl(path), { Accept: accept }, true)
      const { response } = result
      if (response.status === 401 && !authRetried) {
        const header = response.headers.get('www-authenticate') ?? ''
        result.done()
        await response.body?.cancel()
        await this.authenticate(header)
        authRetried = true
        continue
      }
      if (response.ok) return result
      result.done()
      const detail = await describeErrorBody(response)
      const what = `GET ${this.where()}/v2/${this.endpoint.repository}/${path}: HTTP ${response.status}${detail}`
      if (response.status === 404 && notFound) throw notFound(detail)
      if (response.status === 401 || response.status === 403) {
        throw new RegistryError(`${what}: access denied to an anonymous pull`, {
          status: response.status,
          hint: 'edgebundle pulls anonymously. For a private image, pull it yourself and give the archive with --pause-image-archive.',
        })
      }
      if (TRANSIENT.has(response.status)) throw new RetryableError(what, response.status)
      throw new RegistryError(what, { status: response.status })
    }
  }

  /** One request plus its redirects. `withToken` sends the bearer token while on the registry's origin. */
  private async follow(start: string, headers: Record<string, string>, withToken: boolean): Promise<StreamingResponse> {
    const origin = new URL(start).origin
    let url = start
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const sendHeaders: Record<string, string> = { ...headers, 'User-Agent': 'edgebundle' }
      // The token belongs to the registry; storage backends behind a redirect get a pre-signed URL instead.
      if (withToken && this.token && new URL(url).origin === origin) sendHeaders['Authorization'] = `Bearer ${this.token}`
      const controller = new AbortController()
      const onAbort = () => controller.abort(this.signal?.reason)
      this.signal?.addEventListener('abort', onAbort, { once: true })
      let timer: NodeJS.Timeout | undefined
      const arm = () => {
        clearTimeout(timer)
        timer = setTimeout(() => controller.abort(new Error(`no data for ${this.idleTimeoutMs} ms`)), this.idleTimeoutMs)
      }
      const done = () => {
        clearTimeout(timer)
        this.signal?.removeEventListener('abort', onAbort)
      }
      arm()
      let response: Response
      try {
        response = await this.http(url, { method: 'GET', headers: sendHeaders, redirect: 'manual', signal: controller.signal })
      } catch (error) {
        done()
        if (this.signal?.aborted) throw error
        const reason = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error)
        throw new RetryableError(`GET ${redactUrl(url)}: ${reason}`, undefined, error)
      }
      if ([301, 302, 303, 307, 308].includes(response.status)) {
        done()
        await response.body?.cancel()
        const location = response.headers.get('location')
        if (!location) throw new RegistryError(`GET ${redactUrl(url)}: redirect without a Location`)
        const next = new URL(location, url)
        this.assertTransportAllowed(next, `GET ${redactUrl(url)} redirected to`)
        url = next.toString()
        continue
      }
      return { response, url, touch: arm, done }
    }
    throw new RegistryError(`GET ${redactUrl(start)}: more than ${MAX_REDIRECTS} redirects`)
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
    const result = await this.follow(realmUrl.toString(), { Accept: 'application/json' }, false)
    const { response } = result
    try {
      if (!response.ok) {
        throw new RegistryError(`token request to ${redactUrl(realmUrl.toString())} failed: HTTP ${response.status}${await describeErrorBody(response)}`, {
          status: response.status,
          hint: response.status === 401 || response.status === 403 ? 'The registry does not grant anonymous pulls of this repository.' : undefined,
        })
      }
      const text = await readLimited(response, 64 * 1024, result.touch)
      let body: { token?: unknown; access_token?: unknown }
      try {
        body = JSON.parse(text) as typeof body
      } catch {
        throw new RegistryError(`token response from ${redactUrl(realmUrl.toString())} is not JSON`)
      }
      const token = typeof body.token === 'string' && body.token ? body.token : typeof body.access_token === 'string' ? body.access_token : ''
      if (!token) throw new RegistryError(`token response from ${redactUrl(realmUrl.toString())} has no token`)
      this.tokens.set(key, token)
      this.token = token
    } finally {
      result.done()
    }
  }
}

/** A failure worth another attempt: network errors, timeouts, 408/429/5xx. */
class RetryableError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause })
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

/** Reads a small body whole, refusing more than `limit` bytes (a manifest, a token). */
export async function readLimited(response: Response, limit: number, touch: () => void): Promise<string> {
  return (await readLimitedBytes(response, limit, touch)).toString('utf8')
}

export async function readLimitedBytes(response: Response, limit: number, touch: () => void): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length') ?? NaN)
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel()
    throw new RegistryError(`${redactUrl(response.url)}: response of ${declared} bytes exceeds the ${limit} allowed`)
  }
  const chunks: Buffer[] = []
  let total = 0
  if (response.body) {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      touch()
      total += chunk.length
      // Throwing inside for-await cancels the stream, which frees the connection.
      if (total > limit) {
        throw new RegistryError(`${redactUrl(response.url)}: response exceeds the ${limit} bytes allowed`)
      }
      chunks.push(Buffer.from(chunk))
    }
  }
  return Buffer.concat(chunks)
}
