/**
 * The signature check over SHA256SUMS, the one both `edgebundle verify` (src/inspect/inspect.ts) and the
 * installer (src/installer/signature.ts) run: SHA256SUMS.sig is the raw 64-byte ed25519 signature of the
 * exact SHA256SUMS bytes, and the key an SPKI PEM ed25519 public key (src/sign/keys.ts makes and signs).
 * Which key to trust is each caller's policy; whether the bytes verify is decided here only. Node
 * built-ins only: the installer's single executable carries this file.
 */
import { type KeyObject, createHash, createPrivateKey, createPublicKey, verify } from 'node:crypto'
import { UsageError } from '../model/errors.js'

/** Length of an ed25519 signature, and so of SHA256SUMS.sig. */
export const SIGNATURE_LENGTH = 64

export const KEY_HINT = 'Give a key made by `edgebundle keygen --out FILE` (FILE is the private key, FILE.pub the public one), or by `openssl genpkey -algorithm ed25519`.'

export function pemKind(pem: string): 'public' | 'private' | 'encrypted' | 'other' | null {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1]
  if (label === undefined) return null
  if (label === 'PUBLIC KEY') return 'public'
  if (label === 'ENCRYPTED PRIVATE KEY') return 'encrypted'
  if (label === 'PRIVATE KEY' || label.endsWith(' PRIVATE KEY')) return 'private'
  return 'other'
}

/** Reads one half of an ed25519 key pair from PEM text whose kind the caller has checked; UsageError otherwise. */
export function readEd25519Key(text: string, half: 'public' | 'private', label: string): KeyObject {
  let key: KeyObject
  try {
    key = half === 'public' ? createPublicKey({ key: text, format: 'pem' }) : createPrivateKey({ key: text, format: 'pem' })
  } catch (error) {
    throw new UsageError(`${label} is not a readable ${half} key: ${(error as Error).message}`, { hint: KEY_HINT, cause: error })
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new UsageError(`${label} is ${key.asymmetricKeyType === undefined ? 'not an asymmetric key' : `an ${key.asymmetricKeyType.toUpperCase()} key`}, not an ed25519 key`, {
      hint: KEY_HINT,
    })
  }
  return key
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
  return readEd25519Key(text, 'public', label)
}

/** Why a signature does not verify, or that it does. */
export type SignatureVerdict =
  | { ok: true }
  | { ok: false; reason: 'no-checksums' }
  /** length null: the signature was too large to be read at all. */
  | { ok: false; reason: 'wrong-length'; length: number | null }
  | { ok: false; reason: 'does-not-verify' }

/**
 * Checks SHA256SUMS.sig against the SHA256SUMS bytes (null: there are none to check) with this key (a
 * PEM string or a parsed key; a bad PEM throws UsageError). A signature of the wrong length (null: too
 * large to have been read) is not an ed25519 signature, so it is reported as such, never verified.
 */
export function checkChecksumsSignature(checksums: Uint8Array | string | null, signature: Uint8Array | null, publicKey: string | KeyObject): SignatureVerdict {
  const key = typeof publicKey === 'string' ? parsePublicKey(publicKey) : publicKey
  if (checksums === null) return { ok: false, reason: 'no-checksums' }
  if (signature === null || signature.length !== SIGNATURE_LENGTH) return { ok: false, reason: 'wrong-length', length: signature?.length ?? null }
  const bytes = typeof checksums === 'string' ? Buffer.from(checksums, 'utf8') : checksums
  return verify(null, bytes, key, signature) ? { ok: true } : { ok: false, reason: 'does-not-verify' }
}

/**
 * Whether `signature` (SHA256SUMS.sig's bytes) is a valid signature of these SHA256SUMS bytes by this
 * key. A signature of the wrong length is simply not valid (false); a bad key throws UsageError.
 */
export function verifyChecksumsSignature(checksums: Uint8Array | string, signature: Uint8Array, publicKeyPem: string): boolean {
  return checkChecksumsSignature(checksums, signature, publicKeyPem).ok
}

/**
 * A short, stable name for a public key, to show which key verified a bundle: "SHA256:" and the
 * unpadded base64 of the sha256 of its DER (SPKI) encoding, in the style of ssh-keygen -l.
 */
export function publicKeyFingerprint(publicKeyPem: string): string {
  const der = parsePublicKey(publicKeyPem).export({ type: 'spki', format: 'der' })
  return `SHA256:${createHash('sha256').update(der).digest('base64').replace(/=+$/, '')}`
}
