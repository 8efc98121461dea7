/**
 * Debian's real containerd accepts the rendered config.toml: `containerd --config FILE config dump` loads it and
 * shows the sandbox image and SystemdCgroup we set, and a CRI plugin that is not disabled.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse as parseToml } from 'smol-toml'
import { render } from '../helpers.js'

const probe = spawnSync('containerd', ['--version'], { encoding: 'utf8' })
const installed = /containerd \S+ v?(\d+\.\d+\.\d+)/.exec(probe.stdout ?? '')
if (!installed && process.env['CI']) throw new Error('containerd is not installed; .ci/run installs Debian\'s containerd package')

t.test('containerd config dump accepts the rendered config', { skip: !installed && 'containerd is not installed here' }, (t) => {
  const version = installed![1]!
  t.comment(`containerd ${version}`)
  const cases = [
    { driver: 'cgroupfs', image: 'kubeedge/pause:3.6' },
    { driver: 'systemd', image: '127.0.0.1:5000/edge/pause:3.9' },
    { driver: 'systemd', image: `registry.example.com/pause@sha256:${'b'.repeat(64)}` },
  ] as const
  for (const { driver, image } of cases) {
    const rendered = render({
      os: 'ubuntu',
      runtime: 'containerd',
      'runtime-source': 'preinstalled',
      'runtime-version': version,
      'cgroup-driver': driver,
      'pause-image': image,
      'cni-subnet': '10.77.0.0/16',
    })
    const dir = t.testdir()
    const file = join(dir, 'config.toml')
    writeFileSync(file, rendered.file('/etc/containerd/config.toml'))
    const dumped = parseToml(execFileSync('containerd', ['--config', file, 'config', 'dump'], { encoding: 'utf8' })) as Record<string, any>
    const cri = dumped.plugins['io.containerd.grpc.v1.cri']
    t.equal(dumped.version, 2, 'containerd 1.x reads format version 2')
    t.notOk((dumped.disabled_plugins ?? []).some((name: string) => /cri/.test(name)), 'CRI plugin not disabled')
    t.equal(cri.sandbox_image, image, `sandbox image ${image}`)
    t.equal(cri.containerd.runtimes.runc.options.SystemdCgroup, driver === 'systemd', `SystemdCgroup for ${driver}`)
    t.equal(cri.cni.bin_dir, '/opt/cni/bin')
    t.equal(cri.cni.conf_dir, '/etc/cni/net.d')
    t.equal(cri.registry.config_path, '/etc/containerd/certs.d')
  }
  t.end()
})
