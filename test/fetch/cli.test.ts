/**
 * `edgebundle fetch` in-process through run(): --print-urls (TSV and JSON), --catalog, warming the cache
 * from a real mirror on 127.0.0.1 with --no-upstream, and the exit codes of its failures. The injected
 * client refuses non-loopback URLs.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { run } from '../../src/cli/main.js'
import type { Http } from '../../src/fetch/http.js'
import { debianArtifacts, debianPartsInstalled, testCatalog } from './artifacts.js'
import { type Mirror, loopbackHttp, startMirror } from './mirror.js'

type Teardown = { teardown: (fn: () => unknown) => void }

const installed = debianPartsInstalled()
if (!installed && process.env['CI']) throw new Error('containerd, runc and containernetworking-plugins are not installed; .ci/run installs them')
if (installed) main()
else t.plan(0, 'Debian containerd, runc and containernetworking-plugins are not installed here')

function main(): void {
  const artifacts = debianArtifacts()
  const { containerd, runc, cni } = artifacts.versions
  const scratch = mkdtempSync(join(tmpdir(), 'edgebundle-fetch-cli-'))
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))
  const catalogDir = testCatalog(scratch, artifacts)
  const http = loopbackHttp()
  t.teardown(() => http.close())

  async function cli(argv: string[], client: Http = http): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = ''
    let stderr = ''
    const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), http: client })
    return { code, stdout, stderr }
  }

  let caches = 0
  const target = (os = 'ubuntu') => ['--catalog', catalogDir, '--os', os, '--runtime', 'containerd', '--runtime-version', containerd]
  const freshCache = () => ['--cache-dir', join(scratch, `cache-${++caches}`)]

  async function mirrorWithFixtures(t: Teardown, tamper: string[] = []): Promise<Mirror> {
    const mirror = await startMirror()
    mirror.serveFixtures(artifacts.files, { tamper })
    t.teardown(() => mirror.close())
    return mirror
  }

  t.test('fetch --print-urls: one tab-separated line per file, downloading nothing', async (t) => {
    const cache = freshCache()
    const result = await cli(['fetch', ...target(), '--print-urls', ...cache])
    t.equal(result.code, 0, result.stderr)
    const lines = result.stdout.trimEnd().split('\n').map((line) => line.split('\t'))
    t.same(lines, [
      [
        `https://github.com/containerd/containerd/releases/download/v${containerd}/containerd-${containerd}-linux-amd64.tar.gz`,
        `containerd-${containerd}-linux-amd64.tar.gz`,
        artifacts.file(`containerd-${containerd}-linux-amd64.tar.gz`).sha256,
        `containerd/${containerd}/containerd-${containerd}-linux-amd64.tar.gz`,
      ],
      [`https://github.com/opencontainers/runc/releases/download/v${runc}/runc.amd64`, 'runc.amd64', artifacts.file('runc.amd64').sha256, `runc/${runc}/runc.amd64`],
      [
        `https://github.com/containernetworking/plugins/releases/download/v${cni}/cni-plugins-linux-amd64-v${cni}.tgz`,
        `cni-plugins-linux-amd64-v${cni}.tgz`,
        artifacts.file(`cni-plugins-linux-amd64-v${cni}.tgz`).sha256,
        `cni-plugins/${cni}/cni-plugins-linux-amd64-v${cni}.tgz`,
      ],
    ])
    t.same(readdirSync(scratch).filter((name) => name.startsWith('cache-')), [], 'no cache folder created')

    const windows = await cli(['fetch', ...target('windows'), '--print-urls', ...cache])
    t.equal(windows.code, 0, windows.stderr)
    t.match(
      windows.stdout,
      `containerd-${containerd}-windows-amd64.tar.gz\tchecksum from https://github.com/containerd/containerd/releases/download/v${containerd}/containerd-${containerd}-windows-amd64.tar.gz.sha256sum\tcontainerd/${containerd}/containerd-${containerd}-windows-amd64.tar.gz`,
    )

    const json = await cli(['fetch', ...target('windows'), '--print-urls', '--json', ...cache])
    const entries = JSON.parse(json.stdout)
    t.match(entries[0], {
      id: 'containerd',
      platform: 'windows/amd64',
      sha256: null,
      checksum: { kind: 'checksum-file', fileName: `containerd-${containerd}-windows-amd64.tar.gz.sha256sum`, path: `containerd/${containerd}/containerd-${containerd}-windows-amd64.tar.gz.sha256sum` },
      path: `containerd/${containerd}/containerd-${containerd}-windows-amd64.tar.gz`,
    })
  })

  t.test('fetch warms the cache from a mirror; the next run and --print-urls use what it learned', async (t) => {
    const mirror = await mirrorWithFixtures(t)
    const cache = freshCache()
    const cold = await cli(['fetch', ...target(), '--mirror', mirror.url, '--no-upstream', ...cache])
    t.equal(cold.code, 0, cold.stderr)
    t.match(cold.stdout, /edgebundle-1\.23-ubuntu-amd64-containerd: 3 artifacts ready in .*cache-\d+ \(3 from mirror\)/)
    t.match(cold.stdout, /runc\.amd64\s+mirror\s+[0-9a-f]{64}/)

    const requests = mirror.requests.length
    const warm = await cli(['fetch', ...target(), '--mirror', mirror.url, '--no-upstream', '--json', ...cache])
    t.equal(warm.code, 0, warm.stderr)
    t.same(JSON.parse(warm.stdout).map((a: { source: string }) => a.source), ['cache', 'cache', 'cache'])
    t.equal(mirror.requests.length, requests, 'the mirror saw no request')

    const windows = await cli(['fetch', ...target('windows'), '--mirror', mirror.url, '--no-upstream', ...cache])
    t.equal(windows.code, 0, windows.stderr)
    const listed = await cli(['fetch', ...target('windows'), '--print-urls', ...cache])
    t.match(listed.stdout, `containerd-${containerd}-windows-amd64.tar.gz\t${artifacts.file(`containerd-${containerd}-windows-amd64.tar.gz`).sha256}\t`, 'the learned checksum is listed')

    const offline = await cli(['fetch', ...target('windows'), '--offline', '--verbose', ...cache])
    t.equal(offline.code, 0, offline.stderr)
    t.match(offline.stderr, `containerd-${containerd}-windows-amd64.tar.gz: cache, sha256 `, '--verbose: one line per file')
  })

  t.test('exit codes: 3 for a tampered file, 2 for --offline with files missing, 1 when no source has it', async (t) => {
    const tampered = await mirrorWithFixtures(t, ['runc.amd64'])
    const bad = await cli(['fetch', ...target(), '--mirror', tampered.url, '--no-upstream', ...freshCache()])
    t.equal(bad.code, 3)
    t.match(bad.stderr, /checksum mismatch for runc\.amd64 from mirror http:\/\/127\.0\.0\.1:\d+\/runc\/[\d.]+\/runc\.amd64: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}/)

    const connections = tampered.connections
    const offline = await cli(['fetch', ...target(), '--offline', '--mirror', tampered.url, ...freshCache()])
    t.equal(offline.code, 2)
    t.match(offline.stderr, /--offline: 3 artifacts are neither in an --artifacts-dir nor in the cache/)
    t.equal(tampered.connections, connections, '--offline opened no connection, even with --mirror given')

    const empty = await startMirror()
    t.teardown(() => empty.close())
    const missing = await cli(['fetch', ...target(), '--mirror', empty.url, '--no-upstream', ...freshCache()])
    t.equal(missing.code, 1)
    t.match(missing.stderr, /3 artifacts failed/)
    t.match(missing.stderr, /cannot download runc\.amd64: mirror http:\/\/127\.0\.0\.1:\d+\/runc\/[\d.]+\/runc\.amd64: HTTP 404/)
  })

  t.test('bad artifact flags exit 2 before anything is fetched', async (t) => {
    const cases: [string[], RegExp][] = [
      [['--checksum', 'runc'], /--checksum runc is not ID=SHA256/],
      [['--checksum', `nope=${'a'.repeat(64)}`], /nope is not a component of this target/],
      [['--checksum', `runc=${'a'.repeat(64)}`], /contradicts the SHA-256 bundles\/ pins/],
      [['--mirror', 'ftp://mirror.example/'], /only http and https mirrors/],
      [['--artifacts-dir', join(scratch, 'absent')], /--artifacts-dir .*absent cannot be read: ENOENT/],
      [['--concurrency', '0'], /--concurrency 0 is not a number from 1 to 32/],
    ]
    const refuse: Http = { get: (url) => Promise.reject(new Error(`no request expected: ${url}`)) }
    for (const [flags, message] of cases) {
      const result = await cli(['fetch', ...target(), ...flags, ...freshCache()], refuse)
      t.equal(result.code, 2, flags.join(' '))
      t.match(result.stderr, message)
    }
    const noCatalog = await cli(['fetch', '--catalog', join(scratch, 'absent'), '--os', 'ubuntu', '--runtime', 'containerd', '--print-urls'])
    t.equal(noCatalog.code, 2)
    t.match(noCatalog.stderr, /--catalog .* is not a bundles\/ folder/)
  })

  t.test('--catalog also drives plan', async (t) => {
    const plan = await cli(['plan', ...target(), '--json'])
    t.equal(plan.code, 0, plan.stderr)
    t.equal(JSON.parse(plan.stdout).runtime.version, containerd)
    const shipped = await cli(['plan', '--os', 'ubuntu', '--runtime', 'containerd', '--runtime-version', containerd])
    t.equal(shipped.code, 2, 'the shipped catalog does not pin the Debian version')
  })
}
