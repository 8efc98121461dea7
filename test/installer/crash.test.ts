/**
 * Crash safety of the installer executable's code, with the real filesystem: the installer is killed
 * with SIGKILL as each step starts and halfway through each file write (crash-child.ts). Every time, a
 * second run converges to exactly the tree an uninterrupted run leaves (journal and backups included),
 * and rollback then restores the original tree byte for byte.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { nodeArgs } from '../fixtures/node-script.js'
import { makeInstallableBundle, prepareRoot, runInstallerHere, snapshot } from './node-fixtures.js'

const work = t.testdir()
const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64'
const bundle = makeInstallableBundle(join(work, 'bundle'), { os: 'ubuntu', arch: hostArch, runtime: 'containerd' }, work)
const scratch = join(work, 'scratch')
mkdirSync(scratch)
const original = join(work, 'original')
prepareRoot(original, bundle)
const before = snapshot(original)

const installer = runInstallerHere

let roots = 0
function freshRoot(): string {
  const root = join(work, `root-${++roots}`)
  mkdirSync(root)
  cpSync(original, root, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true })
  return root
}

const child = nodeArgs(join(import.meta.dirname, 'crash-child.ts'))
function crashChild(root: string, crash: string) {
  return spawnSync(process.execPath, [...child, '--json', '--bundle', bundle.dir, '--root', root], {
    encoding: 'utf8',
    // A killed installer cannot remove its scratch folder: keep those in the test's own folder. Without
    // tap's process tracking (NODE_OPTIONS): a child killed mid-run has nothing for it to report.
    env: { ...process.env, EDGEBUNDLE_TEST_CRASH: crash, TMPDIR: scratch, NODE_OPTIONS: '' },
  })
}

const reference = freshRoot()
t.same(snapshot(reference), before, 'a copied root is the original')
const whole = crashChild(reference, 'none:0')
t.equal(whole.status, 0, whole.stderr)
const writes = Number(/writes=(\d+)/.exec(whole.stderr)?.[1])
t.ok(writes > 10, `an uninterrupted run makes ${writes} file writes`)
const after = snapshot(reference)
t.ok(after['var/lib/edgebundle/journal'], 'the run wrote its journal')
t.ok(after['var/lib/edgebundle/backup/1/etc/crictl.yaml'], 'the replaced crictl.yaml was backed up')

const crashPoints = [
  ...bundle.plan.steps.map((_, index) => `step:${index + 1}`),
  ...Array.from({ length: writes }, (_, index) => `write:${index + 1}`),
]

for (const crash of crashPoints) {
  t.test(`SIGKILL at ${crash}`, async (t) => {
    const root = freshRoot()
    const killed = crashChild(root, crash)
    t.equal(killed.signal, 'SIGKILL', `the installer was killed (${killed.stderr.slice(-300)})`)
    const again = await installer(['--bundle', bundle.dir, '--root', root])
    t.equal(again.code, 0, again.stderr)
    t.same(snapshot(root), after, 'the second run converges to the tree of an uninterrupted run')
    const rolled = await installer(['rollback', '--root', root])
    t.equal(rolled.code, 0, rolled.stderr)
    t.same(snapshot(root), before, 'rollback restores the original tree byte for byte')
  })
}

t.test('an uninterrupted run, then rollback, restores the original; a second run changes nothing', async (t) => {
  const root = freshRoot()
  const first = await installer(['--bundle', bundle.dir, '--root', root])
  t.equal(first.code, 0, first.stderr)
  t.same(snapshot(root), after)
  const second = await installer(['--bundle', bundle.dir, '--root', root])
  t.equal(second.code, 0, second.stderr)
  t.match(second.stdout, /nothing to do: the node already matches the bundle \(0 changed/)
  t.same(snapshot(root), after, 'the second run wrote nothing, not even to its journal')
  const rolled = await installer(['rollback', '--root', root])
  t.equal(rolled.code, 0, rolled.stderr)
  t.same(snapshot(root), before)
})
