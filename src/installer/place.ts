/**
 * Putting files, symlinks and folders on the node, each idempotent, journaled and atomic, in exactly the
 * order docs/node-state.md fixes ("Order of operations"), because install.sh does the same and the two
 * must leave identical trees. Nothing is touched when it is already right; a dry run only says what it
 * would do.
 */
import { createHash } from 'node:crypto'
import { join as hostJoin } from 'node:path'
import type { Stats } from 'node:fs'
import { climbsOut } from '../archive/paths.js'
import { EdgebundleError, EXIT } from '../model/errors.js'
import type { Journal, NodePaths } from './journal.js'
import type { NodeFs } from './node-fs.js'
import { sha256File } from './verify.js'

/** A step failed on this node (exit 1, after its run is rolled back). */
export class StepError extends EdgebundleError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.stepFailed, hint === undefined ? {} : { hint })
  }
}

export const TMP_SUFFIX = '.edgebundle-tmp'

/**
 * What to place: a host file, bytes, or (dry runs only, which never write) just the content's SHA-256,
 * asked for only when there is a file to compare it with.
 */
export type FileSource = { file: string; move?: boolean } | { data: Buffer } | { sha256: () => Promise<string> }

export interface PlaceEvents {
  /** A change made (or, in a dry run, one that would be made); `path` is the node path changed, if any. */
  change(action: string, path?: string): void
  unchanged(): void
}

const modeBits = (stat: Stats) => stat.mode & 0o7777

async function sha256Of(source: FileSource): Promise<string> {
  if ('data' in source) return createHash('sha256').update(source.data).digest('hex')
  if ('sha256' in source) return source.sha256()
  return (await sha256File(source.file)).sha256
}

export class Placer {
  /** The plan step making the changes: the journal's `<step>` field. */
  step = ''

  constructor(
    private readonly fs: NodeFs,
    readonly journal: Journal,
    readonly paths: NodePaths,
    private readonly options: { dryRun: boolean; root: string | undefined },
    readonly events: PlaceEvents,
  ) {}

  /** Paths a dry run would change: restart decisions in a dry run cannot read them from the journal. */
  private readonly wouldChange: string[] = []

  private note(action: string, path: string): void {
    if (this.options.dryRun) this.wouldChange.push(path)
    this.events.change(action, path)
  }

  /** A dry run would change `prefix` or a path below it. */
  changedInDryRun(prefix: string): boolean {
    return this.wouldChange.some((path) => this.paths.isAtOrUnder(path, prefix))
  }

  private host(path: string): string {
    return this.paths.host(path)
  }

  /** Follows symlinks: a folder reached through one (merged /usr: /bin -> usr/bin) is a folder. */
  private async isDir(path: string): Promise<boolean> {
    let current = this.host(path)
    for (let hops = 0; hops < 40; hops++) {
      const stat = await this.fs.lstat(current)
      if (stat === null) return false
      if (!stat.isSymbolicLink()) return stat.isDirectory()
      const target = await this.fs.readlink(current)
      current = target.startsWith('/') ? this.host(target) : hostJoin(current, '..', target)
    }
    return false
  }

  /**
   * Under --root, refuses a path whose folders include a symlink leading out of the root: an absolute
   * target means a path on this machine, not in the image; so does a relative one climbing above it.
   */
  async guard(path: string): Promise<void> {
    if (this.options.root === undefined || this.paths.style !== 'posix') return
    const parts = path.split('/').filter((part) => part !== '')
    let current = ''
    for (let depth = 0; depth < parts.length - 1; depth++) {
      current += `/${parts[depth]}`
      const stat = await this.fs.lstat(this.host(current))
      if (stat === null || !stat.isSymbolicLink()) continue
      const target = await this.fs.readlink(this.host(current))
      if (target.startsWith('/') || climbsOut(parts.slice(0, depth + 1).join('/'), target)) {
        throw new StepError(`refusing ${path}: ${this.host(current)} is a symlink to ${target}, which leads out of ${this.options.root}`)
      }
    }
  }

  /** Missing folders above `path`, created top down (0755), each recorded before it is made. */
  private async makeParents(path: string): Promise<void> {
    for (const dir of this.paths.ancestors(path)) {
      if (await this.isDir(dir)) continue
      if ((await this.fs.lstat(this.host(dir))) !== null) throw new StepError(`${dir} exists and is not a folder; the bundle needs a folder there`)
      await this.recordDir(dir)
      await this.fs.mkdir(this.host(dir), 0o755)
    }
  }

  /** `dir` once per run: a run continued after a crash between record and mkdir does not record it twice. */
  private async recordDir(path: string): Promise<void> {
    const run = await this.journal.open()
    if (!this.journal.recordsInRun(path).has('dir')) await this.journal.append({ op: 'dir', run, step: this.step, path })
  }

  /** Saves what is at `path` (a file or symlink) as the run's backup and records `replace`, or records `new`. */
  private async recordBeforeChange(path: string, existing: Stats | null): Promise<void> {
    const run = await this.journal.open()
    const recorded = this.journal.recordsInRun(path)
    if (recorded.has('new') || recorded.has('replace')) return
    if (existing === null) {
      await this.journal.append({ op: 'new', run, step: this.step, path })
      return
    }
    const backup = this.paths.backupPath(run, path)
    // The backup's folders are state, not node changes: made as needed, never journaled.
    const backupRoot = this.paths.join(this.paths.stateDir, 'backup')
    for (const dir of this.paths.ancestors(backup).filter((dir) => this.paths.isAtOrUnder(dir, backupRoot))) {
      if ((await this.fs.lstat(this.host(dir))) === null) await this.fs.mkdir(this.host(dir), 0o755)
    }
    const backupHost = this.host(backup)
    const tmp = backupHost + TMP_SUFFIX
    await this.removeIfPresent(tmp)
    if (existing.isSymbolicLink()) await this.fs.symlink(await this.fs.readlink(this.host(path)), tmp)
    else await this.fs.writeFile(tmp, { file: this.host(path) }, modeBits(existing))
    await this.fs.rename(tmp, backupHost)
    await this.journal.append({ op: 'replace', run, step: this.step, path })
  }

  private async removeIfPresent(hostPath: string): Promise<void> {
    if ((await this.fs.lstat(hostPath)) !== null) await this.fs.unlink(hostPath)
  }

  /**
   * The node's own content of `path` from before edgebundle first changed it: the oldest backup when a
   * run replaced it, nothing when a run created it, else what is there now (null when absent or not a
   * regular file).
   */
  async originalContent(path: string): Promise<Buffer | null> {
    const first = this.journal.records.find((record) => (record.op === 'new' || record.op === 'replace') && record.path === path)
    if (first?.op === 'new') return null
    const host = first ? this.host(this.paths.backupPath(first.run, path)) : this.host(path)
    const stat = await this.fs.lstat(host)
    return stat?.isFile() ? this.fs.readFile(host) : null
  }

  /** A folder at `path`; an existing one is left as it is, mode included. */
  async ensureDir(path: string, mode: number): Promise<void> {
    if (await this.isDir(path)) return
    if ((await this.fs.lstat(this.host(path))) !== null) throw new StepError(`${path} exists and is not a folder; the bundle needs a folder there`)
    await this.guard(path)
    if (this.options.dryRun) return this.note(`create folder ${path}`, path)
    await this.journal.open()
    await this.makeParents(path)
    await this.recordDir(path)
    await this.fs.mkdir(this.host(path), mode)
    this.note(`created folder ${path}`, path)
  }

  /** `source` at `path` with `mode` (octal number), unless it is there already. */
  async placeFile(source: FileSource, path: string, mode: number): Promise<void> {
    const target = this.host(path)
    await this.guard(path)
    const existing = await this.fs.lstat(target)
    if (existing !== null && existing.isFile() && (await sha256Of(source)) === (await sha256File(target)).sha256) {
      // Windows has no Unix modes (Node reports 0666 or 0444): the content is all there is to compare.
      if (modeBits(existing) === mode || process.platform === 'win32') return this.events.unchanged()
      if (this.options.dryRun) return this.note(`set mode ${mode.toString(8)} on ${path}`, path)
      const run = await this.journal.open()
      if (this.journal.recordsInRun(path).size === 0) {
        await this.journal.append({ op: 'mode', run, step: this.step, oldMode: modeBits(existing).toString(8), path })
      }
      await this.fs.chmod(target, mode)
      return this.note(`set mode ${mode.toString(8)} on ${path}`, path)
    }
    if (existing !== null && existing.isDirectory()) throw new StepError(`${path} is a folder; the bundle installs a file there`)
    if (this.options.dryRun) return this.note(`write ${path}`, path)
    if ('sha256' in source) throw new Error(`internal: ${path} has no content to write, only its digest`)
    await this.journal.open()
    await this.makeParents(path)
    await this.recordBeforeChange(path, existing)
    const tmp = target + TMP_SUFFIX
    await this.removeIfPresent(tmp)
    await this.fs.writeFile(tmp, 'data' in source ? source.data : source, mode)
    await this.fs.rename(tmp, target)
    this.note(`wrote ${path}`, path)
  }

  /** A symlink at `path` to `target` (as the node sees it, not under --root). */
  async placeSymlink(target: string, path: string): Promise<void> {
    const link = this.host(path)
    await this.guard(path)
    const existing = await this.fs.lstat(link)
    if (existing !== null && existing.isSymbolicLink() && (await this.fs.readlink(link)) === target) return this.events.unchanged()
    if (existing !== null && existing.isDirectory()) throw new StepError(`${path} is a folder; the bundle puts a symlink there`)
    if (this.options.dryRun) return this.note(`link ${path} -> ${target}`, path)
    await this.journal.open()
    await this.makeParents(path)
    await this.recordBeforeChange(path, existing)
    const tmp = link + TMP_SUFFIX
    await this.removeIfPresent(tmp)
    await this.fs.symlink(target, tmp)
    await this.fs.rename(tmp, link)
    this.note(`linked ${path} -> ${target}`, path)
  }

  /**
   * Every folder, file and symlink of the host folder `tree` placed under the node folder `dest`, in
   * byte order of tree-relative paths (what `find | LC_ALL=C sort` gives install.sh), the top first.
   * `contentOf` supplies a file's content when the tree only has its shape (a dry run's). With `consume`
   * the tree is the caller's to give up: its files may be moved into place rather than copied.
   */
  async copyTree(tree: string, dest: string, options: { contentOf?: (relative: string) => FileSource; consume?: boolean } = {}): Promise<void> {
    await this.ensureDir(dest, 0o755)
    for (const relative of await listTree(this.fs, tree)) {
      const source = hostJoin(tree, ...relative.split('/'))
      const node = this.paths.join(dest, ...relative.split('/'))
      const stat = (await this.fs.lstat(source))!
      if (stat.isSymbolicLink()) await this.placeSymlink(await this.fs.readlink(source), node)
      else if (stat.isDirectory()) await this.ensureDir(node, modeBits(stat))
      else await this.placeFile(options.contentOf?.(relative) ?? { file: source, move: options.consume === true }, node, modeBits(stat))
    }
  }
}

/** Tree-relative paths below `tree` ('/'-separated), sorted by their UTF-8 bytes. */
export async function listTree(fs: NodeFs, tree: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (dir: string, prefix: string) => {
    for (const name of await fs.readdir(dir)) {
      const relative = prefix === '' ? name : `${prefix}/${name}`
      out.push(relative)
      const stat = await fs.lstat(hostJoin(dir, name))
      if (stat?.isDirectory()) await walk(hostJoin(dir, name), relative)
    }
  }
  await walk(tree, '')
  return out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
}
