/**
 * After a successful `keadm join`: the edgecore.yaml keys keadm could not set at this KubeEdge version
 * (plan.kubeedge.edgecoreConfig, today the sandbox image before keadm has --set) are written into the
 * edgecore.yaml keadm just wrote, every other line kept as keadm wrote it, then edgecore restarts so
 * edged reads them. keadm join refuses a non-empty /etc/kubeedge, so the file cannot be prepared before.
 *
 * The write is journaled like every other change (its own run: the install's run ended before the join),
 * so `rollback` gives back keadm's file byte for byte.
 */
import type { Plan } from '../model/plan.js'
import type { Journal, NodePaths } from './journal.js'
import type { Node } from './node.js'
import { type Placer, StepError } from './place.js'

export type EdgecoreConfigEdit = NonNullable<Plan['kubeedge']['edgecoreConfig']>

export type EditResult = { changed: false } | { changed: true; content: string }

const KEY_LINE = /^( *)([A-Za-z0-9_.-]+):( |$)/

/**
 * `text` with each value set at its key path, every other line kept byte for byte. keadm writes
 * edgecore.yaml with sigs.k8s.io/yaml (go-yaml block style: one key a line, nesting by indentation), so
 * a key's path is the stack of keys at smaller indentation above it; list items ("- ") never match, since
 * the paths name mappings only. Each key must be there exactly once with a single value: keadm writes the
 * whole configuration, so anything else is a file from another version, refused rather than guessed at.
 * install.sh's edgecore_set does the same with awk, so both executors write the same bytes; no YAML
 * library is needed in the executable.
 */
export function editEdgecoreYaml(text: string, edit: EdgecoreConfigEdit, path: string): EditResult {
  let lines = text.split('\n')
  let changed = false
  for (const { key, value } of edit.set) {
    const stack: { indent: number; key: string }[] = []
    let found = 0
    lines = lines.map((line) => {
      const m = KEY_LINE.exec(line)
      if (!m) return line
      const indent = m[1]!.length
      while (stack.length > 0 && stack.at(-1)!.indent >= indent) stack.pop()
      stack.push({ indent, key: m[2]! })
      if (stack.length !== key.length || !stack.every((entry, i) => entry.key === key[i])) return line
      const rest = line.slice(line.indexOf(':') + 1).replace(/^ +/, '')
      if (rest === '' || /^[|>&*!{[]/.test(rest)) throw new StepError(`${path}: ${key.join('.')} is not a single value`)
      found++
      if (rest === value) return line
      changed = true
      return `${' '.repeat(indent)}${m[2]}: ${value}`
    })
    if (found !== 1) {
      throw new StepError(
        `${path} has ${found === 0 ? 'no' : `${found} times`} ${key.join('.')}, so it cannot be set`,
        'The file does not look like the one keadm join writes for this bundle\'s KubeEdge version; check keadm version.',
      )
    }
  }
  return changed ? { changed: true, content: lines.join('\n') } : { changed: false }
}

export interface EdgecoreConfigContext {
  /** Reads edgecore.yaml, restarts edgecore. */
  node: Pick<Node, 'fs' | 'system'>
  placer: Placer
  journal: Journal
  paths: NodePaths
  events: { info(message: string): void; warn(message: string): void }
}

/** Applies the plan's post-join edit (nothing when the plan has none) and restarts edgecore when it changed something. */
export async function applyEdgecoreConfig(plan: Plan, context: EdgecoreConfigContext): Promise<void> {
  const edit = plan.kubeedge.edgecoreConfig
  if (edit === undefined || edit === null) return
  checkEdit(edit)
  if (edit.set.length === 0) return
  const { placer, journal, paths } = context
  const { fs } = context.node
  const host = paths.host(edit.path)
  const stat = await fs.lstat(host)
  if (stat === null || !stat.isFile()) {
    throw new StepError(`keadm join finished but ${edit.path} is not there`, `Set ${edit.set.map((s) => `${s.key.join('.')}: ${s.value}`).join(', ')} in edgecore's configuration by hand, then restart edgecore.`)
  }
  const result = editEdgecoreYaml((await fs.readFile(host)).toString('utf8'), edit, edit.path)
  const keys = edit.set.map((s) => s.key.join('.')).join(', ')
  if (!result.changed) {
    context.events.info(`${edit.path} already has ${keys}`)
    return
  }
  placer.step = 'edgecore-config'
  await placer.placeFile({ data: Buffer.from(result.content) }, edit.path, stat.mode & 0o7777)
  await journal.finish()
  context.events.info(`wrote ${keys} into ${edit.path} (keadm join cannot set ${edit.set.length === 1 ? 'it' : 'them'} at KubeEdge ${plan.kubeedge.release})`)
  await restartEdgecore(plan, context)
}

/** plan.json is verified before it is read, but its shape is still checked before it steers a write. */
function checkEdit(edit: unknown): asserts edit is EdgecoreConfigEdit {
  const bad = (why: string) => new StepError(`plan.json kubeedge.edgecoreConfig ${why}`, 'Use the plan.json that came in this bundle.')
  if (typeof edit !== 'object' || edit === null) throw bad('is not an object')
  const { path, set } = edit as Record<string, unknown>
  if (typeof path !== 'string' || !/^(\/|[A-Za-z]:\\)[^\0]*edgecore\.yaml$/.test(path)) throw bad('path is not an absolute path to edgecore.yaml')
  if (!Array.isArray(set)) throw bad('set is not a list')
  for (const entry of set as unknown[]) {
    const { key, value } = (entry ?? {}) as Record<string, unknown>
    if (!Array.isArray(key) || key.length === 0 || !key.every((part) => typeof part === 'string' && /^[A-Za-z][A-Za-z0-9]*$/.test(part))) throw bad('has a key that is not a list of names')
    if (typeof value !== 'string' || value === '' || /[\0-\x1f\x7f]/.test(value)) throw bad('has a value that is not a single line of text')
  }
}

async function restartEdgecore(plan: Plan, context: EdgecoreConfigContext): Promise<void> {
  const windows = context.paths.style === 'windows'
  if (!windows && !context.node.system.systemdRunning()) {
    context.events.warn('no systemd here: keadm started edgecore as a plain process; restart edgecore so it reads the new configuration')
    return
  }
  // keadm registers edgecore as the systemd unit edgecore.service (Linux) or the Windows service edgecore.
  const [command, args] = windows
    ? (['powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', 'Restart-Service -Name edgecore']] as const)
    : (['systemctl', ['restart', 'edgecore']] as const)
  const result = await context.node.system.run(command, args)
  if (result.code !== 0) {
    throw new StepError(`restarting edgecore failed (exit ${result.code}): ${(result.stderr || result.stdout).trim()}`, `${plan.kubeedge.edgecoreConfig!.path} is written; restart edgecore yourself.`)
  }
  context.events.info('restarted edgecore')
}
