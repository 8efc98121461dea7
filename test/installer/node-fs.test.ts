/**
 * hostFs().writeFile: bytes, a copy, and a file given up by its owner (moved when that is the same as
 * copying: same filesystem, one name), each fsynced with the mode asked for.
 */
import { linkSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { hostFs } from '../../src/installer/node-fs.js'

const fs = hostFs()

t.test('bytes and copies: the source stays', async (t) => {
  const dir = t.testdir({ 'source': 'content\n' })
  await fs.writeFile(join(dir, 'a'), Buffer.from('bytes\n'), 0o600)
  t.equal(readFileSync(join(dir, 'a'), 'utf8'), 'bytes\n')
  t.equal(statSync(join(dir, 'a')).mode & 0o7777, 0o600)
  await fs.writeFile(join(dir, 'b'), { file: join(dir, 'source') }, 0o755)
  t.equal(readFileSync(join(dir, 'b'), 'utf8'), 'content\n')
  t.equal(statSync(join(dir, 'b')).mode & 0o7777, 0o755)
  t.ok(existsSync(join(dir, 'source')))
})

t.test('a file given up on the same filesystem is moved, with the mode asked for', { skip: existsSync('/sys/fs/selinux/enforce') && 'SELinux: files are copied' }, async (t) => {
  const dir = t.testdir({ 'source': 'moved\n' })
  const inode = statSync(join(dir, 'source')).ino
  await fs.writeFile(join(dir, 'target'), { file: join(dir, 'source'), move: true }, 0o750)
  t.notOk(existsSync(join(dir, 'source')), 'the source is gone')
  t.equal(statSync(join(dir, 'target')).ino, inode, 'the same file, not a copy')
  t.equal(readFileSync(join(dir, 'target'), 'utf8'), 'moved\n')
  t.equal(statSync(join(dir, 'target')).mode & 0o7777, 0o750)
})

t.test('a file with a second name is copied: moving it would tie the two together', async (t) => {
  const dir = t.testdir({ 'source': 'linked\n' })
  linkSync(join(dir, 'source'), join(dir, 'other-name'))
  await fs.writeFile(join(dir, 'target'), { file: join(dir, 'source'), move: true }, 0o644)
  t.ok(existsSync(join(dir, 'source')))
  t.not(statSync(join(dir, 'target')).ino, statSync(join(dir, 'source')).ino)
  t.equal(readFileSync(join(dir, 'target'), 'utf8'), 'linked\n')
})

const otherDevice = existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(process.cwd()).dev
t.test('across filesystems the file is copied', { skip: !otherDevice && '/dev/shm is not another filesystem here' }, async (t) => {
  const dir = t.testdir()
  const away = mkdtempSync('/dev/shm/edgebundle-test-')
  t.teardown(() => rmSync(away, { recursive: true, force: true }))
  writeFileSync(join(away, 'source'), 'far\n')
  await fs.writeFile(join(dir, 'target'), { file: join(away, 'source'), move: true }, 0o644)
  t.equal(readFileSync(join(dir, 'target'), 'utf8'), 'far\n')
  t.equal(statSync(join(dir, 'target')).mode & 0o7777, 0o644)
})
