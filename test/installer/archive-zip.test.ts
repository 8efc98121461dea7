/**
 * Zip component archives (install-archive with format zip, a Windows plan's kind) in the installer's
 * archive reader: the tree Info-ZIP's unzip makes from an archive Info-ZIP's zip made, --strip applied,
 * and hostile or damaged archives refused by the same rules as a tar before anything is written.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import * as zlib from 'node:zlib'
import t from 'tap'
import { ArchiveError, UnsafeArchiveError, archivesOfPlan, extractArchive, indexArchive, scanArchive } from '../../src/installer/archive/index.js'
import type { Plan } from '../../src/model/plan.js'
import { windowsPlan } from '../fixtures/plans.js'

const haveZip = spawnSync('zip', ['-v']).status === 0 && spawnSync('unzip', ['-v']).status === 0

function run(command: string, args: string[], cwd: string): void {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`)
}

/** Every regular file under `dir`, by relative path, with its content. */
function files(dir: string): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name)
      if (statSync(path).isDirectory()) walk(path)
      else out.set(relative(dir, path), readFileSync(path, 'utf8'))
    }
  }
  walk(dir)
  return out
}

/** A stored (uncompressed) zip with exactly these names, as no zip tool would write the hostile ones. */
function rawZip(entries: { name: string; data?: string; unixMode?: number }[]): Buffer {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8')
    const data = Buffer.from(entry.data ?? '', 'utf8')
    const crc = zlib.crc32(data)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(data.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(name.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE(entry.unixMode === undefined ? 20 : (3 << 8) | 20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(data.length, 20)
    central.writeUInt32LE(data.length, 24)
    central.writeUInt16LE(name.length, 28)
    central.writeUInt32LE(entry.unixMode === undefined ? 0 : (entry.unixMode << 16) >>> 0, 38)
    central.writeUInt32LE(offset, 42)
    locals.push(local, name, data)
    centrals.push(central, name)
    offset += 30 + name.length + data.length
  }
  const directory = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(directory.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, directory, end])
}

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
  t.same(files(into), files(join(oracle, 'cni-plugins')), 'the same files, the top folder stripped')
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
