/**
 * `fetch --pull-pause` on a real registry (Debian's docker-registry on 127.0.0.1): the target platform's image
 * lands in the cache, an offline run reuses it, and a given archive must name the configured image.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { run } from '../../src/cli/main.js'
import { pauseImageRequest, preparePauseImage } from '../../src/fetch/pause-image.js'
import { readImageArchive } from '../../src/oci/index.js'
import { buildTestImages, loopbackOnly, pushMultiPlatform, skipUnlessTools, startRegistry } from '../oci/fixtures.js'

const skip = skipUnlessTools()

async function cli(argv: string[], registryFetch: ReturnType<typeof loopbackOnly>) {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), http: registryFetch })
  return { code, stdout, stderr }
}

/** A loopback registry serving edge/pause:3.9 for several platforms, stopped with the test. */
async function registryWithPause(t: Test, root: string) {
  const registry = await startRegistry(join(root, 'registry'))
  t.teardown(() => registry.stop())
  const layout = await buildTestImages(join(root, 'images'))
  await pushMultiPlatform(registry, layout, 'edge/pause', '3.9', 'oci')
  return registry
}

t.test('--pull-pause, offline reuse, --pause-image-archive', { skip }, async (t) => {
  const root = t.testdir()
  const registry = await registryWithPause(t, root)
  const seen: string[] = []
  const http = loopbackOnly(seen)
  const cache = join(root, 'cache')
  const image = `${registry.host}/edge/pause:3.9`
  // preinstalled CRI-O has no artifacts to download: only the image is fetched.
  const target = ['--os', 'ubuntu', '--runtime', 'cri-o', '--runtime-source', 'preinstalled', '--pause-image', image, '--cache-dir', cache]

  for (const arch of ['amd64', 'arm64'] as const) {
    const pulled = await cli(['fetch', ...target, '--arch', arch, '--pull-pause'], http)
    t.equal(pulled.code, 0, pulled.stderr)
    t.match(pulled.stdout, new RegExp(`pause image ${registry.host}/edge/pause:3\\.9 \\(linux/${arch}\\) pulled`))
    const path = /: (\/\S+\.oci\.tar) [0-9a-f]{64}/.exec(pulled.stdout)![1]!
    const info = await readImageArchive(path)
    t.same(info.platforms, [`linux/${arch}`], `the ${arch} manifest was chosen`)
    t.ok(info.names.includes(image) || info.names.includes(`${registry.host}/edge/pause:3.9`))
  }

  const before = seen.length
  const offline = await cli(['fetch', ...target, '--arch', 'arm64', '--pull-pause', '--offline'], http)
  t.equal(offline.code, 0, offline.stderr)
  t.match(offline.stdout, /\(linux\/arm64\) cached/)
  t.equal(seen.length, before, 'offline: no registry request')

  const missing = await cli(['fetch', ...target, '--arch', 'arm', '--pull-pause', '--offline'], http)
  t.equal(missing.code, 2)
  t.match(missing.stderr, /--offline: the pause image .* for linux\/arm\/v7 is not in the cache/)

  // A given archive is checked for the platform and for the name every config uses.
  const archivePath = /: (\/\S+\.oci\.tar)/.exec((await cli(['fetch', ...target, '--arch', 'amd64', '--pull-pause', '--offline'], http)).stdout)![1]!
  const given = await cli(['fetch', ...target, '--arch', 'amd64', '--pause-image-archive', archivePath], http)
  t.equal(given.code, 0, given.stderr)
  t.match(given.stdout, /from the given archive/)
  const wrongName = await cli(['fetch', ...target.slice(0, -4), '--cache-dir', cache, '--pause-image', 'kubeedge/pause:3.6', '--arch', 'amd64', '--pause-image-archive', archivePath], http)
  t.equal(wrongName.code, 2)
  t.match(wrongName.stderr, /holds no image named kubeedge\/pause:3\.6/)
  const wrongArch = await cli(['fetch', ...target, '--arch', 'arm64', '--pause-image-archive', archivePath], http)
  t.equal(wrongArch.code, 2)
  t.match(wrongArch.stderr, /arm64/)
  const both = await cli(['fetch', ...target, '--pull-pause', '--pause-image-archive', archivePath], http)
  t.equal(both.code, 2)
  t.match(both.stderr, /exclude each other/)
})

t.test('parallel builds of one process share a pull of the same image', { skip }, async (t) => {
  const root = t.testdir()
  const registry = await registryWithPause(t, root)
  const seen: string[] = []
  const request = (arch: 'amd64' | 'arm64') =>
    pauseImageRequest(
      { pauseImage: `${registry.host}/edge/pause:3.9`, family: 'linux', arch },
      { pauseImageArchive: undefined, pullPause: true, insecureRegistries: [], offline: false, cacheDir: join(root, 'cache') },
      loopbackOnly(seen),
    )
  const pulled = await Promise.all([request('amd64'), request('amd64'), request('amd64'), request('arm64')].map((r) => preparePauseImage(r)))
  const [a, b, c, other] = pulled.map((image) => image!)
  t.equal(a!.path, b!.path)
  t.equal(b!.path, c!.path)
  t.equal(a!.sha256, c!.sha256)
  t.not(other!.path, a!.path)
  const amd64Blobs = (await readImageArchive(a!.path)).platforms
  t.same(amd64Blobs, ['linux/amd64'])
  const indexRequests = seen.filter((url) => url.endsWith('/manifests/3.9'))
  t.equal(indexRequests.length, 2, 'one pull per platform: the three amd64 builds shared one')
  t.same(readdirSync(join(root, 'cache', 'images')).filter((name) => name.endsWith('.tmp')), [], 'no temporary file is left')
})
