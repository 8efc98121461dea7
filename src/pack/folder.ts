/**
 * The pack entries of a staged folder: every regular file under it, at `<prefix>/<relative path>`, with
 * its mode normalized (0755 when the owner may execute it, else 0644: docs/architecture.md "Determinism"). Symbolic
 * links, devices and the like are refused: a bundle holds files and folders only, and a link followed at
 * pack time would smuggle in whatever it points at.
 */
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { PackEntry } from './entries.js'
import { PackError } from './errors.js'

export async function entriesFromFolder(folder: string, prefix: string): Promise<PackEntry[]> {
  const entries: PackEntry[] = []
  const walk = async (dir: string, relative: string) => {
    for (const item of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, item.name)
      const archivePath = relative === '' ? item.name : `${relative}/${item.name}`
      if (item.isDirectory()) await walk(path, archivePath)
      else if (item.isFile()) {
        const { mode } = await lstat(path)
        entries.push({ path: `${prefix}/${archivePath}`, mode: (mode & 0o100) !== 0 ? 0o755 : 0o644, source: { file: path } })
      } else throw new PackError(`${path} is not a regular file or folder; a bundle holds only those`)
    }
  }
  await walk(folder, '')
  return entries
}
