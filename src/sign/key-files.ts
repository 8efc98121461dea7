/**
 * Key files: `edgebundle keygen --out FILE` writes FILE (the private key, mode 0600) and FILE.pub (the
 * public key, for `edgebundle verify --pubkey` and for the nodes); builds read FILE, verification FILE.pub.
 */
import { open, unlink } from 'node:fs/promises'
import { resolve } from 'node:path'
import { UsageError } from '../model/errors.js'
import { parsePublicKey, publicKeyFingerprint } from '../archive/signature.js'
import { generateSigningKey, parsePrivateKey } from './keys.js'

/** Key files are a few hundred bytes; anything much larger is the wrong file, not a key. */
const MAX_KEY_FILE = 64 * 1024

export interface WrittenKeyPair {
  privateKeyFile: string
  publicKeyFile: string
  fingerprint: string
}

async function createExclusive(path: string, content: string, mode: number): Promise<void> {
  // 'wx' is O_CREAT|O_EXCL: it never replaces a file, nor follows a symbolic link planted at the path.
  const handle = await open(path, 'wx', mode)
  try {
    await handle.chmod(mode) // whatever the umask left, the private key ends up exactly 0600
    await handle.writeFile(content)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

function exists(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'EEXIST'
}

/** Generates a key pair and writes FILE and FILE.pub; refuses (exit 2) to overwrite either. */
export async function writeSigningKeyFiles(out: string): Promise<WrittenKeyPair> {
  const privateKeyFile = resolve(out)
  const publicKeyFile = `${privateKeyFile}.pub`
  const pair = generateSigningKey()
  const refuse = (file: string) =>
    new UsageError(`${file} exists; edgebundle keygen never overwrites a key`, {
      hint: 'Choose another --out, or remove the old key pair first if it is really no longer needed (bundles signed with it can then no longer be re-signed).',
    })
  try {
    await createExclusive(privateKeyFile, pair.privateKeyPem, 0o600)
  } catch (error) {
    if (exists(error)) throw refuse(privateKeyFile)
    throw new UsageError(`cannot write ${privateKeyFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error })
  }
  try {
    await createExclusive(publicKeyFile, pair.publicKeyPem, 0o644)
  } catch (error) {
    // Leave no half pair behind: the private key was created by this call, so it is ours to remove.
    await unlink(privateKeyFile).catch(() => {})
    if (exists(error)) throw refuse(publicKeyFile)
    throw new UsageError(`cannot write ${publicKeyFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error })
  }
  return { privateKeyFile, publicKeyFile, fingerprint: publicKeyFingerprint(pair.publicKeyPem) }
}

async function readKeyFile(file: string, what: string): Promise<string> {
  let content: Buffer
  try {
    const handle = await open(file, 'r')
    try {
      const { size } = await handle.stat()
      if (size > MAX_KEY_FILE) throw new UsageError(`${what} ${file} is ${size} bytes: not a key file`)
      content = await handle.readFile()
    } finally {
      await handle.close()
    }
  } catch (error) {
    if (error instanceof UsageError) throw error
    throw new UsageError(`cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error })
  }
  return content.toString('utf8')
}

/** Reads and checks an ed25519 public key file (exit 2 when it is not one); returns its PEM. */
export async function readPublicKeyFile(file: string, what = 'public key'): Promise<string> {
  const pem = await readKeyFile(file, what)
  parsePublicKey(pem, `${what} ${file}`)
  return pem
}

/** Reads and checks an ed25519 private key file (exit 2 when it is not one); returns its PEM. */
export async function readPrivateKeyFile(file: string, what = 'private key'): Promise<string> {
  const pem = await readKeyFile(file, what)
  parsePrivateKey(pem, `${what} ${file}`)
  return pem
}
