/**
 * writeBundleArchive against the real tools: GNU tar and sha256sum on the .tar.gz, unzip on the .zip,
 * gzip on the header; byte-identical output for equal inputs; atomic output; long names.
 * Needs GNU tar, gzip, coreutils and unzip (Debian package "unzip").
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { entriesFromFolder } from '../../src/pack/folder.js'
import { type PackEntry, writeBundleArchive } from '../../src/pack/index.js'
import { planEntries } from '../../src/pack/entries.js'
import { tarChunks } from '../../src/pack/tar.js'
import { BIG_FILE, BIG_SIZE, BUNDLE_NAME, copyBundle, makeBundle, sha256Of, writePseudoRandom } from './fixtures.js'
import { sameBytes } from '../fixtures/files.js'

const MTIME = new Date(1_700_000_000_000) // 2023-11-14 22:13:20 UTC
const utc = { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' }
const run = (command: string, args: string[], cwd?: string) => execFileSync(command, args, { encoding: 'utf8', env: utc, cwd, maxBuffer: 64 * 1024 * 1024 })

t.test('tar.gz: GNU tar extracts it, sha256sum -c passes, metadata is fixed and sorted', async (t) => {
  const dir = t.testdir()
  const root = await makeBundle(join(dir, 'in'))
  const output = join(dir, 'out', `${BUNDLE_NAME}.tar.gz`)
  const result = await writeBundleArchive(await entriesFromFolder(root, BUNDLE_NAME), output, { format: 'tar.gz', mtime: MTIME })
  t.equal(result.output, output)
  t.equal(result.size, statSync(output).size)
  t.equal(result.sha256, sha256Of(output), 'the reported sha256 is the file\'s')
  t.same(readdirSync(join(dir, 'out')), [`${BUNDLE_NAME}.tar.gz`], 'no temporary file left behind')

  const listing = run('tar', ['--numeric-owner', '--full-time', '-tvzf', output]).trimEnd().split('\n')
  const names = listing.map((line) => line.split(/\s+/).slice(5).join(' '))
  t.same(names, [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))), 'entries sorted in byte order')
  t.equal(names[0], `${BUNDLE_NAME}/`, 'the bundle folder comes first')
  t.ok(names.includes(`${BUNDLE_NAME}/artifacts/`) && names.indexOf(`${BUNDLE_NAME}/artifacts/`) < names.indexOf(`${BUNDLE_NAME}/${BIG_FILE}`), 'folders explicit, before their content')
  t.ok(names.includes(`${BUNDLE_NAME}/config/etc/containerd/`))
  for (const line of listing) {
    t.match(line, /^[d-]rw[x-]r-[x-]r-[x-] 0\/0 +\d+ 2023-11-14 22:13:20 /, `uid/gid 0 and the fixed mtime: ${line}`)
  }
  t.match(listing.find((l) => l.endsWith(`${BUNDLE_NAME}/install`)), /^-rwxr-xr-x /)
  t.match(listing.find((l) => l.endsWith(`${BUNDLE_NAME}/README.md`)), /^-rw-r--r-- /)
  t.match(listing.find((l) => l.endsWith(`${BUNDLE_NAME}/${BIG_FILE}`)), new RegExp(` ${BIG_SIZE} `))
  t.match(listing.find((l) => l.endsWith(`${BUNDLE_NAME}/artifacts/`)), /^drwxr-xr-x /)
  // Names (not only numbers) are empty: nothing of the build machine's users leaks in.
  t.match(run('tar', ['-tvzf', output]).split('\n')[0], /^drwxr-xr-x 0\/0 /)

  const extracted = join(dir, 'x')
  mkdirSync(extracted)
  run('tar', ['-xzf', output, '-C', extracted])
  const check = run('sha256sum', ['-c', 'SHA256SUMS'], join(extracted, BUNDLE_NAME))
  t.match(check, new RegExp(`^${BIG_FILE.replace(/\./g, '\\.')}: OK$`, 'm'))
  t.notMatch(check, /FAILED/)
  t.equal(statSync(join(extracted, BUNDLE_NAME, 'install')).mode & 0o777, 0o755, 'the executable stays executable')
  t.equal(statSync(join(extracted, BUNDLE_NAME, 'install.sh')).mode & 0o777, 0o755)
  t.equal(statSync(join(extracted, BUNDLE_NAME, 'plan.json')).mode & 0o777, 0o644)
})

t.test('the gzip header has no time, no name and a fixed OS byte', async (t) => {
  const dir = t.testdir()
  const output = join(dir, 'a.tar.gz')
  await writeBundleArchive([{ path: 'top/hello.txt', mode: 0o644, source: { content: 'hello\n' } }], output, { format: 'tar.gz', mtime: MTIME })
  const header = readFileSync(output).subarray(0, 10)
  t.equal(header.toString('hex'), '1f8b0800000000000003', 'magic, deflate, no flags (no FNAME), MTIME 0, XFL 0, OS 3')
  const verbose = run('gzip', ['-lv', output])
  t.match(verbose, /defla/, 'gzip reads it')
  // gzip -N would restore a stored name and time on decompression: there are none.
  t.notMatch(verbose, /a\.tar\.gz.*a\.tar\.gz/)
  t.equal(run('gzip', ['-t', output]), '')
})

t.test('zip: unzip -t passes, modes and the fixed date survive, sha256sum -c passes on the extracted tree', async (t) => {
  const dir = t.testdir()
  const root = await makeBundle(join(dir, 'in'))
  const output = join(dir, `${BUNDLE_NAME}.zip`)
  const result = await writeBundleArchive(await entriesFromFolder(root, BUNDLE_NAME), output, { format: 'zip', mtime: MTIME })
  t.equal(result.sha256, sha256Of(output))
  const test = run('unzip', ['-t', output])
  t.match(test, /No errors detected in compressed data/)
  const info = run('zipinfo', ['-T', output]).split('\n').filter((line) => /^[d-]r/.test(line))
  const names = info.map((line) => line.split(/\s+/).slice(7).join(' '))
  t.same(names, [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))), 'entries sorted')
  t.equal(names[0], `${BUNDLE_NAME}/`)
  for (const line of info) t.match(line, / unx .* 20231114\.221320 /, `made on Unix, fixed UTC date: ${line}`)
  t.match(info.find((l) => l.endsWith(`${BUNDLE_NAME}/install`)), /^-rwxr-xr-x/)
  t.match(info.find((l) => l.endsWith(`${BUNDLE_NAME}/README.md`)), /^-rw-r--r--/)
  t.match(info.find((l) => l.endsWith(`${BUNDLE_NAME}/artifacts/`)), /^drwxr-xr-x/)

  const extracted = join(dir, 'x')
  mkdirSync(extracted)
  run('unzip', ['-q', output, '-d', extracted])
  t.notMatch(run('sha256sum', ['-c', 'SHA256SUMS'], join(extracted, BUNDLE_NAME)), /FAILED/)
  t.equal(statSync(join(extracted, BUNDLE_NAME, 'install')).mode & 0o777, 0o755)
})

t.test('equal inputs in different folders, with different mtimes, packed at different times: identical bytes', async (t) => {
  const dir = t.testdir()
  const original = await makeBundle(join(dir, 'src'))
  const a = copyBundle(original, join(dir, 'a'), new Date('2001-02-03T04:05:06Z'))
  const b = copyBundle(original, join(dir, 'elsewhere', 'b'), new Date('2024-06-07T08:09:10Z'))
  t.not(statSync(join(a, 'install')).mtimeMs, statSync(join(b, 'install')).mtimeMs)
  for (const format of ['tar.gz', 'zip'] as const) {
    const first = await writeBundleArchive(await entriesFromFolder(a, BUNDLE_NAME), join(dir, `1.${format}`), { format, mtime: MTIME })
    await sleep(1100) // a wall-clock second passes between the two
    // Entries given in another order: the archive must not depend on it.
    const second = await writeBundleArchive((await entriesFromFolder(b, BUNDLE_NAME)).reverse(), join(dir, 'out2', `2.${format}`), { format, mtime: MTIME })
    t.equal(first.sha256, second.sha256, `${format}: same sha256`)
    t.ok(sameBytes(first.output, second.output), `${format}: byte-identical`)
    const other = await writeBundleArchive(await entriesFromFolder(a, BUNDLE_NAME), join(dir, `3.${format}`), { format, mtime: new Date(1_600_000_000_000) })
    t.not(other.sha256, first.sha256, `${format}: the mtime given is what is stored`)
  }
})

t.test('long paths: ustar prefix when it fits, PAX when it must; GNU tar and unzip read both', async (t) => {
  const dir = t.testdir()
  const prefixed = `top/${'p'.repeat(120)}/${'n'.repeat(90)}` // > 100 bytes, splits at a slash
  const pax = `top/${'q'.repeat(210)}` // one 210-byte segment: no split fits
  const entries: PackEntry[] = [
    { path: prefixed, mode: 0o644, source: { content: 'prefixed\n' } },
    { path: pax, mode: 0o755, source: { content: 'pax\n' } },
    { path: 'top/ünïcødé.txt', mode: 0o644, source: { content: 'utf-8\n' } },
  ]
  const tgz = await writeBundleArchive(entries, join(dir, 'long.tar.gz'), { format: 'tar.gz', mtime: MTIME })
  const listing = run('tar', ['--numeric-owner', '-tvzf', tgz.output])
  t.match(listing, new RegExp(`^-rw-r--r-- 0/0 .* ${prefixed}$`, 'm'))
  t.match(listing, new RegExp(`^-rwxr-xr-x 0/0 .* ${pax}$`, 'm'))
  t.match(listing, /top\/ünïcødé\.txt$/m)
  t.notMatch(listing, /PaxHeaders/, 'the PAX header is metadata, not an entry')
  const extracted = join(dir, 'x')
  mkdirSync(extracted)
  run('tar', ['-xzf', tgz.output, '-C', extracted])
  t.equal(readFileSync(join(extracted, pax), 'utf8'), 'pax\n')
  t.equal(readFileSync(join(extracted, prefixed), 'utf8'), 'prefixed\n')

  const zip = await writeBundleArchive(entries, join(dir, 'long.zip'), { format: 'zip', mtime: MTIME })
  t.match(run('unzip', ['-t', zip.output]), /No errors detected/)
})

t.test('independent gzip members concatenated are one valid .tar.gz (the parallel-compression seam)', async (t) => {
  const dir = t.testdir()
  const planned = await planEntries(
    [
      { path: 'top/a.txt', mode: 0o644, source: { content: 'a'.repeat(5000) } },
      { path: 'top/b.txt', mode: 0o755, source: { content: 'b'.repeat(70_000) } },
    ],
    'tar.gz',
  )
  const parts: Buffer[] = []
  for await (const chunk of tarChunks(planned, 1_700_000_000)) parts.push(Buffer.from(chunk))
  const tar = Buffer.concat(parts)
  const cut = 512 * 7
  const file = join(dir, 'members.tar.gz')
  writeFileSync(file, Buffer.concat([gzipSync(tar.subarray(0, cut)), gzipSync(tar.subarray(cut))]))
  t.match(run('tar', ['-tvzf', file]), /top\/b\.txt/)
  const extracted = join(dir, 'x')
  mkdirSync(extracted)
  run('tar', ['-xzf', file, '-C', extracted])
  t.equal(readFileSync(join(extracted, 'top/b.txt'), 'utf8'), 'b'.repeat(70_000))
})

t.test('atomic output: a failure leaves nothing, and an existing archive untouched', async (t) => {
  const dir = t.testdir()
  const output = join(dir, 'bundle.tar.gz')
  writeFileSync(output, 'previous build')
  const missing = writeBundleArchive([{ path: 'top/x', mode: 0o644, source: { file: join(dir, 'nope') } }], output, { format: 'tar.gz', mtime: MTIME })
  await t.rejects(missing, { exitCode: 1, message: /cannot read .*nope \(for top\/x\): ENOENT/ })
  t.equal(readFileSync(output, 'utf8'), 'previous build')
  t.same(readdirSync(dir), ['bundle.tar.gz'])

  // A source that shrinks after planning (which recorded its size) while it streams: the pack fails
  // mid-way, after the temporary file exists.
  const source = join(dir, 'shrinking')
  const original = readFileSync(await makeBigSource(dir))
  for (const format of ['tar.gz', 'zip'] as const) {
    writeFileSync(source, original)
    const entries: PackEntry[] = [
      { path: 'top/a', mode: 0o644, source: { content: 'first' } },
      { path: 'top/b', mode: 0o644, source: { file: source } },
    ]
    const pending = writeBundleArchive(entries, output, { format, mtime: MTIME })
    const temp = await waitFor(() => readdirSync(dir).find((name) => name.endsWith('.tmp')))
    t.match(temp, /^\.bundle\.tar\.gz\.\d+-[0-9a-f]+\.tmp$/, 'a hidden temporary file next to the output')
    writeFileSync(source, 'short')
    await t.rejects(pending, { exitCode: 1, message: /shrank while it was being packed/ }, format)
    t.equal(readFileSync(output, 'utf8'), 'previous build', `${format}: previous output untouched`)
    t.same(readdirSync(dir).sort(), ['big', 'bundle.tar.gz', 'shrinking'], `${format}: temporary file removed`)
  }

  // Success replaces it.
  await writeBundleArchive([{ path: 'top/x', mode: 0o644, source: { content: 'x' } }], output, { format: 'tar.gz', mtime: MTIME })
  t.match(run('tar', ['-tzf', output]), /top\/x/)
})

async function makeBigSource(dir: string): Promise<string> {
  const big = join(dir, 'big')
  await writePseudoRandom(big, BIG_SIZE)
  return big
}

async function waitFor<T>(probe: () => T | undefined): Promise<T> {
  for (;;) {
    const value = probe()
    if (value !== undefined) return value
    await sleep(1)
  }
}

t.test('bad entries are refused before anything is written', async (t) => {
  const dir = t.testdir()
  const output = join(dir, 'x.tar.gz')
  const bad = async (entries: PackEntry[], pattern: RegExp, format: 'tar.gz' | 'zip' = 'tar.gz') => {
    await t.rejects(writeBundleArchive(entries, output, { format, mtime: MTIME }), { message: pattern })
    t.notOk(existsSync(output))
  }
  const content = { content: 'x' }
  await bad([{ path: '../x', mode: 0o644, source: content }], /".." segment/)
  await bad([{ path: '/etc/x', mode: 0o644, source: content }], /absolute/)
  await bad([{ path: 'a//b', mode: 0o644, source: content }], /"" segment/)
  await bad([{ path: 'a\\b', mode: 0o644, source: content }], /backslash/)
  await bad([{ path: 'a/', mode: 0o644, source: content }], /ends with "\/"/)
  await bad([{ path: 'a', mode: 0o644, source: content }, { path: 'a', mode: 0o644, source: content }], /given twice/)
  await bad([{ path: 'a', mode: 0o644, source: content }, { path: 'a/b', mode: 0o644, source: content }], /both a file and a folder/)
  await bad([{ path: 'a', mode: 0o600 as 0o644, source: content }], /mode 600/)
  await bad([{ path: 'top/a:b', mode: 0o644, source: content }], /Windows refuses/, 'zip')
  await bad([{ path: 'top', mode: 0o644, source: { file: dir } }], /not a regular file/)
  await t.rejects(writeBundleArchive([], output, { format: 'tar.gz', mtime: new Date(-1000) }), /between 1970 and 2242/)
})

t.test('entriesFromFolder normalizes modes and refuses links', async (t) => {
  const dir = t.testdir({ top: { 'a.sh': 'x', sub: { 'b.txt': 'y' } }, linked: { target: 'z', link: t.fixture('symlink', 'target') } })
  execFileSync('chmod', ['0700', join(dir, 'top/a.sh')])
  execFileSync('chmod', ['0600', join(dir, 'top/sub/b.txt')])
  const entries = await entriesFromFolder(join(dir, 'top'), 'bundle')
  t.same(
    entries.map((e) => [e.path, e.mode.toString(8)]).sort(),
    [
      ['bundle/a.sh', '755'],
      ['bundle/sub/b.txt', '644'],
    ],
  )
  await t.rejects(entriesFromFolder(join(dir, 'linked'), 'bundle'), /not a regular file or folder/)
})
