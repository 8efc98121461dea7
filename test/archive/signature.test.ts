/** The one signature check over SHA256SUMS (src/archive/signature.ts): each verdict, from real ed25519 keys. */
import t from 'tap'
import { checkChecksumsSignature, parsePublicKey } from '../../src/archive/signature.js'
import { generateSigningKey, signChecksums } from '../../src/sign/keys.js'

const SUMS = `${'a'.repeat(64)}  plan.json\n`

t.test('verifies, and says why not', async (t) => {
  const key = generateSigningKey()
  const signature = signChecksums(SUMS, key.privateKeyPem)
  t.same(checkChecksumsSignature(SUMS, signature, key.publicKeyPem), { ok: true })
  t.same(checkChecksumsSignature(Buffer.from(SUMS), signature, parsePublicKey(key.publicKeyPem)), { ok: true }, 'bytes and a parsed key')
  t.same(checkChecksumsSignature(null, signature, key.publicKeyPem), { ok: false, reason: 'no-checksums' })
  t.same(checkChecksumsSignature(SUMS, signature.subarray(0, 10), key.publicKeyPem), { ok: false, reason: 'wrong-length', length: 10 })
  t.same(checkChecksumsSignature(SUMS, null, key.publicKeyPem), { ok: false, reason: 'wrong-length', length: null }, 'too large to read')
  t.same(checkChecksumsSignature(`${SUMS}x`, signature, key.publicKeyPem), { ok: false, reason: 'does-not-verify' }, 'edited SHA256SUMS')
  t.same(checkChecksumsSignature(SUMS, signature, generateSigningKey().publicKeyPem), { ok: false, reason: 'does-not-verify' }, 'another key')
  t.throws(() => checkChecksumsSignature(SUMS, signature, 'not a key'), { exitCode: 2, message: /is not a PEM key/ })
})
