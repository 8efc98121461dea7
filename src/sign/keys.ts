/**
 * Bundle signing: an ed25519 signature over the exact bytes of SHA256SUMS (which lists every other file
 * with its sha256, so one signature covers the whole bundle).
 *
 * SHA256SUMS.sig holds the raw 64-byte ed25519 signature, nothing else: no encoding to parse, and it is
 * exactly what the usual tools take, so an installer (or an operator) can check it without edgebundle:
 *
 *   openssl pkeyutl -verify -pubin -inkey bundle.pub -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig
 *
 * and in Node: crypto.verify(null, sums, publicKey, sig). Keys are PEM: PKCS#8 for the private key, SPKI
 * for the public one ("-----BEGIN PUBLIC KEY-----"), the formats openssl and Node read and write.
 * Ed25519 signs the message itself (no separate hash step), and its signatures are deterministic: the
 * same key and SHA256SUMS give the same .sig, so signed builds stay reproducible.
 */
import { type KeyObject, createPublicKey, generateKeyPairSync, sign } from 'node:crypto'
import { KEY_HINT, pemKind, readEd25519Key } from '../archive/signature.js'
import { UsageError } from '../model/errors.js'

export interface SigningKeyPair {
  /** PKCS#8 PEM. */
  privateKeyPem: string
  /** SPKI PEM. */
  publicKeyPem: string
}

export function generateSigningKey(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  }
}

/**
 * Parses an ed25519 private key. `label` names where it came from (a file, a flag) in messages.
 * Throws UsageError (exit 2) for anything else: malformed PEM, another algorithm, a public key,
 * a passphrase-protected key (signing runs unattended in builds).
 */
export function parsePrivateKey(pem: string | Buffer, label = 'the private key'): KeyObject {
  const text = typeof pem === 'string' ? pem : pem.toString('utf8')
  const kind = pemKind(text)
  if (kind === null) throw new UsageError(`${label} is not a PEM key`, { hint: KEY_HINT })
  if (kind === 'public') throw new UsageError(`${label} is a public key; signing needs the private key`, { hint: 'Give the key file itself, not its .pub.' })
  if (kind === 'encrypted') throw new UsageError(`${label} is protected by a passphrase, which edgebundle does not support`, { hint: `Decrypt it first (openssl pkey -in KEY -out PLAIN), keeping the result at mode 0600. ${KEY_HINT}` })
  return readEd25519Key(text, 'private', label)
}

/** The public half of a private key, as SPKI PEM: what a signed bundle carries as signer.pub. */
export function publicKeyPemOf(privateKeyPem: string): string {
  return createPublicKey(parsePrivateKey(privateKeyPem)).export({ type: 'spki', format: 'pem' }).toString()
}

/** The SHA256SUMS.sig content for these SHA256SUMS bytes: the raw 64-byte ed25519 signature. */
export function signChecksums(checksums: Uint8Array | string, privateKeyPem: string): Buffer {
  const key = parsePrivateKey(privateKeyPem)
  return sign(null, typeof checksums === 'string' ? Buffer.from(checksums, 'utf8') : checksums, key)
}
