/**
 * The signature over SHA256SUMS (SHA256SUMS.sig, raw ed25519), checked before the files are hashed.
 *
 * Which key: --pubkey FILE; else the node's own trust anchor /etc/edgebundle/trusted.pub (provisioned
 * once per fleet, outside any bundle); else, for a signed bundle, the signer.pub it carries from build
 * time. With a key of the operator's (the first two), a missing or bad signature is an integrity failure.
 * The bundle's own key can only show the bundle is intact as its signer made it: anyone able to replace
 * the files could replace the key too, so that case says so. Whether the bytes verify is decided by
 * src/archive/signature.ts, the check `edgebundle verify` runs too.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BUNDLE } from '../model/layout.js'
import { checkChecksumsSignature, publicKeyFingerprint } from '../archive/signature.js'
import type { IntegrityProblem } from './errors.js'
import { UsageError } from '../model/errors.js'

export interface SignatureCheck {
  status: 'verified' | 'unsigned' | 'unchecked'
  key: 'pubkey' | 'trusted' | 'bundle' | null
  fingerprint: string | null
  problems: IntegrityProblem[]
  warnings: string[]
}

async function readOptional(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}

export async function checkSignature(dir: string, keys: { pubkey?: string | undefined; trusted?: string | undefined }): Promise<SignatureCheck> {
  const signature = await readOptional(join(dir, BUNDLE.signature))
  const checksums = await readOptional(join(dir, BUNDLE.checksums))
  let keyPem: string | null = null
  let key: SignatureCheck['key'] = null
  if (keys.pubkey !== undefined) {
    try {
      keyPem = await readFile(keys.pubkey, 'utf8')
    } catch (error) {
      throw new UsageError(`--pubkey ${keys.pubkey} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
    key = 'pubkey'
  } else if (keys.trusted !== undefined) {
    keyPem = await readFile(keys.trusted, 'utf8')
    key = 'trusted'
  } else if (signature !== null) {
    const bundled = await readOptional(join(dir, BUNDLE.signerKey))
    if (bundled === null) {
      return {
        status: 'unchecked',
        key: null,
        fingerprint: null,
        problems: [],
        warnings: [`the bundle is signed but carries no ${BUNDLE.signerKey}: pass --pubkey FILE to check its signature`],
      }
    }
    keyPem = bundled.toString('utf8')
    key = 'bundle'
  }
  if (keyPem === null) return { status: 'unsigned', key: null, fingerprint: null, problems: [], warnings: [] }

  const label = key === 'pubkey' ? `--pubkey ${keys.pubkey}` : key === 'trusted' ? keys.trusted! : `the bundle's ${BUNDLE.signerKey}`
  let fingerprint: string
  try {
    fingerprint = publicKeyFingerprint(keyPem)
  } catch (error) {
    if (key === 'bundle') return { status: 'unchecked', key, fingerprint: null, problems: [{ kind: 'signature', path: BUNDLE.signerKey, detail: 'not an ed25519 public key' }], warnings: [] }
    throw new UsageError(`${label} is not an ed25519 public key (PEM): ${(error as Error).message}`, { hint: "Give the FILE.pub that edgebundle keygen wrote." })
  }
  if (signature === null) {
    return { status: 'unchecked', key, fingerprint, problems: [{ kind: 'signature', path: BUNDLE.signature, detail: `missing, but ${label} requires a signed bundle` }], warnings: [] }
  }
  if (!checkChecksumsSignature(checksums, signature, keyPem).ok) {
    return { status: 'unchecked', key, fingerprint, problems: [{ kind: 'signature', path: BUNDLE.signature, detail: `does not verify SHA256SUMS with ${label} (${fingerprint})` }], warnings: [] }
  }
  const warnings =
    key === 'bundle'
      ? [`the signature was checked with the key inside the bundle (${fingerprint}): that proves the bundle is intact, not who made it; pass --pubkey FILE to check the signer`]
      : []
  return { status: 'verified', key, fingerprint, problems: [], warnings }
}
