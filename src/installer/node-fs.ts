/**
 * Every change the installer makes to the node's filesystem goes through NodeFs: one seam, so tests can
 * stop the process at any write (the crash tests SIGKILL it there) and a dry run can prove it wrote
 * nothing. hostFs() is the real one.
 *
 * Paths here are host paths (already mapped under --root); the journal and the placer do the mapping.
 */
import type { Stats } from 'node:fs'
import { constants, existsSync } from 'node:fs'
import { chmod, lstat, mkdir, open, readFile, readdir, readlink, rename, rm, rmdir, symlink, unlink } from 'node:fs/promises'
import { reusedChunks } from '../io/file-chunks.js'

export interface NodeFs {
  /** lstat, or null when nothing is there (ENOENT, ENOTDIR). */
  lstat(path: string): Promise<Stats | null>
  readlink(path: string): Promise<string>
  readFile(path: string): Promise<Buffer>
  readdir(path: string): Promise<string[]>
  /** One folder (its parent exists); mode applied exactly, whatever the umask. */
  mkdir(path: string, mode: number): Promise<void>
  chmod(path: string, mode: number): Promise<void>
  /**
   * Creates or truncates `path` with `data` (bytes or a file's content), sets `mode`, fsyncs it. With
   * `move`, the caller gives the file up: it may be renamed to `path` instead of copied.
   */
  writeFile(path: string, data: Buffer | { file: string; move?: boolean }, mode: number): Promise<void>
  rename(from: string, to: string): Promise<void>
  symlink(target: string, path: string): Promise<void>
  unlink(path: string): Promise<void>
  rmdir(path: string): Promise<void>
  /** rm -rf: state bookkeeping only (a run's backup folder), never a node path the plan names. */
  removeTree(path: string): Promise<void>
  /** Appends and fsyncs: a journal record is on disk before the change it announces. */
  appendDurable(path: string, text: string): Promise<void>
}

const isMissing = (error: unknown) => {
  const code = (error as NodeJS.ErrnoException).code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

/** Stream size for copying a file into place: large enough for few syscalls, small enough for 256 MiB boards. */
const COPY_CHUNK = 1024 * 1024

/**
 * A renamed file keeps the security label or ACL of the folder it was made in, where a copy takes the
 * one its new folder gives: SELinux would label a binary moved from /var/tmp tmp_t (which services may
 * not execute), and NTFS would keep the temp folder's ACL. Only elsewhere is moving the same as copying.
 */
const MOVE_KEEPS_LABELS = process.platform === 'win32' || existsSync('/sys/fs/selinux/enforce')

/**
 * Renames `from` (a regular file with no other name: a second name would make the two files one) to
 * `to`, and says whether it did. Another filesystem (EXDEV), a labelling system, or anything else
 * unusual: false, and the caller copies.
 */
async function movedInto(from: string, to: string): Promise<boolean> {
  if (MOVE_KEEPS_LABELS) return false
  try {
    const stat = await lstat(from)
    if (!stat.isFile() || stat.nlink !== 1) return false
    await rename(from, to)
    return true
  } catch {
    return false
  }
}

export function hostFs(): NodeFs {
  return {
    async lstat(path) {
      try {
        return await lstat(path)
      } catch (error) {
        if (isMissing(error)) return null
        throw error
      }
    },
    readlink: (path) => readlink(path),
    readFile: (path) => readFile(path),
    readdir: (path) => readdir(path),
    async mkdir(path, mode) {
      await mkdir(path, { mode })
      await chmod(path, mode)
    },
    chmod: (path, mode) => chmod(path, mode),
    async writeFile(path, data, mode) {
      if (!Buffer.isBuffer(data) && data.move === true && (await movedInto(data.file, path))) {
        const handle = await open(path, constants.O_WRONLY)
        try {
          await handle.chmod(mode)
          await handle.sync()
        } finally {
          await handle.close()
        }
        return
      }
      const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode)
      try {
        if (Buffer.isBuffer(data)) {
          await handle.write(data)
        } else {
          for await (const chunk of reusedChunks(data.file, COPY_CHUNK)) {
            let written = 0
            while (written < chunk.length) written += (await handle.write(chunk, written, chunk.length - written)).bytesWritten
          }
        }
        await handle.chmod(mode)
        await handle.sync()
      } finally {
        await handle.close()
      }
    },
    rename: (from, to) => rename(from, to),
    symlink: (target, path) => symlink(target, path),
    unlink: (path) => unlink(path),
    rmdir: (path) => rmdir(path),
    removeTree: (path) => rm(path, { recursive: true, force: true }),
    async appendDurable(path, text) {
      const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o644)
      try {
        await handle.write(text)
        await handle.datasync()
      } finally {
        await handle.close()
      }
    },
  }
}
