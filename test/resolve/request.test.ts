import t from 'tap'
import { UsageError } from '../../src/model/errors.js'
import { type RawRequest, validateRequest } from '../../src/resolve/request.js'
import { describeHostile as shellSafe, parseImageReference, parseIpv4Cidr, parseRegistryMirror } from '../../src/resolve/validate.js'
import { catalog } from '../helpers.js'

const base: RawRequest = { os: 'ubuntu', runtime: 'containerd' }

t.test('defaults: amd64, newest KubeEdge, cgroupfs, kubeedge/pause:3.6, 10.88.0.0/16', (t) => {
  const { target, options } = validateRequest(catalog, base)
  t.same(target, { os: 'ubuntu', arch: 'amd64', runtime: 'containerd', kubeedge: '1.23' })
  t.equal(options.cgroupDriver, 'cgroupfs')
  t.equal(options.pauseImage, 'kubeedge/pause:3.6')
  t.equal(options.cniSubnet, '10.88.0.0/16')
  t.same(options.registryMirrors, [])
  t.end()
})

t.test('KubeEdge versions: patch releases and a leading v are accepted, unknown ones listed', (t) => {
  t.equal(validateRequest(catalog, { ...base, 'kubeedge-version': 'v1.15.3' }).target.kubeedge, '1.15')
  t.equal(validateRequest(catalog, { ...base, 'kubeedge-version': '1.12' }).target.kubeedge, '1.12')
  t.throws(() => validateRequest(catalog, { ...base, 'kubeedge-version': '1.11' }), { message: /--kubeedge-version 1\.11 is not one of: 1\.12, 1\.13.*1\.23/ })
  t.throws(() => validateRequest(catalog, { ...base, 'kubeedge-version': '1.24' }), UsageError)
  t.end()
})

const refused: [name: string, raw: RawRequest, message: RegExp][] = [
  ['missing --os', { runtime: 'containerd' }, /--os is required/],
  ['missing --runtime', { os: 'ubuntu' }, /--runtime is required/],
  ['unknown os', { ...base, os: 'debian' }, /--os debian is not one of: ubuntu, centos, openeuler, windows/],
  ['unknown arch', { ...base, arch: 'x86_64' }, /--arch x86_64 is not one of: amd64, arm64, arm/],
  ['unknown runtime', { ...base, runtime: 'podman' }, /--runtime podman is not one of: containerd, cri-o, docker, kata, virtlet, isulad/],
  ['unknown cgroup driver', { ...base, 'cgroup-driver': 'systemd-cgroup' }, /--cgroup-driver systemd-cgroup is not one of: cgroupfs, systemd/],
  ['unknown runtime source', { ...base, 'runtime-source': 'git' }, /--runtime-source git is not one of: release, packages, preinstalled/],
  ['hostile os value is shown quoted', { ...base, os: 'ubuntu;rm -rf /' }, /--os "ubuntu;rm -rf \/" is not one of/],
  ['pause image with command substitution', { ...base, 'pause-image': 'kubeedge/pause:3.6$(reboot)' }, /--pause-image .* contains "\$"/],
  ['pause image with a newline', { ...base, 'pause-image': 'kubeedge/pause:3.6\nrm -rf /' }, /contains \\n/],
  ['pause image with a backtick', { ...base, 'pause-image': 'kubeedge/pause:`id`' }, /contains "`"/],
  ['pause image with upper-case repository', { ...base, 'pause-image': 'KubeEdge/pause:3.6' }, /not a valid image reference|lower-case/],
  ['pause image without tag', { ...base, 'pause-image': 'kubeedge/pause' }, /has no tag or digest/],
  ['pause image with a bad digest', { ...base, 'pause-image': 'kubeedge/pause@sha256:xyz' }, /not a valid image reference/],
  ['CIDR with host bits', { ...base, 'cni-subnet': '10.88.0.1/16' }, /has host bits set/],
  ['CIDR with octet > 255', { ...base, 'cni-subnet': '10.288.0.0/16' }, /octet outside 0-255/],
  ['CIDR too small', { ...base, 'cni-subnet': '10.88.0.0/30' }, /prefix \/30/],
  ['CIDR not a CIDR', { ...base, 'cni-subnet': '10.88.0.0' }, /is not an IPv4 CIDR/],
  ['CIDR loopback', { ...base, 'cni-subnet': '127.0.0.0/8' }, /not a usable pod network/],
  ['CIDR with a semicolon', { ...base, 'cni-subnet': '10.88.0.0/16;id' }, /contains ";"/],
  ['mirror with credentials', { ...base, 'registry-mirror': ['https://user:pw@mirror.example.com'] }, /carries credentials/],
  ['mirror with a bad scheme', { ...base, 'registry-mirror': ['ftp://mirror.example.com'] }, /scheme ftp: is not allowed/],
  ['mirror that is no URL', { ...base, 'registry-mirror': ['mirror.example.com'] }, /is not a URL/],
  ['mirror with a hostile host', { ...base, 'registry-mirror': ['https://mirror.example.com/$(id)'] }, /contains "\$"/],
  ['mirror given twice', { ...base, 'registry-mirror': ['https://m.example.com', 'https://m.example.com/'] }, /given twice/],
  ['runtime version not a version', { ...base, 'runtime-version': 'latest' }, /--runtime-version "?latest"? is not a version/],
  ['package file with a path', { ...base, packages: ['../../etc/passwd.rpm'] }, /not an allowed package file name/],
  ['vm runtime image for another runtime', { ...base, 'vm-runtime-image': 'arktosstaging/vmruntime:0.1' }, /--vm-runtime-image applies to --runtime virtlet only/],
]

for (const [name, raw, message] of refused) {
  t.test(`refused: ${name}`, (t) => {
    t.throws(() => validateRequest(catalog, raw), UsageError)
    t.throws(() => validateRequest(catalog, raw), { message })
    t.end()
  })
}

t.test('image references', (t) => {
  const cases: [string, { registry: string; repository: string; tag?: string; digest?: string }][] = [
    ['kubeedge/pause:3.6', { registry: 'docker.io', repository: 'kubeedge/pause', tag: '3.6' }],
    ['registry.k8s.io/pause:3.10', { registry: 'registry.k8s.io', repository: 'pause', tag: '3.10' }],
    ['127.0.0.1:5000/edge/pause:3.6', { registry: '127.0.0.1:5000', repository: 'edge/pause', tag: '3.6' }],
    ['localhost/pause:1', { registry: 'localhost', repository: 'pause', tag: '1' }],
    [`pause@sha256:${'a'.repeat(64)}`, { registry: 'docker.io', repository: 'pause', digest: `sha256:${'a'.repeat(64)}` }],
  ]
  for (const [ref, expected] of cases) t.match(parseImageReference('--pause-image', ref), expected, ref)
  t.end()
})

t.test('CIDRs give the network and gateway', (t) => {
  t.same(parseIpv4Cidr('--cni-subnet', '10.88.0.0/16'), { network: '10.88.0.0', prefix: 16, gateway: '10.88.0.1' })
  t.same(parseIpv4Cidr('--cni-subnet', '192.168.100.0/24'), { network: '192.168.100.0', prefix: 24, gateway: '192.168.100.1' })
  t.throws(() => parseIpv4Cidr('--cni-subnet', '10.88.0.0/16'.replace('16', '7')), /prefix \/7/)
  t.end()
})

t.test('registry mirrors: URL mirrors docker.io, HOST=URL mirrors that registry', (t) => {
  t.same(parseRegistryMirror('--registry-mirror', 'https://mirror.example.com/'), { registry: 'docker.io', endpoint: 'https://mirror.example.com' })
  t.same(parseRegistryMirror('--registry-mirror', 'registry.k8s.io=http://127.0.0.1:5000'), { registry: 'registry.k8s.io', endpoint: 'http://127.0.0.1:5000' })
  t.throws(() => parseRegistryMirror('--registry-mirror', 'bad host=https://x.example'), UsageError)
  t.end()
})

t.test('every control character and shell metacharacter is refused', (t) => {
  for (const ch of ['\n', '\r', '\t', '\u0000', '\u001b', ' ', ';', '&', '|', '$', '`', '<', '>', '\\', "'", '"', '(', ')', '{', '}', '*', '?', '!', '#', '~']) {
    t.not(shellSafe(`a${ch}b`), null, JSON.stringify(ch))
  }
  t.equal(shellSafe('registry.example.com:5000/a/b:1.0@sha256:abc'), null)
  t.end()
})
