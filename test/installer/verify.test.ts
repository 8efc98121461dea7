/** SHA256SUMS parsing and streaming verification: every accepted form, every refused path, every failure kind. */
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseSha256Sums, sha256File, unsafePathReason, verifyEntries } from '../../src/installer/verify.js'

const sha = (text: string) => createHash('sha256').update(text).digest('hex')
const A = sha('a\n')

t.test('parses text and binary mode, ./ prefixes, the BSD --tag form, escapes and CRLF', async (t) => {
  const text = [
    `${A}  plan.json`,
    `${A.toUpperCase()} *artifacts/runc.arm64`,
    `${A}  ./config/etc/crictl.yaml`,
    `SHA256 (install.sh) = ${A}`,
    `\\${A}  odd\\nname`,
    `${A}  with space.txt\r`,
    '',
  ].join('\n')
  const { entries, problems } = parseSha256Sums(text)
  t.same(problems, [])
  t.same(
    entries.map((e) => e.path),
    ['plan.json', 'artifacts/runc.arm64', 'config/etc/crictl.yaml', 'install.sh', 'odd\nname', 'with space.txt'],
  )
  t.ok(entries.every((e) => e.sha256 === A), 'hex is lower-cased')
  t.same(entries.map((e) => e.line), [1, 2, 3, 4, 5, 6])
})

t.test('refuses paths that could escape or read differently on another OS', async (t) => {
  for (const [path, reason] of [
    ['/etc/passwd', 'absolute'],
    ['../outside', 'has a ".." segment'],
    ['config/../../x', 'has a ".." segment'],
    ['C:/Windows/x', 'has a drive letter'],
    ['config\\x', 'contains a backslash (a path separator on Windows)'],
    ['a.txt:stream', 'contains a colon'],
    ['a//b', 'has an empty segment'],
    ['dir/', 'has an empty segment'],
  ] as const) {
    t.equal(unsafePathReason(path), reason, path)
    const { entries, problems } = parseSha256Sums(`${A}  ${path}\n`)
    t.same(entries, [], `${path} is not verified`)
    t.match(problems, [{ kind: 'unsafe-path', line: 1 }], path)
  }
  t.equal(unsafePathReason('config/etc/containerd/config.toml'), null)
})

t.test('malformed lines and conflicting duplicates are problems; an exact repeat is not', async (t) => {
  const { entries, problems } = parseSha256Sums([`${A}  a`, 'not a checksum line', `${A.slice(1)}  short`, `${A}  a`, `${sha('b')}  a`, `\\${A}  bad\\qescape`].join('\n'))
  t.same(entries.map((e) => e.path), ['a'])
  t.match(problems, [
    { kind: 'malformed-line', line: 2 },
    { kind: 'malformed-line', line: 3 },
    { kind: 'duplicate', path: 'a', line: 5 },
    { kind: 'malformed-line', line: 6 },
  ])
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
