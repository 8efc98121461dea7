/**
 * install.sh: rendered from hand-made plans holding every step and check kind, linted by shellcheck, and run
 * for real with --root against real bundles (tar, zstd, dpkg-deb, sha256sum) under dash, bash and BusyBox.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { appendFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { templates } from '../../helpers.js'
import type { Check, Plan, Step } from '../../../src/model/plan.js'
import { shQuote } from '../../../src/render/quote.js'
import { renderInstallSh } from '../../../src/render/script/posix.js'
import { INSTALLED, buildLinuxBundle, snapshot, write } from '../../fixtures/bundle.js'
import { HOSTILE, foreignSteps, linuxPlan } from '../../fixtures/plans.js'
import { type TarEntry, tarBytes, tarGz } from '../../fixtures/tar.js'
import { type Shell, busyboxPath, layBundle, runScript, which } from './helpers.js'

const CHECK_KINDS: Check['kind'][] = [
  'os-release',
  'arch',
  'root',
  'init-system',
  'cgroup',
  'kernel-module',
  'port-free',
  'command',
  'service-inactive',
  'runtime-absent',
  'windows-feature',
]
const STEP_KINDS: Step['kind'][] = [
  'preflight',
  'install-archive',
  'install-binary',
  'run-upstream-installer',
  'install-packages',
  'write-file',
  'symlink',
  'load-kernel-modules',
  'apply-sysctl',
  'enable-service',
  'register-windows-service',
  'run-container',
  'import-image',
  'check-runtime',
]

for (const tool of ['shellcheck', 'busybox', 'zstd', 'dpkg-deb']) {
  if (!which(tool) && process.env['CI']) throw new Error(`${tool} is not installed; .ci/run must install it`)
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')
const plan = linuxPlan()
const script = renderInstallSh(plan, templates)

/** Plan with other steps (and the same metadata). */
const withSteps = (steps: Step[]): Plan => ({ ...linuxPlan(), steps })
const preflightOnly = (checks: Check[]): Plan => withSteps([{ id: 'preflight', kind: 'preflight', description: 'checks', checks }])

t.test('the fixtures cover every step kind and every check kind', async (t) => {
  const kinds = new Set([...plan.steps, ...foreignSteps('linux')].map((step) => step.kind))
  t.same([...kinds].sort(), [...STEP_KINDS].sort())
  const checks = new Set(plan.steps.flatMap((step) => (step.kind === 'preflight' ? step.checks.map((c) => c.kind) : [])))
  checks.add('windows-feature')
  t.same([...checks].sort(), [...CHECK_KINDS].sort())
})

t.test('install.sh passes shellcheck -s sh', { skip: !which('shellcheck') && 'shellcheck is not installed' }, async (t) => {
  const dir = t.testdir()
  writeFileSync(join(dir, 'install.sh'), script)
  const result = spawnSync('shellcheck', ['-s', 'sh', join(dir, 'install.sh')], { encoding: 'utf8' })
  t.equal(result.status, 0, result.stdout)
  t.equal(result.stdout, '')
})

t.test('the header documents the bundle, the options and every step, one comment line each', async (t) => {
  const header = script.slice(0, script.indexOf('\nset -eu\n'))
  for (const line of header.split('\n').slice(1)) {
    if (line !== '' && !line.startsWith('#')) t.fail(`header line outside a comment: ${line}`)
  }
  for (const text of [plan.name, 'ubuntu/amd64', 'containerd 2.3.4 (release)', plan.runtime.endpoint, '--root DIR', '--dry-run', 'EDGEBUNDLE_ROOT']) {
    t.match(header, text)
  }
  plan.steps.forEach((step, index) => t.match(header, `${index + 1}. ${step.id} (${step.kind})`))
  // The warning tried to start a new line with a command; it stays inside its comment.
  t.notMatch(script, /^rm -rf/m)
  t.match(script, /^set -eu$/m)
  t.match(script, /^set -o noglob$/m)
})

t.test('the main block calls one function per step, in plan order, with every argument quoted', async (t) => {
  const main = script.slice(script.lastIndexOf('\n{\n'))
  t.ok(main.trimEnd().endsWith('}'), 'the main block is braced and ends the script')
  const begins = [...main.matchAll(/^ {4}begin_step '(\d+)' '(\d+)' '([^']*)'/gm)].map((m) => m[3])
  t.same(begins, plan.steps.map((step) => step.id))
  // Every word after the function name is a single-quoted literal: '...' pieces joined by "'".
  const word = `'[^']*'(?:"'"'[^']*')*`
  const line = new RegExp(`^ {4}[a-z_]+(?: ${word})*$`)
  for (const text of main.split('\n').slice(2, -2)) {
    if (text === '' || text === '    setup_env "$@"' || /^ {4}[a-z_]+$/.test(text)) continue
    if (!line.test(text)) t.fail(`not a quoted call: ${text}`)
  }
  t.match(main, shQuote(`needed to unpack archives; ${HOSTILE}`))
  t.match(main, `'--mount=type=bind,"src=/etc/odd,dir",dst=/etc/odd,readonly'`)
  t.match(main, `'--env=HOSTILE_VALUE=${HOSTILE.replace(/'/g, `'"'"'`)}'`)
})

t.test('rendering refuses plan values no script could carry out safely', async (t) => {
  const base = linuxPlan()
  const step = <K extends Step['kind']>(kind: K) => base.steps.find((s) => s.kind === kind) as Extract<Step, { kind: K }>
  const cases: [string, Step][] = [
    ['relative dest', { ...step('write-file'), dest: 'etc/x' }],
    ['dest with ..', { ...step('write-file'), dest: '/etc/../root/x' }],
    ['bundle path with ..', { ...step('write-file'), source: 'config/../../x' }],
    ['absolute bundle path', { ...step('install-binary'), file: '/etc/passwd' }],
    ['bad mode', { ...step('write-file'), mode: 'rwxr-xr-x' }],
    ['zip on Linux', { ...step('install-archive'), format: 'zip' }],
    ['newline in a path', { ...step('write-file'), dest: '/etc/a\nb' }],
    ['module with a slash', { ...step('load-kernel-modules'), modules: ['../../x'] }],
    ['service starting with -', { ...step('enable-service'), service: '--now' }],
    ['container name with a space', { ...step('run-container'), name: 'a b' }],
    ['env name with =', { ...step('run-container'), env: { 'A=B': 'x' } }],
    ['negative strip', { ...step('install-archive'), strip: -1 }],
  ]
  for (const [name, bad] of cases) t.throws(() => renderInstallSh(withSteps([bad]), templates), /plan step/, name)
  t.throws(() => renderInstallSh({ ...base, target: { ...base.target, os: 'windows' } }, templates), /install\.ps1/)
  t.throws(() => renderInstallSh(withSteps([step('preflight'), step('preflight')]), templates), /twice/)
  t.throws(() => renderInstallSh({ ...base, name: 'nul\u0000' }, templates), /NUL/)
})

/** dash and bash with the usual tools, and BusyBox ash with nothing but BusyBox (plus zstd and bash). */
function shells(dir: string): (Shell & { skip?: string })[] {
  const list: (Shell & { skip?: string })[] = [
    { name: 'dash', argv: ['dash'] },
    { name: 'bash', argv: ['bash'] },
  ]
  const path = busyboxPath(join(dir, 'busybox-bin'))
  list.push(path ? { name: 'busybox', argv: [join(path, 'sh')], path } : { name: 'busybox', argv: ['false'], skip: 'busybox is not installed' })
  return list
}

t.test('--root installs the bundle, and a second run changes nothing', async (t) => {
  const base = t.testdir()
  for (const shell of shells(base)) {
    t.test(shell.name, { skip: shell.skip ?? false }, async (t) => {
      // BusyBox runs its own dpkg applet in preference to PATH; a BusyBox node installs no .deb anyway.
      const thePlan = shell.name === 'busybox' ? withSteps(plan.steps.filter((s) => s.kind !== 'install-packages')) : plan
      const layout = layBundle(t.testdir(), thePlan, buildLinuxBundle)
      const first = runScript(layout, ['--root', layout.root], { shell })
      t.equal(first.status, 0, first.out)
      t.match(first.out, /done: \d+ changed, 0 unchanged/)
      t.match(first.out, /keadm join --cloudcore-ipport=<CLOUDCORE_IP:PORT> --token=<TOKEN> --remote-runtime-endpoint=unix:\/\/\/run\/containerd\/containerd.sock/)
      t.match(first.out, /services not started/)

      for (const [path, content] of Object.entries(INSTALLED)) {
        if (shell.name === 'busybox' && path.startsWith('/usr/share/edgebundle-fixture')) continue
        const file = join(layout.root, path)
        t.equal(existsSync(file) ? readFileSync(file, 'utf8') : null, content, path)
      }
      const mode = (path: string) => statSync(join(layout.root, path)).mode & 0o7777
      t.equal(mode('/usr/local/sbin/runc'), 0o755, 'install-binary: 0755')
      t.equal(mode("/etc/edgebundle/it's $(x) `y`.conf"), 0o600, 'write-file: the plan mode')
      t.equal(mode('/usr/local/bin/containerd'), 0o755, 'archive members keep their mode')
      t.equal(readlinkSync(join(layout.root, '/opt/cni/bin/host-local')), 'bridge', 'archive symlinks are kept')
      t.equal(readlinkSync(join(layout.root, '/opt/kata/share/defaults/kata-containers/configuration.toml')), 'configuration-qemu.toml')
      t.equal(readlinkSync(join(layout.root, '/usr/local/bin/kata-runtime')), '/opt/kata/bin/kata-runtime', 'symlink step')
      t.equal(
        readFileSync(join(layout.root, 'var/lib/edgebundle/backup/etc/containerd/config.toml'), 'utf8'),
        'version = 2 # the node had this before\n',
        'the replaced file was backed up',
      )
      t.equal(readFileSync(join(layout.root, 'var/lib/edgebundle/stamps/cri-o.sha256'), 'utf8').trim(), sha256(join(layout.bundle, 'artifacts/cri-o.amd64.v1.36.3.tar.gz')))
      t.notOk(existsSync(join(layout.root, 'var/lib/edgebundle/tmp')), 'no temporary files are left')
      t.notOk(existsSync('/tmp/pwned'), 'no value was ever run as code')
      t.notOk(Object.keys(snapshot(layout.root)).some((path) => path.endsWith('.edgebundle-tmp')), 'no temporary file is left beside a target')

      const tree = snapshot(layout.root)
      const second = runScript(layout, ['--root', layout.root], { shell })
      t.equal(second.status, 0, second.out)
      t.match(second.out, /nothing to do: the node already matches .* \(0 changed, \d+ unchanged\)/)
      t.notMatch(second.out, /^ {2}(wrote|linked|created|backed up)/m)
      t.same(snapshot(layout.root), tree, 'the second run left the tree as it was')
    })
  }
})

t.test('a file changed on the node is replaced, and backed up without losing the older backup', async (t) => {
  const layout = layBundle(t.testdir(), plan, buildLinuxBundle)
  t.equal(runScript(layout, ['--root', layout.root]).status, 0)
  const config = join(layout.root, 'etc/containerd/config.toml')
  writeFileSync(config, 'edited by hand\n')
  const again = runScript(layout, ['--root', layout.root])
  t.equal(again.status, 0, again.out)
  t.match(again.out, /done: 1 changed/)
  t.equal(readFileSync(config, 'utf8'), INSTALLED['/etc/containerd/config.toml'])
  const backup = join(layout.root, 'var/lib/edgebundle/backup/etc/containerd/config.toml')
  t.equal(readFileSync(backup, 'utf8'), 'version = 2 # the node had this before\n', 'the first backup is kept')
  t.equal(readFileSync(`${backup}.1`, 'utf8'), 'edited by hand\n', 'the hand edit went to the next backup')
})

t.test('a mode changed on the node is put back without rewriting the file', async (t) => {
  const layout = layBundle(t.testdir(), plan, buildLinuxBundle)
  t.equal(runScript(layout, ['--root', layout.root]).status, 0)
  const runc = join(layout.root, 'usr/local/sbin/runc')
  spawnSync('chmod', ['0700', runc])
  const again = runScript(layout, ['--root', layout.root])
  t.match(again.out, /set mode 755 on \/usr\/local\/sbin\/runc/)
  t.equal(statSync(runc).mode & 0o7777, 0o755)
})

t.test('--dry-run prints what would change and writes nothing', async (t) => {
  const layout = layBundle(t.testdir(), plan, buildLinuxBundle)
  const before = snapshot(layout.root)
  const dry = runScript(layout, ['--root', layout.root, '--dry-run'])
  t.equal(dry.status, 0, dry.out)
  t.match(dry.out, /would: write \/usr\/local\/bin\/containerd/)
  t.match(dry.out, /would: run cri-o\/install/)
  t.match(dry.out, /would: install edgebundle-fixture_1\.0_all\.deb/)
  t.match(dry.out, /dry run: \d+ would change, 0 unchanged; nothing was changed/)
  t.same(snapshot(layout.root), before)
})

t.test('EDGEBUNDLE_ROOT is --root, and a relative root is taken from the working directory', async (t) => {
  const layout = layBundle(t.testdir(), plan, buildLinuxBundle)
  const run = runScript(layout, [], { env: { EDGEBUNDLE_ROOT: 'root' } })
  t.equal(run.status, 0, run.out)
  t.equal(readFileSync(join(layout.root, 'usr/local/sbin/runc'), 'utf8'), INSTALLED['/usr/local/sbin/runc'])
})

t.test('under --root, a folder symlink of the image that leads out of it is not followed', async (t) => {
  for (const [name, target] of [
    ['absolute', '/tmp'],
    ['relative, climbing out', '../../../../../../../../tmp'],
  ] as const) {
    const layout = layBundle(t.testdir(), withSteps([plan.steps.find((s) => s.id === 'install-runc')!]), buildLinuxBundle)
    rmSync(join(layout.root, 'usr/local'), { recursive: true })
    spawnSync('ln', ['-s', target, join(layout.root, 'usr/local')])
    const run = runScript(layout, ['--root', layout.root])
    t.equal(run.status, 1, `${name}: ${run.out}`)
    t.match(run.out, /refusing \/usr\/local\/sbin\/runc: .*usr\/local is a symlink to .*, which leads out of/, name)
    t.notOk(existsSync('/tmp/sbin/runc'), `${name}: nothing written through the link`)
  }
})

t.test('integrity: nothing is written unless every file matches SHA256SUMS', async (t) => {
  t.test('a tampered file: exit 3', async (t) => {
    const layout = layBundle(t.testdir(), plan, buildLinuxBundle)
    appendFileSync(join(layout.bundle, 'config/etc/containerd/config.toml'), '# tampered\n')
    const before = snapshot(layout.root)
    const run = runScript(layout, ['--root', layout.root])
    t.equal(run.status, 3, run.out)
    t.match(run.out, /config\/etc\/containerd\/config\.toml: FAILED/)
    t.match(run.out, /does not match SHA256SUMS/)
    t.same(snapshot(layout.root), before)
  })
  t.test('a missing file: exit 3', async (t) => {
    const layout = layBundle(t.testdir(), plan, buildLinuxBundle)
    rmSync(join(layout.bundle, 'artifacts/runc.amd64'))
    const run = runScript(layout, ['--root', layout.root])
    t.equal(run.status, 3, run.out)
  })
  t.test('no SHA256SUMS: exit 3', async (t) => {
    const layout = layBundle(t.testdir(), plan, buildLinuxBundle)
    rmSync(join(layout.bundle, 'SHA256SUMS'))
    const before = snapshot(layout.root)
    const run = runScript(layout, ['--root', layout.root])
    t.equal(run.status, 3, run.out)
    t.match(run.out, /SHA256SUMS is missing/)
    t.same(snapshot(layout.root), before)
  })
  t.test('a file the plan reads but SHA256SUMS does not list: exit 3', async (t) => {
    const layout = layBundle(t.testdir(), plan, buildLinuxBundle)
    const sums = join(layout.bundle, 'SHA256SUMS')
    writeFileSync(sums, readFileSync(sums, 'utf8').split('\n').filter((line) => !line.endsWith('  artifacts/runc.amd64')).join('\n'))
    const run = runScript(layout, ['--root', layout.root])
    t.equal(run.status, 3, run.out)
    t.match(run.out, /artifacts\/runc\.amd64 is not listed in SHA256SUMS/)
  })
})

/** A bundle whose only step installs `archive` into /opt/x. */
function archivePlan(format: 'tar.gz' | 'tar.zst' = 'tar.gz', strip = 0): Plan {
  return withSteps([
    { id: 'install-x', kind: 'install-archive', description: 'x', component: 'x', file: `artifacts/x.${format}`, format, dest: '/opt/x', strip },
  ])
}

t.test('hostile archives are refused before anything is written', async (t) => {
  // Short: a ustar name holds 100 bytes.
  const outside = `/tmp/edgebundle-evil-${process.pid}`
  const cases: { name: string; entries: TarEntry[]; strip?: number }[] = [
    { name: 'a ../ member', entries: [{ name: '../evil', type: 'file', content: 'x' }] },
    { name: 'a .. deeper in the path', entries: [{ name: 'ok/../../evil', type: 'file', content: 'x' }] },
    { name: 'an absolute member', entries: [{ name: `${outside}/evil`, type: 'file', content: 'x' }] },
    {
      name: 'a symlink to /etc/passwd, then a file through it',
      entries: [
        { name: 'passwd', type: 'symlink', linkname: '/etc/passwd' },
        { name: 'passwd', type: 'file', content: 'pwned' },
      ],
    },
    {
      name: 'a symlink to /etc, then a file under it',
      entries: [
        { name: 'etc', type: 'symlink', linkname: '/etc' },
        { name: 'etc/evil', type: 'file', content: 'pwned' },
      ],
    },
    { name: 'a relative symlink out of the tree', entries: [{ name: 'bin/up', type: 'symlink', linkname: '../../../etc' }] },
    {
      name: 'a member reached through an inner symlink',
      entries: [
        { name: 'sub/', type: 'dir' },
        { name: 'link', type: 'symlink', linkname: 'sub' },
        { name: 'link/file', type: 'file', content: 'x' },
      ],
    },
    { name: 'a hard link out of the tree', entries: [{ name: 'h', type: 'hardlink', linkname: '../../etc/passwd' }] },
    { name: 'an absolute hard link', entries: [{ name: 'h', type: 'hardlink', linkname: '/etc/passwd' }] },
    { name: 'a fifo', entries: [{ name: 'fifo', type: 'fifo' }] },
    { name: 'a device node', entries: [{ name: 'null', type: 'chardev' }] },
    { name: 'a newline in a name', entries: [{ name: 'a\nb', type: 'file', content: 'x' }] },
    {
      // Each link looks fine alone; followed for real, e leads above the tree. Only the unpacked tree shows it.
      name: 'a symlink chain that leaves the tree',
      entries: [
        { name: 'a/b/', type: 'dir' },
        { name: 'a/b/d', type: 'symlink', linkname: '../..' },
        { name: 'a/b/e', type: 'symlink', linkname: 'd/../..' },
      ],
    },
    { name: 'a link out once strip drops its folder', entries: [{ name: 'top/x', type: 'symlink', linkname: '../y' }], strip: 1 },
  ]
  const passwd = sha256('/etc/passwd')
  const base = t.testdir()
  for (const shell of shells(base)) {
    t.test(shell.name, { skip: shell.skip ?? false }, async (t) => {
      for (const { name, entries, strip } of cases) {
        const layout = layBundle(t.testdir(), archivePlan('tar.gz', strip), (bundle) => {
          mkdirSync(join(bundle, 'artifacts'))
          writeFileSync(join(bundle, 'artifacts/x.tar.gz'), tarGz(entries))
        })
        mkdirSync(join(layout.root, 'opt'), { recursive: true })
        const before = snapshot(layout.root)
        const run = runScript(layout, ['--root', layout.root], { shell })
        t.equal(run.status, 3, `${name}: exit 3\n${run.out}`)
        t.match(run.out, /refusing the archive artifacts\/x\.tar\.gz/, name)
        t.same(snapshot(layout.root), before, `${name}: nothing written`)
        t.notOk(existsSync(join(layout.root, '..', 'evil')) || existsSync(outside), `${name}: nothing outside`)
      }
      t.equal(sha256('/etc/passwd'), passwd, '/etc/passwd untouched')
    })
  }
})

t.test('the listing check covers .tar.zst archives too', async (t) => {
  const layout = layBundle(t.testdir(), archivePlan('tar.zst'), (bundle) => {
    mkdirSync(join(bundle, 'artifacts'))
    writeFileSync(join(bundle, 'x.tar'), tarBytes([{ name: '../evil', type: 'file', content: 'x' }]))
    spawnSync('sh', ['-c', 'zstd -q --rm -o artifacts/x.tar.zst x.tar'], { cwd: bundle })
  })
  const run = runScript(layout, ['--root', layout.root])
  t.equal(run.status, 3, run.out)
  t.match(run.out, /refusing the archive artifacts\/x\.tar\.zst: (member \.\.\/evil contains \.\.|tar rewrote member names)/)
})

t.test('usage errors exit 2', async (t) => {
  const layout = layBundle(t.testdir(), plan, buildLinuxBundle)
  t.equal(runScript(layout, ['--bogus']).status, 2)
  t.equal(runScript(layout, ['--root']).status, 2)
  t.equal(runScript(layout, ['--root', join(layout.dir, 'no-such-dir')]).status, 2)
  t.equal(runScript(layout, ['--skip-verify']).status, 2, '--skip-verify is not offered')
  const help = runScript(layout, ['--help'])
  t.equal(help.status, 0)
  t.match(help.out, /Usage: sh install\.sh \[--root DIR\] \[--dry-run\]/)
})

t.test('preflight: every failed error check is listed with what to do, then exit 4', async (t) => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  t.teardown(() => server.close())
  const layout = layBundle(
    t.testdir(),
    preflightOnly([
      { kind: 'os-release', severity: 'error', ids: ['no-such-os'] },
      { kind: 'arch', severity: 'error', machines: ['pdp11'] },
      { kind: 'kernel-module', severity: 'error', module: 'no_such_module_edgebundle' },
      { kind: 'port-free', severity: 'error', port, reason: 'a test server listens there' },
      { kind: 'command', severity: 'error', command: 'no-such-command-edgebundle', reason: HOSTILE },
      { kind: 'root', severity: 'error' },
    ]),
  )
  // Without --root: the checks look at this machine, and nothing after preflight could change it.
  const run = runScript(layout, [])
  t.equal(run.status, 4, run.out)
  t.match(run.out, /5 preflight check\(s\) failed/)
  const id = /^ID="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown'
  t.match(run.out, new RegExp(`the OS is ${id}, but this bundle is for: no-such-os\\n\\s+what to do: use the bundle built for ${id}`))
  t.match(run.out, /the CPU architecture is \S+, but this bundle is for: pdp11/)
  t.match(run.out, /the kernel module no_such_module_edgebundle is neither loaded nor available/)
  t.match(run.out, new RegExp(`TCP port ${port} is in use \\(a test server listens there\\)`))
  t.match(run.out, `the command no-such-command-edgebundle is missing (${HOSTILE})`)
  t.match(run.out, /preflight failed; nothing was changed/)
  t.match(run.out, /ok: running as root/)
  t.notOk(existsSync('/tmp/pwned'))
})

t.test('preflight: warnings are shown and the install goes on', async (t) => {
  const dir = t.testdir()
  // A unix socket path holds 108 bytes at most: keep it short.
  const socketDir = mkdtempSync(join(tmpdir(), 'eb-'))
  const socket = join(socketDir, 'other.sock')
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(socket, resolve))
  t.teardown(() => {
    server.close()
    rmSync(socketDir, { recursive: true, force: true })
  })
  const layout = layBundle(
    dir,
    preflightOnly([
      { kind: 'init-system', severity: 'warning', expect: 'systemd' },
      { kind: 'cgroup', severity: 'warning', driver: 'systemd' },
      { kind: 'cgroup', severity: 'error', driver: 'cgroupfs' },
      { kind: 'service-inactive', severity: 'error', service: 'docker', reason: 'two runtimes' },
      { kind: 'runtime-absent', severity: 'warning', runtime: 'other', socket: `unix://${socket}`, reason: 'one runtime per node' },
      { kind: 'kernel-module', severity: 'warning', module: 'no_such_module_edgebundle' },
      { kind: 'command', severity: 'error', command: 'tar', reason: 'unpacks archives' },
    ]),
  )
  const run = runScript(layout, [])
  t.equal(run.status, 0, run.out)
  t.match(run.out, /\[WARN\] {2}systemd is not the init system/)
  t.match(run.out, /\[WARN\] {2}the cgroup driver systemd needs systemd as the init system/)
  t.match(run.out, /ok: cgroup v[12], driver cgroupfs/)
  t.match(run.out, /skipped: service docker \(systemd is not running\)/)
  t.match(run.out, new RegExp(`\\[WARN\\]  other is already here: its socket ${socket} exists`))
  t.match(run.out, /ok: command tar/)
  t.match(run.out, /nothing to do/)
})

t.test('a failing step exits 1 and names the step', async (t) => {
  const layout = layBundle(t.testdir(), withSteps([plan.steps.find((s) => s.id === 'write-sysctl')!]), buildLinuxBundle)
  mkdirSync(join(layout.root, 'etc/sysctl.d/99-edgebundle.conf'), { recursive: true })
  const run = runScript(layout, ['--root', layout.root])
  t.equal(run.status, 1, run.out)
  t.match(run.out, /step write-sysctl: \/etc\/sysctl\.d\/99-edgebundle\.conf is a folder/)
})

t.test('a failing upstream installer exits 1 and leaves no stamp', async (t) => {
  const layout = layBundle(t.testdir(), withSteps([plan.steps.find((s) => s.id === 'install-cri-o')!]), (bundle) => {
    buildLinuxBundle(bundle)
    // An installer that fails the way upstream scripts do: with its own exit code.
    const stage = join(bundle, '..', 'stage2')
    write(join(stage, 'cri-o/install'), '#!/bin/sh\necho broken >&2\nexit 2\n', 0o755)
    spawnSync('tar', ['-czf', join(bundle, 'artifacts/cri-o.amd64.v1.36.3.tar.gz'), '-C', stage, 'cri-o'])
  })
  const run = runScript(layout, ['--root', layout.root])
  t.equal(run.status, 1, run.out)
  t.match(run.out, /step install-cri-o: the installer of cri-o \(cri-o\/install\) failed/)
  t.notOk(existsSync(join(layout.root, 'var/lib/edgebundle/stamps/cri-o.sha256')), 'no stamp: the next run tries again')
})

t.test('a command failing under set -e is reported as a failed step (exit 1, not its own status)', async (t) => {
  const layout = layBundle(t.testdir(), withSteps([plan.steps.find((s) => s.id === 'install-packages')!]), (bundle) => {
    write(join(bundle, 'packages/edgebundle-fixture_1.0_all.deb'), 'not a package\n')
  })
  const run = runScript(layout, ['--root', layout.root])
  t.equal(run.status, 1, run.out)
  t.match(run.out, /step install-packages failed: a command exited with status [1-9]/)
})

t.test('a step of a Windows plan stops install.sh before it does anything of it', async (t) => {
  const layout = layBundle(t.testdir(), withSteps(foreignSteps('linux')))
  const run = runScript(layout, ['--root', layout.root])
  t.equal(run.status, 1, run.out)
  t.match(run.out, /internal error: step register-x: register-windows-service does not run on Linux/)
  const check = layBundle(t.testdir(), preflightOnly([{ kind: 'windows-feature', severity: 'error', feature: 'Containers' }]))
  const checked = runScript(check, ['--root', check.root])
  t.equal(checked.status, 1, checked.out)
  t.match(checked.out, /internal error: the windows-feature check does not run on Linux/)
})

t.test('run-container hands docker exactly the planned arguments, and leaves a matching container alone', async (t) => {
  const dir = t.testdir()
  // A stand-in docker that logs its arguments, one per line, and answers inspect from a state file.
  const bin = join(dir, 'bin')
  const log = join(dir, 'docker.log')
  const state = join(dir, 'docker.state')
  write(
    join(bin, 'docker'),
    `#!/bin/sh
printf '%s\\n' "$@" "--" >> '${log}'
case "$1 $2" in
  "container inspect") if [ -f '${state}' ]; then cat '${state}'; else exit 1; fi ;;
  "image inspect") exit 0 ;;
esac
exit 0
`,
    0o755,
  )
  const step = plan.steps.find((s) => s.id === 'container:vms') as Extract<Step, { kind: 'run-container' }>
  const dirs = [join(dir, 'node/var/lib/virtlet'), join(dir, 'node/var/log/virtlet')]
  const layout = layBundle(dir, withSteps([{ ...step, createDirs: dirs }]))
  const env = { PATH: `${bin}:${process.env['PATH']}` }
  const first = runScript(layout, [], { env })
  t.equal(first.status, 0, first.out)
  for (const folder of dirs) t.ok(lstatSync(folder).isDirectory(), `created ${folder}`)
  const calls = readFileSync(log, 'utf8').split('--\n').map((call) => call.split('\n').filter(Boolean))
  const run = calls.find((call) => call[0] === 'run')!
  const hash = run.find((arg) => arg.startsWith('edgebundle.hash='))!.slice('edgebundle.hash='.length)
  t.same(run, [
    'run', '-d', '--name', 'virtlet-vms', '--restart=always', '--label', `edgebundle.hash=${hash}`,
    '--privileged', '--net=host', '--pid=host', '--uts=host', '--ipc=host',
    '--mount=type=bind,src=/var/lib/virtlet,dst=/var/lib/virtlet,bind-propagation=rshared',
    '--mount=type=bind,"src=/etc/odd,dir",dst=/etc/odd,readonly',
    '--env=VIRTLET_LOGLEVEL=3', `--env=HOSTILE_VALUE=${HOSTILE}`,
    'arktos/vmruntime:0.6.1', '/start.sh', '--flag', HOSTILE,
  ])
  writeFileSync(state, `true ${hash}\n`)
  const second = runScript(layout, [], { env })
  t.equal(second.status, 0, second.out)
  t.match(second.out, /nothing to do/)
  writeFileSync(state, 'true an-older-hash\n')
  const third = runScript(layout, [], { env })
  t.match(third.out, /started the container virtlet-vms/, 'a container with other arguments is replaced')
  t.match(readFileSync(log, 'utf8'), /^rm\n-f\nvirtlet-vms\n--$/m)
})

/** One function of the library, cut out of the rendered script, to test on its own. */
function libraryFunction(name: string): string {
  const start = script.indexOf(`\n${name}() {\n`)
  const end = script.indexOf('\n}\n', start)
  if (start < 0 || end < 0) throw new Error(`no function ${name}`)
  return script.slice(start + 1, end + 3)
}

t.test('restartWhenChanged matches a changed path, or one below a changed folder', async (t) => {
  const cases: [string, string[], boolean][] = [
    ['/etc/containerd/config.toml', ['/etc/containerd/config.toml'], true],
    ['/usr/local', ['/usr/local/bin/containerd'], true],
    ['/usr/local', ['/usr/localx/y'], false],
    ['/usr/local/bin/containerd', ['/usr/local'], false],
    ['/', ['/opt/kata/bin/x'], true],
    ['/', [], false],
    ["/etc/it's $(x)", ["/etc/it's $(x)"], true],
    ['/etc/a*', ['/etc/ab'], false],
  ]
  for (const [path, changed, expected] of cases) {
    const harness = `NL='\n'\n${libraryFunction('path_changed')}CHANGED_PATHS=${shQuote(changed.map((p) => `${p}\n`).join(''))}\nif path_changed ${shQuote(path)}; then echo yes; else echo no; fi\n`
    const result = spawnSync('dash', ['-c', harness], { encoding: 'utf8' })
    t.equal(result.stdout.trim(), expected ? 'yes' : 'no', `${path} after ${JSON.stringify(changed)}`)
  }
})

t.test('climbs_out follows .. lexically from a folder depth', async (t) => {
  const cases: [number, string, boolean][] = [
    [0, '..', true],
    [1, '..', false],
    [1, '../..', true],
    [2, 'a/../../..', false],
    [2, 'a/../../../..', true],
    [2, 'a/../..', false],
    [0, './x/../y', false],
    [3, '../../../../tmp', true],
  ]
  for (const [depth, target, expected] of cases) {
    const harness = `${libraryFunction('climbs_out')}if climbs_out ${depth} ${shQuote(target)}; then echo out; else echo in; fi\n`
    const result = spawnSync('dash', ['-c', harness], { encoding: 'utf8' })
    t.equal(result.stdout.trim(), expected ? 'out' : 'in', `${target} from depth ${depth}`)
  }
})
