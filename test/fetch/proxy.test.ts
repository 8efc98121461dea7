/**
 * HTTP_PROXY and NO_PROXY reach the real client (undici's EnvHttpProxyAgent): a CONNECT proxy on
 * 127.0.0.1 tunnels requests for a mirror named 127.0.0.2, where nothing listens, to the real mirror
 * on 127.0.0.1. Only the proxy can make that fetch succeed; without it the connection is refused. All
 * addresses are loopback.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { fetchArtifacts } from '../../src/fetch/fetch.js'
import type { ResolvedComponent } from '../../src/resolve/resolve.js'
import { FAST_RETRY, loopbackHttp, startMirror } from './mirror.js'

const scratch = mkdtempSync(join(tmpdir(), 'edgebundle-proxy-test-'))
t.teardown(() => rmSync(scratch, { recursive: true, force: true }))

// A small real file is enough here: what is under test is the route the bytes take.
const payload = join(scratch, 'payload.bin')
writeFileSync(payload, Buffer.alloc(256 * 1024, 7))
const sha256 = createHash('sha256').update(Buffer.alloc(256 * 1024, 7)).digest('hex')

const component: ResolvedComponent = {
  id: 'runc',
  version: '9.9.9',
  role: 'runtime',
  platform: 'linux/amd64',
  url: 'https://github.com/opencontainers/runc/releases/download/v9.9.9/runc.amd64',
  fileName: 'runc.amd64',
  sha256,
  checksumUrl: null,
  format: 'binary',
  install: { kind: 'binary', dest: '/usr/local/sbin/runc' },
  description: 'test payload',
  homepage: 'https://github.com/opencontainers/runc',
  license: 'Apache-2.0',
}

const mirror = await startMirror()
mirror.serve('runc/9.9.9/runc.amd64', payload)
const mirrorPort = Number(new URL(mirror.url).port)

const tunnels: string[] = []
const proxy = createServer((_req, res) => res.writeHead(405).end())
proxy.on('connect', (req, client, head) => {
  tunnels.push(req.url ?? '')
  // Only ever tunnels to the test mirror on loopback, whatever was asked.
  const upstream = connect(mirrorPort, '127.0.0.1', () => {
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
  proxy.closeAllConnections()
  await new Promise((resolve) => proxy.close(resolve))
  await mirror.close()
})

t.test('HTTP_PROXY: the download goes through the proxy', async (t) => {
  const http = loopbackHttp({ HTTP_PROXY: proxyUrl })
  t.teardown(() => http.close())
  const [artifact] = await fetchArtifacts([component], {
    cacheDir: join(scratch, 'cache-proxy'),
    http,
    mirrors: [`http://127.0.0.2:${mirrorPort}/`],
    upstream: false,
    retry: FAST_RETRY,
  })
  t.equal(artifact!.source, 'mirror')
  t.same(tunnels, [`127.0.0.2:${mirrorPort}`], 'one CONNECT, for the mirror host')
  t.equal(mirror.requestsFor('runc/9.9.9/runc.amd64').length, 1)
})

t.test('NO_PROXY: a listed host is reached directly', async (t) => {
  const before = tunnels.length
  const http = loopbackHttp({ http_proxy: proxyUrl, no_proxy: '127.0.0.1' })
  t.teardown(() => http.close())
  const [artifact] = await fetchArtifacts([component], { cacheDir: join(scratch, 'cache-direct'), http, mirrors: [mirror.url], upstream: false, retry: FAST_RETRY })
  t.equal(artifact!.source, 'mirror')
  t.equal(tunnels.length, before, 'the proxy was bypassed')
})

t.test('without a proxy the 127.0.0.2 mirror is unreachable (the proxy test is not vacuous)', async (t) => {
  const http = loopbackHttp({})
  t.teardown(() => http.close())
  await t.rejects(
    fetchArtifacts([component], { cacheDir: join(scratch, 'cache-none'), http, mirrors: [`http://127.0.0.2:${mirrorPort}/`], upstream: false, retry: { tries: 2, baseDelayMs: 1, maxDelayMs: 2 } }),
    { name: 'DownloadError', message: /ECONNREFUSED/ },
  )
})
