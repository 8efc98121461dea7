/**
 * edgebundle keygen --out FILE: makes an ed25519 key pair for signing bundles. FILE is the private key
 * (PKCS#8 PEM, mode 0600), FILE.pub the public key (SPKI PEM) that verification and the nodes use.
 * Never overwrites: losing a signing key by a typo would orphan every bundle signed with it.
 */
import { writeSigningKeyFiles } from '../../sign/key-files.js'

export interface KeygenFlags {
  out: string
  json?: boolean
}

export interface KeygenIo {
  stdout: (text: string) => void
}

export async function keygenCommand(flags: KeygenFlags, io: KeygenIo): Promise<void> {
  const written = await writeSigningKeyFiles(flags.out)
  if (flags.json) {
    io.stdout(`${JSON.stringify(written, null, 2)}\n`)
    return
  }
  io.stdout(
    [
      `wrote ${written.privateKeyFile}: the private key (mode 0600); keep it secret, it signs bundles`,
      `wrote ${written.publicKeyFile}: the public key, for \`edgebundle verify --pubkey\` and the nodes`,
      `key ${written.fingerprint}`,
      '',
    ].join('\n'),
  )
}
