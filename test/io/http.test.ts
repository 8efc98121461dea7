/**
 * The server-behaviour matrix: raw TCP servers on 127.0.0.1 that answer exactly as misbehaving or
 * old-fashioned HTTP servers do. Each case is taken twice: by the client with a slow consumer (the body
 * paused by backpressure while the server closes: nodejs/undici#5360), and by the artifact fetcher into
 * a cache. Each either completes with the right bytes or fails with our HttpError / DownloadError naming
 * the URL, with exit code 1; never an uncaught exception (tap fails the file on one), never a blob in the
 * cache that is not the pinned file.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { DownloadError } from '../../src/fetch/errors.js'
import { fetchArtifacts } from '../../src/fetch/fetch.js'
import { EXIT } from '../../src/model/errors.js'
import { createHttpClient, HttpError, noProxyMatcher, proxySettings } from '../../src/io/http.js'
import type { ResolvedComponent } from '../../src/resolve/resolve.js'
import { listTree } from '../fetch/artifacts.js'

const payload = randomBytes(4 * 1024 * 1024)
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const FILE = 'runc/9.9.9/runc.amd64'

interface Request {
  path: string
  headers: Record<string, string>
}

type Behaviour = (socket: Socket, request: Request, port: number) => void | Promise<void>

/** A TCP server that reads one request head per connection and hands the socket to the behaviour of its first path segment. */
async function rawServer(behaviours: Record<string, Behaviour>): Promise<{ port: number; seen: Request[]; server: Server }> {
  const seen: Request[] = []
  const server = createServer((socket) => {
    socket.on('error', () => {})
    let head = ''
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1')
      const end = head.indexOf('\r\n\r\n')
      if (end === -1) return
      socket.off('data', onData)
      const [line, ...lines] = head.slice(0, end).split('\r\n')
      const headers: Record<string, string> = {}
      for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim()
      const path = line!.split(' ')[1]!
      const request = { path, headers }
      seen.push(request)
      const behaviour = behaviours[path.split('/')[1]!]
      if (!behaviour) socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
      else void behaviour(socket, request, (server.address() as AddressInfo).port)
    }
    socket.on('data', onData)
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  return { port: (server.address() as AddressInfo).port, seen, server }
}

const head = (status: string, headers: Record<string, string | number>) =>
  `${status}\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`

/** Honors `Range: bytes=N-` like a real file server. */
function rangeOf(request: Request, size: number): number {
  const match = /^bytes=(\d+)-$/.exec(request.headers['range'] ?? '')
  return match && Number(match[1]) < size ? Number(match[1]) : 0
}

const other = await rawServer({
  // The target of the redirects: a plain, whole answer on another loopback port.
  file: (socket) => {
    socket.write(head('HTTP/1.1 200 OK', { 'Content-Length': payload.length, Connection: 'close' }))
    socket.end(payload)
  },
})

const behaviours: Record<string, Behaviour> = {
  http10: (socket) => {
    // HTTP/1.0, no Content-Length: the body ends when the connection closes (python3 -m http.server).
    socket.write(head('HTTP/1.0 200 OK', { 'Content-Type': 'application/octet-stream' }))
    socket.end(payload)
  },
  'length-close': (socket) => {
    // Content-Length, and the connection closed right after the body, while the client still reads.
    socket.write(head('HTTP/1.1 200 OK', { 'Content-Length': payload.length, Connection: 'close' }))
    socket.end(payload)
  },
  chunked: async (socket) => {
    socket.write(head('HTTP/1.1 200 OK', { 'Transfer-Encoding': 'chunked' }))
    for (let at = 0; at < payload.length; at += 300_000) {
      const chunk = payload.subarray(at, at + 300_000)
      socket.write(`${chunk.length.toString(16)}\r\n`)
      socket.write(chunk)
      socket.write('\r\n')
    }
    socket.end('0\r\n\r\n')
  },
  truncated: (socket) => {
    // Promises the whole file, sends half, closes cleanly: every time.
    socket.write(head('HTTP/1.1 200 OK', { 'Content-Length': payload.length, Connection: 'close' }))
    socket.end(payload.subarray(0, payload.length / 2))
  },
  'truncated-once': (socket, request) => {
    // A whole-file request is cut short; a Range request is honored, so the download resumes where it broke.
    const start = rangeOf(request, payload.length)
    if (request.headers['range'] === undefined) {
      socket.write(head('HTTP/1.1 200 OK', { 'Content-Length': payload.length, 'Accept-Ranges': 'bytes', ETag: '"v1"', Connection: 'close' }))
      socket.end(payload.subarray(0, 1_000_000))
      return
    }
    const status = start > 0 ? 'HTTP/1.1 206 Partial Content' : 'HTTP/1.1 200 OK'
    const range: Record<string, string> = start > 0 ? { 'Content-Range': `bytes ${start}-${payload.length - 1}/${payload.length}` } : {}
    socket.write(head(status, { 'Content-Length': payload.length - start, ...range, ETag: '"v1"', Connection: 'close' }))
    socket.end(payload.subarray(start))
  },
  reset: (socket) => {
    socket.write(head('HTTP/1.1 200 OK', { 'Content-Length': payload.length }))
    socket.write(payload.subarray(0, 1_000_000), () => socket.resetAndDestroy())
  },
  zero: (socket) => {
    socket.end(head('HTTP/1.1 200 OK', { 'Content-Length': 0, Connection: 'close' }))
  },
  'slow-headers': async (socket) => {
    // The head arrives a line at a time, well within the idle timeout each.
    for (const line of ['HTTP/1.1 200 OK\r\n', `Content-Length: ${payload.length}\r\n`, 'Content-Type: application/octet-stream\r\n', 'Connection: close\r\n', '\r\n']) {
      socket.write(line)
      await sleep(100)
    }
    socket.end(payload)
  },
  trickle: async (socket) => {
    // A byte now and then, each well within the idle timeout, never finishing: only the total deadline ends it.
    socket.write(head('HTTP/1.1 200 OK', { 'Content-Length': payload.length }))
    while (!socket.destroyed) {
      socket.write(payload.subarray(0, 1))
      await sleep(50)
    }
  },
  'no-headers': () => {
    // Accepts, reads the request, answers nothing: only the idle timeout ends this.
  },
  r301: (socket) => void socket.end(head('HTTP/1.1 301 Moved Permanently', { Location: `http://127.0.0.1:${other.port}/file/${FILE}`, 'Content-Length': 0, Connection: 'close' })),
  r302: (socket) => void socket.end(head('HTTP/1.1 302 Found', { Location: `http://127.0.0.1:${other.port}/file/${FILE}`, 'Content-Length': 0, Connection: 'close' })),
  r307: (socket) => void socket.end(head('HTTP/1.1 307 Temporary Redirect', { Location: `http://127.0.0.1:${other.port}/file/${FILE}`, 'Content-Length': 0, Connection: 'close' })),
  loop: (socket, request, port) => {
    const next = request.path.startsWith('/loop/a/') ? `/loop/b/${FILE}` : `/loop/a/${FILE}`
    socket.end(head('HTTP/1.1 302 Found', { Location: `http://127.0.0.1:${port}${next}`, 'Content-Length': 0, Connection: 'close' }))
  },
}
const main = await rawServer(behaviours)
t.teardown(async () => {
  for (const s of [main.server, other.server]) await new Promise((done) => s.close(done))
})

// Short timeouts so the stalled cases end quickly; the others finish far within them.
const client = createHttpClient({ env: {}, idleTimeoutMs: 2000 })
t.teardown(() => client.close())

type Outcome = 'complete' | 'fails'
const cases: [string, Outcome, RegExp?][] = [
  ['http10', 'complete'],
  ['length-close', 'complete'],
  ['chunked', 'complete'],
  ['truncated', 'fails', /the connection (closed|broke) after \d+ of 4194304 bytes/],
  ['truncated-once', 'complete'],
  ['reset', 'fails', /the connection broke after \d+ of 4194304 bytes/],
  ['zero', 'complete'],
  ['slow-headers', 'complete'],
  ['no-headers', 'fails', /no response within 2000 ms/],
  ['r301', 'complete'],
  ['r302', 'complete'],
  ['r307', 'complete'],
  ['loop', 'fails', /redirect loop/],
]
const expected = (name: string) => (name === 'zero' ? Buffer.alloc(0) : payload)

for (const [name, outcome, message] of cases) {
  t.test(`${name}: the client with a slow consumer`, async (t) => {
    const url = `http://127.0.0.1:${main.port}/${name}/${FILE}`
    const result = await (async () => {
      const response = await client.get(url)
      const chunks: Buffer[] = []
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        chunks.push(chunk)
        // Slower than the socket: the body pauses (backpressure) while the server has already closed.
        await sleep(1)
      }
      return Buffer.concat(chunks)
    })().catch((error: unknown) => error)
    if (name === 'truncated-once') {
      // Without the fetcher's retry the first answer is the cut one.
      t.type(result, HttpError)
      return
    }
    if (outcome === 'complete') {
      t.ok(Buffer.isBuffer(result) && result.equals(expected(name)), 'every byte, in order')
    } else {
      t.type(result, HttpError, 'our error')
      t.equal((result as HttpError).exitCode, EXIT.stepFailed)
      t.match((result as HttpError).message, url.replace(/\/loop\/.*/, '/loop/'), 'names the URL')
      t.match((result as HttpError).message, message!)
      t.ok((result as HttpError).hint, 'says what to do')
    }
  })

  t.test(`${name}: fetched into the cache`, async (t) => {
    const bytes = expected(name)
    const component: ResolvedComponent = {
      id: 'runc',
      version: '9.9.9',
      role: 'runtime',
      platform: 'linux/amd64',
      url: 'https://example.invalid/never-asked',
      fileName: 'runc.amd64',
      sha256: sha256(bytes),
      checksumUrl: null,
      format: 'binary',
      install: { kind: 'binary', dest: '/usr/local/sbin/runc' },
      description: 'matrix payload',
      homepage: 'https://example.invalid',
      license: 'Apache-2.0',
    }
    const cacheDir = t.testdir()
    const result = await fetchArtifacts([component], {
      cacheDir,
      http: client,
      mirrors: [`http://127.0.0.1:${main.port}/${name}/`],
      upstream: false,
      retry: { tries: 3, baseDelayMs: 5, maxDelayMs: 20 },
    }).catch((error: unknown) => error)
    const blobs = listTree(join(cacheDir, 'blobs', 'sha256'))
    if (outcome === 'complete') {
      t.ok(Array.isArray(result), 'fetched')
      t.same(blobs, [component.sha256])
      t.ok(readFileSync(join(cacheDir, 'blobs', 'sha256', component.sha256!)).equals(bytes), 'the cached file is byte-identical')
      t.same(listTree(join(cacheDir, 'tmp')), [], 'nothing left in tmp/')
    } else {
      t.type(result, DownloadError)
      t.equal((result as DownloadError).exitCode, EXIT.stepFailed)
      t.match((result as DownloadError).message, `mirror http://127.0.0.1:${main.port}/${name}/runc/9.9.9/runc.amd64`)
      t.match((result as DownloadError).message, message!)
      t.same(blobs, [], 'nothing cached')
      // What may stay is the resumable prefix, parked under the expected SHA-256 for the next run.
      for (const name of listTree(join(cacheDir, 'tmp'))) {
        t.equal(name, `${component.sha256}.partial`)
        const prefix = readFileSync(join(cacheDir, 'tmp', name))
        t.ok(payload.subarray(0, prefix.length).equals(prefix), 'the parked partial is a prefix of the right file')
      }
    }
  })
}

t.test('redirects reached the other port; the resume asked for the rest with If-Range', async (t) => {
  t.ok(other.seen.length >= 6, 'the redirected requests were answered by the other server')
  const resumed = main.seen.filter((r) => r.path.startsWith('/truncated-once/') && r.headers['range'])
  t.ok(resumed.length >= 1)
  t.match(resumed.at(-1)!.headers, { range: /^bytes=[1-9]\d*-$/, 'if-range': '"v1"' })
})

t.test('a transfer that never ends meets the total timeout', async (t) => {
  const patient = createHttpClient({ env: {}, idleTimeoutMs: 5000, totalTimeoutMs: 600 })
  t.teardown(() => patient.close())
  const url = `http://127.0.0.1:${main.port}/trickle/${FILE}`
  const error = await (async () => {
    const response = await patient.get(url)
    for await (const _ of response.body) void _
  })().catch((e: unknown) => e)
  t.type(error, HttpError)
  t.match(error, { exitCode: EXIT.stepFailed, retryable: true, message: new RegExp(`GET ${url}: the transfer did not finish within the total time allowed`) })
})

t.test('NO_PROXY and proxy variables as curl reads them', async (t) => {
  const match = noProxyMatcher('example.com, .corp.lan, 10.0.0.0/8, 127.0.0.2:8080 [::1]')
  t.ok(match(new URL('http://example.com/')))
  t.ok(match(new URL('http://a.b.example.com/')))
  t.notOk(match(new URL('http://notexample.com/')))
  t.ok(match(new URL('https://x.corp.lan/')))
  t.ok(match(new URL('http://10.1.2.3/')))
  t.notOk(match(new URL('http://11.1.2.3/')))
  t.ok(match(new URL('http://127.0.0.2:8080/')))
  t.notOk(match(new URL('http://127.0.0.2:8081/')), 'a port limits the entry to it')
  t.ok(match(new URL('http://[::1]:5000/')))
  t.ok(noProxyMatcher('*')(new URL('https://anything/')))
  t.notOk(noProxyMatcher('')(new URL('https://anything/')))

  const settings = proxySettings({ HTTPS_PROXY: 'proxy.lan:3128', http_proxy: '', HTTP_PROXY: 'http://ignored:1' })
  t.equal(settings.https?.href, 'http://proxy.lan:3128/', 'a bare host:port means http')
  t.equal(settings.http, null, 'an explicitly empty lower-case variable wins and disables the proxy')
  t.throws(() => proxySettings({ HTTPS_PROXY: 'socks5://proxy.lan:1080' }), { name: 'UsageError', exitCode: 2, message: /HTTPS_PROXY=socks5:\/\/proxy\.lan:1080: only http:\/\/ proxies/ })
  t.throws(() => proxySettings({ http_proxy: 'http://[bad' }), { name: 'UsageError', message: /http_proxy=http:\/\/\[bad is not a proxy URL/ })
})
