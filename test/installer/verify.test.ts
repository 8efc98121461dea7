/** The installer's reading of SHA256SUMS (the one grammar, src/archive/sha256sums.ts) and its streaming verification: every failure kind. */
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseSha256Sums } from '../../src/archive/sha256sums.js'
import { describeProblem } from '../../src/installer/errors.js'
import { readSha256Sums, sha256File, verifyEntries } from '../../src/installer/verify.js'

const sha = (text: string) => createHash('sha256').update(text).digest('hex')
const A = sha('a\n')

t.test('refuses paths that could escape or read differently on another OS, naming the line', async (t) => {
  const dir = t.testdir()
  const lines: [string, RegExp][] = [
    ['/etc/passwd', /absolute path/],
    ['../outside', /has a "\.\." segment/],
    ['config/../../x', /has a "\.\." segment/],
    ['C:/Windows/x', /has a drive letter/],
    ['config\\x', /backslash/],
    ['a.txt:stream', /contains a colon/],
    ['a//b', /not in canonical form/],
    ['dir/', /not in canonical form/],
  ]
  writeFileSync(join(dir, 'SHA256SUMS'), lines.map(([path]) => `${A}  ${path}\n`).join(''))
  const parsed = (await readSha256Sums(join(dir, 'SHA256SUMS')))!
  t.same(parsed.entries, [], 'none is verified')
  lines.forEach(([path, reason], index) => {
    t.match(parsed.problems[index], { kind: 'unsafe-path', path, line: index + 1, detail: reason }, path)
    t.match(describeProblem(parsed.problems[index]!), new RegExp(`\\(SHA256SUMS line ${index + 1}\\): refused path: `))
  })
})

t.test('only the form the builder writes: malformed lines and any repeated path are problems', async (t) => {
  const dir = t.testdir()
  const text = [`${A}  a`, 'not a checksum line', `${A.slice(1)}  short`, `${A}  a`, `${A.toUpperCase()}  upper`, `${A} *binary`, `SHA256 (bsd) = ${A}`, `${A}  crlf\r`, ''].join('\n')
  writeFileSync(join(dir, 'SHA256SUMS'), `${text}\n`)
  const parsed = (await readSha256Sums(join(dir, 'SHA256SUMS')))!
  t.same(parsed.entries.map((e) => e.path), ['a'])
  t.match(parsed.problems, [
    { kind: 'malformed-line', line: 2, path: 'not a checksum line' },
    { kind: 'malformed-line', line: 3 },
    { kind: 'duplicate', path: 'a', line: 4 },
    { kind: 'malformed-line', line: 5 },
    { kind: 'malformed-line', line: 6 },
    { kind: 'malformed-line', line: 7 },
    { kind: 'malformed-line', line: 8 },
    { kind: 'malformed-line', line: 9 },
  ])
  t.equal(describeProblem(parsed.problems[0]!), 'SHA256SUMS line 2: not "<sha256>  <path>": "not a checksum line"')
  t.equal(await readSha256Sums(join(dir, 'none')), null, 'a missing SHA256SUMS is null')
})

t.test('verifies by streaming, and reports every failing file in SHA256SUMS order', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'edgebundle-verify-'))
  const outside = mkdtempSync(join(tmpdir(), 'edgebundle-outside-'))
  t.teardown(() => {
    rmSync(root, { recursive: true, force: true })
    rmSync(outside, { recursive: true, force: true })
  })
  mkdirSync(join(root, 'config'))
  writeFileSync(join(root, 'good'), 'a\n')
  writeFileSync(join(root, 'config', 'changed'), 'b\n')
  writeFileSync(join(outside, 'secret'), 'a\n')
  symlinkSync(join(outside, 'secret'), join(root, 'escape'))
  symlinkSync('good', join(root, 'alias'))
  mkdirSync(join(root, 'folder'))
  const big = 'x'.repeat(3 * 1024 * 1024 + 17)
  writeFileSync(join(root, 'big'), big)
  const { entries } = parseSha256Sums(
    [`${A}  good`, `${A}  config/changed`, `${A}  missing`, `${A}  escape`, `${A}  alias`, `${A}  folder`, `${sha(big)}  big`].join('\n'),
  )
  const seen: string[] = []
  const result = await verifyEntries(root, entries, { concurrency: 3, onFile: (entry) => seen.push(entry.path) })
  t.equal(result.files, 3, 'good, alias (a link inside the bundle) and big verify')
  t.equal(result.bytes, 2 + 2 + big.length, 'good and alias are 2 bytes each')
  t.match(result.problems, [
    { kind: 'mismatch', path: 'config/changed', expected: A, actual: sha('b\n') },
    { kind: 'missing', path: 'missing' },
    { kind: 'outside-bundle', path: 'escape' },
    { kind: 'unreadable', path: 'folder', detail: 'not a regular file' },
  ])
  t.equal(seen.length, entries.length, 'every entry is reported to onFile')
  t.same(await sha256File(join(root, 'big')), { sha256: sha(big), size: big.length })
})
