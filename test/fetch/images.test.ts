/**
 * `fetch --pull-pause` on a real registry (Debian's docker-registry on 127.0.0.1): the target platform's image
 * lands in the cache, an offline run reuses it, and a given archive must name the configured image.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { run } from '../../src/cli/main.js'
import { type ImageRequest, imageRequests, prepareImage } from '../../src/fetch/images.js'
import { readImageArchive } from '../../src/oci/index.js'
import { buildTestImages, loopbackOnly, pushMultiPlatform, sh, skipUnlessTools, skopeoPush, startRegistry } from '../oci/fixtures.js'

const skip = skipUnlessTools()

async function cli(argv: string[], http: ReturnType<typeof loopbackOnly>) {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), http })
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
  const request = (arch: 'amd64' | 'arm64'): ImageRequest => ({
    reference: `${registry.host}/edge/pause:3.9`,
    role: 'pause',
    family: 'linux',
    arch,
    pull: true,
    insecureRegistries: [],
    offline: false,
    cacheDir: join(root, 'cache'),
    http: loopbackOnly(seen),
  })
  const pulled = await Promise.all([request('amd64'), request('amd64'), request('amd64'), request('arm64')].map((r) => prepareImage(r)))
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

t.test('the images keadm join asks for: --pull-kubeedge-images with --image-repository, --image-archive matched by name', { skip }, async (t) => {
  const root = t.testdir()
  const registry = await startRegistry(join(root, 'registry'))
  t.teardown(() => registry.stop())
  const layout = await buildTestImages(join(root, 'images'))
  await skopeoPush(layout, 'amd64', `${registry.host}/kubeedge/installation-package:v1.23.1`, 'oci')
  const seen: string[] = []
  const http = loopbackOnly(seen)
  const cache = join(root, 'cache')
  const target = ['--os', 'ubuntu', '--arch', 'amd64', '--runtime', 'cri-o', '--runtime-source', 'preinstalled', '--kubeedge-version', '1.23', '--cache-dir', cache]

  const listed = await cli(['fetch', ...target, '--pull-kubeedge-images', '--image-repository', `${registry.host}/kubeedge`, '--print-urls'], http)
  t.equal(listed.code, 0, listed.stderr)
  t.match(listed.stdout, `docker://${registry.host}/kubeedge/installation-package:v1.23.1\t(KubeEdge image)\tpulled for linux/amd64\t--image-archive FILE`)

  const pulled = await cli(['fetch', ...target, '--pull-kubeedge-images', '--image-repository', `${registry.host}/kubeedge`], http)
  t.equal(pulled.code, 0, pulled.stderr)
  t.match(pulled.stdout, new RegExp(`KubeEdge image ${registry.host}/kubeedge/installation-package:v1\\.23\\.1 \\(linux/amd64\\) pulled`))
  t.ok(seen.some((url) => url.endsWith('/v2/kubeedge/installation-package/manifests/v1.23.1')), 'asked the registry for the tag keadm asks for')
  const before = seen.length
  const offline = await cli(['fetch', ...target, '--pull-kubeedge-images', '--image-repository', `${registry.host}/kubeedge`, '--offline'], http)
  t.equal(offline.code, 0, offline.stderr)
  t.match(offline.stdout, /KubeEdge image .* cached/)
  t.equal(seen.length, before, 'offline: no registry request')
  const notCached = await cli(['fetch', ...target, '--pull-kubeedge-images', '--offline'], http)
  t.equal(notCached.code, 2)
  t.match(notCached.stderr, /--offline: the KubeEdge image kubeedge\/installation-package:v1\.23\.1 for linux\/amd64 is not in the cache/)

  // --image-archive: given to the image it names, refused when it names none of them.
  const archive = join(root, 'installation-package.oci.tar')
  await sh('skopeo', ['copy', '--quiet', `oci:${layout}:amd64`, `oci-archive:${archive}:docker.io/kubeedge/installation-package:v1.23.1`])
  const given = await cli(['fetch', ...target, '--image-archive', archive], http)
  t.equal(given.code, 0, given.stderr)
  t.match(given.stdout, 'KubeEdge image docker.io/kubeedge/installation-package:v1.23.1 (linux/amd64) from the given archive')
  const older = await cli(['fetch', ...target.slice(0, -4), '--kubeedge-version', '1.22', '--cache-dir', cache, '--image-archive', archive], http)
  t.equal(older.code, 2, 'an archive of another version is refused')
  t.match(older.stderr, /--image-archive .* holds none of the images keadm join asks for at this version \(kubeedge\/installation-package:v1\.22\.\d+\)/)
  const windows = await cli(['fetch', '--os', 'windows', '--runtime', 'containerd', '--cache-dir', cache, '--pull-kubeedge-images', '--print-urls'], http)
  const windowsBuild = await cli(['fetch', '--os', 'windows', '--runtime', 'containerd', '--cache-dir', cache, '--offline', '--pull-kubeedge-images'], http)
  t.equal(windowsBuild.code, 2, 'Windows: refused')
  t.match(windowsBuild.stderr, /keadm join on Windows downloads edgecore from --download-repo, it pulls no image/)
  t.equal(windows.code, 0)
  t.notMatch(windows.stdout, /installation-package/, 'Windows: no image to list')
})

t.test('an image keadm asks for that is the pause image is carried once, under the pause request', async (t) => {
  const settings = { pauseImageArchive: undefined, pullPause: false, pullKubeedgeImages: true, imageArchives: [], insecureRegistries: [], offline: false, cacheDir: t.testdir() }
  const target = { pauseImage: 'kubeedge/pause:3.6', kubeedgeImages: ['kubeedge/installation-package:v1.23.1', 'kubeedge/pause:3.6', 'docker.io/kubeedge/pause:3.6'], family: 'linux', arch: 'amd64' } as const
  const requests = await imageRequests(target, settings, undefined)
  t.same(
    requests.map((r) => [r.role, r.reference, r.pull]),
    [
      ['pause', 'kubeedge/pause:3.6', true],
      ['kubeedge', 'kubeedge/installation-package:v1.23.1', true],
    ],
  )
  const without = await imageRequests(target, { ...settings, pullKubeedgeImages: false }, undefined)
  t.same(without.map((r) => r.pull), [false, false], 'nothing asked, nothing pulled')
})
