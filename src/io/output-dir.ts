/**
 * Writes a set of files as a new folder atomically: everything goes to a hidden sibling first and is
 * renamed into place only when complete, so a failure leaves nothing half-written behind.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { UsageError } from '../model/errors.js'

export interface OutputFile {
  path: string
  content: string | Uint8Array
  mode: string
}

export function writeFolderAtomically(target: string, files: OutputFile[]): void {
  const out = resolve(target)
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new UsageError(`--out ${target} exists and is not a folder`)
    if (readdirSync(out).length > 0) {
      throw new UsageError(`--out ${target} is not empty`, { hint: 'Give a new or empty folder; edgebundle never mixes its output with other files.' })
    }
  }
  const parent = dirname(out)
  mkdirSync(parent, { recursive: true })
  const staging = join(parent, `.${basename(out)}.tmp-${randomBytes(6).toString('hex')}`)
  try {
    for (const file of files) {
      if (file.path.startsWith('/') || file.path.split('/').includes('..')) throw new Error(`internal: output path escapes the folder: ${file.path}`)
      const path = join(staging, file.path)
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, file.content)
      chmodSync(path, Number.parseInt(file.mode, 8)) // exact mode, whatever the umask
    }
    if (existsSync(out)) rmdirSync(out)
    renameSync(staging, out)
  } catch (error) {
    rmSync(staging, { recursive: true, force: true })
    throw error
  }
}
