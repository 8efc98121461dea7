/**
 * fetchArtifacts against a real HTTP mirror on 127.0.0.1 serving artifacts built from Debian's
 * containerd, runc and CNI plugins, with a catalog that pins their real SHA-256. Upstream is off in
 * every test and the client refuses non-loopback URLs, so nothing leaves the machine.
 */
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadCatalog } from '../../src/catalog/load.js'
import { hashFile } from '../../src/fetch/cache.js'
import { ChecksumMismatchError, ChecksumRequiredError, DownloadError, MissingArtifactsError, OfflineViolationError } from '../../src/fetch/errors.js'
import { type FetchOptions, fetchArtifacts } from '../../src/fetch/fetch.js'
import { offlineHttp } from '../../src/fetch/http.js'
import { artifactRelativePath } from '../../src/fetch/sources.js'
import { EXIT } from '../../src/model/errors.js'
import { validateRequest } from '../../src/resolve/request.js'
import { type ResolvedComponent, resolveTarget } from '../../src/resolve/resolve.js'
import { debianArtifacts, debianPartsInstalled, listTree, testCatalog } from './artifacts.js'
import { FAST_RETRY, type Mirror, loopbackHttp, startMirror } from './mirror.js'

type Teardown = { teardown: (fn: () => unknown) => void }

const installed = debianPartsInstalled()
if (!installed && process.env['CI']) throw new Error('containerd, runc and containernetworking-plugins are not installed; .ci/run installs them')
if (installed) main()
else t.plan(0, 'Debian containerd, runc and containernetworking-plugins are not installed here')

function main(): void {
  const artifacts = debianArtifacts()
  const scratch = mkdtempSync(join(tmpdir(), 'edgebundle-fetch-test-'))
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))
  const catalog = loadCatalog(testCatalog(scratch, artifacts))
  const http = loopbackHttp()
  t.teardown(() => http.close())

  function components(os: 'ubuntu' | 'windows' = 'ubuntu'): ResolvedComponent[] {
    const request = validateRequest(catalog, { os, runtime: 'containerd', 'runtime-version': artifacts.versions.containerd })
    return resolveTarget(catalog, request).components
  }

  const linux = components('ubuntu')
  const windows = components('windows')
  const byId = (list: ResolvedComponent[], id: string) => list.find((c) => c.id === id)!

  let counter = 0
  function freshCache(): string {
    return join(scratch, `cache-${++counter}`)
  }

  function options(mirror: Mirror | Mirror[], cacheDir: string, extra: Partial<FetchOptions> = {}): FetchOptions {
    const mirrors = (Array.isArray(mirror) ? mirror : [mirror]).map((m) => m.url)
    return { cacheDir, http, mirrors, upstream: false, retry: FAST_RETRY, ...extra }
  }

  async function failure(promise: Promise<unknown>): Promise<Error & { exitCode?: number }> {
    try {
      await promise
    } catch (error) {
      return error as Error & { exitCode?: number }
    }
    throw new Error('expected a rejection')
  }

  const blobs = (cacheDir: string) => listTree(join(cacheDir, 'blobs', 'sha256'))
  const temps = (cacheDir: string) => listTree(join(cacheDir, 'tmp'))

  async function mirrorWithFixtures(t: Teardown, serveOptions: { tamper?: string[] } = {}): Promise<Mirror> {
    const mirror = await startMirror()
    mirror.serveFixtures(artifacts.files, serveOptions)
    t.teardown(() => mirror.close())
    return mirror
  }

  t.test('the test catalog resolves the Debian versions with their real checksums', async (t) => {
    t.same(
      linux.map((c) => [c.id, c.version, c.fileName]),
      [
        ['containerd', artifacts.versions.containerd, `containerd-${artifacts.versions.containerd}-linux-amd64.tar.gz`],
        ['runc', artifacts.versions.runc, 'runc.amd64'],
        ['cni-plugins', artifacts.versions.cni, `cni-plugins-linux-amd64-v${artifacts.versions.cni}.tgz`],
      ],
    )
    for (const c of linux) t.equal(c.sha256, artifacts.file(c.fileName).sha256)
    t.ok(windows.every((c) => c.sha256 === null && c.checksumUrl !== null), 'Windows assets carry no pin, only a checksum URL')
  })

  t.test('cold fetch: everything from the mirror, verified, read-only; warm fetch: the mirror sees nothing', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const cacheDir = freshCache()
    const cold = await fetchArtifacts(linux, options(mirror, cacheDir))
    t.same(cold.map((a) => a.source), ['mirror', 'mirror', 'mirror'])
    for (const artifact of cold) {
      t.equal(artifact.sha256, artifact.component.sha256)
      t.equal(artifact.path, join(cacheDir, 'blobs', 'sha256', artifact.sha256))
      t.equal((await hashFile(artifact.path)).sha256, artifact.sha256, `${artifact.component.fileName} in the cache verifies`)
      t.equal(statSync(artifact.path).mode & 0o222, 0, 'cached blobs are read-only')
    }
    t.same(mirror.requests.map((r) => r.path).sort(), linux.map((c) => artifactRelativePath(c)).sort())
    t.ok(mirror.requests.every((r) => r.headers.range === undefined), 'a cold fetch asks for whole files')
    t.same(temps(cacheDir), [], 'nothing left in tmp/')

    const connectionsBefore = mirror.connections
    const requestsBefore = mirror.requests.length
    const warm = await fetchArtifacts(linux, options(mirror, cacheDir))
    t.same(warm.map((a) => a.source), ['cache', 'cache', 'cache'])
    t.same(warm.map((a) => a.path), cold.map((a) => a.path))
    t.equal(mirror.requests.length, requestsBefore, 'no request')
    t.equal(mirror.connections, connectionsBefore, 'no connection')
  })

  t.test('a tampered file: exit 3 naming file, source, both digests; nothing cached, no temp file left', async (t) => {
    const mirror = await mirrorWithFixtures(t, { tamper: ['runc.amd64'] })
    const cacheDir = freshCache()
    const runc = artifacts.file('runc.amd64')
    const tampered = readFileSync(runc.path)
    const at = Math.floor(runc.size / 2)
    tampered[at] = tampered[at]! ^ 0xff
    const actual = createHash('sha256').update(tampered).digest('hex')

    const error = await failure(fetchArtifacts(linux, options(mirror, cacheDir)))
    t.type(error, ChecksumMismatchError)
    t.equal(error.exitCode, EXIT.integrity)
    t.match(error.message, 'runc.amd64')
    t.match(error.message, `mirror ${mirror.url}runc/${artifacts.versions.runc}/runc.amd64`)
    t.match(error.message, `expected sha256 ${runc.sha256}`)
    t.match(error.message, `got ${actual}`)
    t.notOk(blobs(cacheDir).includes(runc.sha256), 'the tampered file is not cached')
    t.same(blobs(cacheDir).sort(), [artifacts.file(byId(linux, 'containerd').fileName).sha256, artifacts.file(byId(linux, 'cni-plugins').fileName).sha256].sort(), 'the good files are')
    t.same(temps(cacheDir), [], 'no partial or temp file left')
  })

  t.test('a wrong file in --artifacts-dir is an integrity error too, and is not cached', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const cacheDir = freshCache()
    const dir = join(scratch, 'wrong-artifacts')
    mkdirSync(dir, { recursive: true })
    copyFileSync(artifacts.file(byId(linux, 'containerd').fileName).path, join(dir, 'runc.amd64'))
    const error = await failure(fetchArtifacts([byId(linux, 'runc')], options(mirror, cacheDir, { artifactsDirs: [dir] })))
    t.type(error, ChecksumMismatchError)
    t.equal(error.exitCode, EXIT.integrity)
    t.match(error.message, `--artifacts-dir file ${join(dir, 'runc.amd64')}`)
    t.same(blobs(cacheDir), [])
    t.same(temps(cacheDir), [])
    t.equal(mirror.requests.length, 0, 'a wrong local file is reported, not replaced by a download')
  })

  t.test('a download cut in the middle resumes with a Range request and verifies', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const cacheDir = freshCache()
    const runc = byId(linux, 'runc')
    const path = artifactRelativePath(runc)
    const cut = 3 * 1024 * 1024
    mirror.script(path, { cutAfter: cut })
    const notes: string[] = []
    const [result] = await fetchArtifacts([runc], options(mirror, cacheDir, { reporter: { note: (m) => notes.push(m) } }))
    const seen = mirror.requestsFor(path)
    t.equal(seen.length, 2)
    t.equal(seen[0]!.headers.range, undefined)
    const range = /^bytes=(\d+)-$/.exec(seen[1]!.headers.range ?? '')
    t.ok(range, `the retry asked for a range (${seen[1]!.headers.range})`)
    const start = Number(range![1])
    t.ok(start > 0 && start <= cut, `it resumed after the bytes received (${start})`)
    t.equal(result!.source, 'mirror')
    t.equal((await hashFile(result!.path)).sha256, runc.sha256)
    t.match(notes.join('\n'), /resuming at byte \d+/)
    t.same(temps(cacheDir), [])
  })

  t.test('a server that ignores Range: the download restarts from the start and verifies', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const cacheDir = freshCache()
    const runc = byId(linux, 'runc')
    const path = artifactRelativePath(runc)
    mirror.script(path, { cutAfter: 1024 * 1024 }, { ignoreRange: true })
    const notes: string[] = []
    const [result] = await fetchArtifacts([runc], options(mirror, cacheDir, { reporter: { note: (m) => notes.push(m) } }))
    const seen = mirror.requestsFor(path)
    t.equal(seen.length, 2)
    t.match(seen[1]!.headers.range, /^bytes=\d+-$/)
    t.equal((await hashFile(result!.path)).sha256, runc.sha256)
    t.match(notes.join('\n'), /ignored the Range request/)
  })

  t.test('redirects are followed and a resume keeps its Range across them (release assets redirect to storage)', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const runc = byId(linux, 'runc')
    const path = artifactRelativePath(runc)
    mirror.serve('storage/runc.amd64', artifacts.file('runc.amd64').path)
    mirror.script('storage/runc.amd64', { cutAfter: 512 * 1024 })
    mirror.script(path, { status: 302, headers: { location: '/storage/runc.amd64' } }, { status: 302, headers: { location: '/storage/runc.amd64' } })
    const [result] = await fetchArtifacts([runc], options(mirror, freshCache()))
    t.equal((await hashFile(result!.path)).sha256, runc.sha256)
    const storage = mirror.requestsFor('storage/runc.amd64')
    t.equal(storage.length, 2)
    t.match(storage[1]!.headers.range, /^bytes=[1-9]\d*-$/, 'the Range header survived the redirect')
  })

  t.test('a partial download survives a failed build and the next build resumes it', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const cacheDir = freshCache()
    const runc = byId(linux, 'runc')
    const path = artifactRelativePath(runc)
    mirror.script(path, { cutAfter: 2 * 1024 * 1024 }, { status: 503 }, { status: 503 }, { status: 503 })
    const error = await failure(fetchArtifacts([runc], options(mirror, cacheDir)))
    t.type(error, DownloadError)
    t.equal(error.exitCode, EXIT.stepFailed)
    t.match(error.message, /HTTP 503 \(gave up after 4 tries\)/)
    t.same(temps(cacheDir), [`${runc.sha256}.partial`], 'the received prefix is parked under the expected SHA-256')

    const [result] = await fetchArtifacts([runc], options(mirror, cacheDir))
    t.match(mirror.requestsFor(path).at(-1)!.headers.range, /^bytes=[1-9]\d*-$/, 'the next build asked only for the rest')
    t.equal((await hashFile(result!.path)).sha256, runc.sha256)
    t.same(temps(cacheDir), [])
  })

  t.test('a resumed download that does not verify is downloaded once more from the start before failing', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const cacheDir = freshCache()
    const runc = byId(linux, 'runc')
    const path = artifactRelativePath(runc)
    // A parked prefix that is not a prefix of the file (a crashed build fed by another, wrong source).
    mkdirSync(join(cacheDir, 'tmp'), { recursive: true })
    writeFileSync(join(cacheDir, 'tmp', `${runc.sha256}.partial`), Buffer.alloc(4096, 0x5a))
    const [result] = await fetchArtifacts([runc], options(mirror, cacheDir))
    const seen = mirror.requestsFor(path)
    t.same(seen.map((r) => r.headers.range), ['bytes=4096-', undefined], 'resumed, failed to verify, restarted whole')
    t.equal((await hashFile(result!.path)).sha256, runc.sha256)
    t.same(temps(cacheDir), [])
  })

  t.test('5xx and 429 are retried with backoff; 404 and exhausted retries move on to the next mirror', async (t) => {
    const first = await mirrorWithFixtures(t)
    const second = await mirrorWithFixtures(t)
    const runc = byId(linux, 'runc')
    const path = artifactRelativePath(runc)

    first.script(path, { status: 503 }, { status: 429, headers: { 'retry-after': '0' } })
    const retries: string[] = []
    const [retried] = await fetchArtifacts([runc], options(first, freshCache(), { reporter: { retrying: (e) => retries.push(e.reason) } }))
    t.equal(retried!.source, 'mirror')
    t.equal(first.requestsFor(path).length, 3)
    t.same(retries, ['HTTP 503', 'HTTP 429'])

    first.script(path, { status: 500 }, { status: 500 }, { status: 500 }, { status: 500 })
    const before = first.requestsFor(path).length
    const [fallback] = await fetchArtifacts([runc], options([first, second], freshCache()))
    t.equal(first.requestsFor(path).length - before, 4, 'bounded: 4 tries at the failing mirror')
    t.equal(second.requestsFor(path).length, 1)
    t.equal(fallback!.source, 'mirror')

    first.unserve(path)
    const beforeMissing = first.requestsFor(path).length
    await fetchArtifacts([runc], options([first, second], freshCache()))
    t.equal(first.requestsFor(path).length - beforeMissing, 1, 'a 404 is not retried')

    second.unserve(path)
    const error = await failure(fetchArtifacts([runc], options([first, second], freshCache())))
    t.type(error, DownloadError)
    t.match(error.message, /mirror http:\/\/127\.0\.0\.1:\d+\/runc\/[\d.]+\/runc\.amd64: HTTP 404; mirror .*: HTTP 404/)
  })

  t.test('--offline: the error names every missing file; no connection is opened', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const cacheDir = freshCache()
    const runc = byId(linux, 'runc')
    const others = linux.filter((c) => c !== runc)
    await fetchArtifacts(others, options(mirror, cacheDir))
    const connections = mirror.connections

    const error = await failure(fetchArtifacts(linux, options(mirror, cacheDir, { offline: true, artifactsDirs: [join(scratch, 'empty')] })))
    t.type(error, MissingArtifactsError)
    t.equal(error.exitCode, EXIT.usage)
    t.match(error.message, /--offline: 1 artifact is neither in an --artifacts-dir nor in the cache/)
    t.match(error.message, `runc ${runc.version} (linux/amd64): runc.amd64`)
    t.match(error.message, `sha256:   ${runc.sha256}`)
    t.match(error.message, `upstream: ${runc.url}`)
    t.match(error.message, `put it at ${join(scratch, 'empty')}/runc/${runc.version}/runc.amd64`)
    t.notMatch(error.message, 'containerd-', 'files in the cache are not listed')

    const all = await failure(fetchArtifacts(linux, options(mirror, freshCache(), { offline: true })))
    t.type(all, MissingArtifactsError)
    for (const c of linux) {
      t.match(all.message, c.fileName)
      t.match(all.message, c.sha256!)
      t.match(all.message, c.url)
    }
    t.equal(mirror.connections, connections, 'the mirror saw no connection')

    // The offline client itself refuses, so even a defect that asks cannot connect.
    const refused = await failure(offlineHttp().get(`${mirror.url}runc/${runc.version}/runc.amd64`))
    t.type(refused, OfflineViolationError)
    t.equal(mirror.connections, connections, 'still no connection')

    // With the file at hand, the offline build completes: local file first, the rest from the cache.
    const dir = join(scratch, 'offline-artifacts')
    mkdirSync(join(dir, 'runc', runc.version), { recursive: true })
    copyFileSync(artifacts.file('runc.amd64').path, join(dir, 'runc', runc.version, 'runc.amd64'))
    const done = await fetchArtifacts(linux, options(mirror, cacheDir, { offline: true, artifactsDirs: [dir] }))
    t.same(done.map((a) => [a.component.id, a.source]), [['containerd', 'cache'], ['runc', 'local'], ['cni-plugins', 'cache']])
    t.ok(blobs(cacheDir).includes(runc.sha256!), 'the local file was copied into the cache')
    t.equal(mirror.connections, connections)
  })

  t.test('Windows assets: the checksum comes from the .sha256sum/.sha256 file, is remembered, and serves --offline', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const cacheDir = freshCache()
    const fetched = await fetchArtifacts(windows, options(mirror, cacheDir))
    for (const artifact of fetched) {
      const fixture = artifacts.file(artifact.component.fileName)
      t.equal(artifact.sha256, fixture.sha256, `${fixture.fileName}: learned from ${fixture.checksumFile!.fileName}`)
      t.equal(artifact.source, 'mirror')
      t.equal(mirror.requestsFor(artifactRelativePath(artifact.component, fixture.checksumFile!.fileName)).length, 1)
    }
    t.equal(listTree(join(cacheDir, 'checksums')).length, 4, 'one learned checksum per checksum URL')

    const connections = mirror.connections
    const offline = await fetchArtifacts(windows, options(mirror, cacheDir, { offline: true }))
    t.same(offline.map((a) => a.source), ['cache', 'cache', 'cache', 'cache'])
    t.equal(mirror.connections, connections, 'the offline build knew the checksums without asking')

    // Sneakernet: the asset and its checksum file side by side in an --artifacts-dir, offline, fresh cache.
    const containerd = byId(windows, 'containerd')
    const fixture = artifacts.file(containerd.fileName)
    const dir = join(scratch, 'windows-artifacts')
    mkdirSync(dir, { recursive: true })
    copyFileSync(fixture.path, join(dir, fixture.fileName))
    copyFileSync(fixture.checksumFile!.path, join(dir, fixture.checksumFile!.fileName))
    const [local] = await fetchArtifacts([containerd], options(mirror, freshCache(), { offline: true, artifactsDirs: [dir] }))
    t.equal(local!.source, 'local')
    t.equal(local!.sha256, fixture.sha256)

    // A tampered asset still fails against the published checksum.
    const tampered = await mirrorWithFixtures(t, { tamper: [fixture.fileName] })
    const error = await failure(fetchArtifacts([containerd], options(tampered, freshCache())))
    t.type(error, ChecksumMismatchError)
    t.match(error.message, `expected sha256 ${fixture.sha256}`)

    const offlineUnknown = await failure(fetchArtifacts([containerd], options(mirror, freshCache(), { offline: true })))
    t.type(offlineUnknown, MissingArtifactsError)
    t.match(offlineUnknown.message, /sha256: {3}unknown \(upstream publishes it at https:\/\/\S+\.sha256sum/)
  })

  t.test('KubeEdge assets: verified against the SHA-512 of checksum_<asset>.txt, learned with their SHA-256, offline after', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const kubeedge = byId(windows, 'kubeedge-windows')
    const fixture = artifacts.file(kubeedge.fileName)
    const published = readFileSync(fixture.checksumFile!.path, 'utf8')
    t.match(published, /^[0-9a-f]{128}\n$/, 'the stand-in checksum file is as KubeEdge writes it')
    const cacheDir = freshCache()
    const [fetched] = await fetchArtifacts([kubeedge], options(mirror, cacheDir))
    t.equal(fetched!.sha256, fixture.sha256, 'the blob is named by its SHA-256')
    t.equal(fetched!.sha512, published.trim(), 'and carries the SHA-512 it was verified against')
    t.equal(fetched!.source, 'mirror')
    const learned = JSON.parse(readFileSync(join(cacheDir, 'checksums', listTree(join(cacheDir, 'checksums'))[0]!), 'utf8')) as { sha256: string; sha512: string }
    t.same([learned.sha256, learned.sha512], [fixture.sha256, published.trim()])
    const connections = mirror.connections
    const [offline] = await fetchArtifacts([kubeedge], options(mirror, cacheDir, { offline: true }))
    t.same([offline!.source, offline!.sha512], ['cache', published.trim()], 'offline: both digests from the cache')
    t.equal(mirror.connections, connections)

    // Sneakernet: asset and checksum file in an --artifacts-dir, fresh cache, offline.
    const dir = join(scratch, 'kubeedge-artifacts')
    mkdirSync(dir, { recursive: true })
    copyFileSync(fixture.path, join(dir, fixture.fileName))
    copyFileSync(fixture.checksumFile!.path, join(dir, fixture.checksumFile!.fileName))
    const [local] = await fetchArtifacts([kubeedge], options(mirror, freshCache(), { offline: true, artifactsDirs: [dir] }))
    t.same([local!.source, local!.sha256, local!.sha512], ['local', fixture.sha256, published.trim()])
    // A local file that is not the published one fails against the SHA-512, and is not cached.
    writeFileSync(join(dir, fixture.fileName), 'not the release\n')
    const wrongLocal = await failure(fetchArtifacts([kubeedge], options(mirror, freshCache(), { offline: true, artifactsDirs: [dir] })))
    t.type(wrongLocal, ChecksumMismatchError)
    t.match(wrongLocal.message, `expected sha512 ${published.trim()}`)

    // A tampered download fails against the SHA-512, fail closed, nothing cached or learned.
    const tampered = await mirrorWithFixtures(t, { tamper: [fixture.fileName] })
    const tamperedCache = freshCache()
    const error = await failure(fetchArtifacts([kubeedge], options(tampered, tamperedCache)))
    t.type(error, ChecksumMismatchError)
    t.equal(error.exitCode, EXIT.integrity)
    t.match(error.message, `expected sha512 ${published.trim()}`)
    t.same([blobs(tamperedCache), temps(tamperedCache), listTree(join(tamperedCache, 'checksums'))], [[], [], []], 'nothing cached, left or learned')

    // A checksum file with a SHA-256 where KubeEdge publishes SHA-512 is refused by its length.
    const short = join(scratch, 'short-checksum.txt')
    writeFileSync(short, `${fixture.sha256}\n`)
    mirror.serve(artifactRelativePath(kubeedge, fixture.checksumFile!.fileName), short)
    const wrongLength = await failure(fetchArtifacts([kubeedge], options(mirror, freshCache())))
    t.equal(wrongLength.exitCode, EXIT.integrity)
    t.match(wrongLength.message, /is unusable: its digest for kubeedge-v[\d.]+-windows-amd64\.tar\.gz has 64 hex digits, not the 128 of a SHA-512/)
  })

  t.test('a checksum file that is not one: too large, or without the digest', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const containerd = byId(windows, 'containerd')
    const fixture = artifacts.file(containerd.fileName)
    const checksumPath = artifactRelativePath(containerd, fixture.checksumFile!.fileName)
    mirror.serve(checksumPath, artifacts.file('runc.amd64').path)
    const large = await failure(fetchArtifacts([containerd], options(mirror, freshCache())))
    t.type(large, DownloadError)
    t.match(large.message, /larger than 65536 bytes: not a checksum file/)

    const garbage = join(scratch, 'garbage.sha256sum')
    writeFileSync(garbage, '<html>rate limited</html>\n')
    mirror.serve(checksumPath, garbage)
    const cacheDir = freshCache()
    const unusable = await failure(fetchArtifacts([containerd], options(mirror, cacheDir)))
    t.equal(unusable.exitCode, EXIT.integrity)
    t.match(unusable.message, /the checksum file for containerd-[\d.]+-windows-amd64\.tar\.gz from http:\/\/127\.0\.0\.1:\d+\/.*\.sha256sum is unusable: it holds no SHA-256 digest/)
    t.same(listTree(join(cacheDir, 'checksums')), [], 'nothing learned')
  })

  t.test('no pin and no checksum file (docker-static): --checksum and the file are needed', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const runc = artifacts.file('runc.amd64')
    const unpinned: ResolvedComponent = { ...byId(linux, 'runc'), id: 'docker-static', version: '27.5.1', sha256: null, checksumUrl: null, fileName: 'docker-27.5.1.tgz' }
    const error = await failure(fetchArtifacts([unpinned], options(mirror, freshCache())))
    t.type(error, ChecksumRequiredError)
    t.equal(error.exitCode, EXIT.usage)
    t.match(error.message, 'docker-static 27.5.1')
    t.match((error as ChecksumRequiredError).hint, '--checksum docker-static=<sha256>')
    t.equal(mirror.requests.length, 0, 'refused before any download')

    const dir = join(scratch, 'docker-artifacts')
    mkdirSync(dir, { recursive: true })
    copyFileSync(runc.path, join(dir, 'docker-27.5.1.tgz'))
    const [ok] = await fetchArtifacts([unpinned], options(mirror, freshCache(), { artifactsDirs: [dir], checksums: { 'docker-static': runc.sha256 } }))
    t.equal(ok!.source, 'local')
    const wrong = await failure(fetchArtifacts([unpinned], options(mirror, freshCache(), { artifactsDirs: [dir], checksums: { 'docker-static': 'a'.repeat(64) } })))
    t.equal(wrong.exitCode, EXIT.integrity)
  })

  t.test('two builds fetching into one cache at once both succeed and leave one blob each', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const cacheDir = freshCache()
    const [a, b] = await Promise.all([fetchArtifacts(linux, options(mirror, cacheDir)), fetchArtifacts(linux, options(mirror, cacheDir, { concurrency: 1 }))])
    t.same(a.map((x) => x.path), b.map((x) => x.path))
    t.same(blobs(cacheDir).sort(), linux.map((c) => c.sha256!).sort())
    t.same(temps(cacheDir), [])
    for (const artifact of a) t.equal((await hashFile(artifact.path)).sha256, artifact.sha256)
  })

  t.test('no source at all: a clear error instead of a silent upstream download', async (t) => {
    const error = await failure(fetchArtifacts([byId(linux, 'runc')], { cacheDir: freshCache(), http, upstream: false, retry: FAST_RETRY }))
    t.type(error, DownloadError)
    t.match((error as DownloadError).hint, /No --mirror is given and upstream downloads are off/)
  })

  t.test('verifyCached: a corrupted cache entry is detected, evicted and fetched again', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const cacheDir = freshCache()
    const runc = byId(linux, 'runc')
    const [first] = await fetchArtifacts([runc], options(mirror, cacheDir))
    chmodSync(first!.path, 0o644)
    writeFileSync(first!.path, 'bit rot')
    const notes: string[] = []
    const [again] = await fetchArtifacts([runc], options(mirror, cacheDir, { verifyCached: true, reporter: { note: (m) => notes.push(m) } }))
    t.equal(again!.source, 'mirror')
    t.equal((await hashFile(again!.path)).sha256, runc.sha256)
    t.match(notes.join('\n'), /cached copy is corrupt/)
  })
}
