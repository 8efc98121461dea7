/**
 * HTTP_PROXY, HTTPS_PROXY and NO_PROXY for every caller of the one client: a logging proxy on 127.0.0.1
 * (absolute-URI requests and CONNECT tunnels, a few lines of node:http) in front of an artifact mirror,
 * a plain docker-registry and the same registry over TLS (a self-signed certificate made with openssl,
 * trusted through the client's CA option). The proxy connects only to 127.0.0.1, whatever host it is
 * asked for: a request for 127.0.0.2 or for the TLS registry's test name can only succeed through it.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { type IncomingMessage, type ServerResponse, createServer, request as httpRequest } from 'node:http'
import { type AddressInfo, type Socket, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { run } from '../../src/cli/main.js'
import { fetchArtifacts } from '../../src/fetch/fetch.js'
import { createHttpClient } from '../../src/io/http.js'
import { pullImage, readImageArchive } from '../../src/oci/index.js'
import type { ResolvedComponent } from '../../src/resolve/resolve.js'
import { buildTestImages, pushMultiPlatform, skipUnlessTools, startRegistry } from '../oci/fixtures.js'
import { FAST_RETRY, startMirror } from './mirror.js'

const scratch = mkdtempSync(join(tmpdir(), 'edgebundle-proxy-test-'))
t.teardown(() => rmSync(scratch, { recursive: true, force: true }))

// ---- the logging proxy ----
const log: string[] = []
const proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
  // Absolute-URI form: forward to 127.0.0.1 at the asked port, whatever the host.
  log.push(`${req.method} ${req.url}`)
  let target: URL
  try {
    target = new URL(req.url ?? '')
  } catch {
    res.writeHead(400).end()
    return
  }
  const upstream = httpRequest(
    { host: '127.0.0.1', port: target.port || 80, method: req.method, path: `${target.pathname}${target.search}`, headers: { ...req.headers, host: target.host } },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    },
  )
  upstream.on('error', () => res.destroy())
  req.pipe(upstream)
})
const tunnels = new Set<Socket>()
proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
  log.push(`CONNECT ${req.url}`)
  tunnels.add(client)
  client.on('close', () => tunnels.delete(client))
  const port = Number(/:(\d+)$/.exec(req.url ?? '')?.[1] ?? 443)
  const upstream = connect(port, '127.0.0.1', () => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
    upstream.write(head)
    upstream.pipe(client)
    client.pipe(upstream)
  })
  upstream.on('error', () => client.destroy())
  client.on('error', () => upstream.destroy())
})
await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
t.teardown(async () => {
  // A tunnel is no longer an HTTP connection of the server: closeAllConnections does not see it.
  for (const socket of tunnels) socket.destroy()
  proxy.closeAllConnections()
  await new Promise((resolve) => proxy.close(resolve))
})

/** Proxy log lines added while `work` runs. */
async function logged(work: () => Promise<unknown>): Promise<string[]> {
  const before = log.length
  await work()
  return log.slice(before)
}

// ---- artifacts ----
t.test('artifact downloads', async (t) => {
  const payload = join(scratch, 'payload.bin')
  writeFileSync(payload, Buffer.alloc(256 * 1024, 7))
  const component: ResolvedComponent = {
    id: 'runc',
    version: '9.9.9',
    role: 'runtime',
    platform: 'linux/amd64',
    url: 'https://github.com/opencontainers/runc/releases/download/v9.9.9/runc.amd64',
    fileName: 'runc.amd64',
    sha256: createHash('sha256').update(Buffer.alloc(256 * 1024, 7)).digest('hex'),
    checksumUrl: null,
    format: 'binary',
    install: { kind: 'binary', dest: '/usr/local/sbin/runc' },
    description: 'test payload',
    homepage: 'https://github.com/opencontainers/runc',
    license: 'Apache-2.0',
  }
  const mirror = await startMirror()
  t.teardown(() => mirror.close())
  mirror.serve('runc/9.9.9/runc.amd64', payload)
  const port = Number(new URL(mirror.url).port)
  const fetchVia = async (env: NodeJS.ProcessEnv, mirrorUrl: string, cache: string) => {
    const http = createHttpClient({ env })
    try {
      return await fetchArtifacts([component], { cacheDir: join(scratch, cache), http, mirrors: [mirrorUrl], upstream: false, retry: FAST_RETRY })
    } finally {
      await http.close()
    }
  }

  t.same(
    await logged(() => fetchVia({ HTTP_PROXY: proxyUrl }, `http://127.0.0.2:${port}/`, 'cache-proxy')),
    [`GET http://127.0.0.2:${port}/runc/9.9.9/runc.amd64`],
    'HTTP_PROXY: one absolute-URI request through the proxy',
  )
  t.same(await logged(() => fetchVia({ http_proxy: proxyUrl, no_proxy: '127.0.0.1' }, mirror.url, 'cache-direct')), [], 'NO_PROXY: the proxy was bypassed')
  await t.rejects(fetchVia({}, `http://127.0.0.2:${port}/`, 'cache-none'), { name: 'DownloadError', message: /ECONNREFUSED/ }, 'without the proxy 127.0.0.2 is unreachable')
})

// ---- registry pulls ----
const skip = skipUnlessTools()
const openssl = spawnSync('openssl', ['version']).status === 0
const HOST = 'registry.edgebundle.test'

t.test('registry pulls', { skip: skip || (openssl ? false : 'openssl is not installed') }, async (t) => {
  const root = join(scratch, 'registry')
  const plain = await startRegistry(join(root, 'plain'))
  t.teardown(() => plain.stop())
  const layout = await buildTestImages(join(root, 'images'))
  await pushMultiPlatform(plain, layout, 'edge/pause', '3.9', 'oci')

  // The same storage served over TLS, under a name only the proxy can reach.
  const certificate = join(root, 'cert.pem')
  const key = join(root, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${HOST}`, '-addext', `subjectAltName=DNS:${HOST}`, '-keyout', key, '-out', certificate], { stdio: 'ignore' })
  const secure = await startRegistry(join(root, 'tls'), { storage: plain.storage, tls: { certificate, key } })
  t.teardown(() => secure.stop())
  const plainPort = plain.host.split(':')[1]!
  const securePort = secure.host.split(':')[1]!

  const pull = async (env: NodeJS.ProcessEnv, reference: string, output: string, ca?: Buffer) => {
    const http = createHttpClient({ env, ...(ca ? { ca } : {}) })
    try {
      return await pullImage(reference, { os: 'linux', arch: 'arm64' }, { output: join(root, output), http })
    } finally {
      await http.close()
    }
  }

  t.test('plain HTTP through HTTP_PROXY (absolute-URI requests)', async (t) => {
    let platform = ''
    const lines = await logged(async () => {
      platform = (await pull({ HTTP_PROXY: proxyUrl }, `127.0.0.2:${plainPort}/edge/pause:3.9`, 'plain.tar')).platform.architecture
    })
    t.equal(platform, 'arm64')
    t.ok(lines.length >= 4, 'index, manifest, config and layer requests')
    t.ok(lines.every((line) => line.startsWith(`GET http://127.0.0.2:${plainPort}/v2/edge/pause/`)), lines.join('\n'))
    t.same((await readImageArchive(join(root, 'plain.tar'))).platforms, ['linux/arm64'])
  })

  t.test('HTTPS through HTTPS_PROXY (CONNECT, TLS end to end with the injected CA)', async (t) => {
    const ca = readFileSync(certificate)
    const lines = await logged(() => pull({ HTTPS_PROXY: proxyUrl }, `${HOST}:${securePort}/edge/pause:3.9`, 'tls.tar', ca))
    t.ok(lines.length >= 1)
    t.ok(lines.every((line) => line === `CONNECT ${HOST}:${securePort}`), lines.join('\n'))
    t.same((await readImageArchive(join(root, 'tls.tar'))).platforms, ['linux/arm64'])

    // Without the CA the certificate is refused, as ours: no retry can fix it, and it says what to do.
    const error = await pull({ HTTPS_PROXY: proxyUrl }, `${HOST}:${securePort}/edge/pause:3.9`, 'untrusted.tar').catch((e: unknown) => e)
    t.match(error, { name: 'RegistryError', exitCode: 1, message: new RegExp(`https://${HOST.replace(/\./g, '\\.')}:${securePort}/v2/edge/pause/manifests/3\\.9`), hint: /NODE_EXTRA_CA_CERTS/ })
  })

  t.test('NO_PROXY bypasses the proxy', async (t) => {
    const lines = await logged(() => pull({ HTTP_PROXY: proxyUrl, NO_PROXY: '127.0.0.1' }, `${plain.host}/edge/pause:3.9`, 'direct.tar'))
    t.same(lines, [])
    t.same((await readImageArchive(join(root, 'direct.tar'))).platforms, ['linux/arm64'])
  })

  t.test('`edgebundle fetch --pull-pause` reads the proxy from the environment, as artifact downloads do', async (t) => {
    const saved = { ...process.env }
    t.teardown(() => {
      for (const name of ['HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy']) delete process.env[name]
      Object.assign(process.env, saved)
    })
    for (const name of ['http_proxy', 'no_proxy', 'NO_PROXY']) delete process.env[name]
    process.env['HTTP_PROXY'] = proxyUrl
    let stdout = ''
    let stderr = ''
    const argv = ['fetch', '--os', 'ubuntu', '--arch', 'arm64', '--runtime', 'cri-o', '--runtime-source', 'preinstalled']
    argv.push('--pause-image', `127.0.0.2:${plainPort}/edge/pause:3.9`, '--pull-pause', '--cache-dir', join(root, 'cli-cache'))
    // No client injected: the CLI's own, as a user runs it.
    const lines = await logged(async () => {
      const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
      t.equal(code, 0, stderr)
    })
    t.match(stdout, /pause image 127\.0\.0\.2:\d+\/edge\/pause:3\.9 \(linux\/arm64\) pulled/)
    t.ok(lines.length >= 4 && lines.every((line) => line.startsWith(`GET http://127.0.0.2:${plainPort}/v2/`)), lines.join('\n'))
  })
})
