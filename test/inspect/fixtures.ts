/** Helpers for the inspect tests: packing a folder, running the CLI, and hand-made hostile zips. */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { run } from '../../src/cli/main.js'
import type { PackEntry } from '../../src/pack/entries.js'
import { entriesFromFolder } from '../../src/pack/folder.js'
import { writeBundleArchive } from '../../src/pack/index.js'
import { GzipMemberCache } from '../../src/pack/member-cache.js'
import { BUNDLE_NAME } from '../pack/fixtures.js'
import { fileDigest } from '../fixtures/files.js'

export const MTIME = new Date(1_700_000_000_000)

/**
 * One gzip member cache for the packs of a test process, as a build keeps one: the 20 MiB artifact that
 * every fixture bundle holds is compressed once, not once per tampered copy. The cache never changes the
 * bytes written (src/pack/member-cache.ts), and a file changed by a test has another digest.
 */
let members: GzipMemberCache | undefined
function memberCache(): GzipMemberCache {
  if (members === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'edgebundle-test-members-'))
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    members = new GzipMemberCache(dir)
  }
  return members
}

/** Files of a MiB and more get their digest, which is what lets the writer use the member cache. */
function withDigest(entry: PackEntry): PackEntry {
  if (!('file' in entry.source) || statSync(entry.source.file).size < 1 << 20) return entry
  return { ...entry, sha256: fileDigest(entry.source.file) }
}

export async function pack(root: string, output: string, format: 'tar.gz' | 'zip' = 'tar.gz', name = BUNDLE_NAME): Promise<string> {
  const entries = (await entriesFromFolder(root, name)).map(withDigest)
  await writeBundleArchive(entries, output, { format, mtime: MTIME, gzip: { cache: memberCache() } })
  return output
}

export async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
  return { code, stdout, stderr }
}

export { type ZipItem, zipBytes } from '../fixtures/zip.js'
