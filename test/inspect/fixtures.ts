/** Helpers for the inspect tests: packing a folder, running the CLI, and hand-made hostile zips. */
import { run } from '../../src/cli/main.js'
import { entriesFromFolder } from '../../src/pack/folder.js'
import { writeBundleArchive } from '../../src/pack/index.js'
import { BUNDLE_NAME } from '../pack/fixtures.js'

export const MTIME = new Date(1_700_000_000_000)

export async function pack(root: string, output: string, format: 'tar.gz' | 'zip' = 'tar.gz', name = BUNDLE_NAME): Promise<string> {
  await writeBundleArchive(await entriesFromFolder(root, name), output, { format, mtime: MTIME })
  return output
}

export async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
  return { code, stdout, stderr }
}

export { type ZipItem, zipBytes } from '../fixtures/zip.js'
