/**
 * The journal: the installer's write-ahead log of every change it makes to the node, the contract in
 * docs/node-state.md (install.sh keeps the same file, byte for byte). A record is appended, and flushed,
 * before the change it announces; rollback walks a run's records backwards.
 *
 * Record parsing and formatting are pure; the Journal class does its I/O through NodeFs.
 */
import { posix, win32 } from 'node:path'
import { EdgebundleError, EXIT } from '../model/errors.js'
import { LINUX_PATHS, WINDOWS_PATHS } from '../model/layout.js'
import type { NodeFs } from './node-fs.js'
import { nodePath } from './bundle.js'

export type JournalRecord =
  | { op: 'begin'; run: number; name: string }
  | { op: 'dir' | 'new' | 'replace'; run: number; step: string; path: string }
  | { op: 'mode'; run: number; step: string; oldMode: string; path: string }
  | { op: 'service' | 'container'; run: number; step: string; name: string }
  | { op: 'package'; run: number; step: string; manager: string; name: string }
  | { op: 'end'; run: number }

export type PathRecord = Extract<JournalRecord, { path: string }>

/** The step field of the folders made for the state folder itself. */
export const STATE_STEP = '-'

/**
 * The step field holds no space (fields are space-separated): a Windows step id such as
 * write-file:C:\\Program Files\\… has its spaces (and so its percent signs) percent-encoded.
 */
const encodeStep = (step: string) => step.replace(/%/g, '%25').replace(/ /g, '%20')
const decodeStep = (step: string) => step.replace(/%20/g, ' ').replace(/%25/g, '%')

export function formatRecord(record: JournalRecord): string {
  if ('step' in record) record = { ...record, step: encodeStep(record.step) }
  switch (record.op) {
    case 'begin':
      return `begin ${record.run} ${record.name}`
    case 'dir':
    case 'new':
    case 'replace':
      return `${record.op} ${record.run} ${record.step} ${record.path}`
    case 'mode':
      return `mode ${record.run} ${record.step} ${record.oldMode} ${record.path}`
    case 'service':
    case 'container':
      return `${record.op} ${record.run} ${record.step} ${record.name}`
    case 'package':
      return `package ${record.run} ${record.step} ${record.manager} ${record.name}`
    case 'end':
      return `end ${record.run}`
  }
}

/** How many space-separated fields each op has before its last one (which may hold spaces). */
const LEADING_FIELDS: Record<JournalRecord['op'], number> = {
  begin: 2,
  dir: 3,
  new: 3,
  replace: 3,
  mode: 4,
  service: 3,
  container: 3,
  package: 4,
  end: 2,
}

export class JournalError extends EdgebundleError {
  constructor(message: string) {
    super(message, EXIT.stepFailed, {
      hint: 'The journal was edited or damaged; nothing was changed. Fix or move it aside only if you know what the installs did.',
    })
  }
}

export function parseRecord(line: string, lineNumber: number): JournalRecord {
  const bad = (why: string) => new JournalError(`journal line ${lineNumber} is not a record (${why}): ${JSON.stringify(line.slice(0, 200))}`)
  const fields = line.split(' ')
  const op = fields[0] as JournalRecord['op']
  if (!Object.hasOwn(LEADING_FIELDS, op)) throw bad('unknown record kind')
  const leading = LEADING_FIELDS[op]
  // `end` has no free-text last field; every other record has one, possibly with spaces.
  if (op === 'end' ? fields.length !== leading : fields.length <= leading) throw bad('wrong number of fields')
  const last = fields.slice(leading).join(' ')
  if (op !== 'end' && last === '') throw bad('empty last field')
  if (!/^[1-9][0-9]*$/.test(fields[1]!)) throw bad('run is not a positive number')
  const run = Number(fields[1])
  const step = decodeStep(fields[2] ?? '')
  switch (op) {
    case 'begin':
      return { op, run, name: last }
    case 'dir':
    case 'new':
    case 'replace':
      return { op, run, step, path: last }
    case 'mode':
      if (!/^[0-7]{1,4}$/.test(fields[3]!)) throw bad('mode is not octal')
      return { op, run, step, oldMode: fields[3]!, path: last }
    case 'service':
    case 'container':
      return { op, run, step, name: last }
    case 'package':
      return { op, run, step, manager: fields[3]!, name: last }
    case 'end':
      return { op, run }
  }
}

export function parseJournal(text: string): JournalRecord[] {
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  return lines.map((line, index) => parseRecord(line, index + 1))
}

/** Node path conventions of the plan's OS, and the mapping to host paths under --root. */
export interface NodePaths {
  style: 'posix' | 'windows'
  /** The state folder as a node path. */
  stateDir: string
  /** The host path of a node path (under --root DIR when given). */
  host(path: string): string
  /** The folders above `path`, top down, drive roots and / excluded. */
  ancestors(path: string): string[]
  /** `<state>/backup/<run><path>` as a node path. */
  backupPath(run: number, path: string): string
  join(...parts: string[]): string
  dirname(path: string): string
  /** path equals `prefix` or lies below it. */
  isAtOrUnder(path: string, prefix: string): boolean
}

export function nodePaths(style: 'posix' | 'windows', root: string | undefined): NodePaths {
  const lib = style === 'posix' ? posix : win32
  const stateDir = style === 'posix' ? LINUX_PATHS.stateDir : WINDOWS_PATHS.stateDir
  return {
    style,
    stateDir,
    host: (path) => nodePath(path, root),
    ancestors(path) {
      const out: string[] = []
      let current = lib.dirname(path)
      while (current !== lib.dirname(current)) {
        out.unshift(current)
        current = lib.dirname(current)
      }
      // A drive (C:\) is a folder too under --root: <root>/C may not exist yet in an image being made.
      if (style === 'windows' && root !== undefined && /^[A-Za-z]:\\$/.test(current)) out.unshift(current)
      return out
    },
    backupPath(run, path) {
      if (style === 'posix') return `${stateDir}/backup/${run}${path}`
      const drive = /^([A-Za-z]):\\(.*)$/.exec(path)
      return drive ? lib.join(stateDir, 'backup', String(run), drive[1]!.toUpperCase(), drive[2]!) : lib.join(stateDir, 'backup', String(run), path)
    },
    join: (...parts) => lib.join(...parts),
    dirname: (path) => lib.dirname(path),
    isAtOrUnder(path, prefix) {
      if (prefix === lib.sep || prefix === '/') return true
      const compare = style === 'windows' ? (s: string) => s.toLowerCase() : (s: string) => s
      const p = compare(path)
      const q = compare(prefix.endsWith(lib.sep) ? prefix.slice(0, -1) : prefix)
      return p === q || p.startsWith(q + lib.sep)
    },
  }
}

export interface RunSummary {
  run: number
  name: string
  finished: boolean
  records: JournalRecord[]
}

/** Groups records by run, in journal order. */
export function runsOf(records: readonly JournalRecord[]): RunSummary[] {
  const runs = new Map<number, RunSummary>()
  for (const record of records) {
    let summary = runs.get(record.run)
    if (!summary) {
      summary = { run: record.run, name: '', finished: false, records: [] }
      runs.set(record.run, summary)
    }
    if (record.op === 'begin') summary.name = record.name
    if (record.op === 'end') summary.finished = true
    summary.records.push(record)
  }
  return [...runs.values()]
}

export class Journal {
  records: JournalRecord[] = []
  /** The run this process writes to, once it opened the journal. */
  private openRun: number | null = null

  constructor(
    private readonly fs: NodeFs,
    readonly paths: NodePaths,
    private readonly bundleName: string,
  ) {}

  get file(): string {
    return this.paths.host(this.paths.join(this.paths.stateDir, 'journal'))
  }

  async load(): Promise<this> {
    const stat = await this.fs.lstat(this.file)
    if (stat === null) {
      this.records = []
      return this
    }
    if (!stat.isFile()) throw new JournalError(`${this.file} is not a regular file`)
    this.records = parseJournal((await this.fs.readFile(this.file)).toString('utf8'))
    return this
  }

  runs(): RunSummary[] {
    return runsOf(this.records)
  }

  /**
   * The run whose records count as "this run" for the once-per-path rule: the one opened, else an
   * interrupted last run (which the next change continues), else none yet.
   */
  currentRun(): number | null {
    if (this.openRun !== null) return this.openRun
    const last = this.runs().at(-1)
    return last && !last.finished ? last.run : null
  }

  get isOpen(): boolean {
    return this.openRun !== null
  }

  /** The kinds of record the current run has for `path` (empty when none). */
  recordsInRun(path: string): Set<PathRecord['op']> {
    const run = this.currentRun()
    const kinds = new Set<PathRecord['op']>()
    if (run === null) return kinds
    for (const record of this.records) {
      if (record.run === run && 'path' in record && record.path === path) kinds.add(record.op)
    }
    return kinds
  }

  /** Whether the current run changed `prefix` or anything below it (restart decisions). */
  changedAtOrUnder(prefix: string): boolean {
    const run = this.currentRun()
    if (run === null) return false
    return this.records.some((record) => record.run === run && 'path' in record && record.step !== STATE_STEP && this.paths.isAtOrUnder(record.path, prefix))
  }

  /** Opens the journal for this process's run at its first change (docs/node-state.md "Runs"). */
  async open(): Promise<number> {
    if (this.openRun !== null) return this.openRun
    const continued = this.currentRun()
    if (continued !== null) {
      this.openRun = continued
      return continued
    }
    const last = this.runs().at(-1)
    const run = last ? last.run + 1 : 1
    const lines: JournalRecord[] = [{ op: 'begin', run, name: this.bundleName }]
    if ((await this.fs.lstat(this.file)) === null) {
      // The first run ever: make the state folder, remembering which folders it took to get there.
      for (const dir of [...this.paths.ancestors(this.paths.stateDir), this.paths.stateDir]) {
        const host = this.paths.host(dir)
        const stat = await this.fs.lstat(host)
        if (stat !== null) continue
        await this.fs.mkdir(host, 0o755)
        lines.push({ op: 'dir', run, step: STATE_STEP, path: dir })
      }
    }
    await this.fs.appendDurable(this.file, lines.map((record) => `${formatRecord(record)}\n`).join(''))
    this.records.push(...lines)
    this.openRun = run
    return run
  }

  async append(record: JournalRecord): Promise<void> {
    await this.fs.appendDurable(this.file, `${formatRecord(record)}\n`)
    this.records.push(record)
  }

  /**
   * Closes the run with `end`: the one this process opened, or an interrupted one it found with nothing
   * left to change (the crash came after its last change), which is now complete all the same.
   */
  async finish(): Promise<void> {
    const run = this.currentRun()
    if (run === null) return
    await this.append({ op: 'end', run })
    this.openRun = null
  }

  /** Rewrites the journal without `run`'s records (atomically); removes it when nothing remains. */
  async dropRun(run: number): Promise<void> {
    this.records = this.records.filter((record) => record.run !== run)
    if (this.openRun === run) this.openRun = null
    if (this.records.length === 0) {
      if ((await this.fs.lstat(this.file)) !== null) await this.fs.unlink(this.file)
      return
    }
    const tmp = `${this.file}.edgebundle-tmp`
    if ((await this.fs.lstat(tmp)) !== null) await this.fs.unlink(tmp)
    await this.fs.writeFile(tmp, Buffer.from(this.records.map((record) => `${formatRecord(record)}\n`).join('')), 0o644)
    await this.fs.rename(tmp, this.file)
  }
}
