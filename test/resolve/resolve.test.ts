import t from 'tap'
import { UnsupportedTargetError, UsageError } from '../../src/model/errors.js'
import { listMatrix, unsupportedReason } from '../../src/resolve/resolve.js'
import type { RawRequest } from '../../src/resolve/request.js'
import { catalog, resolve } from '../helpers.js'

t.test('matrix: the reason of every unsupported combination, on each side of its boundary', (t) => {
  const cases: [RawRequest, RegExp | null][] = [
    [{ os: 'windows', runtime: 'containerd', 'kubeedge-version': '1.15' }, /keadm joins Windows edge nodes from KubeEdge 1\.16/],
    [{ os: 'windows', runtime: 'containerd', 'kubeedge-version': '1.16' }, null],
    [{ os: 'windows', runtime: 'containerd', arch: 'arm64' }, /amd64 only/],
    [{ os: 'windows', runtime: 'isulad' }, /iSulad is a Linux container engine/],
    [{ os: 'windows', runtime: 'cri-o' }, /Linux only/],
    [{ os: 'windows', runtime: 'kata' }, /KVM/],
    [{ os: 'windows', runtime: 'virtlet' }, /libvirt/],
    [{ os: 'windows', runtime: 'docker' }, /containerd/],
    [{ os: 'centos', runtime: 'containerd', arch: 'arm' }, /32-bit ARM/],
    [{ os: 'ubuntu', runtime: 'containerd', arch: 'arm' }, /no linux\/arm \(v7\) release/],
    [{ os: 'ubuntu', runtime: 'containerd', arch: 'arm', 'runtime-source': 'preinstalled' }, null],
    [{ os: 'ubuntu', runtime: 'virtlet', 'kubeedge-version': '1.14' }, null],
    [{ os: 'ubuntu', runtime: 'virtlet', 'kubeedge-version': '1.15' }, /CRI v1alpha2 only/],
    [{ os: 'ubuntu', runtime: 'virtlet', arch: 'arm64', 'kubeedge-version': '1.14' }, /amd64 only/],
    [{ os: 'ubuntu', runtime: 'kata', arch: 'arm' }, /no 32-bit ARM build/],
    [{ os: 'ubuntu', runtime: 'docker', arch: 'arm', 'kubeedge-version': '1.14' }, /cri-dockerd/],
    [{ os: 'ubuntu', runtime: 'docker', arch: 'arm', 'kubeedge-version': '1.13' }, /Docker static binaries/],
    [{ os: 'ubuntu', runtime: 'docker', arch: 'arm', 'kubeedge-version': '1.13', 'runtime-source': 'preinstalled' }, null],
    [{ os: 'openeuler', runtime: 'isulad', arch: 'arm64' }, null],
  ]
  for (const [raw, reason] of cases) {
    const label = JSON.stringify(raw)
    if (reason === null) t.doesNotThrow(() => resolve(raw), label)
    else t.throws(() => resolve(raw), { name: 'UnsupportedTargetError', message: reason }, label)
  }
  t.end()
})

t.test('list covers every combination of every KubeEdge version; supported ones resolve, unsupported ones carry a reason', (t) => {
  const entries = listMatrix(catalog)
  t.equal(entries.length, 12 * 4 * 3 * 6)
  let supported = 0
  for (const entry of entries) {
    if (entry.supported) {
      supported++
      const raw = { os: entry.target.os, arch: entry.target.arch, runtime: entry.target.runtime, 'kubeedge-version': entry.target.kubeedge }
      // A supported default-source combination must resolve without extra input, except packages mode (needs files).
      if (entry.source !== 'packages') t.doesNotThrow(() => resolve(raw), JSON.stringify(raw))
    } else {
      t.ok(entry.reason && entry.reason.length > 0)
      t.equal(unsupportedReason(catalog, entry.target), entry.reason)
    }
  }
  t.ok(supported > 200, `${supported} supported combinations`)
  t.end()
})

t.test('runtime versions: defaults per KubeEdge version and the constraints at each boundary', (t) => {
  t.equal(resolve({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.15' }).runtime.version, '1.7.34')
  t.equal(resolve({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.16' }).runtime.version, '2.3.4')
  // KubeEdge >= 1.15 requires containerd >= 1.6.
  const pre = { os: 'ubuntu', runtime: 'containerd', 'runtime-source': 'preinstalled' }
  t.throws(() => resolve({ ...pre, 'kubeedge-version': '1.15', 'runtime-version': '1.5.18' }), { message: /containerd 1\.5\.18 cannot serve KubeEdge 1\.15.*1\.6 or newer/ })
  t.doesNotThrow(() => resolve({ ...pre, 'kubeedge-version': '1.15', 'runtime-version': '1.6.0' }))
  t.doesNotThrow(() => resolve({ ...pre, 'kubeedge-version': '1.14', 'runtime-version': '1.5.18' }))
  t.throws(() => resolve({ ...pre, 'kubeedge-version': '1.14', 'runtime-version': '1.2.13' }), /version 2/)
  // iSulad serves CRI v1 from 2.1.4.
  const isulad = { os: 'openeuler', runtime: 'isulad' }
  t.throws(() => resolve({ ...isulad, 'kubeedge-version': '1.15', 'runtime-version': '2.1.3' }), /iSulad 2\.1\.3 cannot serve KubeEdge 1\.15/)
  t.doesNotThrow(() => resolve({ ...isulad, 'kubeedge-version': '1.15', 'runtime-version': '2.1.4' }))
  t.doesNotThrow(() => resolve({ ...isulad, 'kubeedge-version': '1.14', 'runtime-version': '2.1.3' }))
  // CRI-O older than 1.20 lacks CRI v1.
  const crio = { os: 'ubuntu', runtime: 'cri-o', 'runtime-source': 'preinstalled' }
  t.throws(() => resolve({ ...crio, 'kubeedge-version': '1.15', 'runtime-version': '1.19.0' }), /CRI v1/)
  t.doesNotThrow(() => resolve({ ...crio, 'kubeedge-version': '1.14', 'runtime-version': '1.19.0' }))
  // Release mode needs a pinned version.
  t.throws(() => resolve({ os: 'ubuntu', runtime: 'containerd', 'runtime-version': '1.7.20' }), { message: /no pinned containerd release/ })
  t.equal(resolve({ os: 'ubuntu', runtime: 'containerd', 'runtime-version': '1.7.34' }).runtime.version, '1.7.34')
  t.end()
})

t.test('components: release installs the runtime, preinstalled only support files; per arch and family', (t) => {
  const ids = (raw: RawRequest) => resolve(raw).components.map((c) => c.id)
  t.same(ids({ os: 'ubuntu', runtime: 'containerd' }), ['containerd', 'runc', 'cni-plugins', 'crictl'])
  t.same(ids({ os: 'ubuntu', runtime: 'containerd', 'runtime-source': 'preinstalled' }), ['cni-plugins', 'crictl'])
  t.same(ids({ os: 'windows', runtime: 'containerd' }), ['containerd', 'cni-plugins', 'crictl'])
  t.same(ids({ os: 'ubuntu', runtime: 'kata' }), ['containerd', 'runc', 'kata-static', 'cni-plugins', 'crictl'])
  t.same(ids({ os: 'ubuntu', runtime: 'docker', 'kubeedge-version': '1.13' }), ['docker-static', 'cni-plugins', 'crictl'])
  t.same(ids({ os: 'ubuntu', runtime: 'docker', 'kubeedge-version': '1.14' }), ['docker-static', 'cri-dockerd', 'cni-plugins', 'crictl'])
  t.same(ids({ os: 'ubuntu', runtime: 'cri-o' }), ['cri-o'])
  t.same(ids({ os: 'openeuler', runtime: 'isulad' }), ['cni-plugins', 'crictl'])
  // crictl dropped linux/arm: optional, so the bundle goes without it and says so.
  const arm = resolve({ os: 'ubuntu', arch: 'arm', runtime: 'containerd', 'runtime-source': 'preinstalled' })
  t.same(arm.components.map((c) => c.id), ['cni-plugins'])
  t.match(arm.warnings, [/crictl 1\.36\.0 has no linux\/arm build/])
  const arm64 = resolve({ os: 'ubuntu', arch: 'arm64', runtime: 'containerd' })
  t.match(arm64.components.find((c) => c.id === 'runc'), { url: 'https://github.com/opencontainers/runc/releases/download/v1.4.3/runc.arm64', sha256: '633301e2e32f8a5ad54031aab4901eb00308bec677dd15faa2751e8f9dab5ca4' })
  const windows = resolve({ os: 'windows', runtime: 'containerd' })
  t.match(windows.components[0], {
    url: 'https://github.com/containerd/containerd/releases/download/v2.3.4/containerd-2.3.4-windows-amd64.tar.gz',
    sha256: null,
    checksumUrl: 'https://github.com/containerd/containerd/releases/download/v2.3.4/containerd-2.3.4-windows-amd64.tar.gz.sha256sum',
  })
  t.end()
})

t.test('runtime sources and their inputs', (t) => {
  t.throws(() => resolve({ os: 'openeuler', runtime: 'isulad', 'runtime-source': 'release' }), { message: /--runtime-source release is not available for iSulad.*/ })
  t.throws(() => resolve({ os: 'openeuler', runtime: 'isulad', 'runtime-source': 'packages' }), { message: /needs the iSulad packages/ })
  t.throws(() => resolve({ os: 'openeuler', runtime: 'isulad', 'runtime-source': 'packages', packages: ['iSulad-2.1.6-1.x86_64.deb'] }), /installs \.rpm packages/)
  t.throws(() => resolve({ os: 'ubuntu', runtime: 'containerd', packages: ['containerd_1.7.deb'] }), /only used with --runtime-source packages/)
  const withPackages = resolve({ os: 'openeuler', runtime: 'isulad', 'runtime-source': 'packages', packages: ['iSulad-2.1.6-1.oe2203.x86_64.rpm', 'lcr-2.1.4-1.x86_64.rpm'] })
  t.same(withPackages.options.packages, ['iSulad-2.1.6-1.oe2203.x86_64.rpm', 'lcr-2.1.4-1.x86_64.rpm'])
  t.throws(() => resolve({ os: 'windows', runtime: 'containerd', 'cgroup-driver': 'systemd' }), UsageError)
  t.throws(() => resolve({ os: 'windows', runtime: 'containerd', 'cgroup-driver': 'systemd' }), /does not apply to Windows/)
  t.end()
})

t.test('endpoints per runtime, OS and KubeEdge version', (t) => {
  const endpoint = (raw: RawRequest) => resolve(raw).runtime.endpoint
  t.equal(endpoint({ os: 'ubuntu', runtime: 'containerd' }), 'unix:///run/containerd/containerd.sock')
  t.equal(endpoint({ os: 'ubuntu', runtime: 'kata' }), 'unix:///run/containerd/containerd.sock')
  t.equal(endpoint({ os: 'windows', runtime: 'containerd' }), 'npipe://./pipe/containerd-containerd')
  t.equal(endpoint({ os: 'ubuntu', runtime: 'cri-o' }), 'unix:///var/run/crio/crio.sock')
  t.equal(endpoint({ os: 'ubuntu', runtime: 'docker', 'kubeedge-version': '1.13' }), 'unix:///var/run/dockershim.sock')
  t.equal(endpoint({ os: 'ubuntu', runtime: 'docker', 'kubeedge-version': '1.14' }), 'unix:///var/run/cri-dockerd.sock')
  t.equal(endpoint({ os: 'openeuler', runtime: 'isulad' }), 'unix:///var/run/isulad.sock')
  t.equal(endpoint({ os: 'ubuntu', runtime: 'virtlet', 'kubeedge-version': '1.14' }), 'unix:///run/virtlet.sock')
  t.same(resolve({ os: 'ubuntu', runtime: 'docker', 'kubeedge-version': '1.13' }).runtime.services, ['docker'])
  t.same(resolve({ os: 'ubuntu', runtime: 'docker', 'kubeedge-version': '1.14' }).runtime.services, ['docker', 'cri-docker'])
  t.end()
})

t.test('errors are typed for the CLI to map to exit 2', (t) => {
  try {
    resolve({ os: 'windows', runtime: 'isulad' })
    t.fail('should throw')
  } catch (error) {
    t.ok(error instanceof UnsupportedTargetError)
    t.ok(error instanceof UsageError)
    t.equal((error as UsageError).exitCode, 2)
  }
  t.end()
})
