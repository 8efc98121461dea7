/**
 * The one atomic publish (src/archive/publish.ts): a file appears complete, with its mode, or not at all;
 * the temporary file never stays behind; a rename refused over an existing file (what Windows does to a
 * read-only one, and Linux to an immutable one) succeeds only when the caller says that file is as good.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { publishFile, tempPathFor, writeFileAtomically, writeStreamAtomically } from '../../src/archive/publish.js'

t.test('writes the file with its exact mode, in a folder it creates, and leaves no temporary file', async (t) => {
  const dir = t.testdir()
  const target = join(dir, 'sub', 'file.json')
  await writeFileAtomically(target, '{"a":1}\n', { mode: 0o444 })
  t.equal(readFileSync(target, 'utf8'), '{"a":1}\n')
  t.equal(statSync(target).mode & 0o777, 0o444, 'mode exactly, whatever the umask')
  await writeFileAtomically(target, Buffer.from('second\n'))
  t.equal(readFileSync(target, 'utf8'), 'second\n', 'replaces a read-only file')
  t.equal(statSync(target).mode & 0o777, 0o644, '0644 by default')
  t.same(readdirSync(join(dir, 'sub')), ['file.json'])
  await writeStreamAtomically(join(dir, 'streamed'), (sink) => pipeline(Readable.from([Buffer.from('a'), Buffer.from('b')]), sink), 0o600)
  t.equal(readFileSync(join(dir, 'streamed'), 'utf8'), 'ab')
})

t.test('temporary names are unique, beside the target, and name the writer', async (t) => {
  const a = tempPathFor('/x/y/out.tar')
  t.match(a, new RegExp(`^/x/y/\\.out\\.tar\\.${process.pid}-[0-9a-f]{12}\\.tmp$`))
  t.not(a, tempPathFor('/x/y/out.tar'))
})

t.test('a failed rename removes the temporary file and leaves the target as it was', async (t) => {
  const dir = t.testdir({ target: { inside: 'a folder is in the way' } })
  const temp = join(dir, 'temp')
  writeFileSync(temp, 'new')
  await t.rejects(publishFile(temp, join(dir, 'target')), { code: 'EISDIR' })
  t.same(readdirSync(dir), ['target'])
  writeFileSync(temp, 'new')
  await t.rejects(publishFile(temp, join(dir, 'target'), { existingIsAsGood: async () => true }), { code: 'EISDIR' }, 'only a refusal over an existing file is forgiven')
})

t.test('a rename refused over an existing file: fine only when that file is as good', async (t) => {
  // Not t.testdir: the flag must come off before the folder is removed, in this order.
  const dir = mkdtempSync(join(tmpdir(), 'edgebundle-publish-'))
  const blob = join(dir, 'blob')
  writeFileSync(blob, 'same bytes')
  t.teardown(() => {
    try {
      execFileSync('chattr', ['-i', blob], { stdio: 'ignore' })
    } catch {
      // Never set (no immutable flag here).
    }
    rmSync(dir, { recursive: true, force: true })
  })
  try {
    execFileSync('chattr', ['+i', blob], { stdio: 'ignore' })
  } catch {
    // tmpfs and some overlay file systems have no immutable flag: nothing here can refuse the rename.
    t.comment('skipped: chattr +i is not supported on this file system')
    return
  }
  mkdirSync(join(dir, 'tmp'))
  const temp = join(dir, 'tmp', 'part')
  writeFileSync(temp, 'same bytes')
  await t.rejects(publishFile(temp, blob), { code: 'EPERM' })
  t.same(readdirSync(join(dir, 'tmp')), [], 'removed on failure')
  writeFileSync(temp, 'same bytes')
  await t.rejects(publishFile(temp, blob, { existingIsAsGood: async () => false }), { code: 'EPERM' })
  writeFileSync(temp, 'same bytes')
  await publishFile(temp, blob, { existingIsAsGood: async () => true })
  t.same(readdirSync(join(dir, 'tmp')), [], 'ours is dropped')
  t.equal(readFileSync(blob, 'utf8'), 'same bytes')
})
