/**
 * edgebundle verify BUNDLE: checks a bundle archive without unpacking it (every file against SHA256SUMS
 * and manifest.json, the layout, unsafe entries, the signature). Exit 0 when it is intact, 3 with every
 * problem listed when not, 2 when BUNDLE or --pubkey is not usable.
 */
import { BundleVerificationError } from '../../inspect/errors.js'
import { formatVerify } from '../../inspect/format.js'
import { type BundleReport, inspectBundle } from '../../inspect/inspect.js'
import { readPublicKeyFile } from '../../sign/key-files.js'

export interface VerifyFlags {
  pubkey?: string
  requireSignature?: boolean
  json?: boolean
}

export interface VerifyIo {
  stdout: (text: string) => void
}

/** The --json document: the verdict and what it rests on, without the per-file list (inspect --json has it). */
export function verifyJson(report: BundleReport): Record<string, unknown> {
  return {
    ok: report.ok,
    archive: report.archive,
    name: report.name,
    target: report.target,
    fileCount: report.fileCount,
    totalSize: report.totalSize,
    checksums: report.checksums,
    signature: report.signature,
    problems: report.problems,
    notes: report.notes,
  }
}

export async function verifyCommand(bundle: string, flags: VerifyFlags, io: VerifyIo): Promise<void> {
  const publicKeyPem = flags.pubkey === undefined ? undefined : await readPublicKeyFile(flags.pubkey, '--pubkey')
  const report = await inspectBundle(bundle, { publicKeyPem, requireSignature: flags.requireSignature === true })
  io.stdout(flags.json ? `${JSON.stringify(verifyJson(report), null, 2)}\n` : formatVerify(report))
  if (!report.ok) {
    const count = report.problems.length
    throw new BundleVerificationError(`${bundle} failed verification: ${count} problem${count === 1 ? '' : 's'}`, 'Do not install it. Copy the archive again from its source, or rebuild it.')
  }
}
