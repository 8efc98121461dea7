/**
 * The installer executable and install.sh are two implementations of one plan and one journal
 * (docs/node-state.md). The conformance table: per step kind, a small plan of that kind run by each with
 * --root into a copy of the same node root gives the same tree (every file's content and mode, every link,
 * the journal and the backups), and each rolls back the other's run to the root as it was. Then whole
 * rendered bundles: identical trees, each undoing the other's install, and a second bundle version installed
 * over the first by one and uninstalled by the other: they share the state as well as the format.
 *
 * The executable runs from the test cache with --bundle, not from inside each bundle: a copy of it in the
 * bundle would be one more ~100 MB file that both installers hash on every run (about a hundred runs here),
 * and where it lies decides nothing of what either does to the root.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { STEP_KINDS, type Step, type StepKind } from '../../src/model/plan.js'
import { renderInstallSh } from '../../src/render/script/posix.js'
import { buildLinuxBundle, makeRoot } from '../fixtures/bundle.js'
import { foreignSteps, linuxPlan } from '../fixtures/plans.js'
import { templates } from '../helpers.js'
import { installerFor } from '../sea/fixtures.js'
import { writeChecksums } from './fixtures.js'
import { makeInstallableBundle, prepareRoot, readText, snapshot } from './node-fixtures.js'

// ------------------------------------------------------------------------------------ the conformance table

interface Row {
  /** The steps of the row's plan, all of the row's kind. */
  steps: Step[]
  /**
   * Why the plan schema refuses the plan: install.sh cannot be rendered from it, and the executable exits 2
   * before any step; the root stays as it was.
   */
  refused?: RegExp
  /** Files a real tool keeps once it ran, which a rollback rightly leaves (compared between both all the same). */
  leftByTool?: RegExp
}

const fixtureSteps = <K extends StepKind>(kind: K): Step[] => linuxPlan().steps.filter((step) => step.kind === kind)

/**
 * One row per step kind, a Record so a kind added to the plan schema does not compile without its row. The
 * steps are the Linux fixture plan's (test/fixtures/plans.ts), whose bundle test/fixtures/bundle.ts builds
 * with real tar, zstd and dpkg-deb. Under --root both skip what needs the running node (modules, sysctls,
 * services, containers, images, the CRI check) and journal the step the same way; the rows prove that too.
 * install-archive's zip format is Windows-only: install.sh refuses it when rendered (test/render/script).
 */
const ROWS: Record<StepKind, Row> = {
  preflight: { steps: fixtureSteps('preflight') },
  // tar.gz with strip 0 and 1, and tar.zst into /.
  'install-archive': { steps: fixtureSteps('install-archive') },
  'install-binary': { steps: fixtureSteps('install-binary') },
  'run-upstream-installer': { steps: fixtureSteps('run-upstream-installer') },
  // dpkg keeps its own lock, trigger and status-old files once it ran; rollback (dpkg -r) leaves them.
  'install-packages': { steps: fixtureSteps('install-packages'), leftByTool: /^var\/lib\/dpkg\/(lock|lock-frontend|status-old|triggers|triggers\/.*|info\/format)$/ },
  // One replaces a file the root already has (a backup), one has a name every quoting must survive, one is a
  // merge onto a path the root does not have (both write it whole). A merge onto an existing file is where the
  // two differ by design (src/model/plan.ts: install.sh replaces it), so it has no row.
  'write-file': {
    steps: [
      ...fixtureSteps('write-file'),
      {
        id: 'write-file:/etc/containerd/conf.d/merged.toml',
        kind: 'write-file',
        description: 'A config merged into the node one, absent on this node',
        source: 'config/etc/containerd/config.toml',
        dest: '/etc/containerd/conf.d/merged.toml',
        mode: '0600',
        merge: 'toml',
      },
    ],
  },
  symlink: { steps: fixtureSteps('symlink') },
  'load-kernel-modules': { steps: fixtureSteps('load-kernel-modules') },
  'apply-sysctl': { steps: fixtureSteps('apply-sysctl') },
  'enable-service': { steps: fixtureSteps('enable-service') },
  'register-windows-service': {
    steps: foreignSteps('linux').filter((step) => step.kind === 'register-windows-service'),
    refused: /register-windows-service runs on Windows only; this plan is for ubuntu/,
  },
  'run-container': { steps: fixtureSteps('run-container') },
  'import-image': { steps: fixtureSteps('import-image') },
  'check-runtime': { steps: fixtureSteps('check-runtime') },
}

t.test('the conformance table has a row for every step kind, each of that kind only', async (t) => {
  t.same(Object.keys(ROWS).sort(), [...STEP_KINDS].sort(), 'one row per step kind of the plan schema')
  for (const [kind, row] of Object.entries(ROWS)) {
    t.ok(row.steps.length > 0, `${kind}: the row has steps`)
    t.same([...new Set(row.steps.map((step) => step.kind))], [kind], `${kind}: only steps of its kind`)
  }
})

t.test('per step kind, the executable and install.sh give the same --root tree', { timeout: 15 * 60_000 }, async (t) => {
  const built = await installerFor(t, 'linux/amd64')
  if (!built) return
  for (const [kind, row] of Object.entries(ROWS)) {
    await t.test(kind, async (t) => {
      const work = t.testdir()
      const bundle = join(work, 'bundle')
      mkdirSync(bundle, { recursive: true })
      buildLinuxBundle(bundle)
      const plan = { ...linuxPlan(), steps: row.steps }
      writeFileSync(join(bundle, 'plan.json'), `${JSON.stringify(plan, null, 2)}\n`)
      if (row.refused !== undefined) t.throws(() => renderInstallSh(plan, templates), row.refused, 'install.sh is not rendered from the plan')
      else writeFileSync(join(bundle, 'install.sh'), renderInstallSh(plan, templates), { mode: 0o755 })
      writeChecksums(bundle)
      const original = join(work, 'original')
      makeRoot(original)
      const before = snapshot(original)
      const copy = (name: string) => {
        const root = join(work, name)
        cpSync(original, root, { recursive: true, verbatimSymlinks: true })
        return root
      }
      const exe = (args: string[]) => spawnSync(built.path, ['--bundle', bundle, ...args], { encoding: 'utf8' })
      const sh = (args: string[]) => spawnSync('sh', [join(bundle, 'install.sh'), ...args], { encoding: 'utf8' })
      const byExe = copy('root-exe')
      const fromExe = exe(['--root', byExe])
      if (row.refused !== undefined) {
        t.equal(fromExe.status, 2, 'the executable refuses the plan', { output: fromExe.stdout + fromExe.stderr })
        t.match(fromExe.stderr, row.refused, 'and says why')
        t.same(snapshot(byExe), before, 'the executable left the root as it was')
        return
      }
      const bySh = copy('root-sh')
      const fromSh = sh(['--root', bySh])
      const output = { executable: fromExe.stdout + fromExe.stderr, installSh: fromSh.stdout + fromSh.stderr }
      t.equal(fromExe.status, 0, 'the executable installs', output)
      t.equal(fromSh.status, 0, 'install.sh installs', output)
      t.same(snapshot(bySh), snapshot(byExe), 'the same tree, journal and backups included')
      t.equal(readText(bySh, 'var/lib/edgebundle/journal'), readText(byExe, 'var/lib/edgebundle/journal'), 'the same journal')
      // A second run by the other changes nothing, so the rollback below undoes one run in each root.
      t.equal(sh(['--root', byExe]).status, 0, "install.sh over the executable's run")
      t.equal(exe(['--root', bySh]).status, 0, "the executable over install.sh's run")
      t.same(snapshot(bySh), snapshot(byExe), 'still the same tree: neither changed anything')
      t.equal(sh(['rollback', '--root', byExe]).status, 0, "install.sh rolls back the executable's run")
      t.equal(exe(['rollback', '--root', bySh]).status, 0, "the executable rolls back install.sh's run")
      t.same(snapshot(bySh), snapshot(byExe), 'the same tree after each rolled back the other')
      const restored = (root: string) => Object.fromEntries(Object.entries(snapshot(root)).filter(([path]) => !row.leftByTool?.test(path)))
      t.same(restored(byExe), before, 'install.sh restored the root byte for byte')
      t.same(restored(bySh), before, 'the executable restored the root byte for byte')
    })
  }
})

// ------------------------------------------------------------------------------------------ whole bundles

/**
 * A real rendered bundle for `runtime` with small real archives and the real linux-x64 executable, a
 * prepared root, its snapshot, and copies of that root on demand. null when the executable cannot be had.
 */
async function prepare(t: Test, runtime: string) {
  const built = await installerFor(t, 'linux/amd64')
  if (!built) return null
  const work = t.testdir()
  const bundle = makeInstallableBundle(join(work, 'bundle'), { os: 'ubuntu', arch: 'amd64', runtime }, work)
  const original = join(work, 'original')
  prepareRoot(original, bundle)
  let count = 0
  const freshRoot = () => {
    const root = join(work, `root-${++count}`)
    cpSync(original, root, { recursive: true, verbatimSymlinks: true })
    return root
  }
  return { work, bundle, before: snapshot(original), freshRoot, executable: built.path }
}

t.test('executable and install.sh leave identical trees, and undo each other', { timeout: 10 * 60_000 }, async (t) => {
  const setup = await prepare(t, 'containerd')
  if (!setup) return
  const { work, bundle, before, freshRoot, executable } = setup
  const exe = (dir: string, args: string[]) => spawnSync(executable, ['--bundle', dir, ...args], { encoding: 'utf8' })
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
  const { bundle, before, freshRoot, executable } = setup
  const byExe = freshRoot()
  const bySh = freshRoot()
  const exe = spawnSync(executable, ['--bundle', bundle.dir, '--root', byExe], { encoding: 'utf8' })
  t.equal(exe.status, 0, 'the executable installs', { stdout: exe.stdout, stderr: exe.stderr })
  const sh = spawnSync('sh', [join(bundle.dir, 'install.sh'), '--root', bySh], { encoding: 'utf8' })
  t.equal(sh.status, 0, 'install.sh installs', { stdout: sh.stdout, stderr: sh.stderr })
  t.ok(snapshot(byExe)['usr/local/bin/runtimed'], 'what the upstream installer installed is on the node')
  t.same(snapshot(bySh), snapshot(byExe), 'identical trees')
  t.equal(spawnSync('sh', [join(bundle.dir, 'install.sh'), 'uninstall', '--root', byExe]).status, 0)
  t.equal(spawnSync(executable, ['--bundle', bundle.dir, 'uninstall', '--root', bySh]).status, 0)
  t.same(snapshot(byExe), before)
  t.same(snapshot(bySh), before)
})
