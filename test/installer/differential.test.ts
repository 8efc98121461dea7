/**
 * The installer executable and install.sh are two implementations of one plan and one journal
 * (docs/node-state.md). Each installs the same bundle with --root into a copy of the same prepared root;
 * the trees must be identical: every file's content and mode, every link, the journal and the backups.
 * Then each rolls back the other's install, and a second bundle version is installed over the first by
 * one and uninstalled by the other: they share the state as well as the format.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { installerFor } from '../sea/fixtures.js'
import { writeChecksums } from './fixtures.js'
import { makeInstallableBundle, prepareRoot, readText, snapshot } from './node-fixtures.js'

/**
 * A real rendered bundle for `runtime` with small real archives and the real linux-x64 executable, a
 * prepared root, its snapshot, and copies of that root on demand. null when the executable cannot be had.
 */
async function prepare(t: Test, runtime: string) {
  const built = await installerFor(t, 'linux/amd64')
  if (!built) return null
  const work = t.testdir()
  const bundle = makeInstallableBundle(join(work, 'bundle'), { os: 'ubuntu', arch: 'amd64', runtime }, work)
  copyFileSync(built.path, join(bundle.dir, 'install'))
  chmodSync(join(bundle.dir, 'install'), 0o755)
  writeChecksums(bundle.dir)
  const original = join(work, 'original')
  prepareRoot(original, bundle)
  let count = 0
  const freshRoot = () => {
    const root = join(work, `root-${++count}`)
    cpSync(original, root, { recursive: true, verbatimSymlinks: true })
    return root
  }
  return { work, bundle, before: snapshot(original), freshRoot }
}

t.test('executable and install.sh leave identical trees, and undo each other', { timeout: 10 * 60_000 }, async (t) => {
  const setup = await prepare(t, 'containerd')
  if (!setup) return
  const { work, bundle, before, freshRoot } = setup
  const exe = (dir: string, args: string[]) => spawnSync(join(dir, 'install'), args, { encoding: 'utf8' })
  const sh = (dir: string, args: string[]) => spawnSync('sh', [join(dir, 'install.sh'), ...args], { encoding: 'utf8' })
  // The output goes into the diagnostics, shown when the assertion fails.
  const ok = (t: Test, result: ReturnType<typeof exe>, what: string) => t.equal(result.status, 0, `${what}: exit 0`, { stdout: result.stdout, stderr: result.stderr })

  const byExe = freshRoot()
  const bySh = freshRoot()
  ok(t, exe(bundle.dir, ['--root', byExe]), 'install (executable)')
  ok(t, sh(bundle.dir, ['--root', bySh]), 'install.sh')
  t.same(snapshot(bySh), snapshot(byExe), 'identical trees, journal and backups included')
  t.equal(readText(bySh, 'var/lib/edgebundle/journal'), readText(byExe, 'var/lib/edgebundle/journal'), 'identical journals')

  // A second run of either changes nothing, whoever made the first.
  ok(t, sh(bundle.dir, ['--root', byExe]), 'install.sh over the executable\'s install')
  ok(t, exe(bundle.dir, ['--root', bySh]), 'the executable over install.sh\'s install')
  t.same(snapshot(bySh), snapshot(byExe), 'still identical: neither changed anything')

  // Each rolls back what the other installed.
  ok(t, sh(bundle.dir, ['rollback', '--root', byExe]), 'install.sh rollback')
  ok(t, exe(bundle.dir, ['rollback', '--root', bySh]), 'executable rollback')
  t.same(snapshot(byExe), before, 'install.sh rolled back the executable\'s install byte for byte')
  t.same(snapshot(bySh), before, 'the executable rolled back install.sh\'s install byte for byte')

  // Two runs by different installers, uninstalled by a third party to neither.
  const second = join(work, 'bundle-2')
  cpSync(bundle.dir, second, { recursive: true })
  writeFileSync(join(second, 'config', 'etc', 'crictl.yaml'), `${readFileSync(join(second, 'config', 'etc', 'crictl.yaml'), 'utf8')}timeout: 20\n`)
  writeChecksums(second)
  const mixed = freshRoot()
  const mirror = freshRoot()
  ok(t, exe(bundle.dir, ['--root', mixed]), 'run 1 by the executable')
  ok(t, sh(second, ['--root', mixed]), 'run 2 by install.sh')
  ok(t, sh(bundle.dir, ['--root', mirror]), 'run 1 by install.sh')
  ok(t, exe(second, ['--root', mirror]), 'run 2 by the executable')
  t.same(snapshot(mixed), snapshot(mirror), 'the same two runs give the same tree whichever installer made each')
  ok(t, sh(bundle.dir, ['uninstall', '--root', mirror]), 'install.sh uninstall')
  ok(t, exe(bundle.dir, ['uninstall', '--root', mixed]), 'executable uninstall')
  t.same(snapshot(mixed), before)
  t.same(snapshot(mirror), before)
})

t.test('CRI-O: its own installer run by both, the same tree', { timeout: 10 * 60_000 }, async (t) => {
  const setup = await prepare(t, 'cri-o')
  if (!setup) return
  const { bundle, before, freshRoot } = setup
  const byExe = freshRoot()
  const bySh = freshRoot()
  const exe = spawnSync(join(bundle.dir, 'install'), ['--root', byExe], { encoding: 'utf8' })
  t.equal(exe.status, 0, 'the executable installs', { stdout: exe.stdout, stderr: exe.stderr })
  const sh = spawnSync('sh', [join(bundle.dir, 'install.sh'), '--root', bySh], { encoding: 'utf8' })
  t.equal(sh.status, 0, 'install.sh installs', { stdout: sh.stdout, stderr: sh.stderr })
  t.ok(snapshot(byExe)['usr/local/bin/runtimed'], 'what the upstream installer installed is on the node')
  t.same(snapshot(bySh), snapshot(byExe), 'identical trees')
  t.equal(spawnSync('sh', [join(bundle.dir, 'install.sh'), 'uninstall', '--root', byExe]).status, 0)
  t.equal(spawnSync(join(bundle.dir, 'install'), ['uninstall', '--root', bySh]).status, 0)
  t.same(snapshot(byExe), before)
  t.same(snapshot(bySh), before)
})
