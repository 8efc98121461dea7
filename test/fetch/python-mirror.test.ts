/**
 * The mirror operators actually run on an air-gapped network: `python3 -m http.server` serving a folder
 * (HTTP/1.0, the connection closed after every body). Fifty cold `edgebundle fetch` runs in a row, each
 * with an empty cache and its own default client (the CLI's run(), in this process, where an uncaught
 * exception would end the test), must all succeed with the cached files byte-identical to the mirror's;
 * then the built CLI as a process, to show the exit code. (undici 6 crashed on about half of such runs:
 * nodejs/undici#5360.)
 */
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import t from 'tap'
import { type DebianArtifacts, type FixtureFile, listTree, testCatalog } from './artifacts.js'
import { freePort, spawnWatched, waitUntil } from '../oci/fixtures.js'
import { run } from '../../src/cli/main.js'
import { createHttpClient } from '../../src/io/http.js'
import { sameBytes } from '../fixtures/files.js'

const RUNS = 50
const PROCESSES = 2
const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy']
const cli = resolve('bin/edgebundle.js')
const python = spawnSync('python3', ['--version']).status === 0
if (!python && process.env['CI']) throw new Error('python3 is missing; .ci/run installs it')
if (!existsSync(resolve('dist/edgebundle.mjs'))) throw new Error('dist/edgebundle.mjs is missing: run `npm run build` first')

t.test(`${RUNS} cold fetches from python3 -m http.server`, { skip: python ? false : 'python3 is not installed' }, async (t) => {
  const scratch = mkdtempSync(join(tmpdir(), 'edgebundle-pymirror-'))
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))

  // Three small stand-ins under the real names and layout: what is under test is the transfer, and the
  // bodies are large enough (a few socket buffers each) for the close to race the reading.
  const versions = { containerd: '1.6.99', runc: '1.1.99', cni: '1.1.98' }
  const mirrorDir = join(scratch, 'mirror')
  const file = (id: string, version: string, fileName: string, size: number): FixtureFile => {
    const dir = join(mirrorDir, id, version)
    mkdirSync(dir, { recursive: true })
    const bytes = randomBytes(size)
    const path = join(dir, fileName)
    writeFileSync(path, bytes)
    return { id, version, platform: 'linux/amd64', fileName, path, size, sha256: createHash('sha256').update(bytes).digest('hex') }
  }
  const files = [
    file('containerd', versions.containerd, `containerd-${versions.containerd}-linux-amd64.tar.gz`, 1536 * 1024),
    file('runc', versions.runc, 'runc.amd64', 768 * 1024),
    file('cni-plugins', versions.cni, `cni-plugins-linux-amd64-v${versions.cni}.tgz`, 1024 * 1024),
  ]
  const artifacts: DebianArtifacts = {
    dir: mirrorDir,
    versions,
    files,
    file: (name) => files.find((f) => f.fileName === name)!,
  }
  const catalog = testCatalog(scratch, artifacts)

  const port = await freePort()
  const server = spawnWatched('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', mirrorDir], join(scratch, 'http.server.log'))
  t.teardown(() => server.stop())
  const probe = createHttpClient({ env: {} })
  await waitUntil('python3 -m http.server', server, async () => {
    const response = await probe.get(`http://127.0.0.1:${port}/`)
    for await (const _ of response.body) void _ // read to the end: the server closes after it
    return response.status === 200
  })
  await probe.close()

  // No proxy from the machine (the default client reads process.env): the mirror is on loopback.
  for (const name of PROXY_VARIABLES) delete process.env[name]
  const env: NodeJS.ProcessEnv = { ...process.env }
  const args = (cache: string) => [
    'fetch', '--catalog', catalog, '--os', 'ubuntu', '--runtime', 'containerd', '--runtime-version', versions.containerd,
    '--mirror', `http://127.0.0.1:${port}/`, '--no-upstream', '--cache-dir', cache,
  ]
  const failures: string[] = []
  const check = (label: string, cache: string) => {
    const blobs = listTree(join(cache, 'blobs', 'sha256'))
    for (const f of files) {
      const cached = join(cache, 'blobs', 'sha256', f.sha256)
      if (!blobs.includes(f.sha256) || !sameBytes(cached, f.path)) failures.push(`${label}: ${f.fileName} is not byte-identical in the cache`)
    }
    if (listTree(join(cache, 'tmp')).length > 0) failures.push(`${label}: tmp/ is not empty`)
    rmSync(cache, { recursive: true, force: true })
  }

  const started = Date.now()
  for (let n = 1; n <= RUNS; n++) {
    const cache = join(scratch, `cache-${n}`)
    let stderr = ''
    const code = await run(args(cache), { stdout: () => {}, stderr: (text) => void (stderr += text) })
    if (code !== 0) failures.push(`run ${n}: exit ${code}: ${stderr.trim()}`)
    else check(`run ${n}`, cache)
  }
  t.comment(`${RUNS} cold fetches of ${files.length} files (${files.reduce((n, f) => n + f.size, 0)} bytes each run) in ${((Date.now() - started) / 1000).toFixed(1)} s`)

  for (let n = 1; n <= PROCESSES; n++) {
    const cache = join(scratch, `process-${n}`)
    const result = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const child = spawn(process.execPath, [cli, ...args(cache)], { env, stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()))
      child.on('close', (code) => done({ code, stderr }))
    })
    if (result.code !== 0) failures.push(`process ${n}: exit ${result.code}: ${result.stderr.trim()}`)
    else check(`process ${n}`, cache)
  }
  t.same(failures, [], `all ${RUNS} runs and ${PROCESSES} processes succeeded, every cached file byte-identical`)
})
