/**
 * The registry client's policy, against an in-memory registry behind one hop of the HTTP client (no
 * sockets; redirects, header rules and timeouts are the real client's, src/io/http.ts):
 * where a reference is fetched from (https by default, Docker Hub's host and library/), bearer tokens and
 * redirects to storage (token never leaves the registry origin, no https→http downgrade), retries,
 * size limits, stalls. The real-registry tests in pull.test.ts cover the wire; these cover the edges a
 * loopback registry cannot show.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { UsageError } from '../../src/model/errors.js'
import { IntegrityError, RegistryError } from '../../src/oci/errors.js'
import { pullImage } from '../../src/oci/pull.js'
import { Readable } from 'node:stream'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import { type Http, type HttpResponse, httpOverHop } from '../../src/io/http.js'
import { allowsPlainHttp, parseWwwAuthenticate, resolveEndpoint } from '../../src/oci/registry.js'

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`

function image(arch = 'amd64') {
  const layer = randomBytes(200_000)
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(randomBytes(8))] } }))
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
    }),
  )
  return { layer, config, manifest }
}

interface Seen {
  url: string
  authorization: string | undefined
}

interface Init {
  headers: Record<string, string>
  signal: AbortSignal
}
type Route = (url: URL, init: Init, count: number) => Response | Promise<Response>

/** A fetch Response as the client's response: the web body as a Node stream. */
function asHttpResponse(url: string, response: Response): HttpResponse {
  return {
    status: response.status,
    url,
    headers: Object.fromEntries(response.headers),
    body: response.body ? Readable.fromWeb(response.body as unknown as NodeReadableStream<Uint8Array>) : Readable.from([]),
  }
}

/** The real client's rules over a hop that answers from `answer`. */
function client(answer: (url: string, init: Init) => Promise<Response>, options: { idleTimeoutMs?: number } = {}): Http {
  return httpOverHop(async (url, init) => asHttpResponse(url.href, await answer(url.href, init)), options)
}

/** An in-memory HTTP world: routes by "host/path", records every request, refuses anything unrouted. */
function world(routes: Record<string, Route>, options: { idleTimeoutMs?: number } = {}): { http: Http; seen: Seen[] } {
  const seen: Seen[] = []
  const counts = new Map<string, number>()
  const http = client(async (url, init) => {
    const u = new URL(url)
    seen.push({ url, authorization: init.headers['authorization'] })
    const key = `${u.protocol}//${u.host}${u.pathname}`
    const route = routes[key]
    if (!route) throw new Error(`unrouted request ${url}`)
    const count = (counts.get(key) ?? 0) + 1
    counts.set(key, count)
    return route(u, init, count)
  }, options)
  return { http, seen }
}

const json = (body: Buffer, type: string) => new Response(new Uint8Array(body), { status: 200, headers: { 'content-type': type, 'content-length': String(body.length) } })
const blob = (body: Buffer) => new Response(new Uint8Array(body), { status: 200, headers: { 'content-length': String(body.length) } })

t.test('WWW-Authenticate parsing', async (t) => {
  const [bearer] = parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/pause:pull"')
  t.equal(bearer!.scheme, 'bearer')
  t.same(Object.fromEntries(bearer!.params), { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/pause:pull' })
  const two = parseWwwAuthenticate('Basic realm="x, y", Bearer realm=https://a/t, service="s\\"q", error="insufficient_scope"')
  t.same(two.map((c) => c.scheme), ['basic', 'bearer'])
  t.equal(two[0]!.params.get('realm'), 'x, y', 'a comma inside quotes stays')
  t.same(Object.fromEntries(two[1]!.params), { realm: 'https://a/t', service: 's"q', error: 'insufficient_scope' })
  t.same(parseWwwAuthenticate(''), [])
})

t.test('endpoints: Docker Hub naming, https unless loopback or listed', async (t) => {
  const ep = (registry: string, repository: string, insecure: string[] = []) => resolveEndpoint({ registry, repository, tag: '1', digest: undefined }, insecure)
  t.match(ep('docker.io', 'pause'), { host: 'registry-1.docker.io', repository: 'library/pause', scheme: 'https', name: 'docker.io/library/pause' })
  t.match(ep('docker.io', 'kubeedge/pause'), { host: 'registry-1.docker.io', repository: 'kubeedge/pause', name: 'docker.io/kubeedge/pause' })
  t.match(ep('index.docker.io', 'pause'), { host: 'registry-1.docker.io', repository: 'library/pause' })
  t.match(ep('registry.k8s.io', 'pause'), { host: 'registry.k8s.io', repository: 'pause', scheme: 'https' })
  t.match(ep('localhost:5000', 'pause'), { scheme: 'http' })
  t.match(ep('127.3.2.1:5000', 'pause'), { scheme: 'http' })
  t.match(ep('[::1]:5000', 'pause'), { scheme: 'http' })
  t.match(ep('10.0.0.5:5000', 'pause'), { scheme: 'https' }, 'a private address is not loopback')
  t.match(ep('127.example.com', 'pause'), { scheme: 'https' }, 'a name starting with 127 is not loopback')
  t.match(ep('mirror.lan:5000', 'pause', ['mirror.lan:5000']), { scheme: 'http' })
  t.match(ep('mirror.lan:5000', 'pause', ['mirror.lan']), { scheme: 'http' }, 'a listed host covers every port')
  t.match(ep('mirror.lan:5000', 'pause', ['mirror.lan:6000']), { scheme: 'https' })
  t.notOk(allowsPlainHttp('evil.example'))
})

t.test('the first request goes where the reference says', async (t) => {
  const cases: [string, string, string[]?][] = [
    ['pause:3.9', 'https://registry-1.docker.io/v2/library/pause/manifests/3.9'],
    ['kubeedge/pause:3.6', 'https://registry-1.docker.io/v2/kubeedge/pause/manifests/3.6'],
    ['registry.k8s.io/pause:3.9', 'https://registry.k8s.io/v2/pause/manifests/3.9'],
    ['localhost:5000/edge/pause:1', 'http://localhost:5000/v2/edge/pause/manifests/1'],
    ['mirror.lan:5000/edge/pause:1', 'http://mirror.lan:5000/v2/edge/pause/manifests/1', ['mirror.lan:5000']],
    [`registry.k8s.io/pause@sha256:${'a'.repeat(64)}`, `https://registry.k8s.io/v2/pause/manifests/sha256:${'a'.repeat(64)}`],
  ]
  for (const [reference, expected, insecure] of cases) {
    const urls: string[] = []
    const http = client(async (url) => {
      urls.push(url)
      return new Response(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }), { status: 404 })
    })
    const error = await pullImage(reference, { os: 'linux', arch: 'amd64' }, { output: join(t.testdir(), 'x.tar'), http, insecureRegistries: insecure ?? [] }).catch((e: unknown) => e)
    t.same(urls, [expected], reference)
    t.type(error, UsageError)
    t.match((error as Error).message, /was not found at .*\(MANIFEST_UNKNOWN: manifest unknown\)/)
  }
})

t.test('bad input is a usage error before any request', async (t) => {
  const http = client(async (url) => {
    throw new Error(`no request expected: ${url}`)
  })
  const output = join(t.testdir(), 'x.tar')
  for (const [reference, platform, pattern] of [
    ['pause', { os: 'linux', arch: 'amd64' }, /has no tag or digest/],
    ['Pause:1', { os: 'linux', arch: 'amd64' }, /not a valid image reference/],
    ['pause:1;rm', { os: 'linux', arch: 'amd64' }, /contains ";"/],
    [`pause@sha512:${'a'.repeat(128)}`, { os: 'linux', arch: 'amd64' }, /algorithm edgebundle does not verify/],
    ['pause:1', { os: 'linux', arch: 's390x' }, /unsupported image architecture "s390x"/],
    ['pause:1', { os: 'darwin', arch: 'amd64' }, /unsupported image OS "darwin"/],
    ['pause:1', { os: 'linux', arch: 'arm', variant: 'seven' }, /unsupported CPU variant/],
  ] as const) {
    const error = await pullImage(reference, platform as never, { output, http }).catch((e: unknown) => e)
    t.type(error, UsageError, reference)
    t.match((error as Error).message, pattern, reference)
  }
})

t.test('bearer token, and a blob redirected to storage on another origin', async (t) => {
  const img = image()
  const registry = 'https://registry.example.com/v2/edge/pause'
  const authorized = (init: Init) => init.headers['authorization'] === 'Bearer T0K3N'
  const challenge = () =>
    new Response('{"errors":[{"code":"UNAUTHORIZED"}]}', {
      status: 401,
      headers: { 'www-authenticate': 'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:edge/pause:pull"' },
    })
  const { http, seen } = world({
    [`${registry}/manifests/3.9`]: (_u, init) => (authorized(init) ? json(img.manifest, 'application/vnd.oci.image.manifest.v1+json') : challenge()),
    'https://auth.example.com/token': (u) => {
      t.equal(u.searchParams.get('service'), 'registry.example.com')
      t.equal(u.searchParams.get('scope'), 'repository:edge/pause:pull')
      return new Response(JSON.stringify({ access_token: 'T0K3N' }), { status: 200 })
    },
    [`${registry}/blobs/${sha(img.config)}`]: (_u, init) => (authorized(init) ? blob(img.config) : challenge()),
    [`${registry}/blobs/${sha(img.layer)}`]: (_u, init) =>
      authorized(init) ? new Response(null, { status: 307, headers: { location: 'https://cdn.example.net/data/layer?X-Signature=secret' } }) : challenge(),
    'https://cdn.example.net/data/layer': () => blob(img.layer),
  })
  const dir = t.testdir()
  const result = await pullImage('registry.example.com/edge/pause:3.9', { os: 'linux', arch: 'amd64' }, { output: join(dir, 'p.tar'), http })
  t.equal(result.layers[0]!.digest, sha(img.layer))
  t.same(
    seen.map((s) => [new URL(s.url).host, s.authorization ?? null]),
    [
      ['registry.example.com', null],
      ['auth.example.com', null],
      ['registry.example.com', 'Bearer T0K3N'],
      ['registry.example.com', 'Bearer T0K3N'],
      ['registry.example.com', 'Bearer T0K3N'],
      ['cdn.example.net', null],
    ],
    'anonymous first, one token, reused; never sent to the token service or the storage origin',
  )
})

t.test('a redirect from https to plain http is refused', async (t) => {
  const img = image()
  const base = 'https://registry.example.com/v2/pause'
  const { http, seen } = world({
    [`${base}/manifests/1`]: () => json(img.manifest, 'application/vnd.oci.image.manifest.v1+json'),
    [`${base}/blobs/${sha(img.config)}`]: () => new Response(null, { status: 302, headers: { location: 'http://cdn.example.net/config' } }),
  })
  const dir = t.testdir()
  const error = await pullImage('registry.example.com/pause:1', { os: 'linux', arch: 'amd64' }, { output: join(dir, 'p.tar'), http }).catch((e: unknown) => e)
  t.type(error, RegistryError)
  t.match((error as Error).message, /refusing the redirect to http:\/\/cdn\.example\.net\/config \(from https to plain http\)/)
  t.notOk(seen.some((s) => s.url.startsWith('http:')), 'the plain-http URL was never requested')
  t.same(readdirSync(dir), [], 'nothing left behind')
})

t.test('transient failures are retried; persistent ones are reported', async (t) => {
  const img = image()
  const base = 'https://registry.example.com/v2/pause'
  let layerCalls = 0
  const { http } = world({
    [`${base}/manifests/1`]: (_u, _i, n) => (n <= 2 ? new Response('busy', { status: 503 }) : json(img.manifest, 'application/vnd.oci.image.manifest.v1+json')),
    [`${base}/blobs/${sha(img.config)}`]: () => blob(img.config),
    [`${base}/blobs/${sha(img.layer)}`]: () => {
      layerCalls++
      if (layerCalls === 1) {
        // The connection breaks after half the body: the download restarts from the beginning.
        const half = img.layer.subarray(0, 100_000)
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(half)
            controller.error(new TypeError('terminated'))
          },
        })
        return new Response(body, { status: 200, headers: { 'content-length': String(img.layer.length) } })
      }
      return blob(img.layer)
    },
  })
  const result = await pullImage('registry.example.com/pause:1', { os: 'linux', arch: 'amd64' }, { output: join(t.testdir(), 'p.tar'), http })
  t.equal(result.layers.length, 1)
  t.equal(layerCalls, 2, 'the broken layer download was retried once')

  const down = world({ [`${base}/manifests/1`]: () => new Response('busy', { status: 503 }) })
  const error = await pullImage('registry.example.com/pause:1', { os: 'linux', arch: 'amd64' }, { output: join(t.testdir(), 'q.tar'), http: down.http }).catch((e: unknown) => e)
  t.type(error, RegistryError)
  t.match((error as Error).message, /HTTP 503 \(gave up after 3 tries\)/)
  t.equal(down.seen.length, 3)

  const refused = client(async () => {
    throw Object.assign(new Error('connect ECONNREFUSED 192.0.2.1:443'), { code: 'ECONNREFUSED' })
  })
  const netError = await pullImage('registry.example.com/pause:1', { os: 'linux', arch: 'amd64' }, { output: join(t.testdir(), 'r.tar'), http: refused, retry: { tries: 1, baseDelayMs: 1, maxDelayMs: 1 } }).catch((e: unknown) => e)
  t.type(netError, RegistryError)
  t.match((netError as Error).message, /ECONNREFUSED/)
})

t.test('sizes: a blob longer than declared, a lying Content-Length, an oversized manifest', async (t) => {
  const img = image()
  const base = 'https://registry.example.com/v2/pause'
  const manifest = () => json(img.manifest, 'application/vnd.oci.image.manifest.v1+json')
  const longer = world({
    [`${base}/manifests/1`]: manifest,
    [`${base}/blobs/${sha(img.config)}`]: () => blob(img.config),
    // No Content-Length (chunked): the extra bytes are caught while streaming.
    [`${base}/blobs/${sha(img.layer)}`]: () => new Response(new Blob([img.layer, Buffer.alloc(10)]).stream(), { status: 200 }),
  })
  const dir = t.testdir()
  const e1 = await pullImage('registry.example.com/pause:1', { os: 'linux', arch: 'amd64' }, { output: join(dir, 'a.tar'), http: longer.http }).catch((e: unknown) => e)
  t.type(e1, IntegrityError)
  t.match((e1 as Error).message, /more than the 200000 bytes the manifest declares/)

  const lying = world({
    [`${base}/manifests/1`]: manifest,
    [`${base}/blobs/${sha(img.config)}`]: () => new Response(img.config, { status: 200, headers: { 'content-length': String(img.config.length + 1) } }),
  })
  const e2 = await pullImage('registry.example.com/pause:1', { os: 'linux', arch: 'amd64' }, { output: join(dir, 'b.tar'), http: lying.http }).catch((e: unknown) => e)
  t.type(e2, IntegrityError)
  t.match((e2 as Error).message, /the registry sends \d+ bytes but the manifest says/)

  const huge = world({ [`${base}/manifests/1`]: () => new Response(new Blob([Buffer.alloc(5 * 1024 * 1024, 0x20)]).stream(), { status: 200 }) })
  const e3 = await pullImage('registry.example.com/pause:1', { os: 'linux', arch: 'amd64' }, { output: join(dir, 'c.tar'), http: huge.http }).catch((e: unknown) => e)
  t.type(e3, RegistryError)
  t.match((e3 as Error).message, /exceeds the 4194304 bytes allowed/)

  const wrongDigestHeader = world({
    [`${base}/manifests/1`]: () => new Response(img.manifest, { status: 200, headers: { 'docker-content-digest': `sha256:${'0'.repeat(64)}` } }),
  })
  const e4 = await pullImage('registry.example.com/pause:1', { os: 'linux', arch: 'amd64' }, { output: join(dir, 'd.tar'), http: wrongDigestHeader.http }).catch((e: unknown) => e)
  t.type(e4, IntegrityError)
  t.match((e4 as Error).message, /the registry says sha256:0{64} but the bytes hash to/)
  t.same(readdirSync(dir), [])
})

t.test('a stalled download times out instead of hanging', async (t) => {
  const img = image()
  const base = 'https://registry.example.com/v2/pause'
  const { http } = world({
    [`${base}/manifests/1`]: () => json(img.manifest, 'application/vnd.oci.image.manifest.v1+json'),
    [`${base}/blobs/${sha(img.config)}`]: (_u, init) => {
      // Headers arrive, then nothing: only the idle timer can end this, through the request's signal.
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          init.signal.addEventListener('abort', () => controller.error(init.signal.reason))
        },
      })
      return new Response(body, { status: 200 })
    },
  }, { idleTimeoutMs: 150 })
  const error = await pullImage('registry.example.com/pause:1', { os: 'linux', arch: 'amd64' }, { output: join(t.testdir(), 'p.tar'), http, retry: { tries: 2, baseDelayMs: 1, maxDelayMs: 1 } }).catch((e: unknown) => e)
  t.type(error, RegistryError)
  t.match((error as Error).message, /no data for 150 ms \(gave up after 2 tries\)/)
})

t.test('formats edgebundle does not take', async (t) => {
  const schema1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'pause', tag: '1', fsLayers: [] }))
  const artifact = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: sha(Buffer.from('{}')), size: 2 },
      layers: [],
    }),
  )
  const base = 'https://registry.example.com/v2/pause'
  const dir = t.testdir()
  const e1 = await pullImage('registry.example.com/pause:1', { os: 'linux', arch: 'amd64' }, {
    output: join(dir, 'a.tar'),
    http: world({ [`${base}/manifests/1`]: () => json(schema1, 'application/vnd.docker.distribution.manifest.v1+prettyjws') }).http,
  }).catch((e: unknown) => e)
  t.type(e1, UsageError)
  t.match((e1 as Error).message, /schema 1/)
  const e2 = await pullImage('registry.example.com/pause:1', { os: 'linux', arch: 'amd64' }, {
    output: join(dir, 'b.tar'),
    http: world({ [`${base}/manifests/1`]: () => json(artifact, 'application/vnd.oci.image.manifest.v1+json') }).http,
  }).catch((e: unknown) => e)
  t.type(e2, UsageError)
  t.match((e2 as Error).message, /is not a container image \(its config is application\/vnd\.cncf\.helm\.config\.v1\+json\)/)
  t.notOk(existsSync(join(dir, 'a.tar')) || existsSync(join(dir, 'b.tar')))
})
