/** Every rendering rule, table-driven, with cases on each side of each version boundary. */
import t from 'tap'
import { parse as parseToml } from 'smol-toml'
import { parse as parseYaml } from 'yaml'
import type { Catalog } from '../../src/catalog/schema.js'
import { buildPlan } from '../../src/plan/build-plan.js'
import { renderNodeFiles } from '../../src/render/files.js'
import { type RawRequest, validateRequest } from '../../src/resolve/request.js'
import { resolveTarget } from '../../src/resolve/resolve.js'
import { catalog, hasFile, render, templates } from '../helpers.js'

type Table = Record<string, any>
const toml = (text: string) => parseToml(text) as Table
const json = (text: string) => JSON.parse(text) as Table
const yaml = (text: string) => parseYaml(text) as Table

const CFG = '/etc/containerd/config.toml'

t.test('containerd: format version follows the containerd version (v2 for 1.x, v3 for 2.x)', (t) => {
  const cases: [RawRequest, number][] = [
    [{ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.15' }, 2],
    [{ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.16' }, 3],
    [{ os: 'ubuntu', runtime: 'containerd', 'runtime-source': 'preinstalled', 'runtime-version': '1.7.99' }, 2],
    [{ os: 'ubuntu', runtime: 'containerd', 'runtime-source': 'preinstalled', 'runtime-version': '2.0.0' }, 3],
  ]
  for (const [raw, version] of cases) t.equal(toml(render(raw).file(CFG)).version, version, JSON.stringify(raw))
  t.end()
})

for (const driver of ['cgroupfs', 'systemd'] as const) {
  for (const containerd of ['1.7.34', '2.3.4']) {
    t.test(`containerd ${containerd}, ${driver}: CRI enabled, sandbox image, SystemdCgroup, CNI dirs`, (t) => {
      const r = render({ os: 'ubuntu', runtime: 'containerd', 'runtime-version': containerd, 'cgroup-driver': driver, 'pause-image': 'registry.example.com:5000/edge/pause:3.9' })
      const config = toml(r.file(CFG))
      t.same(config.disabled_plugins, [], 'no plugin disabled (the CRI plugin above all)')
      t.equal(config.grpc.address, '/run/containerd/containerd.sock')
      if (containerd.startsWith('1.')) {
        const cri = config.plugins['io.containerd.grpc.v1.cri']
        t.equal(cri.sandbox_image, 'registry.example.com:5000/edge/pause:3.9')
        t.equal(cri.containerd.runtimes.runc.options.SystemdCgroup, driver === 'systemd')
        t.equal(cri.containerd.runtimes.runc.runtime_type, 'io.containerd.runc.v2')
        t.same(cri.cni, { bin_dir: '/opt/cni/bin', conf_dir: '/etc/cni/net.d' })
        for (const key of Object.keys(config.plugins)) t.match(key, /^io\.containerd\.[^.]+\.[^.]+\.[^.]+/, 'v2 plugin names are full URIs')
      } else {
        t.equal(config.plugins['io.containerd.cri.v1.images'].pinned_images.sandbox, 'registry.example.com:5000/edge/pause:3.9')
        const runtime = config.plugins['io.containerd.cri.v1.runtime']
        t.equal(runtime.containerd.runtimes.runc.options.SystemdCgroup, driver === 'systemd')
        t.same(runtime.cni, { bin_dirs: ['/opt/cni/bin'], conf_dir: '/etc/cni/net.d' })
        t.notOk('io.containerd.grpc.v1.cri' in config.plugins)
      }
      t.match(yaml(r.file('/etc/edgebundle/edgecore-edged.yaml')).modules.edged.tailoredKubeletConfig, { cgroupDriver: driver })
      t.equal(r.plan.kubeedge.keadmJoinArgs.includes('--cgroupdriver=systemd'), driver === 'systemd')
      t.end()
    })
  }
}

t.test('containerd 2.0 keeps cni.bin_dir; 2.1 moves to bin_dirs', (t) => {
  const cni = (version: string) => toml(render({ os: 'ubuntu', runtime: 'containerd', 'runtime-source': 'preinstalled', 'runtime-version': version }).file(CFG)).plugins['io.containerd.cri.v1.runtime'].cni
  t.same(cni('2.0.5'), { bin_dir: '/opt/cni/bin', conf_dir: '/etc/cni/net.d' })
  t.same(cni('2.1.0'), { bin_dirs: ['/opt/cni/bin'], conf_dir: '/etc/cni/net.d' })
  t.end()
})

t.test('containerd on Windows: Windows paths, named pipe, runhcs, no SystemdCgroup', (t) => {
  const r = render({ os: 'windows', runtime: 'containerd' })
  const config = toml(r.file('C:\\Program Files\\containerd\\config.toml'))
  t.equal(config.grpc.address, '\\\\.\\pipe\\containerd-containerd')
  t.equal(config.root, 'C:\\ProgramData\\containerd\\root')
  const runtime = config.plugins['io.containerd.cri.v1.runtime']
  t.equal(runtime.containerd.default_runtime_name, 'runhcs-wcow-process')
  t.same(runtime.cni.bin_dirs, ['C:\\Program Files\\containerd\\cni\\bin'])
  t.notMatch(r.file('C:\\Program Files\\containerd\\config.toml'), /SystemdCgroup/)
  t.equal(r.plan.runtime.endpoint, 'npipe://./pipe/containerd-containerd')
  t.same(r.plan.kubeedge.keadmJoinArgs, ['--kubeedge-version=v1.23.1', '--remote-runtime-endpoint=npipe://./pipe/containerd-containerd', '--set=Modules.Edged.PodSandboxImage=kubeedge/pause:3.6'])
  t.notOk('cgroupDriver' in (yaml(r.file('C:\\ProgramData\\edgebundle\\edgecore-edged.yaml')).modules.edged.tailoredKubeletConfig ?? {}))
  t.match(r.files.map((f) => f.dest), ['C:\\Program Files\\containerd\\config.toml', 'C:\\ProgramData\\edgebundle\\edgecore-edged.yaml'])
  // No Windows CNI network config is written (see bundles/matrix.yaml): every Windows plan says so.
  t.notOk(r.files.some((f) => f.dest.includes('cni\\conf')))
  t.match(r.plan.warnings, [/pods need a CNI network on Windows.*HNS network/])
  t.same(render({ os: 'ubuntu', runtime: 'containerd' }).plan.warnings, [], 'Linux bundles do not carry it')
  t.end()
})

t.test('registry mirrors: containerd hosts.toml per registry, in order', (t) => {
  const r = render({ os: 'ubuntu', runtime: 'containerd', 'registry-mirror': ['https://m1.example.com', 'http://127.0.0.1:5000', 'registry.k8s.io=https://k8s.example.com'] })
  t.same(toml(r.file('/etc/containerd/certs.d/docker.io/hosts.toml')), {
    server: 'https://registry-1.docker.io',
    host: { 'https://m1.example.com': { capabilities: ['pull', 'resolve'] }, 'http://127.0.0.1:5000': { capabilities: ['pull', 'resolve'] } },
  })
  t.equal(toml(r.file('/etc/containerd/certs.d/registry.k8s.io/hosts.toml')).server, 'https://registry.k8s.io')
  t.equal(toml(r.file(CFG)).plugins['io.containerd.cri.v1.images'].registry.config_path, '/etc/containerd/certs.d')
  t.end()
})

t.test('kata: runtime kata on containerd, RuntimeClass, untrusted form only on containerd 1.x', (t) => {
  const on2 = render({ os: 'ubuntu', runtime: 'kata', 'kubeedge-version': '1.23' })
  const runtime2 = toml(on2.file(CFG)).plugins['io.containerd.cri.v1.runtime'].containerd
  t.same(runtime2.runtimes.kata, { runtime_type: 'io.containerd.kata.v2' })
  t.notOk('untrusted_workload_runtime' in runtime2, 'removed in containerd 2.0')
  // keadm join runs its copy container with the empty handler, i.e. the default runtime: it must stay runc.
  t.equal(runtime2.default_runtime_name, 'runc')
  const on1 = render({ os: 'ubuntu', runtime: 'kata', 'kubeedge-version': '1.15' })
  const cri1 = toml(on1.file(CFG)).plugins['io.containerd.grpc.v1.cri'].containerd
  t.same(cri1.runtimes.kata, { runtime_type: 'io.containerd.kata.v2' })
  t.same(cri1.untrusted_workload_runtime, { runtime_type: 'io.containerd.kata.v2' })
  t.equal(cri1.default_runtime_name, 'runc')
  t.same(yaml(on2.file('/etc/edgebundle/manifests/runtimeclass-kata.yaml')), { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'kata' }, handler: 'kata' })
  t.match(on2.plan.steps.find((s) => s.kind === 'symlink'), { path: '/usr/local/bin/containerd-shim-kata-v2', target: '/opt/kata/bin/containerd-shim-kata-v2' })
  t.ok(on2.plan.steps.some((s) => s.kind === 'preflight' && s.checks.some((c) => c.kind === 'command' && c.command === 'zstd')))
  t.end()
})

t.test('CRI-O drop-in: pause_image, cgroup_manager, conmon_cgroup = "pod" whenever cgroupfs', (t) => {
  for (const driver of ['cgroupfs', 'systemd'] as const) {
    const r = render({ os: 'centos', runtime: 'cri-o', 'cgroup-driver': driver })
    const crio = toml(r.file('/etc/crio/crio.conf.d/20-edgebundle.conf')).crio
    t.equal(crio.image.pause_image, 'kubeedge/pause:3.6')
    t.equal(crio.runtime.cgroup_manager, driver)
    t.equal(crio.runtime.conmon_cgroup, driver === 'cgroupfs' ? 'pod' : 'system.slice')
    t.same(crio.network.plugin_dirs, ['/opt/cni/bin/'])
  }
  const mirrored = render({ os: 'centos', runtime: 'cri-o', 'registry-mirror': ['https://m.example.com/path', 'http://127.0.0.1:5000'] })
  t.same(toml(mirrored.file('/etc/containers/registries.conf.d/50-edgebundle-mirrors.conf')), {
    registry: [{ prefix: 'docker.io', location: 'docker.io', mirror: [{ location: 'm.example.com/path' }, { location: '127.0.0.1:5000', insecure: true }] }],
  })
  t.match(render({ os: 'centos', runtime: 'cri-o' }).plan.steps.find((s) => s.kind === 'run-upstream-installer'), { interpreter: 'bash', subdir: 'cri-o', script: 'install' })
  t.end()
})

t.test('Docker: cri-dockerd from KubeEdge 1.14, dockershim before', (t) => {
  const with13 = render({ os: 'ubuntu', runtime: 'docker', 'kubeedge-version': '1.13' })
  t.notOk(hasFile(with13, '/usr/local/lib/systemd/system/cri-docker.service'))
  // dockershim.sock is edged's own, served only after the join: the install does not wait for it.
  t.notOk(with13.plan.steps.some((s) => s.kind === 'check-runtime'), 'no CRI check at dockershim.sock')
  t.match(with13.plan.warnings, [/no CRI check at unix:\/\/\/var\/run\/dockershim\.sock/])
  t.match(with13.plan.steps.find((s) => s.kind === 'enable-service'), { service: 'docker' })
  t.same(with13.plan.kubeedge.keadmJoinArgs, ['--kubeedge-version=v1.13.5', '--remote-runtime-endpoint=unix:///var/run/dockershim.sock', '--runtimetype=docker'])
  t.match(yaml(with13.file('/etc/edgebundle/edgecore-edged.yaml')).modules.edged, { containerRuntime: 'docker', remoteRuntimeEndpoint: 'unix:///var/run/dockershim.sock' })

  const with14 = render({ os: 'ubuntu', runtime: 'docker', 'kubeedge-version': '1.14', 'cgroup-driver': 'systemd', 'pause-image': 'kubeedge/pause:3.6' })
  t.match(with14.plan.steps.at(-1), { kind: 'check-runtime', endpoint: 'unix:///var/run/cri-dockerd.sock' })
  t.same(with14.plan.warnings, [])
  const unit = with14.file('/usr/local/lib/systemd/system/cri-docker.service')
  t.match(unit, /^ExecStart=\/usr\/local\/bin\/cri-dockerd .*--pod-infra-container-image=kubeedge\/pause:3\.6 --network-plugin=cni --cni-bin-dir=\/opt\/cni\/bin --cni-conf-dir=\/etc\/cni\/net\.d$/m)
  t.same(json(with14.file('/etc/docker/daemon.json'))['exec-opts'], ['native.cgroupdriver=systemd'])
  t.same(with14.plan.kubeedge.keadmJoinArgs, ['--kubeedge-version=v1.14.5', '--remote-runtime-endpoint=unix:///var/run/cri-dockerd.sock', '--runtimetype=remote', '--cgroupdriver=systemd'])
  t.same(json(render({ os: 'ubuntu', runtime: 'docker' }).file('/etc/docker/daemon.json'))['exec-opts'], ['native.cgroupdriver=cgroupfs'], 'explicit: Moby defaults to systemd on cgroup v2')
  t.same(json(render({ os: 'ubuntu', runtime: 'docker', 'registry-mirror': ['https://m.example.com'] }).file('/etc/docker/daemon.json'))['registry-mirrors'], ['https://m.example.com'])
  t.end()
})

t.test('iSulad daemon.json: CNI, websocket port off 10350, CRI v1 from KubeEdge 1.15, systemd-cgroup', (t) => {
  for (const [version, criV1] of [['1.14', false], ['1.15', true]] as const) {
    for (const driver of ['cgroupfs', 'systemd'] as const) {
      const daemon = json(render({ os: 'openeuler', runtime: 'isulad', 'kubeedge-version': version, 'cgroup-driver': driver }).file('/etc/isulad/daemon.json'))
      t.match(daemon, {
        'network-plugin': 'cni',
        'cni-bin-dir': '/opt/cni/bin',
        'cni-conf-dir': '/etc/cni/net.d',
        'websocket-server-listening-port': 10355,
        'enable-cri-v1': criV1,
        'pod-sandbox-image': 'kubeedge/pause:3.6',
        'systemd-cgroup': driver === 'systemd',
        'registry-mirrors': ['docker.io'],
      })
      t.notOk('native.cgroupdriver' in daemon)
    }
  }
  const mirrored = json(render({ os: 'openeuler', runtime: 'isulad', 'registry-mirror': ['http://127.0.0.1:5000'] }).file('/etc/isulad/daemon.json'))
  t.same(mirrored['registry-mirrors'], ['127.0.0.1:5000'])
  t.same(mirrored['insecure-registries'], ['127.0.0.1:5000'])
  const r = render({ os: 'openeuler', runtime: 'isulad' })
  // iSulad attaches loopback itself (attach_loopback, cni_operate.c @ v2.1.6): no loopback config.
  t.notOk(hasFile(r, '/etc/cni/net.d/99-loopback.conf'))
  t.match(r.plan.steps[0], { kind: 'preflight', checks: [{}, {}, {}, {}, {}, {}, {}, { kind: 'port-free', port: 10350, severity: 'error' }] })
  t.end()
})

t.test('CNI bridge conflist: configurable subnet, parses back', (t) => {
  for (const subnet of ['10.88.0.0/16', '172.30.0.0/24']) {
    for (const runtime of ['containerd', 'cri-o', 'docker', 'kata', 'isulad']) {
      const os = runtime === 'isulad' ? 'openeuler' : 'ubuntu'
      const rendered = render({ os, runtime, 'cni-subnet': subnet })
      const conflist = json(rendered.file('/etc/cni/net.d/10-containerd-net.conflist'))
      // iSulad reads CNI spec 0.4.0 at most before 2.1.4, and the node's iSulad is not known at build time.
      t.equal(conflist.cniVersion, runtime === 'isulad' ? '0.4.0' : '1.0.0', runtime)
      t.notOk(hasFile(rendered, '/etc/cni/net.d/99-loopback.conf'), 'every runtime brings lo up itself')
      t.match(conflist.plugins[0], { type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }] } })
      t.match(conflist.plugins[1], { type: 'portmap' })
    }
  }
  t.end()
})

/**
 * Virtlet is refused for every KubeEdge version (keadm join cannot copy edgecore through it; bundles/matrix.yaml).
 * Its node set-up is still rendered through a catalog without that one rule, so the VM runtime steps stay right
 * for a later route that joins through another endpoint.
 */
const withoutVirtletJoinRule: Catalog = {
  ...catalog,
  matrix: { unsupported: catalog.matrix.unsupported.filter((rule) => !(rule.when.runtime === 'virtlet' && Object.keys(rule.when).length === 1)) },
}
function renderVirtlet(raw: RawRequest) {
  const resolved = resolveTarget(withoutVirtletJoinRule, validateRequest(withoutVirtletJoinRule, raw))
  const files = renderNodeFiles(resolved, templates)
  return { resolved, files, plan: buildPlan(resolved, files), file: (dest: string) => files.find((f) => f.dest === dest)!.content }
}

t.test('Virtlet: refused by the shipped catalog, whatever the version', (t) => {
  for (const version of ['1.12', '1.14', '1.15']) t.throws(() => render({ os: 'ubuntu', runtime: 'virtlet', 'kubeedge-version': version }), { name: 'UnsupportedTargetError' })
  t.end()
})

t.test('Virtlet node set-up: the guide\'s bridge.conf, libvirt must not run, three VM runtime containers', (t) => {
  const r = renderVirtlet({ os: 'ubuntu', runtime: 'virtlet', 'kubeedge-version': '1.14', 'cni-subnet': '10.99.0.0/16', 'vm-runtime-image': 'registry.example.com/arktos/vmruntime:0.5' })
  t.same(json(r.file('/etc/cni/net.d/bridge.conf')), {
    cniVersion: '0.3.1', name: 'containerd-net', type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: true,
    ipam: { type: 'host-local', subnet: '10.99.0.0/16', routes: [{ dst: '0.0.0.0/0' }] },
  })
  const preflight = r.plan.steps[0]!
  t.ok(preflight.kind === 'preflight' && preflight.checks.some((c) => c.kind === 'service-inactive' && c.service === 'libvirtd' && c.severity === 'error'))
  const containers = r.plan.steps.filter((s) => s.kind === 'run-container')
  t.same(containers.map((s) => s.kind === 'run-container' && s.name), ['vmruntime_prepare', 'vmruntime_vms', 'vmruntime_libvirt', 'vmruntime_virtlet'])
  t.ok(containers.every((s) => s.kind === 'run-container' && s.image === 'registry.example.com/arktos/vmruntime:0.5'))
  t.equal(r.plan.runtime.endpoint, 'unix:///run/virtlet.sock')
  t.end()
})

t.test('edgecore edged fragment by KubeEdge version', (t) => {
  // iSulad: supported at every KubeEdge version (CRI-O is refused at 1.12).
  const edged = (version: string) => yaml(render({ os: 'openeuler', runtime: 'isulad', 'kubeedge-version': version }).file('/etc/edgebundle/edgecore-edged.yaml')).modules.edged
  const ep = 'unix:///var/run/isulad.sock'
  for (const version of ['1.12', '1.13', '1.14', '1.15']) {
    t.same(edged(version), { containerRuntime: 'remote', remoteRuntimeEndpoint: ep, remoteImageEndpoint: ep, podSandboxImage: 'kubeedge/pause:3.6', tailoredKubeletConfig: { cgroupDriver: 'cgroupfs' } }, version)
  }
  for (const version of ['1.16', '1.17', '1.18', '1.23']) {
    t.same(edged(version), { podSandboxImage: 'kubeedge/pause:3.6', tailoredKubeletConfig: { containerRuntimeEndpoint: ep, imageServiceEndpoint: ep, cgroupDriver: 'cgroupfs' } }, version)
  }
  t.end()
})

t.test('keadm join flags by KubeEdge version', (t) => {
  const args = (version: string, driver = 'cgroupfs') => render({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': version, 'cgroup-driver': driver }).plan.kubeedge.keadmJoinArgs
  const ep = '--remote-runtime-endpoint=unix:///run/containerd/containerd.sock'
  t.same(args('1.12'), ['--kubeedge-version=v1.12.7', ep, '--runtimetype=remote'])
  t.same(args('1.15'), ['--kubeedge-version=v1.15.4', ep, '--runtimetype=remote'])
  t.same(args('1.16'), ['--kubeedge-version=v1.16.6', ep], '--runtimetype removed in 1.16')
  t.same(args('1.17'), ['--kubeedge-version=v1.17.5', ep], 'no --set at any 1.17 tag')
  t.same(args('1.18'), ['--kubeedge-version=v1.18.3', ep, '--set=Modules.Edged.PodSandboxImage=kubeedge/pause:3.6'], '--set from 1.18')
  t.same(args('1.23', 'systemd'), ['--kubeedge-version=v1.23.1', ep, '--cgroupdriver=systemd', '--set=Modules.Edged.PodSandboxImage=kubeedge/pause:3.6'])
  const mirrored = render({ os: 'ubuntu', runtime: 'containerd', 'image-repository': 'registry.local:5000/kubeedge' }).plan.kubeedge.keadmJoinArgs
  t.same(mirrored.slice(0, 2), ['--kubeedge-version=v1.23.1', '--image-repository=registry.local:5000/kubeedge'])
  t.end()
})

t.test('crictl.yaml names the runtime endpoint', (t) => {
  for (const [runtime, os, ep] of [['containerd', 'ubuntu', 'unix:///run/containerd/containerd.sock'], ['cri-o', 'centos', 'unix:///var/run/crio/crio.sock'], ['isulad', 'openeuler', 'unix:///var/run/isulad.sock']]) {
    t.match(yaml(render({ os: os!, runtime: runtime! }).file('/etc/crictl.yaml')), { 'runtime-endpoint': ep, 'image-endpoint': ep })
  }
  t.end()
})

t.test('plan: ordered, unique ids, every file written once, services restart on their files', (t) => {
  const r = render({ os: 'ubuntu', runtime: 'containerd' })
  const kinds = r.plan.steps.map((s) => s.kind)
  t.equal(kinds[0], 'preflight')
  t.equal(kinds.at(-1), 'check-runtime')
  t.ok(kinds.indexOf('install-archive') < kinds.indexOf('write-file'))
  t.ok(kinds.lastIndexOf('write-file') < kinds.indexOf('enable-service'))
  t.equal(new Set(r.plan.steps.map((s) => s.id)).size, r.plan.steps.length)
  t.same(r.plan.files.map((f) => f.dest), r.files.map((f) => f.dest))
  t.match(r.plan.steps.find((s) => s.kind === 'enable-service'), { service: 'containerd', restartWhenChanged: [CFG, '/usr/local/lib/systemd/system/containerd.service', '/usr/local', '/usr/local/sbin/runc'] })
  t.equal(r.plan.schemaVersion, 1)
  t.end()
})

t.test('a carried pause image is loaded with the runtime\'s own tool, after the services start', async (t) => {
  const cases: [RawRequest, string, string][] = [
    [{ os: 'ubuntu', runtime: 'containerd' }, 'ctr', '/run/containerd/containerd.sock'],
    [{ os: 'ubuntu', runtime: 'kata' }, 'ctr', '/run/containerd/containerd.sock'],
    [{ os: 'windows', runtime: 'containerd' }, 'ctr', '\\\\.\\pipe\\containerd-containerd'],
    [{ os: 'ubuntu', runtime: 'docker' }, 'docker', '/var/run/docker.sock'],
    [{ os: 'openeuler', runtime: 'isulad' }, 'isula', '/var/run/isulad.sock'],
    [{ os: 'centos', runtime: 'cri-o' }, 'podman', ''],
  ]
  for (const [raw, tool, address] of cases) {
    const r = render(raw)
    const plan = buildPlan(r.resolved, r.files, { images: [{ file: 'images/pause-3.6-linux-amd64.oci.tar', image: 'docker.io/kubeedge/pause:3.6' }] })
    const kinds = plan.steps.map((s) => s.kind)
    const index = kinds.indexOf('import-image')
    t.match(plan.steps[index], { tool, address, image: 'docker.io/kubeedge/pause:3.6' }, JSON.stringify(raw))
    t.equal(kinds[index + 1], 'check-runtime')
    t.ok(index > Math.max(kinds.lastIndexOf('enable-service'), kinds.lastIndexOf('register-windows-service')))
  }
  const virtlet = renderVirtlet({ os: 'ubuntu', runtime: 'virtlet', 'kubeedge-version': '1.14' })
  t.throws(() => buildPlan(virtlet.resolved, virtlet.files, { images: [{ file: 'images/x.tar', image: 'docker.io/x/y:1' }] }), /cannot carry images/)
})
