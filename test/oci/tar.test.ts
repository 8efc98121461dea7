/**
 * The tar writer against GNU tar (it must read what we write, metadata included), and the reader against
 * hostile archives: traversal, absolute paths, links, devices, duplicates, truncation, compression.
 * Needs only GNU tar, which every Debian has.
 */
import { execFileSync } from 'node:child_process'
import { createWriteStream, mkdirSync, readFileSync, symlinkSync, writeFileSync, linkSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { UsageError } from '../../src/model/errors.js'
import { readImageArchive } from '../../src/oci/archive.js'
import { IntegrityError } from '../../src/oci/errors.js'
import { TarFile, TarWriter, listTar } from '../../src/oci/tar.js'

async function writeTar(path: string, build: (tar: TarWriter) => Promise<void>, mtime = 0): Promise<{ size: number; sha256: string }> {
  const out = createWriteStream(path)
  const tar = new TarWriter(out, { mtime })
  await build(tar)
  const result = await tar.finish()
  await new Promise<void>((done, fail) => out.end((e?: Error | null) => (e ? fail(e) : done())))
  return result
}

const tarList = (file: string) => execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', file], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } })

t.test('GNU tar reads what TarWriter writes, long names and metadata included', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'a.tar')
  const longName = `deep/${'x'.repeat(150)}/file.txt`
  const big = Buffer.alloc(70_000, 7)
  const result = await writeTar(
    file,
    async (tar) => {
      await tar.directory('deep')
      await tar.file('deep/hello.txt', 6, Buffer.from('hello\n'))
      await tar.file(longName, big.length, Readable.from([big.subarray(0, 1000), big.subarray(1000)]))
      await tar.file('empty', 0, Buffer.alloc(0))
    },
    1_700_000_000,
  )
  const bytes = readFileSync(file)
  t.equal(result.size, bytes.length)
  t.equal(bytes.length % 512, 0)
  const listing = tarList(file)
  t.match(listing, /^drwxr-xr-x 0\/0 +0 2023-11-14 22:13:20 deep\/$/m)
  t.match(listing, /^-rw-r--r-- 0\/0 +6 2023-11-14 22:13:20 deep\/hello\.txt$/m)
  t.match(listing, new RegExp(`^-rw-r--r-- 0/0 +70000 .* ${longName}$`, 'm'), 'pax path for a name over 100 bytes')
  const out = join(dir, 'x')
  mkdirSync(out)
  execFileSync('tar', ['-xf', file, '-C', out])
  t.ok(readFileSync(join(out, longName)).equals(big))
  t.equal(readFileSync(join(out, 'deep/hello.txt'), 'utf8'), 'hello\n')

  const entries = await listTar(file)
  t.same(
    entries.map((e) => [e.path, e.type, e.size]),
    [
      ['deep', 'directory', 0],
      ['deep/hello.txt', 'file', 6],
      [longName, 'file', 70_000],
      ['empty', 'file', 0],
    ],
  )
  const reader = await TarFile.open(file)
  t.equal((await reader.read(entries[1]!, 100)).toString(), 'hello\n')
  await reader.close()
})

t.test('TarWriter refuses a source that does not match its declared size', async (t) => {
  const dir = t.testdir()
  await t.rejects(writeTar(join(dir, 'b.tar'), (tar) => tar.file('f', 10, Readable.from([Buffer.alloc(5)]))), /declared 10 bytes but its source gave 5/)
  await t.rejects(writeTar(join(dir, 'c.tar'), (tar) => tar.file('f', 3, Readable.from([Buffer.alloc(5)]))), /gave more/)
})

t.test('the reader refuses hostile and broken archives', async (t) => {
  const dir = t.testdir()
  const expectUsage = async (file: string, pattern: RegExp, name: string) => {
    const error = await listTar(file).catch((e: unknown) => e)
    t.type(error, UsageError, name)
    t.match((error as Error).message, pattern, name)
  }

  const traversal = join(dir, 'traversal.tar')
  await writeTar(traversal, (tar) => tar.file('blobs/../../etc/passwd', 1, Buffer.from('x')))
  await expectUsage(traversal, /unsafe path .*"\.\." component/, 'traversal')

  const absolute = join(dir, 'absolute.tar')
  await writeTar(absolute, (tar) => tar.file('/etc/passwd', 1, Buffer.from('x')))
  await expectUsage(absolute, /unsafe path "\/etc\/passwd" \(absolute path\)/, 'absolute path')

  const src = join(dir, 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'file'), 'data')
  symlinkSync('../../etc/passwd', join(src, 'escape'))
  const escaping = join(dir, 'escape.tar')
  execFileSync('tar', ['-cf', escaping, '-C', src, 'file', 'escape'])
  await expectUsage(escaping, /symbolic link "escape" -> "\.\.\/\.\.\/etc\/passwd" that points outside the archive/, 'escaping symlink')

  symlinkSync('/etc/hostname', join(src, 'abs-link'))
  const absLink = join(dir, 'abs-link.tar')
  execFileSync('tar', ['-cf', absLink, '-C', src, 'file', 'abs-link'])
  await expectUsage(absLink, /points outside the archive/, 'absolute symlink')

  symlinkSync('missing', join(src, 'dangling'))
  const dangling = join(dir, 'dangling.tar')
  execFileSync('tar', ['-cf', dangling, '-C', src, 'file', 'dangling'])
  await expectUsage(dangling, /does not point at a regular file/, 'dangling symlink')

  mkdirSync(join(src, 'sub'))
  symlinkSync('../file', join(src, 'sub', 'alias'))
  const confined = join(dir, 'confined.tar')
  execFileSync('tar', ['-cf', confined, '-C', src, 'sub/alias', 'file'])
  const aliased = await listTar(confined)
  const alias = aliased.find((e) => e.path === 'sub/alias')!
  const target = aliased.find((e) => e.path === 'file')!
  t.same([alias.offset, alias.size], [target.offset, target.size], 'a confined symlink (as docker save writes) is an alias of its target')

  linkSync(join(src, 'file'), join(src, 'hard'))
  const hard = join(dir, 'hard.tar')
  execFileSync('tar', ['-cf', hard, '-C', src, 'file', 'hard'])
  await expectUsage(hard, /holds a hard link: "hard"/, 'hard link')

  const fifo = join(dir, 'fifo.tar')
  execFileSync('mkfifo', [join(src, 'pipe')])
  execFileSync('tar', ['-cf', fifo, '-C', src, 'pipe'])
  await expectUsage(fifo, /holds a FIFO/, 'fifo')

  const dup = join(dir, 'dup.tar')
  execFileSync('tar', ['-cf', dup, '-C', src, 'file'])
  execFileSync('tar', ['-rf', dup, '-C', src, 'file'])
  await expectUsage(dup, /holds "file" twice/, 'duplicate')

  const notTar = join(dir, 'not.tar')
  writeFileSync(notTar, Buffer.alloc(2048, 0x41))
  await expectUsage(notTar, /is not a tar archive/, 'not a tar')

  const good = join(dir, 'good.tar')
  await writeTar(good, (tar) => tar.file('big', 5000, Buffer.alloc(5000, 1)))
  const truncated = join(dir, 'truncated.tar')
  writeFileSync(truncated, readFileSync(good).subarray(0, 2048))
  const error = await listTar(truncated).catch((e: unknown) => e)
  t.type(error, IntegrityError, 'truncated')
  t.match((error as Error).message, /truncated/)

  const corrupt = join(dir, 'corrupt.tar')
  const bytes = Buffer.concat([readFileSync(good).subarray(0, 512 * 11), readFileSync(good).subarray(0, 512 * 11)])
  bytes[512 * 11 + 10] = 0x5a // second header's name, checksum now wrong
  writeFileSync(corrupt, Buffer.concat([bytes, Buffer.alloc(1024)]))
  const corruptError = await listTar(corrupt).catch((e: unknown) => e)
  t.type(corruptError, IntegrityError, 'bad header checksum')

  const gz = join(dir, 'image.tar.gz')
  writeFileSync(gz, gzipSync(readFileSync(good)))
  const gzError = await readImageArchive(gz).catch((e: unknown) => e)
  t.type(gzError, UsageError)
  t.match((gzError as Error).message, /is gzip-compressed/)

  const plain = await readImageArchive(good).catch((e: unknown) => e)
  t.match((plain as Error).message, /is not an image archive: it has neither index\.json/)

  const missingFile = await readImageArchive(join(dir, 'nope.tar')).catch((e: unknown) => e)
  t.type(missingFile, UsageError)
  t.match((missingFile as Error).message, /no such file/)
})
