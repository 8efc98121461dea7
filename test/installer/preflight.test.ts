/**
 * Preflight: every check kind on a fake node (each outcome, live and under --root, dry run, Windows), then
 * the real host probe against this machine. Only 127.0.0.1 is ever listened on.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, posix } from 'node:path'
import t from 'tap'
import type { Check, Severity } from '../../src/model/plan.js'
import {
  CGROUP2_SUPER_MAGIC,
  type FileType,
  type NodeProbe,
  type PreflightContext,
  PreflightDefectError,
  type PreflightResult,
  type RunResult,
  hostProbe,
  osReleaseId,
  parseNetstat,
  parseProcNetTcp,
  runPreflight,
  summarizePreflight,
} from '../../src/installer/preflight.js'

// --- a fake node -----------------------------------------------------------------------------------------

type Entry = { type: 'file'; content: string; mode: number } | { type: 'dir' } | { type: 'socket' } | { type: 'symlink'; target: string }

/** An in-memory node. Symlinks in the last path component are followed (absolute ones from the host's /). */
class FakeNode implements NodeProbe {
  readonly entries = new Map<string, Entry>()
  machineName = 'x86_64'
  uidValue = 0
  commands = new Set<string>()
  ports: Set<number> | undefined = new Set()
  statfs = new Map<string, number>()
  unreadable = new Set<string>()
  /** Answers run(); PowerShell scripts arrive decoded in `script`. */
  answer: (command: string, args: string[], script: string | undefined) => RunResult = () => ({ code: 127, stdout: '' })
  readonly runs: { command: string; args: string[]; script: string | undefined }[] = []

  file(path: string, content = '', mode = 0o644): this {
    this.entries.set(path, { type: 'file', content, mode })
    return this
  }
  dir(path: string): this {
    this.entries.set(path, { type: 'dir' })
    return this
  }
  link(path: string, target: string): this {
    this.entries.set(path, { type: 'symlink', target })
    return this
  }
  socket(path: string): this {
    this.entries.set(path, { type: 'socket' })
    return this
  }

  private resolve(path: string): Entry | undefined {
    let current = path
    for (let hops = 0; hops < 40; hops++) {
      const entry = this.entries.get(current)
      if (entry?.type !== 'symlink') return entry
      current = entry.target.startsWith('/') ? entry.target : posix.join(posix.dirname(current), entry.target)
    }
    return undefined
  }
  stat(path: string): FileType | undefined {
    return this.resolve(path)?.type
  }
  lstat(path: string): FileType | undefined {
    return this.entries.get(path)?.type
  }
  readlink(path: string): string {
    const entry = this.entries.get(path)
    if (entry?.type !== 'symlink') throw new Error(`EINVAL: not a symlink: ${path}`)
    return entry.target
  }
  readFile(path: string): string {
    const entry = this.resolve(path)
    if (entry?.type !== 'file' || this.unreadable.has(path)) throw new Error(`EACCES: cannot read ${path}`)
    return entry.content
  }
  listDir(path: string): string[] | undefined {
    const prefix = path.endsWith('\\') || path.endsWith('/') ? path : `${path}/`
    const names = [...this.entries.keys()].filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length))
    return names.length > 0 ? names : undefined
  }
  isExecutable(path: string): boolean {
    const entry = this.resolve(path)
    return entry?.type === 'dir' || (entry?.type === 'file' && (entry.mode & 0o111) !== 0)
  }
  statfsType(path: string): number | undefined {
    return this.statfs.get(path)
  }
  machine(): string {
    return this.machineName
  }
  uid(): number {
    return this.uidValue
  }
  commandExists(name: string): boolean {
    return this.commands.has(name)
  }
  run(command: string, args: string[]): RunResult {
    const encoded = args.indexOf('-EncodedCommand')
    const script = encoded >= 0 ? Buffer.from(args[encoded + 1]!, 'base64').toString('utf16le') : undefined
    this.runs.push({ command, args, script })
    return this.answer(command, args, script)
  }
  listeningTcpPorts(): ReadonlySet<number> | undefined {
    return this.ports
  }
}

const LIVE: PreflightContext = { root: undefined, dryRun: false, platform: 'linux' }
const IMG = '/mnt/img'
const UNDER_ROOT: PreflightContext = { root: IMG, dryRun: false, platform: 'linux' }
const WIN: PreflightContext = { root: undefined, dryRun: false, platform: 'windows' }
const WIN_ROOT: PreflightContext = { root: 'D:\\image\\', dryRun: false, platform: 'windows' }

function one(check: Check, node: FakeNode, context: PreflightContext = LIVE): PreflightResult {
  const results = runPreflight([check], context, node)
  if (results.length !== 1) throw new Error('one result per check')
  return results[0]!
}

const osRelease = (severity: Severity = 'error'): Check => ({ kind: 'os-release', severity, ids: ['ubuntu', 'debian'] })

// --- Linux ------------------------------------------------------------------------------------------------

t.test('os-release on the live node', async (t) => {
  t.match(one(osRelease(), new FakeNode().file('/etc/os-release', 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n')), {
    outcome: 'ok',
    severity: 'error',
    message: 'OS ubuntu',
  })
  t.match(one(osRelease(), new FakeNode().file('/etc/os-release', 'ID="debian"')), { outcome: 'ok', message: 'OS debian' }, 'quotes stripped, no final newline')
  t.match(one(osRelease(), new FakeNode().file('/usr/lib/os-release', "ID='ubuntu'\n")), { outcome: 'ok', message: 'OS ubuntu' }, 'falls back to /usr/lib/os-release')
  t.same(one(osRelease(), new FakeNode()), {
    check: osRelease(),
    outcome: 'failed',
    severity: 'error',
    message: 'the OS is unknown: there is no /etc/os-release',
    whatToDo: 'run on one of: ubuntu debian',
  })
  const centos = one(osRelease(), new FakeNode().file('/etc/os-release', 'ID="centos"\nVERSION_ID="7"\n'))
  t.match(centos, { outcome: 'failed', severity: 'error', message: 'the OS is centos, but this bundle is for: ubuntu debian', whatToDo: 'use the bundle built for centos' })
  t.match(one(osRelease('warning'), new FakeNode().file('/etc/os-release', 'ID=centos\n')), { outcome: 'failed', severity: 'warning' }, 'a warning-severity check only warns')
  t.match(one(osRelease(), new FakeNode().file('/etc/os-release', 'NAME=x\n')), { outcome: 'failed', message: 'the OS is unknown, but this bundle is for: ubuntu debian', whatToDo: 'use the bundle built for this OS' })
  const unreadable = new FakeNode().file('/etc/os-release', 'ID=ubuntu\n')
  unreadable.unreadable.add('/etc/os-release')
  t.match(one(osRelease(), unreadable), { outcome: 'failed', severity: 'error', message: /\/etc\/os-release cannot be read \(EACCES/ })
  t.match(one(osRelease(), new FakeNode().file('/etc/os-release', 'ID=ubuntu\n')), { outcome: 'ok' }, 'the root check does not affect os-release')
})

t.test('os-release under --root reads the root, following an absolute link inside it', async (t) => {
  // The host says debian throughout: a result of ubuntu proves the root's file was read.
  const host = () => new FakeNode().file('/etc/os-release', 'ID=debian\n').file('/usr/lib/os-release', 'ID=debian\n')
  const ubuntu: Check = { kind: 'os-release', severity: 'error', ids: ['ubuntu'] }
  t.match(one(ubuntu, host().file(`${IMG}/etc/os-release`, 'ID=ubuntu\n'), UNDER_ROOT), { outcome: 'ok', message: 'OS ubuntu' })
  t.match(
    one(ubuntu, host().link(`${IMG}/etc/os-release`, '/usr/lib/os-release').file(`${IMG}/usr/lib/os-release`, 'ID=ubuntu\n'), UNDER_ROOT),
    { outcome: 'ok', message: 'OS ubuntu' },
    'absolute link: taken inside the root',
  )
  t.match(
    one(ubuntu, host().link(`${IMG}/etc/os-release`, '../usr/lib/os-release').file(`${IMG}/usr/lib/os-release`, 'ID=ubuntu\n'), UNDER_ROOT),
    { outcome: 'ok', message: 'OS ubuntu' },
    'relative link: followed from etc/',
  )
  t.match(one(ubuntu, host().file(`${IMG}/etc/os-release`, 'ID=debian\n'), UNDER_ROOT), {
    outcome: 'failed',
    severity: 'error',
    message: 'the OS is debian, but this bundle is for: ubuntu',
  })
  const missing = one(ubuntu, host(), UNDER_ROOT)
  t.same(missing, { check: ubuntu, outcome: 'failed', severity: 'warning', message: 'the OS of the root at /mnt/img is unknown: it has no /etc/os-release (expected one of: ubuntu)' })
  t.match(one(ubuntu, host(), { ...UNDER_ROOT, root: `${IMG}//` }), { message: /root at \/mnt\/img is unknown/ }, 'trailing slashes dropped')
  t.match(one(ubuntu, host().link(`${IMG}/etc/os-release`, '/usr/lib/os-release'), UNDER_ROOT), { severity: 'warning', message: /has no \/etc\/os-release/ }, 'a dangling link in the root: unknown')
  t.match(one(ubuntu, new FakeNode().file('/etc/os-release', 'ID=ubuntu\n'), { ...UNDER_ROOT, root: '/' }), { outcome: 'ok' }, '--root / reads /etc/os-release')
  t.match(one(ubuntu, new FakeNode(), { ...UNDER_ROOT, root: '/' }), { message: /root at \/ is unknown/ })
})

t.test('arch: a mismatch fails, but only warns under --root', async (t) => {
  const arch: Check = { kind: 'arch', severity: 'error', machines: ['aarch64'] }
  const node = new FakeNode()
  node.machineName = 'aarch64'
  t.match(one(arch, node), { outcome: 'ok', message: 'CPU architecture aarch64' })
  node.machineName = 'x86_64'
  t.match(one(arch, node), { outcome: 'failed', severity: 'error', message: 'the CPU architecture is x86_64, but this bundle is for: aarch64', whatToDo: 'use the bundle built for x86_64' })
  const rooted = one(arch, node, UNDER_ROOT)
  t.same(rooted, { check: arch, outcome: 'failed', severity: 'warning', message: 'this machine is x86_64; make sure the root at /mnt/img is for one of: aarch64' })
})

t.test('root: uid 0 passes, another uid fails, a dry run skips', async (t) => {
  const root: Check = { kind: 'root', severity: 'error' }
  const node = new FakeNode()
  t.match(one(root, node), { outcome: 'ok', message: 'running as root' })
  node.uidValue = 1000
  t.match(one(root, node), { outcome: 'failed', severity: 'error', message: 'the installer runs as uid 1000, not as root', whatToDo: 'run it with sudo' })
  t.match(one(root, node, UNDER_ROOT), { outcome: 'failed' }, '--root still needs root')
  t.match(one(root, node, { ...LIVE, dryRun: true }), { outcome: 'skipped', severity: 'error', message: 'root (a dry run changes nothing)' })
  t.match(one(root, node, { ...UNDER_ROOT, dryRun: true }), { outcome: 'skipped' })
})

t.test('init-system: systemd running, or installed in the root', async (t) => {
  const init: Check = { kind: 'init-system', severity: 'warning', expect: 'systemd' }
  t.match(one(init, new FakeNode().dir('/run/systemd/system')), { outcome: 'ok', message: 'init system systemd' })
  t.match(one(init, new FakeNode().file('/run/systemd/system')), { outcome: 'failed' }, 'a file there is not systemd')
  t.match(one(init, new FakeNode()), {
    outcome: 'failed',
    severity: 'warning',
    message: 'systemd is not the init system',
    whatToDo: 'boot the node with systemd; without it the services must be started by hand',
  })
  // Under --root this machine's init does not matter, the image's systemd binary does.
  t.match(one(init, new FakeNode().dir('/run/systemd/system'), UNDER_ROOT), { outcome: 'failed', message: 'the root at /mnt/img has no systemd' })
  t.match(one(init, new FakeNode().file(`${IMG}/usr/lib/systemd/systemd`, '', 0o755), UNDER_ROOT), { outcome: 'ok' })
  t.match(one(init, new FakeNode().file(`${IMG}/lib/systemd/systemd`, '', 0o755), UNDER_ROOT), { outcome: 'ok' })
  t.match(one(init, new FakeNode().link(`${IMG}/lib/systemd/systemd`, '/usr/lib/systemd/systemd'), UNDER_ROOT), { outcome: 'ok' }, 'a link dangling on this machine counts')
  t.match(one({ ...init, severity: 'error' }, new FakeNode(), UNDER_ROOT), {
    outcome: 'failed',
    severity: 'error',
    whatToDo: "install systemd in the image; this bundle's services are systemd units",
  })
  t.throws(() => one({ ...init, expect: 'openrc' as 'systemd' }, new FakeNode()), PreflightDefectError)
  t.throws(() => one({ ...init, expect: 'openrc' as 'systemd' }, new FakeNode()), { message: /unknown init system openrc/ })
})

t.test('cgroup: v2, v1, none; the systemd driver needs systemd; skipped under --root', async (t) => {
  const cgroupfs: Check = { kind: 'cgroup', severity: 'warning', driver: 'cgroupfs' }
  const systemd: Check = { kind: 'cgroup', severity: 'error', driver: 'systemd' }
  const v2 = new FakeNode()
  v2.statfs.set('/sys/fs/cgroup', CGROUP2_SUPER_MAGIC)
  t.match(one(cgroupfs, v2), { outcome: 'ok', message: 'cgroup v2, driver cgroupfs' })
  t.match(one(cgroupfs, new FakeNode().file('/sys/fs/cgroup/cgroup.controllers', 'cpu memory')), { outcome: 'ok', message: 'cgroup v2, driver cgroupfs' })
  for (const controller of ['memory', 'cpu', 'systemd']) {
    t.match(one(cgroupfs, new FakeNode().dir(`/sys/fs/cgroup/${controller}`)), { outcome: 'ok', message: 'cgroup v1, driver cgroupfs' }, controller)
  }
  const tmpfs = new FakeNode()
  tmpfs.statfs.set('/sys/fs/cgroup', 0x01021994)
  t.match(one(cgroupfs, tmpfs), {
    outcome: 'failed',
    severity: 'warning',
    message: 'no cgroup filesystem is mounted at /sys/fs/cgroup',
    whatToDo: 'mount cgroup v1 or v2 there (systemd does it when it boots the node)',
  })
  t.match(one(systemd, new FakeNode().dir('/sys/fs/cgroup/memory')), {
    outcome: 'failed',
    severity: 'error',
    message: 'the cgroup driver systemd needs systemd as the init system',
    whatToDo: 'boot with systemd, or build the bundle with --cgroup-driver cgroupfs',
  })
  t.match(one(systemd, new FakeNode().dir('/run/systemd/system').dir('/sys/fs/cgroup/memory')), { outcome: 'ok', message: 'cgroup v1, driver systemd' })
  t.match(one(cgroupfs, new FakeNode(), UNDER_ROOT), { outcome: 'skipped', message: 'cgroup version (decided by the kernel that boots the root)' })
  t.match(one(systemd, new FakeNode().file(`${IMG}/lib/systemd/systemd`), UNDER_ROOT), { outcome: 'skipped' })
  t.match(one(systemd, new FakeNode().dir('/run/systemd/system'), UNDER_ROOT), { outcome: 'failed', severity: 'error' }, 'under --root the image must have systemd')
})

t.test('kernel-module: loaded, built in, loadable, missing; skipped under --root', async (t) => {
  const overlay: Check = { kind: 'kernel-module', severity: 'warning', module: 'overlay' }
  const brNetfilter: Check = { kind: 'kernel-module', severity: 'warning', module: 'br-netfilter' }
  t.match(one(overlay, new FakeNode().dir('/sys/module/overlay')), { outcome: 'ok', message: 'kernel module overlay' })
  t.match(one(brNetfilter, new FakeNode().dir('/sys/module/br_netfilter')), { outcome: 'ok', message: 'kernel module br-netfilter' }, 'dashes are underscores in /sys/module')
  const procModules = 'nf_conntrack 172032 1 - Live 0x0000000000000000\nbr_netfilter 32768 0 - Live 0x0000000000000000\n'
  t.match(one(brNetfilter, new FakeNode().file('/proc/modules', procModules)), { outcome: 'ok' }, 'listed in /proc/modules')
  t.match(one(overlay, new FakeNode().file('/proc/modules', procModules)), { outcome: 'failed' }, 'not listed')
  const builtin = new FakeNode().file('/proc/sys/kernel/osrelease', '6.8.0-generic\n').file('/lib/modules/6.8.0-generic/modules.builtin', 'kernel/fs/ext4/ext4.ko\nkernel/net/bridge/br_netfilter.ko\n')
  t.match(one(brNetfilter, builtin), { outcome: 'ok' }, 'built into the kernel: listed in modules.builtin, no /sys/module entry')
  t.match(one(overlay, builtin), { outcome: 'failed' }, 'a module modules.builtin does not list is not built in')
  const loadable = new FakeNode()
  loadable.commands.add('modinfo')
  loadable.answer = (command, args) => ({ code: command === 'modinfo' && args.join(' ') === '-- overlay' ? 0 : 1, stdout: '' })
  t.match(one(overlay, loadable), { outcome: 'ok', message: 'kernel module overlay (loadable)' })
  t.same(loadable.runs.map((r) => [r.command, ...r.args]), [['modinfo', '--', 'overlay']])
  t.match(one(brNetfilter, loadable), { outcome: 'failed' }, 'modinfo does not know it')
  const noModinfo = new FakeNode()
  noModinfo.answer = () => ({ code: 0, stdout: '' })
  t.same(one(overlay, noModinfo), {
    check: overlay,
    outcome: 'failed',
    severity: 'warning',
    message: 'the kernel module overlay is neither loaded nor available',
    whatToDo: "install the kernel's extra modules (for Ubuntu: linux-modules-extra-$(uname -r))",
  })
  t.same(noModinfo.runs, [], 'modinfo is not run when it is not installed')
  const rooted = new FakeNode()
  t.match(one(overlay, rooted, UNDER_ROOT), { outcome: 'skipped', message: "kernel module overlay (the image's kernel is not running)" })
})

t.test('port-free: in use, free, invisible; only a warning under --root', async (t) => {
  const port: Check = { kind: 'port-free', severity: 'error', port: 10350, reason: 'edgecore serves exec, logs and metrics on 10350' }
  const node = new FakeNode()
  node.ports = new Set([22, 10350])
  t.same(one(port, node), {
    check: port,
    outcome: 'failed',
    severity: 'error',
    message: 'TCP port 10350 is in use (edgecore serves exec, logs and metrics on 10350)',
    whatToDo: 'stop what listens on it; ss -ltnp shows which program',
  })
  t.match(one({ ...port, severity: 'warning' }, node), { outcome: 'failed', severity: 'warning' })
  node.ports = new Set([22])
  t.match(one(port, node), { outcome: 'ok', message: 'TCP port 10350 is free' })
  node.ports = undefined
  t.match(one(port, node), {
    outcome: 'failed',
    severity: 'warning',
    message: 'cannot see listening ports (no /proc/net/tcp); make sure port 10350 is free (edgecore serves exec, logs and metrics on 10350)',
  })
  node.ports = new Set([10350])
  t.same(one(port, node, UNDER_ROOT), {
    check: port,
    outcome: 'failed',
    severity: 'warning',
    message: 'port 10350 not checked under --root: make sure nothing listens on it when the node runs (edgecore serves exec, logs and metrics on 10350)',
  })
})

t.test('command: on PATH, or in the root’s usual folders under --root', async (t) => {
  const zstd: Check = { kind: 'command', severity: 'error', command: 'zstd', reason: 'Kata Containers ships as a .tar.zst archive' }
  const onPath = new FakeNode()
  onPath.commands.add('zstd')
  t.match(one(zstd, onPath), { outcome: 'ok', message: 'command zstd' })
  t.match(one(zstd, onPath, UNDER_ROOT), { outcome: 'ok', message: 'command zstd' }, 'PATH first, as install.sh')
  t.same(one(zstd, new FakeNode()), {
    check: zstd,
    outcome: 'failed',
    severity: 'error',
    message: 'the command zstd is missing (Kata Containers ships as a .tar.zst archive)',
    whatToDo: 'install zstd',
  })
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    t.match(one(zstd, new FakeNode().file(`${IMG}${dir}/zstd`, '', 0o755), UNDER_ROOT), { outcome: 'ok', message: 'command zstd (in the root)' }, dir)
  }
  t.match(one(zstd, new FakeNode().file(`${IMG}/usr/bin/zstd`, '', 0o644), UNDER_ROOT), { outcome: 'failed' }, 'not executable')
  t.match(one(zstd, new FakeNode().file(`${IMG}/opt/bin/zstd`, '', 0o755), UNDER_ROOT), { outcome: 'failed' }, 'not a usual folder')
  t.match(one(zstd, new FakeNode().file(`${IMG}/usr/bin/zstd`, '', 0o755)), { outcome: 'failed' }, 'the root is not looked in without --root')
  t.match(one(zstd, new FakeNode().link(`${IMG}/usr/bin/zstd`, 'zstd-1.5').file(`${IMG}/usr/bin/zstd-1.5`, '', 0o755), UNDER_ROOT), { outcome: 'ok' }, 'links are followed')
})

t.test('service-inactive: systemctl is-active; skipped without systemd and under --root', async (t) => {
  const libvirtd: Check = { kind: 'service-inactive', severity: 'error', service: 'libvirtd', reason: 'Virtlet brings its own libvirt' }
  const active = new FakeNode().dir('/run/systemd/system')
  active.answer = (command) => ({ code: command === 'systemctl' ? 0 : 127, stdout: '' })
  t.same(one(libvirtd, active), {
    check: libvirtd,
    outcome: 'failed',
    severity: 'error',
    message: 'the service libvirtd is running (Virtlet brings its own libvirt)',
    whatToDo: 'stop and disable it: systemctl disable --now libvirtd',
  })
  t.same(active.runs.map((r) => [r.command, ...r.args]), [['systemctl', 'is-active', '--quiet', '--', 'libvirtd']])
  const inactive = new FakeNode().dir('/run/systemd/system')
  inactive.answer = () => ({ code: 3, stdout: '' })
  t.match(one(libvirtd, inactive), { outcome: 'ok', message: 'service libvirtd is not running' })
  const noSystemd = new FakeNode()
  noSystemd.answer = () => ({ code: 0, stdout: '' })
  t.match(one(libvirtd, noSystemd), { outcome: 'skipped', message: 'service libvirtd (systemd is not running)' })
  t.match(one(libvirtd, active, UNDER_ROOT), { outcome: 'skipped', message: 'service libvirtd (nothing runs in the root)' })
  t.same(noSystemd.runs, [])
})

t.test('runtime-absent: the socket (or anything) at its path; skipped under --root', async (t) => {
  const docker: Check = { kind: 'runtime-absent', severity: 'warning', runtime: 'Docker', socket: 'unix:///var/run/docker.sock', reason: 'another runtime is running' }
  t.same(one(docker, new FakeNode().socket('/var/run/docker.sock')), {
    check: docker,
    outcome: 'failed',
    severity: 'warning',
    message: 'Docker is already here: its socket /var/run/docker.sock exists (another runtime is running)',
    whatToDo: 'remove Docker from this node, or use the bundle built for Docker',
  })
  t.match(one(docker, new FakeNode().file('/var/run/docker.sock')), { outcome: 'failed' }, 'a stale file counts too')
  t.match(one(docker, new FakeNode().link('/var/run/docker.sock', '/run/docker.sock').socket('/run/docker.sock')), { outcome: 'failed' })
  t.match(one(docker, new FakeNode().link('/var/run/docker.sock', '/run/docker.sock')), { outcome: 'ok' }, 'a dangling link does not')
  t.match(one(docker, new FakeNode()), { outcome: 'ok', message: 'no Docker socket at /var/run/docker.sock' })
  t.match(one({ ...docker, socket: '/run/isulad.sock' }, new FakeNode().socket('/run/isulad.sock')), { outcome: 'failed', message: /its socket \/run\/isulad\.sock exists/ })
  t.match(one(docker, new FakeNode().socket('/var/run/docker.sock'), UNDER_ROOT), { outcome: 'skipped', message: 'Docker (nothing runs in the root)' })
})

t.test('a Windows check in a Linux plan is a defect, not a node problem', async (t) => {
  t.throws(() => one({ kind: 'windows-feature', severity: 'error', feature: 'Containers' }, new FakeNode()), PreflightDefectError)
  t.throws(() => one({ kind: 'windows-feature', severity: 'error', feature: 'Containers' }, new FakeNode()), {
    message: /internal error: the windows-feature check does not run on Linux/,
    exitCode: 1,
  })
})

t.test('a whole Linux plan: one result per check, in order, and the summary counts errors', async (t) => {
  const checks: Check[] = [
    { kind: 'root', severity: 'error' },
    { kind: 'os-release', severity: 'error', ids: ['ubuntu'] },
    { kind: 'arch', severity: 'error', machines: ['x86_64'] },
    { kind: 'init-system', severity: 'warning', expect: 'systemd' },
    { kind: 'cgroup', severity: 'warning', driver: 'cgroupfs' },
    { kind: 'kernel-module', severity: 'warning', module: 'overlay' },
    { kind: 'port-free', severity: 'error', port: 10350, reason: 'edgecore' },
    { kind: 'command', severity: 'error', command: 'isula', reason: 'preinstalled' },
    { kind: 'service-inactive', severity: 'error', service: 'libvirtd', reason: 'virtlet' },
    { kind: 'runtime-absent', severity: 'warning', runtime: 'Docker', socket: 'unix:///var/run/docker.sock', reason: 'other' },
  ]
  const node = new FakeNode().file('/etc/os-release', 'ID=debian\n').dir('/sys/fs/cgroup/memory').dir('/sys/module/overlay')
  node.ports = new Set([10350])
  node.uidValue = 1000
  const results = runPreflight(checks, LIVE, node)
  t.same(
    results.map((r) => r.check),
    checks,
  )
  t.same(
    results.map((r) => `${r.outcome}/${r.severity}`),
    ['failed/error', 'failed/error', 'ok/error', 'failed/warning', 'ok/warning', 'ok/warning', 'failed/error', 'failed/error', 'skipped/error', 'ok/warning'],
  )
  t.same(summarizePreflight(results), { ok: 4, skipped: 1, warnings: 1, errors: 4 })
  const dry = runPreflight(checks, { ...UNDER_ROOT, dryRun: true }, node)
  t.same(summarizePreflight(dry), { ok: 1, skipped: 5, warnings: 3, errors: 1 }, 'under --root in a dry run: only the missing command is an error')
  t.same(summarizePreflight([]), { ok: 0, skipped: 0, warnings: 0, errors: 0 })
})

// --- Windows ----------------------------------------------------------------------------------------------

t.test('Windows: os-release and arch, with the processor aliases', async (t) => {
  t.match(one({ kind: 'os-release', severity: 'error', ids: ['windows'] }, new FakeNode(), WIN), { outcome: 'ok', message: 'OS windows' })
  t.match(one({ kind: 'os-release', severity: 'error', ids: ['Windows'] }, new FakeNode(), WIN), { outcome: 'ok' }, 'compared as PowerShell does, ignoring case')
  t.match(one({ kind: 'os-release', severity: 'error', ids: ['ubuntu', 'debian'] }, new FakeNode(), WIN), {
    outcome: 'failed',
    message: 'this is Windows, but the bundle is for: ubuntu, debian',
    whatToDo: 'use the bundle built for Windows',
  })
  const node = new FakeNode()
  node.machineName = 'AMD64'
  for (const machines of [['AMD64'], ['amd64'], ['x86_64'], ['x64'], ['Amd64'], ['arm64', 'X64']]) {
    t.match(one({ kind: 'arch', severity: 'error', machines }, node, WIN), { outcome: 'ok', message: 'CPU architecture AMD64' }, machines.join())
  }
  node.machineName = 'ARM64'
  t.match(one({ kind: 'arch', severity: 'error', machines: ['aarch64'] }, node, WIN), { outcome: 'ok' })
  t.match(one({ kind: 'arch', severity: 'error', machines: ['AMD64'] }, node, WIN), {
    outcome: 'failed',
    severity: 'error',
    message: 'the CPU architecture is ARM64, but this bundle is for: AMD64',
    whatToDo: 'use the bundle built for ARM64',
  })
  t.match(one({ kind: 'arch', severity: 'error', machines: ['AMD64'] }, node, WIN_ROOT), {
    outcome: 'failed',
    severity: 'warning',
    message: 'this machine is ARM64; make sure the image at D:\\image is for one of: AMD64',
  })
})

t.test('Windows: Administrator through PowerShell; skipped in a dry run', async (t) => {
  const admin: Check = { kind: 'root', severity: 'error' }
  const node = new FakeNode()
  node.answer = (command, _args, script) => ({ code: command === 'powershell.exe' && script?.includes('WindowsBuiltInRole]::Administrator') ? 0 : 1, stdout: 'True\r\n' })
  t.match(one(admin, node, WIN), { outcome: 'ok', message: 'running as Administrator' })
  node.answer = () => ({ code: 0, stdout: 'False\r\n' })
  t.match(one(admin, node, WIN), {
    outcome: 'failed',
    severity: 'error',
    message: 'the installer does not run as Administrator',
    whatToDo: 'start it from a PowerShell or command prompt opened with Run as administrator',
  })
  node.answer = () => ({ code: 127, stdout: '' })
  t.match(one(admin, node, WIN), { outcome: 'failed', severity: 'error', message: /cannot tell whether the installer runs as Administrator/ })
  const before = node.runs.length
  t.match(one(admin, node, { ...WIN, dryRun: true }), { outcome: 'skipped', message: 'Administrator (a dry run changes nothing)' })
  t.equal(node.runs.length, before, 'nothing asked in a dry run')
})

t.test('Windows: windows-feature states, quoting, and --root', async (t) => {
  const containers: Check = { kind: 'windows-feature', severity: 'error', feature: 'Containers' }
  const node = new FakeNode()
  node.answer = () => ({ code: 0, stdout: 'Enabled\r\n' })
  t.match(one(containers, node, WIN), { outcome: 'ok', message: 'Windows feature Containers' })
  t.match(node.runs[0]!.script, /Get-WindowsOptionalFeature -Online -FeatureName 'Containers'/)
  t.match(node.runs[0]!.script, /Get-WindowsFeature -Name 'Containers'/)
  node.answer = () => ({ code: 0, stdout: 'Disabled\r\n' })
  t.same(one(containers, node, WIN), {
    check: containers,
    outcome: 'failed',
    severity: 'error',
    message: 'the Windows feature Containers is Disabled',
    whatToDo: 'Enable-WindowsOptionalFeature -Online -FeatureName Containers -All, then restart',
  })
  node.answer = () => ({ code: 0, stdout: '' })
  t.match(one(containers, node, WIN), { outcome: 'failed', severity: 'warning', message: 'cannot tell whether the Windows feature Containers is enabled' })
  node.answer = () => ({ code: 127, stdout: '' })
  t.match(one(containers, node, WIN), { outcome: 'failed', severity: 'warning' }, 'no PowerShell: cannot tell')
  t.match(one(containers, node, WIN_ROOT), { outcome: 'failed', severity: 'warning', message: 'the Windows feature Containers is not checked under --root; enable it in the image' })
  one({ ...containers, feature: "it's\u2019" }, node, WIN)
  t.match(node.runs.at(-1)!.script, /-FeatureName 'it''s\u2019\u2019'/, 'a quote in the name stays inside the literal')
})

t.test('Windows: port-free, command, service-inactive, runtime-absent', async (t) => {
  const port: Check = { kind: 'port-free', severity: 'warning', port: 10350, reason: 'edgecore' }
  const node = new FakeNode()
  node.ports = new Set([10350])
  t.match(one(port, node, WIN), { outcome: 'failed', severity: 'warning', whatToDo: 'stop what listens on it; Get-NetTCPConnection -LocalPort shows its process' })
  node.ports = undefined
  t.match(one(port, node, WIN), { outcome: 'failed', severity: 'warning', message: /cannot see listening ports \(netstat did not answer\)/ })
  t.match(one(port, node, WIN_ROOT), { outcome: 'failed', severity: 'warning', message: /^port 10350 not checked under --root/ })

  const tar: Check = { kind: 'command', severity: 'error', command: 'tar.exe', reason: 'archives' }
  t.match(one(tar, node, WIN), { outcome: 'failed', message: 'the command tar.exe is missing (archives)', whatToDo: 'install tar.exe' })
  node.file('D:\\image\\Windows\\System32\\tar.exe')
  t.match(one(tar, node, WIN_ROOT), { outcome: 'ok', message: 'command tar.exe (in the image)' })
  node.commands.add('tar.exe')
  t.match(one(tar, node, WIN), { outcome: 'ok', message: 'command tar.exe' })

  const service: Check = { kind: 'service-inactive', severity: 'error', service: 'docker', reason: 'one runtime' }
  node.answer = (_command, _args, script) => ({ code: 0, stdout: script?.includes("Get-Service -Name 'docker'") ? 'Running\r\n' : '' })
  t.match(one(service, node, WIN), {
    outcome: 'failed',
    severity: 'error',
    message: 'the service docker is running (one runtime)',
    whatToDo: 'Stop-Service docker; Set-Service docker -StartupType Disabled',
  })
  node.answer = () => ({ code: 0, stdout: 'Stopped\r\n' })
  t.match(one(service, node, WIN), { outcome: 'ok', message: 'service docker is not running' })
  node.answer = () => ({ code: 0, stdout: '' })
  t.match(one(service, node, WIN), { outcome: 'ok' }, 'no such service')
  node.answer = () => ({ code: 127, stdout: '' })
  t.match(one(service, node, WIN), { outcome: 'failed', severity: 'warning', message: /cannot tell whether the service docker is running/ })
  t.match(one(service, node, WIN_ROOT), { outcome: 'skipped', message: 'service docker (nothing runs in the image)' })

  const pipe: Check = { kind: 'runtime-absent', severity: 'warning', runtime: 'Docker', socket: 'npipe:////./pipe/docker_engine', reason: 'other' }
  const pipes = new FakeNode().file('\\\\.\\pipe\\Docker_Engine').file('\\\\.\\pipe\\containerd-containerd')
  t.match(one(pipe, pipes, WIN), {
    outcome: 'failed',
    severity: 'warning',
    message: 'Docker is already here: \\\\.\\pipe\\docker_engine exists (other)',
    whatToDo: 'remove Docker from this node, or use the bundle built for it',
  })
  t.match(one(pipe, new FakeNode().file('\\\\.\\pipe\\containerd-containerd'), WIN), { outcome: 'ok', message: 'no Docker at \\\\.\\pipe\\docker_engine' })
  t.match(one(pipe, new FakeNode(), WIN), { outcome: 'ok' }, 'the pipe folder cannot be listed')
  const file: Check = { ...pipe, socket: 'unix:///C:/run/docker.sock' }
  t.match(one(file, new FakeNode().file('/C:/run/docker.sock'), WIN), { outcome: 'failed', message: /\/C:\/run\/docker\.sock exists/ })
  t.match(one(pipe, pipes, WIN_ROOT), { outcome: 'skipped', message: 'Docker (nothing runs in the image)' })
})

t.test('Windows: a Linux-only check in a Windows plan is a defect', async (t) => {
  for (const check of [
    { kind: 'init-system', severity: 'error', expect: 'systemd' },
    { kind: 'cgroup', severity: 'error', driver: 'cgroupfs' },
    { kind: 'kernel-module', severity: 'error', module: 'overlay' },
  ] satisfies Check[]) {
    t.throws(() => one(check, new FakeNode(), WIN), { message: new RegExp(`the ${check.kind} check does not run on Windows`) }, check.kind)
  }
})

// --- parsers ----------------------------------------------------------------------------------------------

t.test('osReleaseId and the listening-port parsers', async (t) => {
  t.equal(osReleaseId('NAME="Debian"\nVERSION_ID="12"\nID=debian\nID_LIKE=x\n'), 'debian')
  t.equal(osReleaseId('ID="rhel"\nID=fedora\n'), 'rhel', 'the first ID= line')
  t.equal(osReleaseId("ID='opensuse-leap'"), 'opensuse-leap')
  t.equal(osReleaseId(' ID=indented\nVERSION_ID=1'), '', 'only a line starting with ID=')
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 00000000:289E 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
    '   1: 0100007F:0016 0100007F:B2C4 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1',
  ].join('\n')
  t.same([...parseProcNetTcp(tcp)], [10398], 'LISTEN (0A) only, hex port')
  const tcp6 = '  sl  local_address ...\n   0: 00000000000000000000000000000000:2862 00000000000000000000000000000000:0000 0A 0 0 0 0 0 1 1\n'
  t.same([...parseProcNetTcp(tcp6)], [10338])
  const netstat = [
    '',
    'Active Connections',
    '',
    '  Proto  Local Address          Foreign Address        State',
    '  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING',
    '  TCP    127.0.0.1:50000        127.0.0.1:50001        ESTABLISHED',
    '  TCP    [::]:10350             [::]:0                 ABHÖREN',
    '  UDP    0.0.0.0:500            *:*',
  ].join('\r\n')
  t.same([...parseNetstat(netstat)].sort((a, b) => a - b), [135, 10350])
})

// --- the real host --------------------------------------------------------------------------------------

const host = hostProbe()
const work = mkdtempSync(join(tmpdir(), 'edgebundle-preflight-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

t.test('host: os-release, uname -m, uid, commands, run', async (t) => {
  const id = osReleaseId(readFileSync('/etc/os-release', 'utf8'))
  t.equal(id, 'debian', 'this machine is Debian')
  t.match(runPreflight([{ kind: 'os-release', severity: 'error', ids: ['debian'] }], LIVE, host), [{ outcome: 'ok', message: 'OS debian' }])
  t.match(runPreflight([{ kind: 'os-release', severity: 'error', ids: ['ubuntu'] }], LIVE, host), [{ outcome: 'failed', message: 'the OS is debian, but this bundle is for: ubuntu' }])

  const machine = execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim()
  t.equal(host.machine(), machine)
  t.match(runPreflight([{ kind: 'arch', severity: 'error', machines: [machine] }], LIVE, host), [{ outcome: 'ok', message: `CPU architecture ${machine}` }])

  t.equal(host.uid(), process.geteuid!())
  t.equal(host.uid(), 0, 'the tests run as root')
  t.match(runPreflight([{ kind: 'root', severity: 'error' }], LIVE, host), [{ outcome: 'ok', message: 'running as root' }])

  t.ok(host.commandExists('sh'))
  t.notOk(host.commandExists('edgebundle-no-such-command'))
  t.match(runPreflight([{ kind: 'command', severity: 'error', command: 'sh', reason: 'x' }], LIVE, host), [{ outcome: 'ok' }])
  t.match(runPreflight([{ kind: 'command', severity: 'error', command: 'edgebundle-no-such-command', reason: 'x' }], LIVE, host), [
    { outcome: 'failed', message: 'the command edgebundle-no-such-command is missing (x)' },
  ])

  t.same(host.run('sh', ['-c', 'echo out; echo err >&2; exit 3']), { code: 3, stdout: 'out\n' })
  t.same(host.run('sh', ['-c', 'echo fine']), { code: 0, stdout: 'fine\n' })
  t.equal(host.run('edgebundle-no-such-command', []).code, 127)

  t.equal(host.stat('/etc'), 'dir')
  t.equal(host.stat('/etc/os-release'), 'file')
  t.equal(host.stat('/no/such/path'), undefined)
  t.ok(host.isExecutable('/bin/sh'))
  t.equal(typeof host.statfsType('/'), 'number')
})

t.test('host: a TCP server on 127.0.0.1 makes its port in use, and free after close', { skip: host.listeningTcpPorts() === undefined && '/proc/net/tcp cannot be read here' }, async (t) => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  const check: Check = { kind: 'port-free', severity: 'error', port: address.port, reason: 'test server' }
  t.ok(host.listeningTcpPorts()!.has(address.port))
  t.match(runPreflight([check], LIVE, host), [{ outcome: 'failed', severity: 'error', message: `TCP port ${address.port} is in use (test server)` }])
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())))
  t.match(runPreflight([check], LIVE, host), [{ outcome: 'ok', message: `TCP port ${address.port} is free` }])
})

/** The first module this kernel lists, if /proc/modules can be read here (a sandbox may hide it). */
function firstLoadedModule(): string | undefined {
  try {
    return readFileSync('/proc/modules', 'utf8').split('\n')[0]?.split(' ')[0] || undefined
  } catch {
    return undefined
  }
}
const loadedModule = firstLoadedModule()

t.test('host: a loaded kernel module', { skip: loadedModule === undefined && '/proc/modules is unreadable or empty here' }, async (t) => {
  const first = loadedModule!
  t.match(runPreflight([{ kind: 'kernel-module', severity: 'error', module: first }], LIVE, host), [{ outcome: 'ok', message: `kernel module ${first}` }])
})

t.test('host: every Linux check runs on this machine without throwing', async (t) => {
  const checks: Check[] = [
    { kind: 'init-system', severity: 'warning', expect: 'systemd' },
    { kind: 'cgroup', severity: 'warning', driver: 'cgroupfs' },
    { kind: 'kernel-module', severity: 'warning', module: 'edgebundle_no_such_module' },
    { kind: 'service-inactive', severity: 'warning', service: 'edgebundle-no-such.service', reason: 'x' },
    { kind: 'runtime-absent', severity: 'warning', runtime: 'Nothing', socket: `unix://${work}/no.sock`, reason: 'x' },
  ]
  const results = runPreflight(checks, LIVE, host)
  t.equal(results.length, checks.length)
  t.match(results[2], { outcome: 'failed', message: 'the kernel module edgebundle_no_such_module is neither loaded nor available' })
  t.not(results[3]!.outcome, 'failed', 'a service that does not exist is not running')
  t.match(results[4], { outcome: 'ok' })
})

function makeRoot(name: string, files: Record<string, string>, links: Record<string, string> = {}): string {
  const root = join(work, name)
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
  }
  for (const [path, target] of Object.entries(links)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    symlinkSync(target, join(root, path))
  }
  return root
}

t.test('host under --root: the root’s os-release, systemd and commands', async (t) => {
  const ubuntu: Check = { kind: 'os-release', severity: 'error', ids: ['ubuntu'] }
  const plain = makeRoot('plain', { 'etc/os-release': 'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="22.04"\n' })
  t.match(runPreflight([ubuntu], { ...UNDER_ROOT, root: plain }, host), [{ outcome: 'ok', message: 'OS ubuntu' }])
  // This machine's /usr/lib/os-release says debian: ubuntu proves the link was taken inside the root.
  const linked = makeRoot('linked', { 'usr/lib/os-release': 'ID="ubuntu"\n' }, { 'etc/os-release': '/usr/lib/os-release' })
  t.match(runPreflight([ubuntu], { ...UNDER_ROOT, root: linked }, host), [{ outcome: 'ok', message: 'OS ubuntu' }])
  t.match(runPreflight([ubuntu], { ...UNDER_ROOT, root: `${linked}/` }, host), [{ outcome: 'ok' }])
  const empty = makeRoot('empty', { 'etc/hostname': 'x\n' })
  t.match(runPreflight([ubuntu], { ...UNDER_ROOT, root: empty }, host), [{ outcome: 'failed', severity: 'warning', message: `the OS of the root at ${empty} is unknown: it has no /etc/os-release (expected one of: ubuntu)` }])

  const init: Check = { kind: 'init-system', severity: 'error', expect: 'systemd' }
  // usrmerge images link lib/systemd/systemd absolutely: it dangles on this machine and still counts.
  const withSystemd = makeRoot('systemd', {}, { 'lib/systemd/systemd': '/usr/lib/systemd/systemd-in-the-image' })
  t.match(runPreflight([init], { ...UNDER_ROOT, root: withSystemd }, host), [{ outcome: 'ok', message: 'init system systemd' }])
  t.match(runPreflight([init], { ...UNDER_ROOT, root: empty }, host), [{ outcome: 'failed', message: `the root at ${empty} has no systemd` }])

  const tool: Check = { kind: 'command', severity: 'error', command: 'edgebundle-test-tool', reason: 'test' }
  const tools = makeRoot('tools', { 'usr/local/bin/edgebundle-test-tool': '#!/bin/sh\n', 'usr/bin/edgebundle-not-executable': '' })
  chmodSync(join(tools, 'usr/local/bin/edgebundle-test-tool'), 0o755)
  t.match(runPreflight([tool], { ...UNDER_ROOT, root: tools }, host), [{ outcome: 'ok', message: 'command edgebundle-test-tool (in the root)' }])
  t.match(runPreflight([{ ...tool, command: 'edgebundle-not-executable' }], { ...UNDER_ROOT, root: tools }, host), [{ outcome: 'failed' }])
  t.match(runPreflight([tool], LIVE, host), [{ outcome: 'failed' }], 'not on this machine’s PATH')

  const skippedUnderRoot: Check[] = [
    { kind: 'kernel-module', severity: 'error', module: 'overlay' },
    { kind: 'cgroup', severity: 'error', driver: 'cgroupfs' },
    { kind: 'service-inactive', severity: 'error', service: 'containerd', reason: 'x' },
    { kind: 'runtime-absent', severity: 'error', runtime: 'Docker', socket: 'unix:///var/run/docker.sock', reason: 'x' },
  ]
  t.same(
    runPreflight(skippedUnderRoot, { ...UNDER_ROOT, root: tools }, host).map((r) => r.outcome),
    ['skipped', 'skipped', 'skipped', 'skipped'],
  )
})
