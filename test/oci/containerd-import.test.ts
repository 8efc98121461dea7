/**
 * What the node will do with a pulled archive: Debian's real containerd imports it with `ctr images import`
 * and names it by io.containerd.image.name, unpacking the layer (native snapshotter, so any filesystem
 * works). containerd runs on a private socket, root and state in a temp folder, and is stopped at the end.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { pullImage } from '../../src/oci/pull.js'
import { buildTestImages, loopbackOnly, pushMultiPlatform, skipUnlessTools, spawnWatched, startRegistry, waitUntil } from './fixtures.js'

const hasContainerd = spawnSync('containerd', ['--version'], { stdio: 'ignore' }).status === 0 && spawnSync('ctr', ['--version'], { stdio: 'ignore' }).status === 0
if (!hasContainerd && process.env['CI']) throw new Error('containerd is not installed; .ci/run installs Debian\'s containerd package')
const skip =
  skipUnlessTools() || (!hasContainerd && 'containerd is not installed here') || (process.getuid?.() !== 0 && !process.env['CI'] && 'containerd needs root')

t.test('ctr images import loads and names the pulled archives', { skip }, async (t) => {
  const root = t.testdir()
  const registry = await startRegistry(join(root, 'registry'))
  t.teardown(() => registry.stop())
  const layout = await buildTestImages(join(root, 'images'))
  const pushed = await pushMultiPlatform(registry, layout, 'edge/pause', '3.9', 'oci')
  const ref = `${registry.host}/edge/pause:3.9`
  const byDigest = `${registry.host}/edge/pause@${pushed.indexDigest}`

  const archives = {
    amd64: join(root, 'amd64.tar'),
    arm64: join(root, 'arm64.tar'),
    digest: join(root, 'digest.tar'),
  }
  await pullImage(ref, { os: 'linux', arch: 'amd64' }, { output: archives.amd64, http: loopbackOnly() })
  await pullImage(ref, { os: 'linux', arch: 'arm64' }, { output: archives.arm64, http: loopbackOnly() })
  await pullImage(byDigest, { os: 'linux', arch: 'amd64' }, { output: archives.digest, http: loopbackOnly() })

  // A unix socket path must stay under ~108 bytes: keep containerd's folder short, outside .tap/fixtures.
  const dir = mkdtempSync(join(tmpdir(), 'eb-ctr-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const socket = join(dir, 'c.sock')
  writeFileSync(
    join(dir, 'config.toml'),
    [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '',
    ].join('\n'),
  )
  const containerd = spawnWatched('containerd', ['--config', join(dir, 'config.toml')], join(dir, 'containerd.log'))
  t.teardown(() => containerd.stop())
  const ctr = (...args: string[]) => execFileSync('ctr', ['--address', socket, '--namespace', 'edgebundle-test', ...args], { encoding: 'utf8' })
  await waitUntil('containerd', containerd, async () => spawnSync('ctr', ['--address', socket, 'version'], { stdio: 'ignore' }).status === 0)

  const images = () =>
    Object.fromEntries(
      ctr('images', 'ls')
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => line.split(/\s+/))
        .map((cols) => [cols[0], { digest: cols[2], platform: cols[5] }]),
    ) as Record<string, { digest: string; platform: string }>

  ctr('images', 'import', '--snapshotter', 'native', archives.amd64)
  t.same(images()[ref], { digest: pushed.manifests['amd64']!.digest, platform: 'linux/amd64' }, 'named by io.containerd.image.name, amd64 manifest')
  t.match(ctr('images', 'check'), new RegExp(`${ref.replace(/[.]/g, '\\.')} .*complete`), 'all content present')

  ctr('images', 'import', '--snapshotter', 'native', archives.digest)
  t.same(images()[byDigest], { digest: pushed.manifests['amd64']!.digest, platform: 'linux/amd64' }, 'a digest reference is imported under that name')

  // Not the host's platform: ctr imports it only when told to take every platform.
  ctr('images', 'import', '--all-platforms', '--snapshotter', 'native', archives.arm64)
  t.same(images()[ref], { digest: pushed.manifests['arm64']!.digest, platform: 'linux/arm64' }, 'the arm64 archive replaces the name with its manifest')
})
