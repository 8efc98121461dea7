/**
 * install.sh and the node-state contract (docs/node-state.md), run for real with --root: the journal of a
 * second run, uninstall, a failing step rolled back, a crash continued or rolled back, rollback from a
 * damaged bundle, the signature of SHA256SUMS, and the note about the installer executable. Under dash and
 * BusyBox ash.
 */
import { spawnSync } from 'node:child_process'
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { templates } from '../../helpers.js'
import type { Check, Plan } from '../../../src/model/plan.js'
import { renderInstallSh } from '../../../src/render/script/posix.js'
import { INSTALLED, buildLinuxBundle, snapshot, write, writeChecksums } from '../../fixtures/bundle.js'
import { linuxPlan } from '../../fixtures/plans.js'
import { type Layout, type Shell, journalOf, layBundle, planWithoutPackages, runScript, shells, which, withSteps } from './helpers.js'

for (const tool of ['busybox', 'openssl', 'setsid']) {
  if (!which(tool) && process.env['CI']) throw new Error(`${tool} is not installed; .ci/run must install it`)
}

const plan = linuxPlan()
const preflightOnly = (checks: Check[]): Plan => withSteps([{ id: 'preflight', kind: 'preflight', description: 'checks', checks }])

t.test('a second run journals only what it changes; uninstall undoes both runs', async (t) => {
  const layout = layBundle(t.testdir(), planWithoutPackages(), buildLinuxBundle)
  const original = snapshot(layout.root)
  t.equal(runScript(layout, ['--root', layout.root]).status, 0)
  const firstJournal = journalOf(layout.root)
  // Between the runs the operator edits the config and the mode of runc, and the bundle gets a new unit.
  const config = join(layout.root, 'etc/containerd/config.toml')
  const runc = join(layout.root, 'usr/local/sbin/runc')
  writeFileSync(config, 'edited by hand\n')
  chmodSync(runc, 0o700)
  write(join(layout.bundle, 'config/etc/systemd/system/containerd.service'), '[Unit]\nDescription=containerd, newer\n')
  writeChecksums(layout.bundle)

  const second = runScript(layout, ['--root', layout.root])
  t.equal(second.status, 0, second.out)
  t.match(second.out, /done: 3 changed/)
  t.match(second.out, /set mode 755 on \/usr\/local\/sbin\/runc/)
  t.equal(
    journalOf(layout.root),
    firstJournal +
      [
        `begin 2 ${plan.name}`,
        'mode 2 install-runc 700 /usr/local/sbin/runc',
        'replace 2 write-file:/etc/containerd/config.toml /etc/containerd/config.toml',
        'replace 2 write-containerd-unit /etc/systemd/system/containerd.service',
        'end 2',
      ].join('\n') +
      '\n',
  )
  const backup = (run: number, path: string) => readFileSync(join(layout.root, 'var/lib/edgebundle/backup', String(run), path), 'utf8')
  t.equal(backup(1, 'etc/containerd/config.toml'), 'version = 2 # the node had this before\n', 'the first run keeps its backup')
  t.equal(backup(2, 'etc/containerd/config.toml'), 'edited by hand\n', 'the hand edit is the second run\'s backup')
  t.equal(backup(2, 'etc/systemd/system/containerd.service'), INSTALLED['/etc/systemd/system/containerd.service'])
  t.equal(statSync(runc).mode & 0o7777, 0o755)
  const status = runScript(layout, ['status', '--root', layout.root])
  t.match(status.out, /run 1, finished, .*: 17 dir, 16 new, 1 replace\n {2}run 2, finished, .*: 2 replace, 1 mode\n/)

  // (A failed second run is rolled back alone in 'a failing step rolls its run back': the same code.)
  const beforeUninstall = snapshot(layout.root)
  const dry = runScript(layout, ['rollback', '--dry-run', '--root', layout.root])
  t.equal(dry.status, 0, dry.out)
  t.match(dry.out, /would: restore \/etc\/systemd\/system\/containerd\.service from \/var\/lib\/edgebundle\/backup\/2\/etc\/systemd\/system\/containerd\.service\n {2}would: restore \/etc\/containerd\/config\.toml .*\n {2}would: set mode 700 on \/usr\/local\/sbin\/runc\n\n/)
  t.same(snapshot(layout.root), beforeUninstall, 'a dry rollback changes nothing')
  const dryUninstall = runScript(layout, ['uninstall', '--dry-run', '--root', layout.root])
  t.equal(dryUninstall.status, 0, dryUninstall.out)
  t.match(dryUninstall.out, /\[run 2\][^]*\[run 1\][^]*would: remove \/var\/lib\/edgebundle and the folders made for it/)
  t.same(snapshot(layout.root), beforeUninstall, 'a dry uninstall changes nothing')
  const uninstall = runScript(layout, ['uninstall', '--root', layout.root])
  t.equal(uninstall.status, 0, uninstall.out)
  t.match(uninstall.out, /uninstalled/)
  t.same(snapshot(layout.root), original, 'uninstall left the node as it was before the first run')
})

t.test('a failing step rolls its run back and exits 1; an earlier run stays', async (t) => {
  const base = t.testdir()
  const step = (id: string) => plan.steps.find((s) => s.id === id)!
  // The config is replaced before the upstream installer fails, so the rollback has a backup to restore.
  const steps = ['install-containerd', 'install-runc', 'write-file:/etc/containerd/config.toml', 'install-cri-o', 'write-containerd-unit'].map(step)
  const failingCrio = (bundle: string) => {
    buildLinuxBundle(bundle)
    // An installer that fails the way upstream scripts do, after it installed a file: with its own exit code.
    const stage = join(bundle, '..', 'stage2')
    write(join(stage, 'cri-o/install'), '#!/bin/sh\nmkdir -p "$DESTDIR/usr/local/bin" && echo x > "$DESTDIR/usr/local/bin/half"\necho broken >&2\nexit 2\n', 0o755)
    spawnSync('tar', ['-czf', join(bundle, 'artifacts/cri-o.amd64.v1.36.3.tar.gz'), '-C', stage, 'cri-o'])
  }
  for (const shell of shells(base).filter((s) => s.name !== 'bash')) {
    t.test(shell.name, { skip: shell.skip ?? false }, async (t) => {
      const layout = layBundle(t.testdir(), withSteps(steps), failingCrio)
      const original = snapshot(layout.root)
      const run = runScript(layout, ['--root', layout.root], { shell })
      t.equal(run.status, 1, run.out)
      t.match(run.out, /step install-cri-o: the installer of cri-o \(cri-o\/install\) failed/)
      t.match(run.out, /rolling back run 1[^]*restored \/etc\/containerd\/config\.toml[^]*rolled back run 1/)
      t.same(snapshot(layout.root), original, 'the node is as it was, with no state folder left')

      // A good first run, then a second one that fails: only the second is undone.
      writeFileSync(join(layout.bundle, 'install.sh'), renderInstallSh(withSteps(steps.slice(0, 3)), templates))
      writeChecksums(layout.bundle)
      t.equal(runScript(layout, ['--root', layout.root], { shell }).status, 0)
      const journal = journalOf(layout.root)
      writeFileSync(join(layout.root, 'etc/containerd/config.toml'), 'edited by hand\n')
      const afterFirst = snapshot(layout.root)
      writeFileSync(join(layout.bundle, 'install.sh'), renderInstallSh(withSteps(steps), templates))
      writeChecksums(layout.bundle)
      const second = runScript(layout, ['--root', layout.root], { shell })
      t.equal(second.status, 1, second.out)
      t.match(second.out, /rolled back run 2/)
      t.equal(journalOf(layout.root), journal, 'the journal holds the first run alone')
      t.same(snapshot(layout.root), afterFirst, 'the hand edit is back; the first run and its backup stay')
    })
  }
})

const setsidPath = which('setsid')

t.test('an interrupted run, continued, converges to the tree and journal of an uninterrupted one', { skip: !setsidPath && 'setsid is not installed' }, async (t) => {
  const base = t.testdir()
  const thePlan = planWithoutPackages()
  const setsid = setsidPath!
  const tmp = join(base, 'tmp')
  mkdirSync(tmp)
  const reference = layBundle(join(base, 'reference'), thePlan, buildLinuxBundle)
  const uninterrupted = runScript(reference, ['--root', reference.root], { env: { TMPDIR: tmp } })
  t.equal(uninterrupted.status, 0, uninterrupted.out)
  const expected = snapshot(reference.root)

  // A stand-in for a tool that SIGKILLs the script's whole process group (setsid made it its own) when
  // `when` holds, and is the real tool otherwise: the script dies between two of its own commands. Armed
  // only in the run started under setsid: a kill 0 anywhere else would hit the test runner.
  const killer = (dir: string, tool: string, when: string) => {
    const real = which(tool)!
    write(join(dir, tool), `#!/bin/sh\nif [ "$EB_KILL_ARMED" = 1 ] && ${when}; then kill -KILL 0; fi\nexec ${real} "$@"\n`, 0o755)
    return dir
  }
  const crashAndContinue = (t: Test, name: string, shell: Shell, layout: Layout, env: Record<string, string>) => {
    const killed = runScript(layout, ['--root', layout.root], { shell: { ...shell, argv: [setsid, ...shell.argv] }, env: { TMPDIR: tmp, EB_KILL_ARMED: '1', ...env } })
    t.equal(killed.status, null, `${name}: killed\n${killed.out}`)
    const journal = journalOf(layout.root) ?? ''
    t.match(journal, /^begin 1 /, `${name}: the run had begun`)
    t.notMatch(journal, /^end 1$/m, `${name}: and not ended`)
    t.match(runScript(layout, ['status', '--root', layout.root], { shell }).out, /run 1, interrupted/)
    const again = runScript(layout, ['--root', layout.root], { shell, env: { TMPDIR: tmp } })
    t.equal(again.status, 0, again.out)
    t.same(snapshot(layout.root), expected, `${name}: the same tree and journal as without the crash`)
    return again.out
  }

  t.test('dash, killed at a rename', async (t) => {
    /** A bundle whose mv stand-in kills the script at its nth rename (18 in all: 12 is the backup of the config, 13 the config). */
    const killedAt = (n: number) => {
      const layout = layBundle(join(base, `dash-${n}`), thePlan, buildLinuxBundle)
      const counter = join(layout.dir, 'mv.count')
      const bin = killer(join(layout.dir, 'bin'), 'mv', `n=$(($(cat '${counter}' 2>/dev/null || echo 0) + 1)); echo "$n" > '${counter}'; [ "$n" -eq ${n} ]`)
      return { layout, env: { PATH: `${bin}:${process.env['PATH']}` } }
    }
    for (const n of [12]) {
      const { layout, env } = killedAt(n)
      t.match(crashAndContinue(t, `mv ${n}`, { name: 'dash', argv: ['dash'] }, layout, env), /continuing run 1/)
    }
    // Killed after its last change (at the sync that ends the last step that changed something): the next
    // run has nothing left to do, and ends the run.
    {
      const layout = layBundle(join(base, 'dash-sync'), thePlan, buildLinuxBundle)
      const bin = killer(join(layout.dir, 'bin'), 'sync', `grep -q '^new 1 link-kata-runtime ' '${join(layout.root, 'var/lib/edgebundle/journal')}'`)
      const again = crashAndContinue(t, 'after the last change', { name: 'dash', argv: ['dash'] }, layout, { PATH: `${bin}:${process.env['PATH']}` })
      t.match(again, /run 1, which was interrupted, is complete now/)
      t.notMatch(again, /continuing run 1/)
    }
    // Killed between the config's record and its rename, then rolled back: the leftover temporary file goes too.
    const { layout, env } = killedAt(13)
    const original = snapshot(layout.root)
    const killed = runScript(layout, ['--root', layout.root], { shell: { name: 'dash', argv: [setsid, 'dash'] }, env: { TMPDIR: tmp, EB_KILL_ARMED: '1', ...env } })
    t.equal(killed.status, null, killed.out)
    t.match(journalOf(layout.root)!, /^replace 1 write-file:\/etc\/containerd\/config\.toml \/etc\/containerd\/config\.toml\n$/m)
    t.ok(existsSync(join(layout.root, 'etc/containerd/config.toml.edgebundle-tmp')), 'the crash left a temporary file')
    const rollback = runScript(layout, ['rollback', '--root', layout.root])
    t.equal(rollback.status, 0, rollback.out)
    t.match(rollback.out, /\(interrupted\)/)
    t.same(snapshot(layout.root), original, 'rollback of the interrupted run restores the node')
  })
  t.test('busybox, killed while it unpacks an archive', { skip: !which('busybox') && 'busybox is not installed' }, async (t) => {
    const layout = layBundle(join(base, 'busybox'), thePlan, buildLinuxBundle)
    const [shell] = shells(join(base, 'bb')).filter((s) => s.name === 'busybox')
    // BusyBox runs its own applets (mv included) before PATH; zstd is not one. Before the first change
    // zstd only lists the archive; with the journal there, it unpacks Kata after containerd and the CNI plugins.
    const bin = killer(join(layout.dir, 'bin'), 'zstd', `[ -f '${join(layout.root, 'var/lib/edgebundle/journal')}' ]`)
    t.match(crashAndContinue(t, 'zstd', shell!, layout, { PATH: `${bin}:${shell!.path}` }), /continuing run 1/)
    t.match(journalOf(layout.root)!, /^new 1 install-cni-plugins \/opt\/cni\/bin\/loopback$/m)
  })
})

t.test('rollback, uninstall and status need no intact bundle; with nothing installed they say so', async (t) => {
  const layout = layBundle(t.testdir(), withSteps([plan.steps.find((s) => s.id === 'install-runc')!]), buildLinuxBundle)
  const original = snapshot(layout.root)
  for (const command of ['status', 'rollback', 'uninstall']) {
    const run = runScript(layout, [command, '--root', layout.root])
    t.equal(run.status, 0, run.out)
    t.match(run.out, /nothing installed/, command)
  }
  t.equal(runScript(layout, ['--root', layout.root]).status, 0)
  // A damaged copy of the bundle: install refuses it, rollback does not read it.
  rmSync(join(layout.bundle, 'SHA256SUMS'))
  appendFileSync(join(layout.bundle, 'artifacts/runc.amd64'), 'damaged\n')
  t.equal(runScript(layout, ['--root', layout.root]).status, 3)
  t.equal(runScript(layout, ['verify', '--root', layout.root]).status, 3)
  t.match(runScript(layout, ['status', '--root', layout.root]).out, /run 1, finished, .*: 2 dir, 1 new\n/)
  const rollback = runScript(layout, ['rollback', '--root', layout.root])
  t.equal(rollback.status, 0, rollback.out)
  t.notMatch(rollback.out, /SHA256SUMS/)
  t.same(snapshot(layout.root), original)
})

t.test('the signature: checked with --pubkey, the node\'s trusted.pub or the bundle\'s signer.pub', { skip: !which('openssl') && 'openssl is not installed' }, async (t) => {
  const base = t.testdir()
  const openssl = (...args: string[]) => {
    const result = spawnSync('openssl', args, { encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${result.stderr}`)
  }
  const key = (name: string) => {
    openssl('genpkey', '-algorithm', 'ed25519', '-out', join(base, `${name}.pem`))
    openssl('pkey', '-in', join(base, `${name}.pem`), '-pubout', '-out', join(base, `${name}.pub`))
    return { private: join(base, `${name}.pem`), public: join(base, `${name}.pub`) }
  }
  const signer = key('signer')
  const other = key('other')
  // What CentOS 7 has: an openssl that knows no ed25519 and no -rawin.
  const oldBin = join(base, 'old-openssl')
  write(join(oldBin, 'openssl'), `#!/bin/sh\ncase $1 in\n  version) echo 'OpenSSL 1.0.2k-fips  26 Jan 2017' ;;\n  *) echo 'Usage: pkeyutl [options]' >&2; exit 1 ;;\nesac\n`, 0o755)
  const runc = plan.steps.find((s) => s.id === 'install-runc')!
  /** A bundle, signed by `by` (or not), with the signer's public key as signer.pub. */
  const bundle = (dir: string, by: typeof signer | null) => {
    const layout = layBundle(dir, withSteps([runc]), (b) => {
      write(join(b, 'artifacts/runc.amd64'), INSTALLED['/usr/local/sbin/runc'], 0o755)
      if (by) write(join(b, 'signer.pub'), readFileSync(by.public, 'utf8'))
    })
    if (by) openssl('pkeyutl', '-sign', '-inkey', by.private, '-rawin', '-in', join(layout.bundle, 'SHA256SUMS'), '-out', join(layout.bundle, 'SHA256SUMS.sig'))
    return layout
  }
  for (const shell of shells(base).filter((s) => s.name !== 'bash')) {
    t.test(shell.name, { skip: shell.skip ?? false }, async (t) => {
      const verify = (layout: Layout, args: string[], env: Record<string, string> = {}) => runScript(layout, ['verify', '--root', layout.root, ...args], { shell, env })
      const signed = bundle(join(base, shell.name, 'signed'), signer)
      const unsigned = bundle(join(base, shell.name, 'unsigned'), null)

      const own = verify(signed, [])
      t.equal(own.status, 0, own.out)
      t.match(own.out, /SHA256SUMS\.sig verifies with .*\/signer\.pub/)
      t.match(own.out, /\[WARN\] {2}SHA256SUMS\.sig was checked with the bundle's own signer\.pub: that proves the bundle is whole, not who signed it; give --pubkey FILE/)
      t.match(own.out, /the bundle .* is intact/)
      const chosen = verify(signed, ['--pubkey', signer.public])
      t.equal(chosen.status, 0, chosen.out)
      t.notMatch(chosen.out, /WARN/, 'a key the operator chose: no warning')
      const wrong = verify(signed, ['--pubkey', other.public])
      t.equal(wrong.status, 3, wrong.out)
      t.match(wrong.out, /SHA256SUMS\.sig does not verify with .*other\.pub/)

      const sig = join(signed.bundle, 'SHA256SUMS.sig')
      const good = readFileSync(sig)
      const bad = Buffer.from(good)
      bad[0] = bad[0]! ^ 1
      writeFileSync(sig, bad)
      const tampered = verify(signed, [])
      t.equal(tampered.status, 3, `a bad signature fails even with the bundle's own key\n${tampered.out}`)
      const before = snapshot(signed.root)
      t.equal(runScript(signed, ['--root', signed.root], { shell }).status, 3, 'install refuses it too')
      t.same(snapshot(signed.root), before, 'and changes nothing')
      writeFileSync(sig, good)

      write(join(signed.root, 'etc/edgebundle/trusted.pub'), readFileSync(signer.public, 'utf8'))
      const trusted = verify(signed, [])
      t.equal(trusted.status, 0, trusted.out)
      t.match(trusted.out, /verifies with .*\/etc\/edgebundle\/trusted\.pub/)
      t.notMatch(trusted.out, /WARN/)
      write(join(signed.root, 'etc/edgebundle/trusted.pub'), readFileSync(other.public, 'utf8'))
      t.equal(verify(signed, []).status, 3, 'the node trusts another signer')
      rmSync(join(signed.root, 'etc/edgebundle'), { recursive: true })

      const none = verify(unsigned, [])
      t.equal(none.status, 0, none.out)
      t.notMatch(none.out, /SHA256SUMS\.sig|WARN/)
      const required = verify(unsigned, ['--pubkey', signer.public])
      t.equal(required.status, 3, required.out)
      t.match(required.out, /the bundle is not signed \(there is no SHA256SUMS\.sig\), but it must be signed by the key/)

      const oldPath = { PATH: `${oldBin}:${shell.path ?? process.env['PATH']}` }
      const cannot = verify(signed, ['--pubkey', signer.public], oldPath)
      t.equal(cannot.status, 3, cannot.out)
      t.match(cannot.out, /cannot check SHA256SUMS\.sig with .*: OpenSSL 1\.0\.2k-fips .* cannot check ed25519 signatures \(OpenSSL 3 can\); run the installer executable \.\/install, which checks it/)
      const warned = verify(signed, [], oldPath)
      t.equal(warned.status, 0, warned.out)
      t.match(warned.out, /\[WARN\] {2}SHA256SUMS\.sig was not checked: OpenSSL 1\.0\.2k-fips/)
    })
  }
})

t.test('install says once when the installer executable cannot run on this node (glibc < 2.28, musl)', async (t) => {
  const layout = layBundle(t.testdir(), preflightOnly([]), (bundle) => write(join(bundle, 'install'), '#!/bin/sh\nexit 0\n', 0o755))
  const fake = (name: string, getconf: string, ldd: string) => {
    const bin = join(layout.dir, name)
    write(join(bin, 'getconf'), `#!/bin/sh\n${getconf}\n`, 0o755)
    write(join(bin, 'ldd'), `#!/bin/sh\n${ldd}\n`, 0o755)
    return { PATH: `${bin}:${process.env['PATH']}` }
  }
  const line = /\[INFO\] {2}the installer executable \.\/install cannot run here: it needs glibc 2\.28 or newer, and this node has (.*); install\.sh does the whole job/g
  const notes = (env: Record<string, string>, args = ['--dry-run', '--root', layout.root]) => [...runScript(layout, args, { env }).out.matchAll(line)].map((m) => m[1])
  t.same(notes(fake('centos7', "echo 'glibc 2.17'", 'exit 1')), ['glibc 2.17'])
  t.same(notes(fake('old-ldd', 'exit 1', "echo 'ldd (GNU libc) 2.27'")), ['glibc 2.27'], 'without getconf, ldd tells')
  t.same(notes(fake('alpine', 'exit 1', "echo 'musl libc (x86_64)' >&2; echo 'Version 1.2.4' >&2; exit 1")), ['musl libc'])
  t.same(notes(fake('new', "echo 'glibc 2.28'", 'exit 1')), [], 'glibc 2.28 runs it')
  t.same(notes({}), [], 'this machine runs it')
  t.same(notes(fake('centos7-status', "echo 'glibc 2.17'", 'exit 1'), ['status', '--root', layout.root]), [], 'only install says it')
  rmSync(join(layout.bundle, 'install'))
  writeChecksums(layout.bundle)
  t.same(notes(fake('no-exe', "echo 'glibc 2.17'", 'exit 1')), [], 'no executable, nothing to say')
})

