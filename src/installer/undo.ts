/**
 * rollback and uninstall: a run's journal records undone newest first (docs/node-state.md "Rollback and
 * uninstall"). Undoing is forgiving where installing is strict: a file already gone, a folder someone
 * filled, a missing backup are each reported and passed over, so an operator can always get back as far
 * as the node allows.
 */
import type { JournalRecord, Journal, NodePaths } from './journal.js'
import { STATE_STEP } from './journal.js'
import type { Node } from './node.js'
import type { NodeFs } from './node-fs.js'
import { TMP_SUFFIX } from './place.js'

export interface UndoContext {
  /** Files to restore and remove, commands to unregister services and remove packages. */
  node: Pick<Node, 'fs' | 'system'>
  journal: Journal
  paths: NodePaths
  dryRun: boolean
  root: string | undefined
  /** One line per thing undone (or, in a dry run, that would be). */
  note(action: string): void
  warn(message: string): void
}

export interface UndoneRun {
  run: number
  name: string
  finished: boolean
  records: number
}

async function removeIfPresent(fs: NodeFs, hostPath: string): Promise<boolean> {
  const stat = await fs.lstat(hostPath)
  if (stat === null) return false
  await fs.unlink(hostPath)
  return true
}

async function rmdirIfEmpty(fs: NodeFs, hostPath: string): Promise<boolean> {
  const stat = await fs.lstat(hostPath)
  if (stat === null || !stat.isDirectory()) return false
  if ((await fs.readdir(hostPath)).length > 0) return false
  await fs.rmdir(hostPath)
  return true
}

async function undoRecord(context: UndoContext, record: JournalRecord): Promise<void> {
  switch (record.op) {
    case 'begin':
    case 'end':
      return
    case 'new':
    case 'replace':
    case 'mode':
    case 'dir':
      return undoFileRecord(context, record)
    case 'service':
    case 'package':
    case 'container':
      return undoCommandRecord(context, record)
  }
}

/** A file or folder the run created, replaced or re-moded: removed, restored from its backup, or given its old mode. */
async function undoFileRecord(context: UndoContext, record: Extract<JournalRecord, { op: 'new' | 'replace' | 'mode' | 'dir' }>): Promise<void> {
  const { paths, dryRun } = context
  const { fs } = context.node
  switch (record.op) {
    case 'new': {
      const host = paths.host(record.path)
      const stat = await fs.lstat(host)
      if (stat?.isDirectory()) {
        context.warn(`${record.path} is a folder now; left as it is`)
      } else if (stat !== null) {
        context.note(`remove ${record.path}`)
        if (!dryRun) await fs.unlink(host)
      }
      if (!dryRun) await removeIfPresent(fs, host + TMP_SUFFIX)
      return
    }
    case 'replace': {
      const host = paths.host(record.path)
      const backup = paths.host(paths.backupPath(record.run, record.path))
      const saved = await fs.lstat(backup)
      if (saved === null) {
        context.warn(`the backup of ${record.path} is missing; ${record.path} is left as it is`)
        return
      }
      context.note(`restore ${record.path}`)
      if (dryRun) return
      const tmp = host + TMP_SUFFIX
      await removeIfPresent(fs, tmp)
      if (saved.isSymbolicLink()) await fs.symlink(await fs.readlink(backup), tmp)
      else await fs.writeFile(tmp, { file: backup }, saved.mode & 0o7777)
      await fs.rename(tmp, host)
      return
    }
    case 'mode': {
      const host = paths.host(record.path)
      if ((await fs.lstat(host)) === null) return
      context.note(`set mode ${record.oldMode} on ${record.path}`)
      if (!dryRun) await fs.chmod(host, Number.parseInt(record.oldMode, 8))
      return
    }
    case 'dir': {
      // The state folder's own folders go last, once the state folder itself is gone.
      if (record.step === STATE_STEP) return
      const host = paths.host(record.path)
      const stat = await fs.lstat(host)
      if (stat === null || !stat.isDirectory()) return
      if ((await fs.readdir(host)).length > 0) {
        context.warn(`${record.path} is not empty (something else put files there); left in place`)
        return
      }
      context.note(`remove folder ${record.path}`)
      if (!dryRun) await fs.rmdir(host)
      return
    }
  }
}

/** A service, package or container the run set up: taken away with the node's own tools (only on the real node). */
async function undoCommandRecord(context: UndoContext, record: Extract<JournalRecord, { op: 'service' | 'package' | 'container' }>): Promise<void> {
  const { paths, dryRun } = context
  const { system } = context.node
  const onRealNode = context.root === undefined
  switch (record.op) {
    case 'service': {
      if (onRealNode && paths.style === 'windows') {
        // Registered by the install step (containerd.exe --register-service): stopped, then taken out of the service manager.
        context.note(`stop and unregister ${record.name}`)
        if (dryRun) return
        await system.run('sc.exe', ['stop', record.name])
        const result = await system.run('sc.exe', ['delete', record.name])
        if (result.code !== 0) context.warn(`sc.exe delete ${record.name} failed: ${(result.stderr.trim() || result.stdout.trim())}`)
        return
      }
      if (!onRealNode || !system.systemdRunning()) {
        context.warn(`${record.name}: not disabled (${onRealNode ? 'systemd is not running' : '--root'}); disable it by hand`)
        return
      }
      context.note(`disable and stop ${record.name}`)
      if (dryRun) return
      const result = await system.run('systemctl', ['disable', '--now', '--', record.name])
      if (result.code !== 0) context.warn(`systemctl disable --now ${record.name} failed: ${result.stderr.trim()}`)
      return
    }
    case 'package': {
      context.note(`remove package ${record.name}`)
      if (dryRun) return
      const rootArgs = onRealNode ? [] : record.manager === 'dpkg' ? [`--root=${context.root}`] : ['--root', context.root!]
      const result =
        record.manager === 'dpkg' ? await system.run('dpkg', [...rootArgs, '-r', record.name]) : await system.run('rpm', [...rootArgs, '-e', record.name])
      if (result.code !== 0) context.warn(`removing the package ${record.name} failed: ${result.stderr.trim()}`)
      return
    }
    case 'container': {
      if (!onRealNode) return
      context.note(`remove the container ${record.name}`)
      if (dryRun) return
      const result = await system.run('docker', ['rm', '-f', record.name])
      if (result.code !== 0) context.warn(`docker rm -f ${record.name} failed: ${result.stderr.trim()}`)
      return
    }
  }
}

/** Undoes the journal's last run; null when the journal holds none. */
export async function rollbackLastRun(context: UndoContext): Promise<UndoneRun | null> {
  const { journal, paths, dryRun } = context
  const { fs } = context.node
  const last = journal.runs().at(-1)
  if (!last) return null
  for (const record of [...last.records].reverse()) await undoRecord(context, record)
  const undone = { run: last.run, name: last.name, finished: last.finished, records: last.records.length }
  if (dryRun) return undone

  const backupRoot = paths.host(paths.join(paths.stateDir, 'backup'))
  await fs.removeTree(paths.host(paths.join(paths.stateDir, 'backup', String(last.run))))
  await rmdirIfEmpty(fs, backupRoot)
  await journal.dropRun(last.run)
  if (journal.records.length === 0) {
    await rmdirIfEmpty(fs, paths.host(paths.stateDir))
    const stateFolders = last.records.flatMap((record) => (record.op === 'dir' && record.step === STATE_STEP ? [record.path] : []))
    for (const folder of stateFolders.reverse()) await rmdirIfEmpty(fs, paths.host(folder))
  }
  return undone
}

/** Undoes every run, newest first: the node as it was before the first. */
export async function uninstallAll(context: UndoContext): Promise<UndoneRun[]> {
  const undone: UndoneRun[] = []
  if (context.dryRun) {
    // A dry run cannot drop runs from the journal, so it walks them itself.
    for (const run of context.journal.runs().reverse()) {
      for (const record of [...run.records].reverse()) await undoRecord(context, record)
      undone.push({ run: run.run, name: run.name, finished: run.finished, records: run.records.length })
    }
    return undone
  }
  for (;;) {
    const run = await rollbackLastRun(context)
    if (run === null) return undone
    undone.push(run)
  }
}
