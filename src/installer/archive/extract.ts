/**
 * Unpacks an archive into an empty scratch folder, as GNU tar does as root with -o, checking every
 * member by install.sh's rules, then checks the tree like install.sh's check_tree. A refused archive
 * leaves the folder empty.
 */
import { constants } from 'node:fs'
import { chmod, link, lstat, mkdir, open, readdir, readlink, realpath, rm, rmdir, symlink, unlink } from 'node:fs/promises'
import type { ArchiveFormat } from './decompress.js'
import { ArchiveError, UnsafeArchiveError, shown } from './errors.js'
import { type ArchiveMember, TreeRules } from './rules.js'
import { type ReadOptions, forEachMember, scanArchive } from './scan.js'

export interface ExtractOptions extends ReadOptions {
  /** A scan of this archive made earlier in the run. */
  scanned?: readonly ArchiveMember[]
  /**
   * false: files are created empty, with their modes: the tree's shape without its bytes, built from the
   * scan alone (no second decompression), which is all a dry run needs to check the tree and list it.
   */
  contents?: boolean
}

/**
 * Unpacks a checked archive into `into`, which must exist and be empty. Given the members of an earlier
 * scan, the one pass checks that it reads what the scan checked; without one, each member is checked by
 * the rules as it arrives and the checks that need the whole archive run at the end. Either way the tree
 * is checked like install.sh's check_tree before this returns, and on any failure `into` is emptied
 * again. Returns the members, in archive order.
 */
export async function extractArchive(file: string, format: ArchiveFormat, strip: number, into: string, options: ExtractOptions = {}): Promise<ArchiveMember[]> {
  const top = await realpath(into)
  if ((await readdir(top)).length > 0) throw new Error(`internal: ${into} must be empty to unpack ${file} into it`)
  const writer = new TreeWriter(top)
  const members: ArchiveMember[] = options.scanned ? [...options.scanned] : []
  try {
    if (options.contents === false) {
      if (!options.scanned) members.push(...(await scanArchive(file, format, strip, options)))
      for (const member of members) await writer.put(member, [])
    } else if (options.scanned) {
      let index = 0
      await forEachMember(file, format, strip, options, async (member, reader) => {
        // The pass must see what the scan checked; a file rewritten in between is not unpacked.
        const scanned = members[index++]
        if (scanned === undefined || !sameMember(scanned, member)) throw changed(file)
        await writer.put(member, reader.data())
      })
      if (index !== members.length) throw changed(file)
    } else {
      // One decompression instead of two. Writing before the whole archive is known is safe in the
      // scratch folder: a member is written only after the rules passed it, TreeWriter never writes
      // through a symlink, and what the end-of-archive rules or the tree check refuse is removed again.
      const rules = new TreeRules(file)
      await forEachMember(file, format, strip, options, async (member, reader) => {
        rules.add(member)
        members.push(member)
        await writer.put(member, reader.data())
      })
      rules.finish()
    }
    await checkTree(file, top)
    await writer.applyFolderModes()
  } catch (error) {
    await emptyFolder(top)
    throw error
  }
  return members
}

function changed(file: string): ArchiveError {
  return new ArchiveError(file, `cannot read the archive ${file}: it changed while it was being unpacked`)
}

function sameMember(a: ArchiveMember, b: ArchiveMember): boolean {
  return a.name === b.name && a.type === b.type && a.mode === b.mode && a.size === b.size && a.linkTarget === b.linkTarget
}

/** Files are created only where nothing is, and never through a symlink (O_EXCL, O_NOFOLLOW). */
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

/**
 * Writes members under `top`. The rules (rules.ts) refuse an archive with a member reached through a
 * symlink, and parents() refuses to go through one even before they have seen the whole archive: a
 * folder is made, or found to be a real folder, before anything is written below it.
 */
class TreeWriter {
  /** Folders known to exist (made or checked), relative to top. */
  private readonly folders = new Set<string>()
  /** Modes to give folders at the end, as tar does once their content is in (a 0555 folder must stay writable until then). */
  private readonly folderModes = new Map<string, number>()

  constructor(private readonly top: string) {}

  async put(member: ArchiveMember, data: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
    const path = `${this.top}/${member.name}`
    await this.parents(member.name)
    switch (member.type) {
      case 'dir': {
        const existing = await lstatOrNull(path)
        if (existing === null || !existing.isDirectory()) {
          if (existing !== null) await unlink(path)
          await mkdir(path, 0o700)
          this.folders.add(member.name)
        }
        this.folderModes.set(member.name, member.mode)
        return
      }
      case 'file':
        await this.clear(member.name, path)
        return this.writeFile(path, member.mode, data)
      case 'symlink':
        await this.clear(member.name, path)
        return symlink(member.linkTarget ?? '', path)
      case 'hardlink': {
        const target = member.linkTarget ?? ''
        // A link to itself is already there; GNU tar accepts it too.
        if (target === member.name) return
        await this.clear(member.name, path)
        return link(`${this.top}/${target}`, path)
      }
    }
  }

  /** Deepest first: a folder without write or search permission must not stop its children. */
  async applyFolderModes(): Promise<void> {
    const folders = [...this.folderModes].sort(([a], [b]) => b.split('/').length - a.split('/').length)
    for (const [name, mode] of folders) await chmod(`${this.top}/${name}`, mode)
  }

  /** The missing folders above a member: 0755, as GNU tar makes them under umask 022, whatever our umask. */
  private async parents(name: string): Promise<void> {
    let slash = name.indexOf('/')
    while (slash !== -1) {
      const folder = name.slice(0, slash)
      slash = name.indexOf('/', slash + 1)
      if (this.folders.has(folder)) continue
      const path = `${this.top}/${folder}`
      try {
        await mkdir(path, 0o700)
        this.folderModes.set(folder, 0o755)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        if (!(await lstat(path)).isDirectory()) throw new Error(`cannot unpack ${name}: ${folder} is not a folder`)
      }
      this.folders.add(folder)
    }
  }

  /** A later member of the same name replaces the earlier one (unlinked, so a hard link to it keeps the old content). */
  private async clear(name: string, path: string): Promise<void> {
    const existing = await lstatOrNull(path)
    if (existing === null) return
    if (existing.isDirectory()) {
      await rmdir(path)
      this.folders.delete(name)
      this.folderModes.delete(name)
    } else await unlink(path)
  }

  private async writeFile(path: string, mode: number, data: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
    const handle = await open(path, CREATE, 0o600)
    try {
      for await (const chunk of data) {
        let written = 0
        while (written < chunk.length) written += (await handle.write(chunk, written, chunk.length - written)).bytesWritten
      }
      // Explicit, so the umask does not matter. mode is & 0o777: setuid, setgid and sticky bits of an
      // upstream archive are dropped (nothing we install needs them, and a setuid binary is a risk).
      await handle.chmod(mode)
    } finally {
      await handle.close()
    }
  }
}

async function lstatOrNull(path: string) {
  try {
    return await lstat(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}

/**
 * install.sh's check_tree: only files, folders and symlinks that resolve inside the tree (catches link
 * chains a member list cannot show, such as a -> . and b -> a/a/..).
 */
export async function checkTree(file: string, top: string): Promise<void> {
  const pending = ['']
  for (let folder = pending.pop(); folder !== undefined; folder = pending.pop()) {
    for (const entry of await readdir(`${top}${folder}`, { withFileTypes: true })) {
      const rel = `${folder}/${entry.name}`
      const name = rel.slice(1)
      if (entry.isDirectory()) pending.push(rel)
      else if (entry.isSymbolicLink()) {
        const resolved = await resolveLink(`${top}${rel}`)
        if (resolved === null) throw new UnsafeArchiveError(file, `the symlink ${shown(name)} cannot be resolved`, name)
        if (resolved !== top && !resolved.startsWith(`${top}/`)) {
          throw new UnsafeArchiveError(file, `the symlink ${shown(name)} leads out of the archive`, name)
        }
      } else if (!entry.isFile()) throw new UnsafeArchiveError(file, `${shown(name)} is not a regular file`, name)
    }
  }
}

/**
 * What `readlink -f` gives (check_tree's test): every symlink followed, every component but the last
 * must exist. null when it cannot be resolved (a loop, a missing folder).
 */
async function resolveLink(path: string): Promise<string | null> {
  try {
    return await realpath(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return null
  }
  // Dangling at the end: follow by hand. Paths are joined as text, never normalized, so a '..' after a
  // symlink is resolved by the kernel (in realpath), not lexically.
  let current = path
  for (let hops = 0; hops < 40; hops++) {
    const slash = current.lastIndexOf('/')
    let folder: string
    try {
      folder = await realpath(current.slice(0, slash) || '/')
    } catch {
      return null
    }
    const last = current.slice(slash + 1)
    const full = folder === '/' ? `/${last}` : `${folder}/${last}`
    const stats = await lstatOrNull(full).catch(() => null)
    if (stats === null) return last === '' || last === '.' || last === '..' ? null : full
    if (!stats.isSymbolicLink()) return realpath(full).catch(() => null)
    const target = await readlink(full)
    current = target.startsWith('/') ? target : `${folder}/${target}`
  }
  return null
}

/** Removes what was unpacked; `into` itself stays (the caller made it). rm does not follow symlinks. */
async function emptyFolder(top: string): Promise<void> {
  const names = await readdir(top).catch(() => [])
  for (const name of names) await rm(`${top}/${name}`, { recursive: true, force: true }).catch(() => {})
}
