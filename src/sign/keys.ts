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
import { type KeyObject, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import { UsageError } from '../model/errors.js'

/** Length of an ed25519 signature, and so of SHA256SUMS.sig. */
export const SIGNATURE_LENGTH = 64

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

const KEY_HINT = 'Give a key made by `edgebundle keygen --out FILE` (FILE is the private key, FILE.pub the public one), or by `openssl genpkey -algorithm ed25519`.'

function pemKind(pem: string): 'public' | 'private' | 'encrypted' | 'other' | null {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1]
  if (label === undefined) return null
  if (label === 'PUBLIC KEY') return 'public'
  if (label === 'ENCRYPTED PRIVATE KEY') return 'encrypted'
  if (label === 'PRIVATE KEY' || label.endsWith(' PRIVATE KEY')) return 'private'
  return 'other'
}

function requireEd25519(key: KeyObject, label: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new UsageError(`${label} is ${key.asymmetricKeyType === undefined ? 'not an asymmetric key' : `an ${key.asymmetricKeyType.toUpperCase()} key`}, not an ed25519 key`, {
      hint: KEY_HINT,
    })
  }
  return key
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
  let key: KeyObject
  try {
    key = createPrivateKey({ key: text, format: 'pem' })
  } catch (error) {
    throw new UsageError(`${label} is not a readable private key: ${(error as Error).message}`, { hint: KEY_HINT, cause: error })
  }
  return requireEd25519(key, label)
}

/**
 * Parses an ed25519 public key (SPKI PEM). A private key is refused rather than quietly reduced to its
 * public half: verification happens on the nodes, and a private key has no business travelling there.
 */
export function parsePublicKey(pem: string | Buffer, label = 'the public key'): KeyObject {
  const text = typeof pem === 'string' ? pem : pem.toString('utf8')
  const kind = pemKind(text)
  if (kind === null) throw new UsageError(`${label} is not a PEM key`, { hint: KEY_HINT })
  if (kind === 'private' || kind === 'encrypted') {
    throw new UsageError(`${label} is a private key; verification needs only the public key`, { hint: 'Give the .pub file that `edgebundle keygen` wrote next to the key, and keep the private key off the nodes.' })
  }
  let key: KeyObject
  try {
    key = createPublicKey({ key: text, format: 'pem' })
  } catch (error) {
    throw new UsageError(`${label} is not a readable public key: ${(error as Error).message}`, { hint: KEY_HINT, cause: error })
  }
  return requireEd25519(key, label)
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

/**
 * Whether `signature` (SHA256SUMS.sig's bytes) is a valid signature of these SHA256SUMS bytes by this
 * key. A signature of the wrong length is simply not valid (false); a bad key throws UsageError.
 */
export function verifyChecksumsSignature(checksums: Uint8Array | string, signature: Uint8Array, publicKeyPem: string): boolean {
  const key = parsePublicKey(publicKeyPem)
  if (signature.length !== SIGNATURE_LENGTH) return false
  return verify(null, typeof checksums === 'string' ? Buffer.from(checksums, 'utf8') : checksums, key, signature)
}

/**
 * A short, stable name for a public key, to show which key verified a bundle: "SHA256:" and the
 * unpadded base64 of the sha256 of its DER (SPKI) encoding, in the style of ssh-keygen -l.
 */
export function publicKeyFingerprint(publicKeyPem: string): string {
  const der = parsePublicKey(publicKeyPem).export({ type: 'spki', format: 'der' })
  return `SHA256:${createHash('sha256').update(der).digest('base64').replace(/=+$/, '')}`
}
