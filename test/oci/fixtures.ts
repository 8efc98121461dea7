/**
 * Real parts for the image tests: Debian's docker-registry on 127.0.0.1, pause-like images made with umoci
 * around busybox-static and pushed with skopeo, and small node:http servers (a byte-flipping proxy, a
 * bearer-token server with an auth-enforcing proxy). Every server listens on 127.0.0.1 only, and the
 * `loopbackOnly` fetch refuses any other address, so nothing in these tests leaves the machine.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, copyFileSync, chmodSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs'
import { request as httpRequest, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { get as httpsGet } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createHttpClient, type Http } from '../../src/io/http.js'

const run = promisify(execFile)

export const BUSYBOX = '/bin/busybox'
export const APT_PACKAGES = ['docker-registry', 'umoci', 'skopeo', 'busybox-static'] as const

/** Which real tools are missing. Under CI a missing tool is a failure (.ci/run installs them), else a skip. */
export function missingTools(): string[] {
  const missing: string[] = []
  for (const [tool, args] of [
    ['docker-registry', ['--version']],
    ['umoci', ['--version']],
    ['skopeo', ['--version']],
  ] as const) {
    if (spawnSync(tool, [...args], { stdio: 'ignore' }).status !== 0) missing.push(tool)
  }
  // busybox-static's binary is the only one that runs inside an image with nothing else in it.
  const file = spawnSync('file', ['-L', BUSYBOX], { encoding: 'utf8' })
  const isStatic = existsSync(BUSYBOX) && (file.error !== undefined || /statically linked|static-pie/.test(file.stdout ?? ''))
  if (!isStatic) missing.push('busybox-static')
  return missing
}

/** A skip reason, or false. Throws under CI=true so a machine without the tools cannot pass silently. */
export function skipUnlessTools(): string | false {
  const missing = missingTools()
  if (missing.length === 0) return false
  const message = `missing ${missing.join(', ')}: apt-get install -y ${APT_PACKAGES.join(' ')}`
  if (process.env['CI']) throw new Error(`${message} (.ci/run installs them; under CI they must be present)`)
  return message
}

/** A fetch that refuses every non-loopback URL: the tests' guarantee that no traffic leaves 127.0.0.0/8. */
export function loopbackOnly(seen: string[] = []): Http {
  // No proxy from the machine's environment: loopback traffic must go straight to the test's servers.
  const client = createHttpClient({ env: {}, userAgent: 'edgebundle-test' })
  const check = (url: string) => {
    if (!/^127\.\d+\.\d+\.\d+$/.test(new URL(url).hostname)) throw new Error(`test refused a request to ${url}`)
  }
  return {
    async get(url, options = {}) {
      check(url)
      seen.push(url)
      return client.get(url, {
        ...options,
        onRedirect: (from, to) => {
          options.onRedirect?.(from, to)
          check(to.href)
          seen.push(to.href)
        },
      })
    },
  }
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((done) => server.close(() => done()))
  return port
}

export interface Registry {
  /** 127.0.0.1:PORT */
  host: string
  url: string
  storage: string
  stop(): Promise<void>
}

/**
 * A small sh watchdog runs a daemon and ends it when this test process goes away, even by a signal
 * (tap's timeout) that skips every teardown; SIGTERM to the watchdog stops the daemon normally. It
 * learns of the test's end from its stdin, a pipe only the test process writes to: end of file when the
 * process is gone. No polling: a loop of `sleep` cost a process every half second per daemon (the fleet
 * test alone ran some 1,800), and a process is not cheap on this machine.
 */
const WATCHDOG = `
exec 3<&0
"$@" </dev/null 3<&- & daemon=$!
# A background list reads /dev/null unless told otherwise: the pipe comes in on fd 3. read is built in, so
# the watcher is this one subshell, and it is gone (killed and waited for) before the watchdog exits.
{ while IFS= read -r _ <&3; do :; done; kill $daemon 2>/dev/null; } & watcher=$!
exec 3<&-
trap 'kill $daemon 2>/dev/null; wait $daemon; kill $watcher 2>/dev/null; wait $watcher; exit 0' TERM INT
wait $daemon
kill $watcher 2>/dev/null
wait $watcher
`

export interface Daemon {
  child: ChildProcess
  log: string
  stop(): Promise<void>
}

/** Starts `command args…` under the watchdog, output appended to `log`. */
export function spawnWatched(command: string, args: string[], log: string): Daemon {
  const fd = openSync(log, 'a')
  const child = spawn('sh', ['-c', WATCHDOG, `${command}-watchdog`, command, ...args], { stdio: ['pipe', fd, fd] })
  closeSync(fd) // the child holds its own copy
  const exited = new Promise<void>((done) => child.once('exit', () => done()))
  // Nothing is ever written: the pipe only has to stay open while this process lives.
  child.stdin!.on('error', () => {})
  void exited.then(() => child.stdin!.destroy())
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
  }
  return { child, log, stop }
}

/** Polls until `ready()` is true, failing early if the daemon exits. */
export async function waitUntil(name: string, daemon: Daemon, ready: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (daemon.child.exitCode !== null) throw new Error(`${name} exited with ${daemon.child.exitCode}; see ${daemon.log}`)
    if (await ready().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`${name} was not ready within ${timeoutMs} ms; see ${daemon.log}`)
    await new Promise((done) => setTimeout(done, 100))
  }
}

/**
 * Starts `docker-registry serve` on a free 127.0.0.1 port with filesystem storage under `dir` (or the
 * given `storage`, which another registry may serve too), over TLS when given a certificate and key.
 */
export async function startRegistry(dir: string, options: { storage?: string; tls?: { certificate: string; key: string } } = {}): Promise<Registry> {
  mkdirSync(dir, { recursive: true })
  const storage = options.storage ?? join(dir, 'storage')
  mkdirSync(storage, { recursive: true })
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const config = join(dir, 'config.yml')
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${storage}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: 127.0.0.1:${port}`,
        ...(options.tls ? ['  tls:', `    certificate: ${options.tls.certificate}`, `    key: ${options.tls.key}`] : []),
        '',
      ].join('\n'),
    )
    const daemon = spawnWatched('docker-registry', ['serve', config], join(dir, 'registry.log'))
    try {
      const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`
      await waitUntil('docker-registry', daemon, async () => {
        if (options.tls) {
          // Readiness only: the certificate names the registry's test host, not 127.0.0.1.
          return new Promise<boolean>((done) => {
            httpsGet(`${url}/v2/`, { rejectUnauthorized: false }, (response) => {
              response.resume()
              done(response.statusCode === 200)
            }).on('error', () => done(false))
          })
        }
        const response = await fetch(`${url}/v2/`)
        await response.body?.cancel()
        return response.status === 200
      })
      return { host: `127.0.0.1:${port}`, url, storage, stop: daemon.stop }
    } catch (error) {
      await daemon.stop()
      // Another process may have taken the port between freePort() and the bind: try a new one.
      if (attempt >= 3) throw error
    }
  }
}

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { maxBuffer: 64 * 1024 * 1024 })
    return stdout
  } catch (error) {
    const e = error as { stderr?: string; message: string }
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr || e.message}`)
  }
}

export { sh }

/** The platforms the test image is built for, with the label that tells them apart in a config. */
export const TEST_PLATFORMS = [
  { tag: 'amd64', architecture: 'amd64', variant: undefined },
  { tag: 'arm64', architecture: 'arm64', variant: undefined },
  // v6 is listed before v7 so choosing v7 for arm proves the preference, not the order.
  { tag: 'armv6', architecture: 'arm', variant: 'v6' },
  { tag: 'armv7', architecture: 'arm', variant: 'v7' },
] as const

export const PLATFORM_LABEL = 'org.edgebundle.test.platform'

/**
 * Builds a pause-like image with umoci in the OCI layout `<dir>/layout`: one layer holding busybox-static
 * at /bin/busybox, one tag per TEST_PLATFORMS entry. Every tag shares the layer; only the config
 * (architecture and a label) differs, which is all the platform choice looks at.
 */
export async function buildTestImages(dir: string): Promise<string> {
  const layout = join(dir, 'layout')
  const bundle = join(dir, 'bundle')
  await sh('umoci', ['init', '--layout', layout])
  await sh('umoci', ['new', '--image', `${layout}:base`])
  await sh('umoci', ['unpack', '--rootless', '--image', `${layout}:base`, bundle])
  mkdirSync(join(bundle, 'rootfs', 'bin'), { recursive: true })
  copyFileSync(BUSYBOX, join(bundle, 'rootfs', 'bin', 'busybox'))
  chmodSync(join(bundle, 'rootfs', 'bin', 'busybox'), 0o755)
  await sh('umoci', ['repack', '--image', `${layout}:base`, bundle])
  for (const p of TEST_PLATFORMS) {
    const label = `linux/${p.architecture}${p.variant ? `/${p.variant}` : ''}`
    await sh('umoci', [
      'config',
      '--image',
      `${layout}:base`,
      '--tag',
      p.tag,
      '--os',
      'linux',
      '--architecture',
      p.architecture,
      '--config.entrypoint',
      '/bin/busybox',
      '--config.cmd',
      'sleep',
      '--config.cmd',
      'infinity',
      '--config.label',
      `${PLATFORM_LABEL}=${label}`,
      '--no-history',
    ])
  }
  return layout
}

export async function skopeoPush(layout: string, tag: string, destination: string, format: 'oci' | 'v2s2'): Promise<void> {
  await sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', format, `oci:${layout}:${tag}`, `docker://${destination}`])
}

interface PushedManifest {
  mediaType: string
  digest: string
  size: number
}

async function headManifest(registry: Registry, repository: string, tag: string, accept: string): Promise<PushedManifest> {
  const response = await fetch(`${registry.url}/v2/${repository}/manifests/${tag}`, { headers: { Accept: accept } })
  const bytes = Buffer.from(await response.arrayBuffer())
  if (!response.ok) throw new Error(`GET manifest ${repository}:${tag}: HTTP ${response.status}`)
  const mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType ?? accept
  return { mediaType, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length }
}

/**
 * Pushes every test platform by tag, then PUTs one multi-platform index naming them at `indexTag`:
 * an OCI index for format 'oci', a Docker manifest list for 'v2s2'. Returns the index digest and the
 * per-platform manifest digests.
 */
export async function pushMultiPlatform(
  registry: Registry,
  layout: string,
  repository: string,
  indexTag: string,
  format: 'oci' | 'v2s2',
): Promise<{ indexDigest: string; manifests: Record<string, PushedManifest> }> {
  const manifestType = format === 'oci' ? 'application/vnd.oci.image.manifest.v1+json' : 'application/vnd.docker.distribution.manifest.v2+json'
  const indexType = format === 'oci' ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.docker.distribution.manifest.list.v2+json'
  const manifests: Record<string, PushedManifest> = {}
  const entries = []
  for (const p of TEST_PLATFORMS) {
    await skopeoPush(layout, p.tag, `${registry.host}/${repository}:${p.tag}`, format)
    const pushed = await headManifest(registry, repository, p.tag, manifestType)
    manifests[p.tag] = pushed
    entries.push({
      mediaType: pushed.mediaType,
      digest: pushed.digest,
      size: pushed.size,
      platform: { architecture: p.architecture, os: 'linux', ...(p.variant ? { variant: p.variant } : {}) },
    })
  }
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: indexType, manifests: entries }, null, 2))
  const put = await fetch(`${registry.url}/v2/${repository}/manifests/${indexTag}`, { method: 'PUT', headers: { 'Content-Type': indexType }, body })
  const text = await put.text()
  if (put.status !== 201) throw new Error(`PUT index ${repository}:${indexTag}: HTTP ${put.status} ${text}`)
  return { indexDigest: `sha256:${createHash('sha256').update(body).digest('hex')}`, manifests }
}

export interface TestServer {
  host: string
  url: string
  requests: { method: string; path: string; authorization: string | undefined }[]
  close(): Promise<void>
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; host: string }> {
  const server = createServer(handler)
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as AddressInfo
  return { server, host: `127.0.0.1:${port}` }
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise<void>((done) => {
      server.closeAllConnections()
      server.close(() => done())
    })
}

/**
 * A reverse proxy in front of the registry. `alter(path)` may return a function that rewrites a whole
 * response body (the test bodies are small); `gate(req, res)` may answer a request itself (auth).
 */
export async function startProxy(
  upstream: Registry,
  options: {
    alter?: (method: string, path: string) => ((body: Buffer) => Buffer) | undefined
    gate?: (req: IncomingMessage, res: ServerResponse) => boolean
  } = {},
): Promise<TestServer> {
  const requests: TestServer['requests'] = []
  const { server, host } = await listen((req, res) => {
    const path = req.url ?? '/'
    requests.push({ method: req.method ?? 'GET', path, authorization: req.headers.authorization })
    if (options.gate?.(req, res)) return
    const headers = { ...req.headers, host: upstream.host }
    delete headers.authorization
    const forward = httpRequest({ host: '127.0.0.1', port: Number(upstream.host.split(':')[1]), method: req.method, path, headers }, (upstreamRes) => {
      const rewrite = options.alter?.(req.method ?? 'GET', path)
      if (!rewrite) {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers)
        upstreamRes.pipe(res)
        return
      }
      const chunks: Buffer[] = []
      upstreamRes.on('data', (c: Buffer) => chunks.push(c))
      upstreamRes.on('end', () => {
        const body = rewrite(Buffer.concat(chunks))
        res.writeHead(upstreamRes.statusCode ?? 502, { ...upstreamRes.headers, 'content-length': String(body.length) })
        res.end(body)
      })
    })
    forward.on('error', () => res.destroy())
    req.pipe(forward)
  })
  return { host, url: `http://${host}`, requests, close: closer(server) }
}

/**
 * An anonymous token service as Docker Hub runs one: GET /token?service=…&scope=… answers a JSON token.
 * It records the queries it saw so a test can check the client echoed the challenge.
 */
export async function startTokenServer(): Promise<TestServer & { issued: Set<string>; queries: URLSearchParams[] }> {
  const requests: TestServer['requests'] = []
  const issued = new Set<string>()
  const queries: URLSearchParams[] = []
  const { server, host } = await listen((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token')
    requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', authorization: req.headers.authorization })
    if (url.pathname !== '/token') {
      res.writeHead(404).end()
      return
    }
    queries.push(url.searchParams)
    const token = `tok-${issued.size + 1}-${createHash('sha256').update(url.search).digest('hex').slice(0, 12)}`
    issued.add(token)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: '2020-01-01T00:00:00Z' }))
  })
  return { host, url: `http://${host}`, requests, issued, queries, close: closer(server) }
}
