/**
 * Signing: ed25519 over SHA256SUMS, checked with Node and with the real openssl (what an installer or an
 * operator without edgebundle would use); key errors are usage errors; keygen's files; the SHA256SUMS
 * format against the real sha256sum.
 */
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { run } from '../../src/cli/main.js'
import { formatSha256Sums, parseSha256Sums } from '../../src/archive/sha256sums.js'
import { readPrivateKeyFile, readPublicKeyFile } from '../../src/sign/key-files.js'
import { parsePublicKey, publicKeyFingerprint, verifyChecksumsSignature } from '../../src/archive/signature.js'
import { generateSigningKey, signChecksums } from '../../src/sign/keys.js'

const SUMS = `${'a'.repeat(64)}  install\n${'b'.repeat(64)}  plan.json\n`

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
  return { code, stdout, stderr }
}

t.test('sign and verify: raw 64 bytes, deterministic, bound to the bytes and the key', async (t) => {
  const key = generateSigningKey()
  t.match(key.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/)
  t.match(key.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/)
  const signature = signChecksums(SUMS, key.privateKeyPem)
  t.equal(signature.length, 64)
  t.ok(signChecksums(Buffer.from(SUMS), key.privateKeyPem).equals(signature), 'same key and bytes, same signature (reproducible builds)')
  t.equal(verifyChecksumsSignature(SUMS, signature, key.publicKeyPem), true)
  t.equal(verifyChecksumsSignature(Buffer.from(SUMS), signature, key.publicKeyPem), true)
  t.equal(verifyChecksumsSignature(SUMS.replace('a', 'c'), signature, key.publicKeyPem), false, 'an edited SHA256SUMS')
  t.equal(verifyChecksumsSignature(SUMS, signature, generateSigningKey().publicKeyPem), false, 'another key')
  t.equal(verifyChecksumsSignature(SUMS, signature.subarray(0, 63), key.publicKeyPem), false, 'a short signature is just invalid')
  t.equal(verifyChecksumsSignature(SUMS, Buffer.from(`${signature.toString('base64')}\n`), key.publicKeyPem), false, 'base64 text is not the format')
  t.match(publicKeyFingerprint(key.publicKeyPem), /^SHA256:[A-Za-z0-9+/]{43}$/)
})

t.test('openssl verifies what edgebundle signs, and edgebundle verifies what openssl signs', async (t) => {
  const dir = t.testdir()
  const key = generateSigningKey()
  writeFileSync(join(dir, 'SHA256SUMS'), SUMS)
  writeFileSync(join(dir, 'SHA256SUMS.sig'), signChecksums(SUMS, key.privateKeyPem))
  writeFileSync(join(dir, 'key.pub'), key.publicKeyPem)
  const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'key.pub', '-rawin', '-in', 'SHA256SUMS', '-sigfile', 'SHA256SUMS.sig'], { cwd: dir, encoding: 'utf8' })
  t.match(out, /Signature Verified Successfully/)

  execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', 'ossl.key'], { cwd: dir })
  execFileSync('openssl', ['pkey', '-in', 'ossl.key', '-pubout', '-out', 'ossl.pub'], { cwd: dir })
  execFileSync('openssl', ['pkeyutl', '-sign', '-inkey', 'ossl.key', '-rawin', '-in', 'SHA256SUMS', '-out', 'ossl.sig'], { cwd: dir })
  const osslPub = readFileSync(join(dir, 'ossl.pub'), 'utf8')
  t.equal(verifyChecksumsSignature(SUMS, readFileSync(join(dir, 'ossl.sig')), osslPub), true)
  t.ok(signChecksums(SUMS, readFileSync(join(dir, 'ossl.key'), 'utf8')).equals(readFileSync(join(dir, 'ossl.sig'))), 'an openssl key signs identically')
})

t.test('keys that are not ed25519, malformed, or the wrong half are usage errors (exit 2)', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const rsaPublic = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const rsaPrivate = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const key = generateSigningKey()
  const usage = (fn: () => unknown, pattern: RegExp, name: string) => t.throws(fn, { exitCode: 2, message: pattern }, name)
  usage(() => verifyChecksumsSignature(SUMS, Buffer.alloc(64), rsaPublic), /an RSA key, not an ed25519 key/, 'RSA public key')
  usage(() => verifyChecksumsSignature(SUMS, Buffer.alloc(64), ec), /an EC key, not an ed25519 key/, 'EC public key')
  usage(() => signChecksums(SUMS, rsaPrivate), /an RSA key, not an ed25519 key/, 'RSA private key')
  usage(() => signChecksums(SUMS, key.publicKeyPem), /is a public key; signing needs the private key/, 'public key to sign')
  usage(() => parsePublicKey(key.privateKeyPem), /is a private key; verification needs only the public key/, 'private key to verify')
  usage(() => parsePublicKey('hello'), /is not a PEM key/, 'not PEM')
  usage(() => parsePublicKey('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'), /not a readable public key/, 'broken PEM body')
  const encrypted = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }).toString()
  usage(() => signChecksums(SUMS, encrypted), /protected by a passphrase/, 'encrypted key')
})

t.test('edgebundle keygen writes FILE (0600) and FILE.pub, and never overwrites', async (t) => {
  const dir = t.testdir()
  const out = join(dir, 'signing.key')
  const first = await cli('keygen', '--out', out)
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, /wrote .*signing\.key: the private key \(mode 0600\)/)
  t.match(first.stdout, /key SHA256:/)
  t.equal(statSync(out).mode & 0o777, 0o600)
  t.equal(statSync(`${out}.pub`).mode & 0o777, 0o644 & ~process.umask())
  const privatePem = await readPrivateKeyFile(out)
  const publicPem = await readPublicKeyFile(`${out}.pub`)
  t.equal(verifyChecksumsSignature(SUMS, signChecksums(SUMS, privatePem), publicPem), true, 'the two halves belong together')
  t.match(first.stdout, publicKeyFingerprint(publicPem))

  const again = await cli('keygen', '--out', out)
  t.equal(again.code, 2)
  t.match(again.stderr, /signing\.key exists; edgebundle keygen never overwrites a key/)
  t.equal(readFileSync(out, 'utf8'), privatePem, 'the old key is untouched')

  // Only FILE.pub exists: refused too, and no lone private key is left behind.
  const other = join(dir, 'other.key')
  writeFileSync(`${other}.pub`, 'someone else\'s\n')
  const half = await cli('keygen', '--out', other)
  t.equal(half.code, 2)
  t.match(half.stderr, /other\.key\.pub exists/)
  t.notOk(existsSync(other))
  t.equal(readFileSync(`${other}.pub`, 'utf8'), 'someone else\'s\n')

  const json = await cli('keygen', '--out', join(dir, 'j.key'), '--json')
  t.equal(json.code, 0)
  t.match(JSON.parse(json.stdout), { privateKeyFile: join(dir, 'j.key'), publicKeyFile: join(dir, 'j.key.pub'), fingerprint: /^SHA256:/ })

  const missing = await cli('keygen')
  t.equal(missing.code, 2, '--out is required')
  const nowhere = await cli('keygen', '--out', join(dir, 'no', 'such', 'dir', 'k'))
  t.equal(nowhere.code, 2)
  t.match(nowhere.stderr, /cannot write .*ENOENT/)
})

t.test('key files: unreadable, oversized or wrong files are usage errors', async (t) => {
  const dir = t.testdir({ big: 'x'.repeat(100_000), text: 'not a key\n' })
  await t.rejects(readPublicKeyFile(join(dir, 'none'), '--pubkey'), { exitCode: 2, message: /cannot read --pubkey .*none: ENOENT/ })
  await t.rejects(readPublicKeyFile(join(dir, 'big'), '--pubkey'), { exitCode: 2, message: /not a key file/ })
  await t.rejects(readPublicKeyFile(join(dir, 'text'), '--pubkey'), { exitCode: 2, message: /--pubkey .*text is not a PEM key/ })
})

t.test('SHA256SUMS: one canonical form, which sha256sum -c accepts', async (t) => {
  const dir = t.testdir({ 'b.txt': 'bee\n', 'a.sh': 'ay\n', sub: { 'Z.md': 'zed\n' } })
  const hash = (path: string) => execFileSync('sha256sum', [path], { cwd: dir, encoding: 'utf8' }).slice(0, 64)
  const text = formatSha256Sums(['b.txt', 'sub/Z.md', 'a.sh'].map((path) => ({ path, sha256: hash(path) })))
  t.equal(text.split('\n')[0], `${hash('a.sh')}  a.sh`, 'sorted, two spaces')
  t.equal(text, execFileSync('sha256sum', ['a.sh', 'b.txt', 'sub/Z.md'], { cwd: dir, encoding: 'utf8' }), 'byte-identical to sha256sum\'s own output')
  writeFileSync(join(dir, 'SHA256SUMS'), text)
  t.match(execFileSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' }), /sub\/Z\.md: OK/)
  t.same(parseSha256Sums(text).problems, [])
  t.same(
    parseSha256Sums(text).entries.map((e) => e.path),
    ['a.sh', 'b.txt', 'sub/Z.md'],
  )
  t.throws(() => formatSha256Sums([{ path: '../x', sha256: 'a'.repeat(64) }]), /"\.\." segment/)
  t.throws(() => formatSha256Sums([{ path: 'SHA256SUMS', sha256: 'a'.repeat(64) }]), /cannot list SHA256SUMS/)
  t.throws(() => formatSha256Sums([{ path: 'x', sha256: 'A'.repeat(64) }]), /not a lowercase sha256/)
  t.throws(() => formatSha256Sums([{ path: 'a\nb', sha256: 'a'.repeat(64) }]), /newline/)

  const messy = [`${'a'.repeat(64)}  ok`, `${'A'.repeat(64)}  upper`, `${'b'.repeat(64)} *binary`, '', `${'c'.repeat(64)}  ./dot`, `${'d'.repeat(64)}  ok`, `${'e'.repeat(64)}  /abs`].join('\n')
  const parsed = parseSha256Sums(messy)
  t.same(parsed.entries.map((e) => e.path), ['ok'])
  t.same(
    parsed.problems.map((p) => p.line),
    [2, 3, 4, 5, 6, 7],
  )
  t.match(parsed.problems[4]!.message, /line 6 lists ok again/)
  t.match(parsed.problems[5]!.message, /line 7 lists "\/abs": absolute path/)
  t.match(parsed.problems[3]!.message, /line 5 lists "\.\/dot": not in canonical form/)
})
