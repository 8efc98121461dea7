/**
 * install.sh: rendered from hand-made plans holding every step and check kind, linted by shellcheck, and run
 * for real with --root against real bundles (tar, zstd, dpkg-deb, sha256sum) under dash, bash and BusyBox.
 * The journal, rollback, crashes and the signature have their own file: posix-state.test.ts.
 */
import { spawnSync } from 'node:child_process'
import { appendFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
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
import { journalOf, layBundle, planWithoutPackages, runScript, shells, which, withSteps } from './helpers.js'
import { fileDigest } from '../../fixtures/files.js'

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

/** Tests that change the live node (docker stand-in) need it free of any real edgebundle state. */
const liveStateSkip = existsSync('/var/lib/edgebundle') ? '/var/lib/edgebundle exists: this node has a real install' : process.getuid?.() !== 0 ? 'needs root' : false
const sha256 = (path: string) => fileDigest(path)
const plan = linuxPlan()
const script = renderInstallSh(plan, templates)


/** The journal of a first install of the fixture plan under --root (docs/node-state.md), record by record. */
const FIRST_JOURNAL = [
  'begin 1 edgebundle-1.23-ubuntu-amd64-containerd',
  'dir 1 - /var/lib/edgebundle',
  'new 1 install-containerd /usr/local/bin/containerd',
  'new 1 install-containerd /usr/local/bin/ctr',
  'dir 1 install-cni-plugins /opt',
  'dir 1 install-cni-plugins /opt/cni',
  'dir 1 install-cni-plugins /opt/cni/bin',
  'new 1 install-cni-plugins /opt/cni/bin/bridge',
  'new 1 install-cni-plugins /opt/cni/bin/host-local',
  'new 1 install-cni-plugins /opt/cni/bin/loopback',
  'dir 1 install-kata /opt/kata',
  'dir 1 install-kata /opt/kata/bin',
  'new 1 install-kata /opt/kata/bin/kata-runtime',
  'dir 1 install-kata /opt/kata/share',
  'dir 1 install-kata /opt/kata/share/defaults',
  'dir 1 install-kata /opt/kata/share/defaults/kata-containers',
  'new 1 install-kata /opt/kata/share/defaults/kata-containers/configuration-qemu.toml',
  'new 1 install-kata /opt/kata/share/defaults/kata-containers/configuration.toml',
  'dir 1 install-runc /usr/local/sbin',
  'new 1 install-runc /usr/local/sbin/runc',
  'dir 1 install-cri-o /etc/crio',
  'dir 1 install-cri-o /etc/crio/crio.conf.d',
  'new 1 install-cri-o /etc/crio/crio.conf.d/10-crio.conf',
  'new 1 install-cri-o /usr/local/bin/crio',
  'package 1 install-packages dpkg edgebundle-fixture',
  'replace 1 write-file:/etc/containerd/config.toml /etc/containerd/config.toml',
  'dir 1 write-containerd-unit /etc/systemd',
  'dir 1 write-containerd-unit /etc/systemd/system',
  'new 1 write-containerd-unit /etc/systemd/system/containerd.service',
  'dir 1 write-hostile-file /etc/edgebundle',
  "new 1 write-hostile-file /etc/edgebundle/it's $(x) `y`.conf",
  'dir 1 write-modules-load /etc/modules-load.d',
  'new 1 write-modules-load /etc/modules-load.d/edgebundle.conf',
  'dir 1 write-sysctl /etc/sysctl.d',
  'new 1 write-sysctl /etc/sysctl.d/99-edgebundle.conf',
  'new 1 link-kata-runtime /usr/local/bin/kata-runtime',
  'end 1',
]
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
  t.throws(() => renderInstallSh(withSteps([{ ...step('write-file'), id: 'write-file:/etc/a b' }]), templates), /space/, 'the journal cannot carry a step id with a space')
})

t.test('--root installs the bundle and journals it; a second run changes nothing; rollback restores the tree', async (t) => {
  const base = t.testdir()
  for (const shell of shells(base)) {
    t.test(shell.name, { skip: shell.skip ?? false }, async (t) => {
      // BusyBox runs its own dpkg applet in preference to PATH; a BusyBox node installs no .deb anyway.
      const thePlan = shell.name === 'busybox' ? planWithoutPackages() : plan
      const layout = layBundle(t.testdir(), thePlan, buildLinuxBundle)
      // dpkg keeps its own bookkeeping (status-old, locks) after dpkg -r: the rest must be as it was.
      const notDpkg = (rel: string) => rel.startsWith('var/lib/dpkg')
      const original = snapshot(layout.root, notDpkg)
      const first = runScript(layout, ['--root', layout.root], { shell })
      t.equal(first.status, 0, first.out)
      t.match(first.out, /done: \d+ changed, 0 unchanged/)
      t.notMatch(first.out, /continuing/)
      const expected = shell.name === 'busybox' ? FIRST_JOURNAL.filter((line) => !line.startsWith('package ')) : FIRST_JOURNAL
      t.equal(journalOf(layout.root), expected.map((line) => `${line}\n`).join(''), 'the journal, record by record')
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
        readFileSync(join(layout.root, 'var/lib/edgebundle/backup/1/etc/containerd/config.toml'), 'utf8'),
        'version = 2 # the node had this before\n',
        'the replaced file was backed up',
      )
      t.same(readdirSync(join(layout.root, 'var/lib/edgebundle')).sort(), ['backup', 'journal'], 'the state folder holds the journal and the backups, nothing else')
      t.notOk(existsSync('/tmp/pwned'), 'no value was ever run as code')
      t.notOk(Object.keys(snapshot(layout.root)).some((path) => path.endsWith('.edgebundle-tmp')), 'no temporary file is left beside a target')

      const tree = snapshot(layout.root)
      const second = runScript(layout, ['--root', layout.root], { shell })
      t.equal(second.status, 0, second.out)
      t.match(second.out, /nothing to do: the node already matches .* \(0 changed, \d+ unchanged\)/)
      t.notMatch(second.out, /^ {2}(wrote|linked|created|backed up)/m)
      t.same(snapshot(layout.root), tree, 'the second run left the tree as it was, journal included')

      const status = runScript(layout, ['status', '--root', layout.root], { shell })
      t.equal(status.status, 0, status.out)
      t.match(status.out, `run 1, finished, bundle ${plan.name}: 17 dir, 16 new, 1 replace${shell.name === 'busybox' ? '\n' : ', 1 package\n'}`)
      const rollback = runScript(layout, ['rollback', '--root', layout.root], { shell })
      t.equal(rollback.status, 0, rollback.out)
      t.match(rollback.out, /restored \/etc\/containerd\/config\.toml/)
      t.match(rollback.out, /rolled back run 1: the node is as it was before it/)
      t.same(snapshot(layout.root, notDpkg), original, 'rollback restored the tree, byte for byte, modes and links included')
      t.match(runScript(layout, ['status', '--root', layout.root], { shell }).out, /nothing installed/)
    })
  }
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
  const layout = layBundle(t.testdir(), withSteps([plan.steps.find((s) => s.id === 'install-runc')!]), buildLinuxBundle)
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
    { name: 'a member under a drive letter', entries: [{ name: './C:/evil', type: 'file', content: 'x' }] },
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
    {
      // d/e/l -> ../.. stays inside from d/e; the same link as h at the top climbs out, and h/x goes through it.
      name: 'a hard link to a symlink',
      entries: [
        { name: 'd/e/l', type: 'symlink', linkname: '../..' },
        { name: 'h', type: 'hardlink', linkname: 'd/e/l' },
        { name: 'h/x', type: 'file', content: 'x' },
      ],
    },
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
  t.equal(runScript(layout, ['remove']).status, 2, 'an unknown command')
  t.equal(runScript(layout, ['rollback', 'uninstall']).status, 2, 'one command at a time')
  t.equal(runScript(layout, ['verify', '--pubkey', join(layout.dir, 'no-such.pub')]).status, 2, 'a missing key file')
  const help = runScript(layout, ['--help'])
  t.equal(help.status, 0)
  t.match(help.out, /Usage: sh install\.sh \[install\|rollback\|uninstall\|status\|verify\|edgecore-config\] \[--root DIR\] \[--dry-run\] \[--pubkey FILE\]/)
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

t.test('a command failing under set -e is reported as a failed step (exit 1, not its own status)', async (t) => {
  const layout = layBundle(t.testdir(), withSteps([plan.steps.find((s) => s.id === 'install-packages')!]), (bundle) => {
    write(join(bundle, 'packages/edgebundle-fixture_1.0_all.deb'), 'not a package\n')
  })
  const run = runScript(layout, ['--root', layout.root])
  t.equal(run.status, 1, run.out)
  t.match(run.out, /step install-packages failed: a command exited with status [1-9]/)
  t.match(run.out, /rolled back run 1/)
  t.notOk(existsSync(join(layout.root, 'var/lib/edgebundle')), 'the run opened the journal, and its rollback took the state folder away')
})

t.test('a step of a Windows plan stops install.sh before it does anything of it', async (t) => {
  // The plan schema refuses a Windows service step in a Linux plan, so no install.sh is made from one.
  t.throws(() => layBundle(t.testdir(), withSteps(foreignSteps('linux'))), /plan step register-x: .*register-windows-service runs on Windows only; this plan is for ubuntu/)
  const check = layBundle(t.testdir(), preflightOnly([{ kind: 'windows-feature', severity: 'error', feature: 'Containers' }]))
  const checked = runScript(check, ['--root', check.root])
  t.equal(checked.status, 1, checked.out)
  t.match(checked.out, /internal error: the windows-feature check does not run on Linux/)
})

t.test('run-container hands docker exactly the planned arguments, leaves a matching container alone, and uninstall removes it', { skip: liveStateSkip }, async (t) => {
  const dir = t.testdir()
  // This test changes the live node: its journal lands in /var/lib/edgebundle, taken away by uninstall below.
  t.teardown(() => rmSync('/var/lib/edgebundle', { recursive: true, force: true }))
  // A stand-in docker that logs its arguments, one per line, and answers inspect from a state file per container.
  const bin = join(dir, 'bin')
  const log = join(dir, 'docker.log')
  const state = join(dir, 'docker.state')
  write(
    join(bin, 'docker'),
    `#!/bin/sh
printf '%s\\n' "$@" "--" >> '${log}'
case "$1 $2" in
  "container inspect") if [ -f '${state}'."$5" ]; then cat '${state}'."$5"; else exit 1; fi ;;
  "image inspect") exit 0 ;;
esac
exit 0
`,
    0o755,
  )
  const container = (id: string) => plan.steps.find((s) => s.id === id) as Extract<Step, { kind: 'run-container' }>
  const dirs = [join(dir, 'node/var/lib/virtlet'), join(dir, 'node/var/log/virtlet')]
  // The one-shot container first (its hash goes to a stamp file), then the one that runs on.
  const layout = layBundle(dir, withSteps([{ ...container('container:prepare'), createDirs: [] }, { ...container('container:vms'), createDirs: dirs }]))
  const env = { PATH: `${bin}:${process.env['PATH']}` }
  const first = runScript(layout, [], { env })
  t.equal(first.status, 0, first.out)
  for (const folder of dirs) t.ok(lstatSync(folder).isDirectory(), `created ${folder}`)
  const calls = readFileSync(log, 'utf8').split('--\n').map((call) => call.split('\n').filter(Boolean))
  t.same(calls.find((call) => call[0] === 'run' && call.includes('vmruntime_prepare'))?.slice(0, 4), ['run', '--rm', '--name', 'vmruntime_prepare'])
  const run = calls.find((call) => call[0] === 'run' && call.includes('virtlet-vms'))!
  const hash = run.find((arg) => arg.startsWith('edgebundle.hash='))!.slice('edgebundle.hash='.length)
  t.same(run, [
    'run', '-d', '--name', 'virtlet-vms', '--restart=always', '--label', `edgebundle.hash=${hash}`,
    '--privileged', '--net=host', '--pid=host', '--uts=host', '--ipc=host',
    '--mount=type=bind,src=/var/lib/virtlet,dst=/var/lib/virtlet,bind-propagation=rshared',
    '--mount=type=bind,"src=/etc/odd,dir",dst=/etc/odd,readonly',
    '--env=VIRTLET_LOGLEVEL=3', `--env=HOSTILE_VALUE=${HOSTILE}`,
    'arktos/vmruntime:0.6.1', '/start.sh', '--flag', HOSTILE,
  ])
  const journal = readFileSync('/var/lib/edgebundle/journal', 'utf8').split('\n')
  const node = join(dir, 'node')
  const made = [node, `${node}/var`, `${node}/var/lib`, dirs[0], `${node}/var/log`, dirs[1]]
  const stamp = '/var/lib/edgebundle/stamps/container-vmruntime_prepare.sha256'
  t.same(
    journal.slice(2, -2),
    [
      'container 1 container:prepare vmruntime_prepare',
      'dir 1 container:prepare /var/lib/edgebundle/stamps',
      `new 1 container:prepare ${stamp}`,
      ...made.map((folder) => `dir 1 container:vms ${folder}`),
      'container 1 container:vms virtlet-vms',
    ],
    'containers, the stamp and the folders (parents first) are journaled',
  )
  t.match(readFileSync(stamp, 'utf8'), /^[0-9a-f]{64}\n$/)
  writeFileSync(`${state}.virtlet-vms`, `true ${hash}\n`)
  const second = runScript(layout, [], { env })
  t.equal(second.status, 0, second.out)
  t.match(second.out, /nothing to do/)
  writeFileSync(`${state}.virtlet-vms`, 'true an-older-hash\n')
  const third = runScript(layout, [], { env })
  t.match(third.out, /started the container virtlet-vms/, 'a container with other arguments is replaced')
  t.match(readFileSync(log, 'utf8'), /^rm\n-f\nvirtlet-vms\n--$/m)
  writeFileSync(log, '')
  const uninstall = runScript(layout, ['uninstall'], { env })
  t.equal(uninstall.status, 0, uninstall.out)
  t.match(uninstall.out, /removed the container virtlet-vms/)
  t.equal(readFileSync(log, 'utf8'), 'rm\n-f\nvirtlet-vms\n--\nrm\n-f\nvirtlet-vms\n--\nrm\n-f\nvmruntime_prepare\n--\n', 'each run removes the containers it created')
  t.notOk(existsSync(node), 'the folders it made are gone')
  t.notOk(existsSync('/var/lib/edgebundle'), 'no state is left on the node')
})

/** One function of the library, cut out of the rendered script, to test on its own. */
function libraryFunction(name: string): string {
  const start = script.indexOf(`\n${name}() {\n`)
  const end = script.indexOf('\n}\n', start)
  if (start < 0 || end < 0) throw new Error(`no function ${name}`)
  return script.slice(start + 1, end + 3)
}

t.test('restartWhenChanged matches a path of the current run, or one below a changed folder', async (t) => {
  const dir = t.testdir()
  const journal = join(dir, 'journal')
  // Run 1 finished; run 2 was interrupted: its records are the current run's, whether or not this process
  // has opened the journal yet. The state folder's own dir record never counts.
  writeFileSync(
    journal,
    [
      'begin 1 b',
      'dir 1 - /var/lib/edgebundle',
      'new 1 s /etc/old',
      'end 1',
      'begin 2 b',
      'new 2 s /etc/containerd/config.toml',
      'new 2 s /usr/local/bin/containerd',
      'mode 2 s 700 /opt/x y',
      "replace 2 s /etc/it's $(x)",
      'dir 2 s /srv',
      '',
    ].join('\n'),
  )
  const cases: [string, boolean][] = [
    ['/etc/containerd/config.toml', true],
    ['/usr/local', true],
    ['/usr/localx', false],
    ['/usr/local/bin/containerd/x', false],
    ['/', true],
    ["/etc/it's $(x)", true],
    ['/opt/x y', true],
    ['/opt/x', false],
    ['/srv', true],
    ['/etc/old', false],
    ['/var/lib', false],
    ['/etc/a*', false],
  ]
  const library = ['path_changed', 'current_run'].map(libraryFunction).join('')
  for (const [opened, setup] of [
    ['continued, not yet opened', 'RUN_NO= UNFINISHED_RUN=2'],
    ['opened', 'RUN_NO=2 UNFINISHED_RUN='],
  ]) {
    for (const [path, expected] of cases) {
      const harness = `NL='\n'\n${library}CHANGED_PATHS= JOURNAL=${shQuote(journal)} ${setup}\nif path_changed ${shQuote(path)}; then echo yes; else echo no; fi\n`
      const result = spawnSync('dash', ['-c', harness], { encoding: 'utf8' })
      t.equal(result.stdout.trim(), expected ? 'yes' : 'no', `${opened}: ${path}`)
    }
  }
  // A dry run writes no journal: what it would change counts instead.
  const dry = (path: string, changed: string[]) =>
    spawnSync('dash', ['-c', `NL='\n'\n${library}CHANGED_PATHS=${shQuote(changed.map((p) => `${p}\n`).join(''))} JOURNAL=/nonexistent RUN_NO= UNFINISHED_RUN=\nif path_changed ${shQuote(path)}; then echo yes; else echo no; fi\n`], { encoding: 'utf8' }).stdout.trim()
  t.equal(dry('/usr/local', ['/usr/local/bin/containerd']), 'yes')
  t.equal(dry('/', ['/opt/kata/bin/x']), 'yes')
  t.equal(dry('/', []), 'no')
  t.equal(dry('/usr/local', ['/usr/localx/y']), 'no')
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
