/**
 * A real HTTP artifact mirror for tests: node:http on 127.0.0.1 (a random port), serving files from disk
 * in the --mirror layout with Range support, recording every connection and request, and misbehaving on
 * cue (status codes, a connection cut after N bytes, Range ignored, a tampered byte).
 */
import { createReadStream, statSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { type IncomingHttpHeaders, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Transform } from 'node:stream'
import { createHttpClient, type Http, type HttpClient } from '../../src/fetch/http.js'
import { artifactRelativePath } from '../../src/fetch/sources.js'
import type { FixtureFile } from './artifacts.js'

export interface SeenRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
}

/** What to do with one request of a path, instead of serving it plainly. */
export type Step =
  | { status: number; headers?: Record<string, string> }
  /** Send the headers for the whole answer, then only this many bytes, then destroy the socket. */
  | { cutAfter: number }
  /** Answer 200 with the whole file even when asked for a range. */
  | { ignoreRange: true }

interface Route {
  file: string
  /** Flip the bits of the byte at this offset while serving (a tampered file). */
  tamperAt?: number
  script: Step[]
}

export interface Mirror {
  /** The root URL, with a trailing slash. */
  url: string
  requests: SeenRequest[]
  /** TCP connections accepted so far. */
  readonly connections: number
  /** Requests for one path (without the leading slash). */
  requestsFor(path: string): SeenRequest[]
  serve(path: string, file: string, options?: { tamperAt?: number }): void
  /** Serves fixtures (and their checksum files) in the layout `<id>/<version>/<fileName>`. */
  serveFixtures(files: FixtureFile[], options?: { tamper?: string[] }): void
  /** Steps for the next requests of a path, one per request, before it is served plainly again. */
  script(path: string, ...steps: Step[]): void
  unserve(path: string): void
  close(): Promise<void>
}

function flipByte(at: number): Transform {
  let offset = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (at >= offset && at < offset + chunk.length) {
        chunk = Buffer.from(chunk)
        chunk[at - offset] = chunk[at - offset]! ^ 0xff
      }
      offset += chunk.length
      callback(null, chunk)
    },
  })
}

async function readRange(file: string, start: number, length: number): Promise<Buffer> {
  const handle = await open(file, 'r')
  try {
    const buffer = Buffer.alloc(length)
    const { bytesRead } = await handle.read(buffer, 0, length, start)
    return buffer.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

export async function startMirror(): Promise<Mirror> {
  const routes = new Map<string, Route>()
  const requests: SeenRequest[] = []
  const sockets = new Set<Socket>()
  let connections = 0

  const serveRange = (res: ServerResponse, route: Route, start: number, end: number) => {
    let stream: NodeJS.ReadableStream = createReadStream(route.file, { start, end })
    if (route.tamperAt !== undefined && route.tamperAt >= start && route.tamperAt <= end) stream = stream.pipe(flipByte(route.tamperAt - start))
    stream.pipe(res)
  }

  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://mirror').pathname.slice(1))
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers })
    const route = routes.get(path)
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    const step = route.script.shift()
    if (step && 'status' in step) {
      res.writeHead(step.status, { 'content-type': 'text/plain', ...step.headers }).end(`status ${step.status}\n`)
      return
    }
    const size = statSync(route.file).size
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
    const honorRange = range !== null && !(step && 'ignoreRange' in step)
    let start = 0
    let end = size - 1
    if (honorRange) {
      start = Number(range[1])
      if (range[2]) end = Math.min(end, Number(range[2]))
      if (start >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end()
        return
      }
      res.writeHead(206, { 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${size}`, 'accept-ranges': 'bytes' })
    } else {
      res.writeHead(200, { 'content-length': String(size), 'accept-ranges': 'bytes' })
    }
    if (step && 'cutAfter' in step) {
      // Promise the whole answer, deliver a part, hang up: what a dropped connection looks like.
      void readRange(route.file, start, Math.min(step.cutAfter, end - start + 1)).then((part) => {
        res.write(part, () => res.socket?.destroy())
      })
      return
    }
    serveRange(res, route, start, end)
  })
  server.on('connection', (socket: Socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  const mirror: Mirror = {
    url: `http://127.0.0.1:${port}/`,
    requests,
    get connections() {
      return connections
    },
    requestsFor: (path) => requests.filter((r) => r.path === path),
    serve(path, file, options = {}) {
      routes.set(path, { file, script: [], ...(options.tamperAt === undefined ? {} : { tamperAt: options.tamperAt }) })
    },
    serveFixtures(files, options = {}) {
      for (const f of files) {
        const tamperAt = options.tamper?.includes(f.fileName) ? Math.floor(f.size / 2) : undefined
        mirror.serve(artifactRelativePath(f), f.path, tamperAt === undefined ? {} : { tamperAt })
        if (f.checksumFile) mirror.serve(artifactRelativePath(f, f.checksumFile.fileName), f.checksumFile.path)
      }
    },
    script(path, ...steps) {
      const route = routes.get(path)
      if (!route) throw new Error(`script for unknown path ${path}`)
      route.script.push(...steps)
    },
    unserve(path) {
      routes.delete(path)
    },
    close() {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
  return mirror
}

/**
 * The real client (src/io/http.ts) that refuses any URL outside 127.0.0.0/8: a test that would fall through to an
 * upstream URL fails loudly instead of reaching the internet. Proxy variables come from `env` only
 * (default none), so a proxy configured on the machine cannot intercept loopback traffic.
 */
export function loopbackHttp(env: NodeJS.ProcessEnv = {}): HttpClient {
  const client = createHttpClient({ env, userAgent: 'edgebundle-test' })
  const guarded: Http = {
    get(url, options) {
      if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(new URL(url).hostname)) {
        return Promise.reject(new Error(`test client refused a non-loopback URL: ${url}`))
      }
      return client.get(url, options)
    },
  }
  return { get: guarded.get, close: () => client.close() }
}

/** Test retry policy: the real algorithm with millisecond delays. */
export const FAST_RETRY = { tries: 4, baseDelayMs: 5, maxDelayMs: 50 } as const
