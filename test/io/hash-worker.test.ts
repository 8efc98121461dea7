/**
 * The hashing thread: the digests sha256sum gives, errors with their codes, a restart after close; and
 * verification handing it a file above the threshold (the executable's case) while it hashes the rest.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { HashWorker, OFFLOAD_BYTES } from '../../src/io/hash-worker.js'
import { parseSha256Sums, verifyEntries } from '../../src/installer/verify.js'

const sha256sum = (dir: string, name: string) => execFileSync('sha256sum', [name], { cwd: dir, encoding: 'utf8' }).slice(0, 64)

t.test('digests, errors, restart', async (t) => {
  const dir = t.testdir({ small: 'abc', empty: '' })
  writeFileSync(join(dir, 'big'), randomBytes(3 * 1024 * 1024 + 17))
  const worker = new HashWorker()
  t.teardown(() => worker.close())
  t.ok(worker.idle)
  const [small, empty, big] = await Promise.all(['small', 'empty', 'big'].map((name) => worker.hash(join(dir, name))))
  t.same(small, { sha256: sha256sum(dir, 'small'), size: 3 })
  t.same(empty, { sha256: sha256sum(dir, 'empty'), size: 0 })
  t.equal(big!.sha256, sha256sum(dir, 'big'))
  t.equal(big!.size, 3 * 1024 * 1024 + 17)
  await t.rejects(worker.hash(join(dir, 'missing')), { code: 'ENOENT' })
  await t.rejects(worker.hash(dir), { code: 'EISDIR' })
  await worker.close()
  t.equal((await worker.hash(join(dir, 'small'))).sha256, small!.sha256, 'started again after close')
})

t.test('verification hashes a large file on the thread and still finds a mismatch in it', async (t) => {
  const dir = t.testdir({ 'a.txt': 'a\n', 'b.txt': 'b\n' })
  writeFileSync(join(dir, 'large.bin'), randomBytes(OFFLOAD_BYTES + 1))
  const sums = ['a.txt', 'b.txt', 'large.bin'].map((name) => `${sha256sum(dir, name)}  ${name}`).join('\n')
  const good = await verifyEntries(dir, parseSha256Sums(`${sums}\n`).entries)
  t.same(good.problems, [])
  t.equal(good.files, 3)
  t.equal(good.bytes, OFFLOAD_BYTES + 1 + 4)
  writeFileSync(join(dir, 'large.bin'), randomBytes(OFFLOAD_BYTES + 1))
  const bad = await verifyEntries(dir, parseSha256Sums(`${sums}\n`).entries)
  t.match(bad.problems, [{ kind: 'mismatch', path: 'large.bin' }])
})
