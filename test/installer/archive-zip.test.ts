/**
 * Zip component archives (install-archive with format zip, a Windows plan's kind) in the installer's
 * archive reader: the tree Info-ZIP's unzip makes from an archive Info-ZIP's zip made, --strip applied,
 * and hostile or damaged archives refused by the same rules as a tar before anything is written.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ArchiveError, UnsafeArchiveError, archivesOfPlan, extractArchive, indexArchive, scanArchive } from '../../src/installer/archive/index.js'
import type { Plan } from '../../src/model/plan.js'
import { windowsPlan } from '../fixtures/plans.js'
import { fileContents } from '../fixtures/tree.js'
import { zipBytes } from '../fixtures/zip.js'

const haveZip = spawnSync('zip', ['-v']).status === 0 && spawnSync('unzip', ['-v']).status === 0

function run(command: string, args: string[], cwd: string): void {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`)
}


/** A stored zip with exactly these names, as no zip tool would write the hostile ones; without a mode, as made on Windows. */
const rawZip = (entries: { name: string; data?: string; unixMode?: number }[]): Buffer =>
  zipBytes(entries.map(({ name, data, unixMode }) => ({ name, content: data ?? '', unixMode: unixMode ?? null })))

t.test('a zip made by Info-ZIP unpacks to the tree unzip makes, with --strip', { skip: !haveZip && 'zip and unzip are not installed' }, async (t) => {
  const work = t.testdir()
  const source = join(work, 'src', 'cni-plugins')
  mkdirSync(join(source, 'bin'), { recursive: true })
  writeFileSync(join(source, 'bin', 'host-local.exe'), 'host-local\n')
  writeFileSync(join(source, 'bin', 'nat.exe'), 'x'.repeat(100_000))
  writeFileSync(join(source, 'LICENSE'), 'Apache-2.0\n')
  const zipFile = join(work, 'cni.zip')
  run('zip', ['-r', '-X', '-q', zipFile, 'cni-plugins'], join(work, 'src'))
  const oracle = join(work, 'unzip')
  mkdirSync(oracle)
  run('unzip', ['-q', zipFile, '-d', oracle], work)

  const into = join(work, 'into')
  mkdirSync(into)
  const members = await extractArchive(zipFile, 'zip', 1, into)
  t.same(fileContents(into), fileContents(join(oracle, 'cni-plugins')), 'the same files, the top folder stripped')
  t.same(members.map((m) => `${m.type} ${m.name}`).sort(), ['dir bin', 'file LICENSE', 'file bin/host-local.exe', 'file bin/nat.exe'].sort())
  t.same(await scanArchive(zipFile, 'zip', 1), members, 'a scan sees the same members')
  const indexed = await indexArchive(zipFile, 'zip', 1)
  t.equal(indexed.find((m) => m.name === 'bin/nat.exe')?.sha256, createHash('sha256').update('x'.repeat(100_000)).digest('hex'), 'indexed with digests')
})

t.test('a Windows zip without Unix modes: files 0644, folders 0755', async (t) => {
  const file = join(t.testdir(), 'win.zip')
  writeFileSync(file, rawZip([{ name: 'tool/' }, { name: 'tool/a.exe', data: 'a' }]))
  const members = await scanArchive(file, 'zip', 0)
  t.same(members, [
    { name: 'tool', type: 'dir', mode: 0o755, size: 0 },
    { name: 'tool/a.exe', type: 'file', mode: 0o644, size: 1 },
  ])
})

t.test('hostile and damaged zips are refused before anything is written', async (t) => {
  const dir = t.testdir()
  const cases: [string, Buffer, RegExp, typeof ArchiveError][] = [
    ['zip-slip', rawZip([{ name: 'ok', data: 'ok' }, { name: '../x', data: 'x' }]), /member \.\.\/x contains \.\./, UnsafeArchiveError],
    ['absolute', rawZip([{ name: '/etc/x', data: 'x' }]), /is absolute/, UnsafeArchiveError],
    ['backslash', rawZip([{ name: 'a\\..\\x', data: 'x' }]), /has a backslash/, UnsafeArchiveError],
    ['a symlink out', rawZip([{ name: 'link', data: '../../etc', unixMode: 0o120777 }]), /link/, UnsafeArchiveError],
    ['a device', rawZip([{ name: 'dev', unixMode: 0o020644 }]), /only files, directories and links/, UnsafeArchiveError],
    ['truncated', rawZip([{ name: 'a', data: 'abc' }]).subarray(0, 40), /cannot read the archive/, ArchiveError],
  ]
  for (const [title, bytes, message, kind] of cases) {
    const file = join(dir, `${title}.zip`)
    writeFileSync(file, bytes)
    const into = join(dir, `${title}-into`)
    mkdirSync(into)
    await t.rejects(extractArchive(file, 'zip', 0, into), kind, title)
    await t.rejects(scanArchive(file, 'zip', 0), { message }, `${title}: ${message}`)
    t.same(readdirSync(into), [], `${title}: nothing written`)
  }
})

t.test("a plan's zip archives are checked with the others before any step", async (t) => {
  const plan: Plan = windowsPlan()
  t.ok(archivesOfPlan(plan).some((a) => a.format === 'zip'), 'archivesOfPlan lists the zip')
})
