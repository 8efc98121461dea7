/** Content digests: only sha256, the one algorithm every registry and runtime supports. */
import { createHash } from 'node:crypto'
import { IntegrityError } from './errors.js'
import { UsageError } from '../model/errors.js'

const SHA256 = /^sha256:([a-f0-9]{64})$/

export interface Sha256Digest {
  /** "sha256:<hex>" */
  digest: string
  hex: string
}

/**
 * Parses a digest found in a document or reference. Other algorithms are refused rather than skipped:
 * a blob we cannot verify must not reach a node. `where` names the document for the message.
 */
export function parseDigest(value: string, where: string): Sha256Digest {
  const match = SHA256.exec(value)
  if (match?.[1]) return { digest: value, hex: match[1] }
  if (/^sha256:/i.test(value)) throw new IntegrityError(`${where}: ${JSON.stringify(value)} is not a valid sha256 digest (64 lower-case hex digits)`)
  throw new UsageError(`${where}: digest ${JSON.stringify(value)} uses an algorithm edgebundle does not verify`, {
    hint: 'Only sha256 digests are supported.',
  })
}

/** Path of a blob inside an OCI image layout. */
export function blobPath(digest: Sha256Digest): string {
  return `blobs/sha256/${digest.hex}`
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex')
}

/** Throws unless `actualHex` is the digest `expected` names. */
export function assertDigest(expected: Sha256Digest, actualHex: string, what: string): void {
  if (actualHex !== expected.hex) {
    throw new IntegrityError(`${what}: sha256 mismatch: expected ${expected.digest}, got sha256:${actualHex}`, {
      hint: 'The bytes were altered in transit or storage. Nothing was written; retry, and if it persists, distrust the source.',
    })
  }
}

export function assertSize(expected: number, actual: number, what: string): void {
  if (expected !== actual) {
    throw new IntegrityError(`${what}: size mismatch: expected ${expected} bytes, got ${actual}`)
  }
}
