/**
 * edgebundle inspect BUNDLE: what a bundle archive is and holds (target, versions, components, the
 * ordered plan steps, files, signature), read without unpacking. It checks integrity on the way (the
 * same checks as verify, without a key) and exits 3 when the bundle is damaged, after showing what it
 * could, so nobody acts on the description of a tampered bundle unawares.
 */
import { BundleVerificationError } from '../../inspect/errors.js'
import { formatInspect } from '../../inspect/format.js'
import { inspectBundle } from '../../inspect/inspect.js'

export interface InspectFlags {
  json?: boolean
}

export interface InspectIo {
  stdout: (text: string) => void
}

export async function inspectCommand(bundle: string, flags: InspectFlags, io: InspectIo): Promise<void> {
  const report = await inspectBundle(bundle)
  io.stdout(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatInspect(report))
  if (!report.ok) {
    const count = report.problems.length
    throw new BundleVerificationError(`${bundle} is damaged: ${count} problem${count === 1 ? '' : 's'}`, 'Run `edgebundle verify` for the details; do not install it.')
  }
}
