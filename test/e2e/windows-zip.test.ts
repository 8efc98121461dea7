/**
 * install.exe under wine unpacks a zip component (install-archive with format zip): the kind install.ps1
 * used to unpack with tar.exe, now carried out by the executable. No shipped Windows component is a zip
 * today, so the plan of a real rendered Windows bundle gets one more step, with an archive Info-ZIP made;
 * unzip is the oracle for what lands where. A second run changes nothing; rollback restores the tree.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Plan } from '../../src/model/plan.js'
import { fileContents } from '../fixtures/tree.js'
import { jsonEvents, writeChecksums } from '../installer/fixtures.js'
import { makeInstallableBundle, snapshot } from '../installer/node-fixtures.js'
import { EXE_TEST_TIMEOUT_MS, WINE64, installerFor, need } from '../sea/fixtures.js'
import { succeeded } from './fixtures.js'
import { wineWithStandIn } from './powershell-stand-in.js'

t.setTimeout(EXE_TEST_TIMEOUT_MS)


t.test('win-x64 executable under wine: a zip component unpacked with --strip, idempotent, rolled back', async (t) => {
  if (!need(t, existsSync(WINE64), `${WINE64} (wine64)`)) return
  if (!need(t, spawnSync('zip', ['-v']).status === 0 && spawnSync('unzip', ['-v']).status === 0, 'zip and unzip')) return
  const exe = await installerFor(t, 'windows/amd64')
  if (!exe) return
  const work = mkdtempSync(join(tmpdir(), 'eb-e2e-winzip-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const bundle = makeInstallableBundle(join(work, 'bundle'), { os: 'windows', arch: 'amd64', runtime: 'containerd' }, work)

  // The zip, as an upstream Windows release would ship it: one top folder, the tools below it.
  const source = join(work, 'zip-src', 'tools-v1.0.0')
  mkdirSync(join(source, 'bin'), { recursive: true })
  writeFileSync(join(source, 'bin', 'tool.exe'), 'a tool\n')
  writeFileSync(join(source, 'README.txt'), 'read me\n')
  mkdirSync(join(bundle.dir, 'artifacts'), { recursive: true })
  const zipFile = join(bundle.dir, 'artifacts', 'tools-v1.0.0-windows-amd64.zip')
  t.equal(spawnSync('zip', ['-r', '-X', '-q', zipFile, 'tools-v1.0.0'], { cwd: join(work, 'zip-src') }).status, 0)
  const oracle = join(work, 'oracle')
  t.equal(spawnSync('unzip', ['-q', zipFile, '-d', oracle]).status, 0)

  const dest = 'C:\\Program Files\\edgebundle-test-tools'
  const plan: Plan = bundle.plan
  const at = plan.steps.findIndex((step) => step.kind === 'write-file')
  plan.steps.splice(at, 0, {
    kind: 'install-archive',
    id: 'install-tools',
    description: 'install the tools from a zip',
    component: 'tools',
    file: 'artifacts/tools-v1.0.0-windows-amd64.zip',
    format: 'zip',
    dest,
    strip: 1,
  })
  writeFileSync(join(bundle.dir, 'plan.json'), `${JSON.stringify(plan, null, 2)}\n`)
  copyFileSync(exe.path, join(bundle.dir, 'install.exe'))
  writeChecksums(bundle.dir)

  const { wine, cwd } = await wineWithStandIn(t, work)
  const run = (args: string[]) => wine.run(join(bundle.dir, 'install.exe'), [...args, '--json'], cwd)
  const changed = (stdout: string) => (jsonEvents(stdout).find((e) => e.event === 'done') as { changed?: number } | undefined)?.changed

  const root = join(work, 'root')
  mkdirSync(root)
  const before = snapshot(root)
  const first = run(['--root', root])
  succeeded(t, first, 'install.exe --root with a zip step')
  const zipStep = jsonEvents(first.stdout).find((e) => e.event === 'step-done' && e.id === 'install-tools') as { changed?: number } | undefined
  t.ok((zipStep?.changed ?? 0) >= 3, `the zip step made its changes (${zipStep?.changed}: its folders and two files)`)
  t.same(fileContents(join(root, 'C', 'Program Files', 'edgebundle-test-tools')), fileContents(join(oracle, 'tools-v1.0.0')), "what unzip unpacks, the zip's top folder stripped")

  const second = run(['--root', root])
  succeeded(t, second, 'install.exe again')
  t.equal(changed(second.stdout), 0, 'a second run changes nothing')
  succeeded(t, run(['rollback', '--root', root]), 'install.exe rollback')
  t.same(snapshot(root), before, 'rolled back to the prior tree')

  // A zip that would climb out of its folder stops the install before anything changes (exit 3).
  const hostile = join(work, 'hostile')
  mkdirSync(join(hostile, 'a'), { recursive: true })
  writeFileSync(join(hostile, 'x'), 'x\n')
  rmSync(zipFile)
  t.equal(spawnSync('zip', ['-q', zipFile, '../x'], { cwd: join(hostile, 'a') }).status, 0)
  writeChecksums(bundle.dir)
  const refused = run(['--root', root])
  t.equal(refused.code, 3, 'exit 3')
  t.match(refused.stdout + refused.stderr, /contains \.\./)
  t.same(snapshot(root), before, 'and nothing was changed')
})
