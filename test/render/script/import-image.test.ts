/**
 * install.sh's import-image step on real parts: Debian's containerd (private socket, root and state in a temp
 * folder) loads a bundled OCI archive under the name the configs use; a re-run finds it and changes nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { PLAN_SCHEMA_VERSION, type Plan } from '../../../src/model/plan.js'
import { renderInstallSh } from '../../../src/render/script/posix.js'
import { buildTestImages, skipUnlessTools, spawnWatched, waitUntil } from '../../oci/fixtures.js'
import { templates } from '../../helpers.js'

const hasContainerd = spawnSync('containerd', ['--version'], { stdio: 'ignore' }).status === 0
if (!hasContainerd && process.env['CI']) throw new Error("containerd is not installed; .ci/run installs Debian's containerd package")
const skip = skipUnlessTools() || (!hasContainerd && 'containerd is not installed here') || (process.getuid?.() !== 0 && 'containerd needs root')

t.test('import-image loads the bundled pause image into containerd, once', { skip }, async (t) => {
  const work = t.testdir()
  const layout = await buildTestImages(join(work, 'images'))
  const image = 'docker.io/kubeedge/pause:3.6'
  const bundle = join(work, 'bundle')
  mkdirSync(join(bundle, 'images'), { recursive: true })
  execFileSync('skopeo', ['copy', '--quiet', `oci:${layout}:amd64`, `oci-archive:${join(bundle, 'images/pause.oci.tar')}:${image}`])

  // A unix socket path must stay under ~108 bytes: keep containerd's folder short.
  const dir = mkdtempSync(join(tmpdir(), 'eb-imp-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const socket = join(dir, 'c.sock')
  writeFileSync(
    join(dir, 'config.toml'),
    ['version = 2', `root = "${join(dir, 'root')}"`, `state = "${join(dir, 'state')}"`, 'disabled_plugins = ["io.containerd.grpc.v1.cri"]', '[grpc]', `  address = "${socket}"`, ''].join('\n'),
  )
  const containerd = spawnWatched('containerd', ['--config', join(dir, 'config.toml')], join(dir, 'containerd.log'))
  t.teardown(() => containerd.stop())
  await waitUntil('containerd', containerd, async () => spawnSync('ctr', ['--address', socket, 'version'], { stdio: 'ignore' }).status === 0)

  const plan: Plan = {
    schemaVersion: PLAN_SCHEMA_VERSION,
    name: 'edgebundle-1.23-ubuntu-amd64-containerd',
    target: { os: 'ubuntu', arch: 'amd64', runtime: 'containerd', kubeedge: '1.23' },
    options: { cgroupDriver: 'cgroupfs', pauseImage: 'kubeedge/pause:3.6', cniSubnet: '10.88.0.0/16', registryMirrors: [], packages: [] },
    runtime: { name: 'containerd', version: '1.6.20', source: 'preinstalled', endpoint: `unix://${socket}` },
    kubeedge: { version: '1.23', release: '1.23.1', images: ['kubeedge/installation-package:v1.23.1'], keadmJoinArgs: [`--remote-runtime-endpoint=unix://${socket}`], edged: {} },
    components: [],
    files: [],
    warnings: [],
    steps: [
      { kind: 'preflight', id: 'preflight', description: 'checks', checks: [{ kind: 'root', severity: 'error' }] },
      { kind: 'import-image', id: 'import-pause', description: 'load the pause image', file: 'images/pause.oci.tar', image, tool: 'ctr', address: socket },
    ],
  }
  writeFileSync(join(bundle, 'install.sh'), renderInstallSh(plan, templates), { mode: 0o755 })
  writeFileSync(join(bundle, 'plan.json'), JSON.stringify(plan))
  writeFileSync(join(bundle, 'SHA256SUMS'), execFileSync('sha256sum', ['install.sh', 'plan.json', 'images/pause.oci.tar'], { cwd: bundle }))

  const listed = () => execFileSync('ctr', ['--address', socket, '--namespace', 'k8s.io', 'images', 'list', '--quiet'], { encoding: 'utf8' })
  t.notMatch(listed(), image)
  const dry = spawnSync('sh', [join(bundle, 'install.sh'), '--dry-run'], { encoding: 'utf8' })
  t.equal(dry.status, 0, dry.stderr)
  t.match(dry.stdout, `would: load ${image}`)
  t.notMatch(listed(), image, 'dry run loads nothing')
  const first = spawnSync('sh', [join(bundle, 'install.sh')], { encoding: 'utf8' })
  t.equal(first.status, 0, first.stdout + first.stderr)
  t.match(first.stdout, `loaded ${image} with ctr`)
  t.match(listed(), image)
  const second = spawnSync('sh', [join(bundle, 'install.sh')], { encoding: 'utf8' })
  t.equal(second.status, 0, second.stderr)
  t.match(second.stdout, `unchanged: the runtime already holds ${image}`)
  t.match(second.stdout, /nothing to do/i)
})
