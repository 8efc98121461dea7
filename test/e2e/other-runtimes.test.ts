/**
 * Issue 7, item 7: the real parts that exist here for the other targets. No arm64 or Windows containerd
 * can run on this machine (Debian's arm64 packages are not installed, and neither would start a runtime
 * under qemu-user; Windows has no runtime under wine), so the bundles are real rendered bundles whose
 * artifacts are small archives in the upstream layouts (node-fixtures.ts), and what runs for real is each
 * platform's installer executable:
 *   - linux-arm64 under qemu-aarch64-static installs an arm64 containerd bundle with --root, leaves the
 *     same tree as the linux-x64 executable does from the same bundle, changes nothing when run again and
 *     rolls back to the prior tree;
 *   - win-x64 under wine64 installs a Windows containerd bundle with --root (a dry run first, which
 *     changes nothing), puts every file at its Windows path under <root>/C/..., changes nothing when run
 *     again and rolls back to the prior tree.
 * GNU tar is the oracle for what the archives should have put where.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, win32 } from 'node:path'
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml'
import t, { type Test } from 'tap'
import type { Plan } from '../../src/model/plan.js'
import { deepMerge } from '../../src/installer/merge.js'
import { which } from '../../src/sea/host.js'
import { jsonEvents, writeChecksums } from '../installer/fixtures.js'
import { makeInstallableBundle, prepareRoot, snapshot } from '../installer/node-fixtures.js'
import { EXE_TEST_TIMEOUT_MS, type RunResult, WINE64, installerFor, need, runLinux } from '../sea/fixtures.js'
import { succeeded } from './fixtures.js'
import { wineWithStandIn } from './powershell-stand-in.js'

t.setTimeout(EXE_TEST_TIMEOUT_MS)

type Runner = (args: string[]) => RunResult

function events(t: Test, result: RunResult, what: string, extra: { todo?: string } = {}) {
  succeeded(t, result, what, extra)
  try {
    return jsonEvents(result.stdout)
  } catch {
    return []
  }
}
const changed = (list: ReturnType<typeof jsonEvents>) => (list.find((e) => e.event === 'done') as { changed?: number } | undefined)?.changed

type Expected = { kind: 'file'; content: Buffer } | { kind: 'symlink'; target: string }

/** What each install-archive step should place: GNU tar unpacks the archive with the step's --strip-components. */
function expectedArchiveTree(plan: Plan, bundle: string, scratch: string, nodePath: (dest: string) => string): Map<string, Expected> {
  const entries = new Map<string, Expected>()
  for (const [index, step] of plan.steps.entries()) {
    if (step.kind !== 'install-archive') continue
    const out = join(scratch, `tar-${index}`)
    mkdirSync(out, { recursive: true })
    execFileSync('tar', ['-xzf', join(bundle, ...step.file.split('/')), '-C', out, `--strip-components=${step.strip}`])
    const walk = (dir: string, relative: string[]) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name)
        const target = nodePath(join(step.dest, ...relative, name))
        const stat = lstatSync(path)
        if (stat.isDirectory()) walk(path, [...relative, name])
        else if (stat.isSymbolicLink()) entries.set(target, { kind: 'symlink', target: readlinkSync(path) })
        else if (stat.isFile()) entries.set(target, { kind: 'file', content: readFileSync(path) })
      }
    }
    walk(out, [])
  }
  return entries
}

t.test('linux-arm64 executable under qemu: --root install of an arm64 containerd bundle, same tree as linux-x64, idempotent, rolled back', async (t) => {
  if (!need(t, which('qemu-aarch64-static') !== null, 'qemu-aarch64-static (qemu-user-static)')) return
  if (!need(t, existsSync('/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1'), 'the arm64 cross sysroot (libc6-arm64-cross)')) return
  const arm64 = await installerFor(t, 'linux/arm64')
  const x64 = await installerFor(t, 'linux/amd64')
  if (!arm64 || !x64) return
  const work = t.testdir()
  const bundle = makeInstallableBundle(join(work, 'bundle'), { os: 'ubuntu', arch: 'arm64', runtime: 'containerd' }, work)
  t.match(bundle.plan.target, { os: 'ubuntu', arch: 'arm64', runtime: 'containerd' })
  copyFileSync(arm64.path, join(bundle.dir, 'install'))
  chmodSync(join(bundle.dir, 'install'), 0o755)
  writeChecksums(bundle.dir)
  const viaQemu: Runner = (args) => runLinux('linux/arm64', join(bundle.dir, 'install'), [...args, '--json'], work)
  // The x64 executable carries out the same bundle (its preflight warns that this machine is not arm64).
  const native: Runner = (args) => runLinux('linux/amd64', x64.path, ['--bundle', bundle.dir, ...args, '--json'], work)

  const original = join(work, 'original')
  prepareRoot(original, bundle)
  const before = snapshot(original)
  const byArm64 = join(work, 'root-arm64')
  const byX64 = join(work, 'root-x64')
  for (const root of [byArm64, byX64]) execFileSync('cp', ['-a', original, root])

  const dry = events(t, viaQemu(['--dry-run', '--root', byArm64]), 'arm64 --dry-run --root')
  t.ok((changed(dry) ?? 0) > 0, 'the dry run lists changes')
  t.same(snapshot(byArm64), before, 'and makes none')

  const first = events(t, viaQemu(['--root', byArm64]), 'arm64 install --root')
  // aarch64 code on this x64 machine: the arm64 executable, under qemu (its --version: test/sea/exe-linux-arm64.test.ts).
  t.match(first.find((e) => e.event === 'check' && e.kind === 'arch'), { outcome: 'ok', message: 'CPU architecture aarch64' }, 'it is the arm64 executable, running under qemu')
  t.equal(changed(first), changed(dry), 'as many changes as the dry run listed')
  events(t, native(['--root', byX64]), 'x64 install --root of the same bundle')
  t.same(snapshot(byArm64), snapshot(byX64), 'the arm64 and x64 executables leave identical trees, journal included')

  // What landed where: every rendered file, and every regular file of every archive (GNU tar's view).
  for (const file of bundle.plan.files) {
    t.same(readFileSync(join(byArm64, file.dest)), readFileSync(join(bundle.dir, file.source)), `${file.dest} placed`)
    t.equal((statSync(join(byArm64, file.dest)).mode & 0o777).toString(8), file.mode.slice(1), `${file.dest} mode ${file.mode}`)
  }
  const expected = expectedArchiveTree(bundle.plan, bundle.dir, join(work, 'tar'), (dest) => join(byArm64, dest))
  t.ok([...expected.values()].some((e) => e.kind === 'symlink'), 'the archives hold symlinks too')
  for (const [path, entry] of expected) {
    if (entry.kind === 'file') t.same(readFileSync(path), entry.content, `${path.slice(byArm64.length)} unpacked`)
    else t.equal(readlinkSync(path), entry.target, `${path.slice(byArm64.length)} -> ${entry.target}`)
  }

  const second = events(t, viaQemu(['--root', byArm64]), 'arm64 install again')
  t.equal(changed(second), 0, 'a second run changes nothing')
  const undone = events(t, viaQemu(['rollback', '--root', byArm64]), 'arm64 rollback')
  t.equal(undone.filter((e) => e.event === 'rolled-back').length, 1)
  t.same(snapshot(byArm64), before, 'rolled back to the prior tree, byte for byte')
})

t.test('win-x64 executable under wine: --root install (dry run and real) of a Windows containerd bundle, run again, rolled back', async (t) => {
  if (!need(t, existsSync(WINE64), `${WINE64} (wine64)`)) return
  const exe = await installerFor(t, 'windows/amd64')
  if (!exe) return
  const work = mkdtempSync(join(tmpdir(), 'eb-e2e-win-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const bundle = makeInstallableBundle(join(work, 'bundle'), { os: 'windows', arch: 'amd64', runtime: 'containerd' }, work)
  copyFileSync(exe.path, join(bundle.dir, 'install.exe'))
  writeChecksums(bundle.dir)

  // The installer's working folder holds the powershell.exe stand-in: Windows finds a program there first.
  const { wine, cwd } = await wineWithStandIn(t, work)
  const run: Runner = (args) => wine.run(join(bundle.dir, 'install.exe'), [...args, '--json'], cwd)

  // The image: its system drive, and a containerd config of the node's own that the bundle merges into (and
  // rollback restores): the operator's debug level stays, the bundle's settings win where both set one.
  const root = join(work, 'root')
  const nodePath = (dest: string) => join(root, ...win32.normalize(dest).replace(/^([A-Za-z]):\\/, '$1\\').split('\\'))
  const config = bundle.plan.files.find((f) => f.dest.endsWith('containerd\\config.toml'))!
  const ours = parseToml(readFileSync(join(bundle.dir, config.source), 'utf8'))
  t.ok(bundle.plan.steps.some((s) => s.kind === 'write-file' && s.dest === config.dest && s.merge === 'toml'), 'the plan merges config.toml')
  const imageConfig = { version: ours.version, debug: { level: 'debug' }, root: 'D:\\containerd-root-of-the-image' }
  mkdirSync(join(nodePath(config.dest), '..'), { recursive: true })
  writeFileSync(nodePath(config.dest), `# the image's own containerd config\n${stringifyToml(imageConfig)}\n`)
  const before = snapshot(root)
  t.ok(existsSync(join(root, 'C', 'Program Files', 'containerd', 'config.toml')), 'Windows paths map under the root as <root>/C/...')

  // A root without C/ yet: the state folder's parents are made only from C:\ProgramData down (found here).
  const bare = join(work, 'bare-root')
  mkdirSync(bare)
  succeeded(t, run(['--root', bare]), 'install.exe --root into an empty folder')
  succeeded(t, run(['rollback', '--root', bare]), 'install.exe rollback of it')
  t.same(readdirSync(bare), [], 'the empty folder is empty again: <root>/C was journaled like any folder')

  const dry = events(t, run(['--dry-run', '--root', root]), 'install.exe --dry-run --root')
  t.match(dry.find((e) => e.event === 'bundle'), { os: 'windows', arch: 'amd64', runtime: 'containerd', dryRun: true })
  t.ok((changed(dry) ?? 0) > 0, 'the dry run lists changes')
  t.same(snapshot(root), before, 'and makes none')

  const first = events(t, run(['--root', root]), 'install.exe --root')
  t.match(first.find((e) => e.event === 'check' && e.kind === 'root'), { outcome: 'ok', message: 'running as Administrator' })
  t.ok((changed(first) ?? 0) > 0)
  t.ok(first.some((e) => e.event === 'warning' && /services are not registered under --root/.test(String(e.message))), 'no service is registered under --root')
  for (const file of bundle.plan.files) {
    if (file === config) continue
    t.same(readFileSync(nodePath(file.dest)), readFileSync(join(bundle.dir, file.source)), `${file.dest} placed`)
  }
  const merged = parseToml(readFileSync(nodePath(config.dest), 'utf8'))
  t.same(merged, deepMerge(imageConfig, ours), "config.toml: the image's settings merged with the bundle's, the bundle's winning")
  t.match(merged, { debug: { level: 'debug' } }, "the image's own debug level stays")
  t.not(merged.root, imageConfig.root, "the bundle's root wins") // containerd's root is set by the bundle
  t.ok(first.some((e) => e.event === 'info' && /merging into the node's own/.test(String(e.message))), 'the installer says it merged')
  // Regular files only: wine's CreateSymbolicLink makes nothing, so an archive's symlinks do not show up here.
  const expected = expectedArchiveTree(bundle.plan, bundle.dir, join(work, 'tar'), nodePath)
  t.ok(expected.size > 0)
  for (const [path, entry] of expected) if (entry.kind === 'file') t.same(readFileSync(path), entry.content, `${path.slice(root.length)} unpacked`)
  t.ok(existsSync(join(root, 'C', 'ProgramData', 'edgebundle', 'state', 'journal')), 'the journal is at C:\\ProgramData\\edgebundle\\state')

  // Windows reports no Unix modes, and its step ids hold spaces (write-file:C:\Program Files\...): a
  // second run must still change nothing, and rollback must still read every record.
  const second = events(t, run(['--root', root]), 'install.exe again')
  t.equal(changed(second), 0, 'a second run changes nothing')
  const undone = events(t, run(['rollback', '--root', root]), 'install.exe rollback')
  t.equal(undone.filter((e) => e.event === 'rolled-back').length, 1, 'one run rolled back')
  t.same(snapshot(root), before, "rolled back to the prior tree: the image's own config is back")
})
