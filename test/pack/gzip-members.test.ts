/**
 * The .tar.gz as independent gzip members compressed in parallel, and the cache of large files' members:
 * the same bytes whatever the number of workers and whatever the cache holds; gzip and GNU tar read the
 * result; a warm pack copies cached members instead of compressing; a damaged entry is caught and
 * replaced, never shipped. Small members (64 KiB) so a few MB make many of them. No timing anywhere.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { type GzipOptions, GzipMemberCache, type PackEntry, type PackResult, writeBundleArchive } from '../../src/pack/index.js'
import { ENTRY_HEADER_SIZE } from '../../src/pack/member-cache.js'
import { sha256Of, writePseudoRandom } from './fixtures.js'

const MTIME = new Date(1_700_000_000_000)
const MEMBER = 64 * 1024
const run = (command: string, args: string[], cwd?: string) => execFileSync(command, args, { encoding: 'utf8', cwd, maxBuffer: 64 * 1024 * 1024 })

interface Inputs {
  entries: PackEntry[]
  /** Archive path → sha256 of the content. */
  expected: Map<string, string>
}

/** Large files (incompressible, compressible, an exact multiple of the member size), small ones, in-memory ones. */
async function inputs(dir: string): Promise<Inputs> {
  mkdirSync(dir, { recursive: true })
  const random = join(dir, 'random.bin')
  await writePseudoRandom(random, 5 * MEMBER + 1234)
  const text = join(dir, 'text.txt')
  writeFileSync(text, Array.from({ length: 40_000 }, (_, i) => `line ${i}: the quick brown fox ${i % 97}\n`).join(''))
  const exact = join(dir, 'exact.bin')
  await writePseudoRandom(exact, 3 * MEMBER)
  const small = join(dir, 'small.sh')
  writeFileSync(small, '#!/bin/sh\necho small\n')
  const entries: PackEntry[] = [
    { path: 'b/artifacts/random.bin', mode: 0o644, source: { file: random }, sha256: sha256Of(random) },
    { path: 'b/install', mode: 0o755, source: { file: text }, sha256: sha256Of(text) },
    { path: 'b/images/exact.bin', mode: 0o644, source: { file: exact }, sha256: sha256Of(exact) },
    { path: 'b/install.sh', mode: 0o755, source: { file: small }, sha256: sha256Of(small) },
    { path: 'b/plan.json', mode: 0o644, source: { content: '{"steps":[]}\n'.repeat(9000) } },
    { path: 'b/README.md', mode: 0o644, source: { content: '# b\n' } },
  ]
  const expected = new Map<string, string>()
  for (const entry of entries) {
    const bytes = 'file' in entry.source ? readFileSync(entry.source.file) : Buffer.from(entry.source.content)
    expected.set(entry.path, createHash('sha256').update(bytes).digest('hex'))
  }
  return { entries, expected }
}

async function pack(entries: PackEntry[], output: string, gzip: GzipOptions): Promise<PackResult & { bytes: Buffer }> {
  const result = await writeBundleArchive(entries, output, { format: 'tar.gz', mtime: MTIME, gzip: { memberSize: MEMBER, ...gzip } })
  return { ...result, bytes: readFileSync(output) }
}

/** Cache entries (the members of one file each), by name. */
function cacheEntries(cacheRoot: string): string[] {
  const dir = join(cacheRoot, 'gzip-members')
  return existsSync(dir) ? readdirSync(dir).filter((name) => !name.startsWith('.')).sort() : []
}

t.test('the same bytes for 1, 2, 3 and 8 workers, run after run; gzip -t, tar -t and tar -x accept them', async (t) => {
  const dir = t.testdir()
  const { entries, expected } = await inputs(join(dir, 'in'))
  const reference = await pack(entries, join(dir, 'w1.tar.gz'), { workers: 1 })
  t.ok(reference.gzip!.members > 10, `many members (${reference.gzip!.members})`)
  t.equal(reference.gzip!.compressed, reference.gzip!.members, 'no cache: every member compressed')
  for (const workers of [2, 3, 8, 8, 2]) {
    const again = await pack(entries, join(dir, `w${workers}.tar.gz`), { workers })
    t.ok(again.bytes.equals(reference.bytes), `${workers} workers: byte-identical`)
    t.equal(again.sha256, reference.sha256)
  }

  const file = reference.output
  t.equal(run('gzip', ['-t', file]), '', 'gzip -t accepts it')
  const names = run('tar', ['-tzf', file]).trim().split('\n')
  t.same(names, ['b/', 'b/README.md', 'b/artifacts/', 'b/artifacts/random.bin', 'b/images/', 'b/images/exact.bin', 'b/install', 'b/install.sh', 'b/plan.json'])
  const extracted = join(dir, 'x')
  mkdirSync(extracted)
  run('tar', ['-xzf', file, '-C', extracted])
  for (const [path, sha256] of expected) t.equal(sha256Of(join(extracted, path)), sha256, `${path}: the same bytes back`)

  // Every member has the fixed header (no time, no name, OS Unix), the first one included.
  t.equal(reference.bytes.subarray(0, 10).toString('hex'), '1f8b0800000000000003')
  t.ok(reference.bytes.indexOf(Buffer.from('1f8b0800000000000003', 'hex'), 10) > 0, 'a second member follows the first')
})

t.test('packs side by side in one process with a cold cache compress each large file once (a matrix build)', async (t) => {
  const dir = t.testdir()
  const { entries } = await inputs(join(dir, 'in'))
  const cacheRoot = join(dir, 'cache')
  const plain = await pack(entries, join(dir, 'plain.tar.gz'), { workers: 2 })
  // Each its own cache object on one folder, as each target of `build --all` opens its own.
  const side = await Promise.all([1, 2, 3].map((n) => pack(entries, join(dir, `side-${n}.tar.gz`), { workers: 2, cache: new GzipMemberCache(cacheRoot) })))
  for (const [index, result] of side.entries()) t.ok(result.bytes.equals(plain.bytes), `pack ${index + 1}: the same bytes`)
  t.same(side.map((result) => result.gzip!.cachedFiles).sort(), [0, 0, 3], 'one pack compressed and cached the three large files')
  t.same(side.map((result) => result.gzip!.reusedFiles).sort(), [0, 3, 3], 'the other two waited and copied them')
  t.equal(cacheEntries(cacheRoot).length, 3)

  // One pack holding the same large content twice waits for nobody: it compresses the second copy too.
  const twice: PackEntry[] = [...entries, { ...entries[0]!, path: 'b/artifacts/random-again.bin' }]
  const fresh = join(dir, 'cache-twice')
  const both = await pack(twice, join(dir, 'twice.tar.gz'), { workers: 2, cache: new GzipMemberCache(fresh) })
  t.equal(both.gzip!.reusedFiles, 0)
  t.equal(cacheEntries(fresh).length, 3, 'the repeated file is one entry')

  // Only an earlier pack is waited for: two packs sharing two files in opposite orders never wait on each
  // other in a circle (each would hold the entry the other waits for).
  const rules = new GzipMemberCache(join(dir, 'cache-rules'))
  const parameters = { level: 6, memberSize: MEMBER }
  const [x, y] = ['a'.repeat(64), 'b'.repeat(64)]
  const earlier = await rules.claim(x, 1, parameters, 1).open()
  const later = await rules.claim(y, 1, parameters, 2).open()
  t.ok(rules.busyWriting(x, 1, parameters, 2) instanceof Promise, 'a later pack waits for an earlier one')
  t.equal(rules.busyWriting(y, 1, parameters, 1), undefined, 'an earlier pack never waits for a later one')
  t.equal(rules.busyWriting(x, 1, parameters, 1), undefined, 'nor for itself')
  await earlier.discard()
  t.equal(rules.busyWriting(x, 1, parameters, 2), undefined, 'a discarded entry is nobody\'s')
  await later.discard()
})

t.test('a pack waits while another process writes the same entry and copies it, even while writing its own; a dead, stale or own claim is not waited for', async (t) => {
  const dir = t.testdir()
  const { entries } = await inputs(join(dir, 'in'))
  const plain = await pack(entries, join(dir, 'plain.tar.gz'), { workers: 2 })
  // The entries the other process publishes, made beforehand in a cache of their own.
  const elsewhere = join(dir, 'elsewhere')
  await pack(entries, join(dir, 'elsewhere.tar.gz'), { workers: 2, cache: new GzipMemberCache(elsewhere) })
  // In archive order (by path), the order a pack reaches them in.
  const large = entries.filter((entry) => 'file' in entry.source && statSync(entry.source.file).size >= MEMBER).sort((a, b) => (a.path < b.path ? -1 : 1))
  t.equal(large.length, 3)
  const other = spawn('sleep', ['300'], { stdio: 'ignore' })
  t.teardown(() => void other.kill())
  const dead = spawnSync('true').pid

  /** The temporary file a writer of `pid` has for each large file's entry, as GzipMemberCache.writer names it. */
  const claim = (cacheRoot: string, pid: number, modified = new Date()) =>
    large.map((entry) => {
      const key = new GzipMemberCache(cacheRoot).key(entry.sha256!, statSync((entry.source as { file: string }).file).size, { level: 6, memberSize: MEMBER })
      mkdirSync(join(cacheRoot, 'gzip-members'), { recursive: true })
      const path = join(cacheRoot, 'gzip-members', `.${key}.${pid}-0123456789ab.tmp`)
      writeFileSync(path, '')
      utimesSync(path, modified, modified)
      return { key, path }
    })

  // A live process is writing all three: the pack waits; each entry appears only once it waits for it.
  const shared = join(dir, 'shared')
  const claims = claim(shared, other.pid!)
  const waitedFor: number[] = []
  const waiting = new GzipMemberCache(shared, {
    stallMs: 600_000,
    onWait: (pid) => {
      waitedFor.push(pid)
      const { key, path } = claims[waitedFor.length - 1]!
      mkdirSync(join(shared, 'gzip-members'), { recursive: true })
      copyFileSync(join(elsewhere, 'gzip-members', key), join(shared, 'gzip-members', key))
      unlinkSync(path)
    },
  })
  const copied = await pack(entries, join(dir, 'copied.tar.gz'), { workers: 2, cache: waiting })
  t.same(waitedFor, [other.pid, other.pid, other.pid], 'it waited for the other process, once per file')
  t.equal(copied.gzip!.reusedFiles, 3, 'and copied what that process wrote')
  t.equal(copied.gzip!.cachedFiles, 0, 'compressing nothing large itself')
  t.ok(copied.bytes.equals(plain.bytes), 'the same bytes')

  // A writer that died, one that has not written for stallMs, and one of this very process: not waited for.
  const noWait = (cacheRoot: string, stallMs = 600_000) => new GzipMemberCache(cacheRoot, { stallMs, onWait: (pid) => t.fail(`waited for ${pid}`) })
  const deadClaims = claim(join(dir, 'dead'), dead!)
  claim(join(dir, 'stale'), other.pid!, new Date(Date.now() - 120_000))
  claim(join(dir, 'own'), process.pid)
  for (const name of ['dead', 'stale', 'own']) {
    const result = await pack(entries, join(dir, `${name}.tar.gz`), { workers: 2, cache: noWait(join(dir, name), 60_000) })
    t.equal(result.gzip!.cachedFiles, 3, `${name} claims: the pack compressed the three files itself`)
    t.ok(result.bytes.equals(plain.bytes))
  }
  t.same(deadClaims.filter(({ path }) => existsSync(path)), [], 'and removed what the dead writer left')

  // Two processes with the same files in opposite orders: this pack writes the first file's entry and waits
  // for the other process's second file, and that process finishes its file only once this pack's first
  // entry is in place. The entry completes while its pack waits, so neither waits forever.
  const crossed = join(dir, 'crossed')
  const [mine, theirs, third] = claim(crossed, other.pid!)
  for (const unclaimed of [mine!, third!]) unlinkSync(unclaimed.path)
  let sawMineWhileWaiting = false
  const crossing = new GzipMemberCache(crossed, {
    stallMs: 600_000,
    onWait: () => {
      void (async () => {
        for (let tries = 0; tries < 200 && !existsSync(join(crossed, 'gzip-members', mine!.key)); tries++) await new Promise((resolve) => setTimeout(resolve, 50))
        sawMineWhileWaiting = existsSync(join(crossed, 'gzip-members', mine!.key))
        copyFileSync(join(elsewhere, 'gzip-members', theirs!.key), join(crossed, 'gzip-members', theirs!.key))
        unlinkSync(theirs!.path)
      })()
    },
  })
  const both = await pack(entries, join(dir, 'crossed.tar.gz'), { workers: 2, cache: crossing })
  t.ok(sawMineWhileWaiting, 'the first file\'s entry was published while its pack waited for the second')
  t.equal(both.gzip!.reusedFiles, 1, 'the second file copied from the other process')
  t.equal(both.gzip!.cachedFiles, 2, 'the first and third compressed and cached here')
  t.ok(both.bytes.equals(plain.bytes))
})

t.test('a warm pack copies cached members: nothing large is compressed again, and the bytes do not change', async (t) => {
  const dir = t.testdir()
  const { entries } = await inputs(join(dir, 'in'))
  const cacheRoot = join(dir, 'cache')
  const plain = await pack(entries, join(dir, 'plain.tar.gz'), { workers: 2 })

  const cold = await pack(entries, join(dir, 'cold.tar.gz'), { workers: 2, cache: new GzipMemberCache(cacheRoot) })
  t.ok(cold.bytes.equals(plain.bytes), 'a cold cache changes nothing in the output')
  // random.bin, text (install) and exact.bin are at least one member long; install.sh is not.
  t.equal(cold.gzip!.cachedFiles, 3, 'the three large files are cached')
  t.equal(cold.gzip!.reusedFiles, 0)
  t.equal(cacheEntries(cacheRoot).length, 3)
  t.same(readdirSync(join(cacheRoot, 'gzip-members')).filter((name) => name.startsWith('.')), [], 'no temporary files left')

  const warm = await pack(entries, join(dir, 'warm.tar.gz'), { workers: 3, cache: new GzipMemberCache(cacheRoot) })
  t.ok(warm.bytes.equals(plain.bytes), 'a warm cache changes nothing in the output')
  t.equal(warm.gzip!.reusedFiles, 3, 'all three copied')
  t.equal(warm.gzip!.cachedFiles, 0, 'nothing new to cache')
  t.equal(warm.gzip!.members, plain.gzip!.members, 'the same members')
  t.ok(warm.gzip!.compressed < plain.gzip!.members / 2, `only the small rest compressed (${warm.gzip!.compressed} of ${warm.gzip!.members})`)

  // The members of a file do not depend on where it sits: another archive with the file elsewhere reuses them.
  const moved: PackEntry[] = [
    { path: 'other/a-first.txt', mode: 0o644, source: { content: 'x'.repeat(777) } },
    { ...entries[0]!, path: 'other/deep/er/random.bin' },
  ]
  const elsewhere = await pack(moved, join(dir, 'moved.tar.gz'), { workers: 1, cache: new GzipMemberCache(cacheRoot) })
  t.equal(elsewhere.gzip!.reusedFiles, 1, 'reused at another offset, under another name')
  const fresh = await pack(moved, join(dir, 'moved-plain.tar.gz'), { workers: 1 })
  t.ok(elsewhere.bytes.equals(fresh.bytes), 'and identical to compressing it there')
  t.equal(run('gzip', ['-t', elsewhere.output]), '')

  // Other parameters are other entries, never a mix.
  const level9 = await pack(entries, join(dir, 'l9.tar.gz'), { workers: 2, level: 9, cache: new GzipMemberCache(cacheRoot) })
  t.equal(level9.gzip!.reusedFiles, 0, 'level 9 does not reuse level 6 members')
  t.equal(cacheEntries(cacheRoot).length, 6)
})

t.test('the cache keeps to its budget, dropping the least recently used entries', async (t) => {
  const dir = t.testdir()
  const { entries } = await inputs(join(dir, 'in'))
  const cacheRoot = join(dir, 'cache')
  const roomy = await pack(entries, join(dir, 'a.tar.gz'), { cache: new GzipMemberCache(cacheRoot) })
  t.equal(roomy.gzip!.cachedFiles, 3)
  const sizes = cacheEntries(cacheRoot).map((name) => statSync(join(cacheRoot, 'gzip-members', name)).size)
  // Room for the largest entry only: each new entry pushes out the older ones.
  const tight = new GzipMemberCache(cacheRoot, { budgetBytes: Math.max(...sizes) })
  const level9 = await pack(entries, join(dir, 'b.tar.gz'), { level: 9, cache: tight })
  t.equal(level9.gzip!.cachedFiles, 3, 'three new entries written')
  t.equal(cacheEntries(cacheRoot).length, 1, 'only the last one written is left')
  const again = await pack(entries, join(dir, 'c.tar.gz'), { level: 9, cache: tight })
  t.equal(again.gzip!.reusedFiles + again.gzip!.cachedFiles, 3, 'what is gone is compressed again, the rest reused')
  t.ok(again.bytes.equals(level9.bytes))
})

t.test('a damaged cache entry is detected, replaced and never shipped', async (t) => {
  const dir = t.testdir()
  const { entries } = await inputs(join(dir, 'in'))
  const cacheRoot = join(dir, 'cache')
  const plain = await pack(entries, join(dir, 'plain.tar.gz'), { workers: 2 })
  await pack(entries, join(dir, 'cold.tar.gz'), { workers: 2, cache: new GzipMemberCache(cacheRoot) })
  const [first, second] = cacheEntries(cacheRoot).map((name) => join(cacheRoot, 'gzip-members', name))

  // One flipped bit in the member bytes: a well-formed entry that lies.
  chmodSync(first!, 0o644)
  const bytes = readFileSync(first!)
  bytes[ENTRY_HEADER_SIZE + Math.floor((bytes.length - ENTRY_HEADER_SIZE) / 2)]! ^= 0x01
  writeFileSync(first!, bytes)
  // Another one cut short: its size no longer matches its header.
  chmodSync(second!, 0o644)
  truncateSync(second!, ENTRY_HEADER_SIZE + 100)

  const output = join(dir, 'out', 'bundle.tar.gz')
  const repaired = await pack(entries, output, { workers: 2, cache: new GzipMemberCache(cacheRoot) })
  t.ok(repaired.bytes.equals(plain.bytes), 'the archive is what compressing from scratch gives')
  t.equal(repaired.gzip!.evicted, 1, 'the flipped entry was caught while copied, removed and the archive written again')
  // The truncated one is a miss, rewritten in whichever attempt first reached it (before or after the
  // flipped one in the archive): the next pack shows both are good again.
  t.ok(repaired.gzip!.cachedFiles >= 1, 'the flipped entry was written anew')
  t.equal(run('gzip', ['-t', output]), '')
  t.same(readdirSync(join(dir, 'out')), ['bundle.tar.gz'], 'the aborted attempt left nothing behind')

  const again = await pack(entries, join(dir, 'again.tar.gz'), { workers: 2, cache: new GzipMemberCache(cacheRoot) })
  t.equal(again.gzip!.reusedFiles, 3, 'the replaced entries are good')
  t.equal(again.gzip!.evicted, 0)
  t.ok(again.bytes.equals(plain.bytes))
})

t.test('a file that is not what its sha256 says fails the pack and is not cached', async (t) => {
  const dir = t.testdir()
  const big = join(dir, 'big.bin')
  await writePseudoRandom(big, 3 * MEMBER)
  const claimed = sha256Of(big)
  writeFileSync(big, Buffer.alloc(3 * MEMBER, 7)) // same size, other bytes
  const cacheRoot = join(dir, 'cache')
  const output = join(dir, 'out.tar.gz')
  await t.rejects(pack([{ path: 'b/big.bin', mode: 0o644, source: { file: big }, sha256: claimed }], output, { cache: new GzipMemberCache(cacheRoot) }), {
    exitCode: 1,
    message: /big\.bin \(for b\/big\.bin\) has sha256 [0-9a-f]{64}, not the [0-9a-f]{64} the bundle lists/,
  })
  t.notOk(existsSync(output), 'no archive')
  t.same(cacheEntries(cacheRoot), [], 'no cache entry under the claimed digest')
  t.same(readdirSync(join(cacheRoot, 'gzip-members')).filter((name) => name.startsWith('.')), [], 'and no temporary file')

  // A small file is checked the same way.
  const small = join(dir, 'small.txt')
  writeFileSync(small, 'changed\n')
  await t.rejects(pack([{ path: 'b/small.txt', mode: 0o644, source: { file: small }, sha256: claimed }], output, {}), { message: /has sha256/ })
})
