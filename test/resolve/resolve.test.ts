import t from 'tap'
import { UnsupportedTargetError, UsageError } from '../../src/model/errors.js'
import { listMatrix, unsupportedReason } from '../../src/resolve/resolve.js'
import type { RawRequest } from '../../src/resolve/request.js'
import { catalog, resolve } from '../helpers.js'

t.test('matrix: the reason of every unsupported combination, on each side of its boundary', (t) => {
  const cases: [RawRequest, RegExp | null][] = [
    // keadm joins Windows nodes from 1.16 (join_windows.go first @ kubeedge v1.16.0).
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
    // keadm join cannot copy edgecore through Virtlet at any version; 1.15+ names the CRI reason first.
    [{ os: 'ubuntu', runtime: 'virtlet', 'kubeedge-version': '1.12' }, /ordinary container over the CRI endpoint; Virtlet runs VM disk images only/],
    [{ os: 'ubuntu', runtime: 'virtlet', 'kubeedge-version': '1.14' }, /ordinary container over the CRI endpoint/],
    [{ os: 'ubuntu', runtime: 'virtlet', 'kubeedge-version': '1.15' }, /CRI v1alpha2 only/],
    [{ os: 'ubuntu', runtime: 'virtlet', arch: 'arm64', 'kubeedge-version': '1.14' }, /amd64 only/],
    [{ os: 'ubuntu', runtime: 'kata', arch: 'arm' }, /no 32-bit ARM build/],
    [{ os: 'ubuntu', runtime: 'docker', arch: 'arm', 'kubeedge-version': '1.14' }, /cri-dockerd/],
    [{ os: 'ubuntu', runtime: 'docker', arch: 'arm', 'kubeedge-version': '1.13' }, /Docker static binaries/],
    [{ os: 'ubuntu', runtime: 'docker', arch: 'arm', 'kubeedge-version': '1.13', 'runtime-source': 'preinstalled' }, null],
    [{ os: 'openeuler', runtime: 'isulad', arch: 'arm64' }, null],
    // No pinned CRI-O release serves CRI v1alpha2, which KubeEdge 1.12's edged speaks (cri-o.yaml constraints).
    [{ os: 'ubuntu', runtime: 'cri-o', 'kubeedge-version': '1.12' }, /KubeEdge 1\.12's edged speaks CRI v1alpha2 only.*no pinned CRI-O release qualifies/],
    [{ os: 'ubuntu', runtime: 'cri-o', 'kubeedge-version': '1.13' }, null],
    [{ os: 'ubuntu', runtime: 'cri-o', 'kubeedge-version': '1.12', 'runtime-source': 'preinstalled', 'runtime-version': '1.25.5' }, null],
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
  // KubeEdge >= 1.15 speaks CRI v1 only, which containerd serves from 1.6.
  const pre = { os: 'ubuntu', runtime: 'containerd', 'runtime-source': 'preinstalled' }
  t.throws(() => resolve({ ...pre, 'kubeedge-version': '1.15', 'runtime-version': '1.5.18' }), { message: /containerd 1\.5\.18 cannot serve KubeEdge 1\.15.*CRI v1 only.*from 1\.6/ })
  t.doesNotThrow(() => resolve({ ...pre, 'kubeedge-version': '1.15', 'runtime-version': '1.6.0' }))
  // The conflist is CNI spec 1.0.0: libcni reads it from containerd 1.6 on, at every KubeEdge version.
  t.throws(() => resolve({ ...pre, 'kubeedge-version': '1.14', 'runtime-version': '1.5.18' }), { message: /containerd 1\.5\.18 cannot serve KubeEdge 1\.14.*spec 1\.0\.0/ })
  t.doesNotThrow(() => resolve({ ...pre, 'kubeedge-version': '1.14', 'runtime-version': '1.6.0' }))
  // KubeEdge 1.12 speaks CRI v1alpha2 only: containerd 1.x, not 2.x (which serves v1 only); 1.13 falls back either way.
  t.throws(() => resolve({ ...pre, 'kubeedge-version': '1.12', 'runtime-version': '2.0.0' }), { message: /containerd 2\.0\.0 cannot serve KubeEdge 1\.12.*CRI v1alpha2 only/ })
  t.doesNotThrow(() => resolve({ ...pre, 'kubeedge-version': '1.12', 'runtime-version': '1.7.34' }))
  t.doesNotThrow(() => resolve({ ...pre, 'kubeedge-version': '1.13', 'runtime-version': '2.0.0' }))
  t.throws(() => resolve({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.12', 'runtime-version': '2.3.4' }), /CRI v1alpha2 only/)
  t.equal(resolve({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.13', 'runtime-version': '2.3.4' }).runtime.version, '2.3.4')
  // Kata runs on containerd's default for the KubeEdge version, which meets containerd's constraints.
  t.equal(resolve({ os: 'ubuntu', runtime: 'kata', 'kubeedge-version': '1.12' }).runtime.base?.version, '1.7.34')
  // iSulad serves CRI v1 from 2.1.4.
  const isulad = { os: 'openeuler', runtime: 'isulad' }
  t.throws(() => resolve({ ...isulad, 'kubeedge-version': '1.15', 'runtime-version': '2.1.3' }), /iSulad 2\.1\.3 cannot serve KubeEdge 1\.15/)
  t.doesNotThrow(() => resolve({ ...isulad, 'kubeedge-version': '1.15', 'runtime-version': '2.1.4' }))
  t.doesNotThrow(() => resolve({ ...isulad, 'kubeedge-version': '1.14', 'runtime-version': '2.1.3' }))
  // CRI-O registers CRI v1 from 1.21.0 (1.20 has the code but does not register it).
  const crio = { os: 'ubuntu', runtime: 'cri-o', 'runtime-source': 'preinstalled' }
  t.throws(() => resolve({ ...crio, 'kubeedge-version': '1.15', 'runtime-version': '1.20.9' }), /CRI-O 1\.20\.9 cannot serve KubeEdge 1\.15.*from 1\.21/)
  t.doesNotThrow(() => resolve({ ...crio, 'kubeedge-version': '1.15', 'runtime-version': '1.21.0' }))
  t.doesNotThrow(() => resolve({ ...crio, 'kubeedge-version': '1.14', 'runtime-version': '1.20.9' }))
  // CRI-O serves CRI v1alpha2 through 1.25, which KubeEdge 1.12 needs.
  t.doesNotThrow(() => resolve({ ...crio, 'kubeedge-version': '1.12', 'runtime-version': '1.25.5' }))
  t.throws(() => resolve({ ...crio, 'kubeedge-version': '1.12', 'runtime-version': '1.26.0' }), /CRI-O 1\.26\.0 cannot serve KubeEdge 1\.12.*through 1\.25/)
  t.throws(() => resolve({ ...crio, 'kubeedge-version': '1.12' }), /CRI-O 1\.36\.3 cannot serve KubeEdge 1\.12/, 'the default version is checked too')
  t.doesNotThrow(() => resolve({ ...crio, 'kubeedge-version': '1.13', 'runtime-version': '1.26.0' }))
  // iSulad reads "systemd-cgroup" from 2.1.6; an older one would keep cgroupfs while edged uses systemd.
  t.throws(() => resolve({ ...isulad, 'runtime-version': '2.1.5', 'cgroup-driver': 'systemd' }), { name: 'UsageError', message: /iSulad 2\.1\.5 has no setting for the systemd cgroup driver/ })
  t.doesNotThrow(() => resolve({ ...isulad, 'runtime-version': '2.1.6', 'cgroup-driver': 'systemd' }))
  t.doesNotThrow(() => resolve({ ...isulad, 'runtime-version': '2.1.5', 'cgroup-driver': 'cgroupfs' }))
  // Release mode needs a pinned version.
  t.throws(() => resolve({ os: 'ubuntu', runtime: 'containerd', 'runtime-version': '1.7.20' }), { message: /no pinned containerd release/ })
  t.equal(resolve({ os: 'ubuntu', runtime: 'containerd', 'runtime-version': '1.7.34' }).runtime.version, '1.7.34')
  t.end()
})

t.test('components: release installs the runtime, preinstalled only support files; per arch and family', (t) => {
  const ids = (raw: RawRequest) => resolve(raw).components.map((c) => c.id)
  t.same(ids({ os: 'ubuntu', runtime: 'containerd' }), ['containerd', 'runc', 'cni-plugins', 'crictl'])
  t.same(ids({ os: 'ubuntu', runtime: 'containerd', 'runtime-source': 'preinstalled' }), ['cni-plugins', 'crictl'])
  t.same(ids({ os: 'windows', runtime: 'containerd' }), ['containerd', 'cni-plugins', 'crictl', 'keadm-windows', 'kubeedge-windows'])
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
  // KubeEdge's Windows release at the pinned patch, verified against the SHA-512 files KubeEdge publishes.
  t.match(windows.components.find((c) => c.id === 'keadm-windows'), {
    version: '1.23.1',
    url: 'https://github.com/kubeedge/kubeedge/releases/download/v1.23.1/keadm-v1.23.1-windows-amd64.tar.gz',
    checksumUrl: 'https://github.com/kubeedge/kubeedge/releases/download/v1.23.1/checksum_keadm-v1.23.1-windows-amd64.tar.gz.txt',
    checksumAlgorithm: 'sha512',
    install: { kind: 'archive', dest: 'C:\\usr\\local\\bin', strip: 2 },
  })
  t.match(resolve({ os: 'windows', runtime: 'containerd', 'kubeedge-version': '1.16' }).components.find((c) => c.id === 'kubeedge-windows'), {
    version: '1.16.6',
    fileName: 'kubeedge-v1.16.6-windows-amd64.tar.gz',
    checksumUrl: 'https://github.com/kubeedge/kubeedge/releases/download/v1.16.6/checksum_kubeedge-v1.16.6-windows-amd64.tar.gz.txt',
    install: { kind: 'binary', dest: 'C:\\etc\\kubeedge\\kubeedge-v1.16.6-windows-amd64.tar.gz', withChecksumFile: true },
  })
  t.notOk(resolve({ os: 'ubuntu', runtime: 'containerd' }).components.some((c) => c.id.endsWith('-windows')), 'Linux bundles take keadm from the image')
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
  t.same(resolve({ os: 'ubuntu', runtime: 'docker', 'kubeedge-version': '1.13' }).runtime.services, ['docker'])
  t.same(resolve({ os: 'ubuntu', runtime: 'docker', 'kubeedge-version': '1.14' }).runtime.services, ['docker', 'cri-docker'])
  t.end()
})

t.test('kata inherits containerd\'s choices for its containerd, and keeps its own', (t) => {
  t.match(resolve({ os: 'ubuntu', runtime: 'kata', 'kubeedge-version': '1.15' }).runtime.choices, { configVersion: 2, cniBinDirKey: 'bin_dir', untrustedWorkloadRuntime: true })
  t.match(resolve({ os: 'ubuntu', runtime: 'kata', 'kubeedge-version': '1.16' }).runtime.choices, { configVersion: 3, cniBinDirKey: 'bin_dirs', untrustedWorkloadRuntime: false })
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
