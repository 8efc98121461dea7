/**
 * The Windows-only work of install.exe on a live node (no --root): registering and restarting the
 * containerd service, finding ctr.exe where the bundle put it, and undoing the registration. Neither
 * sc.exe nor containerd.exe runs here (wine's sc.exe manages no real service, and the bundle's
 * containerd.exe is a stand-in), so the node's commands are a recording NodeSystem that answers as
 * sc.exe does; the --root path of the same steps runs for real under wine in test/e2e/other-runtimes.test.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { type StepContext, executeStep } from '../../src/installer/execute.js'
import type { JournalRecord } from '../../src/installer/journal.js'
import { nodePaths } from '../../src/installer/journal.js'
import type { CommandResult, NodeSystem } from '../../src/installer/system.js'
import { type UndoContext, rollbackLastRun } from '../../src/installer/undo.js'
import type { Plan, StepOf } from '../../src/model/plan.js'
import { windowsPlan } from '../fixtures/plans.js'

type ServiceState = 'absent' | 'STOPPED' | 'RUNNING'

/** sc.exe and the programs a Windows plan runs, as far as these steps use them; every call is recorded. */
class RecordingNode implements NodeSystem {
  readonly calls: string[][] = []
  constructor(
    public service: ServiceState,
    private readonly onPath: Record<string, string> = {},
  ) {}
  async run(command: string, args: readonly string[]): Promise<CommandResult> {
    this.calls.push([command, ...args])
    const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '' })
    if (command === 'sc.exe') {
      const [verb] = args
      if (verb === 'query') return this.service === 'absent' ? { code: 1060, stdout: '[SC] EnumQueryServicesStatus:OpenService FAILED 1060', stderr: '' } : ok(`STATE              : 4  ${this.service}`)
      if (verb === 'stop') this.service = 'STOPPED'
      if (verb === 'start') this.service = 'RUNNING'
      if (verb === 'delete') this.service = 'absent'
      return ok()
    }
    if (command.endsWith('containerd.exe') && args.includes('--register-service')) {
      this.service = 'STOPPED'
      return ok()
    }
    if (command.endsWith('ctr.exe') && args.includes('list')) return ok('')
    return ok()
  }
  which(command: string): string | null {
    return this.onPath[command] ?? null
  }
  systemdRunning(): boolean {
    return false
  }
}

interface Recorded {
  context: StepContext
  changes: string[]
  journal: JournalRecord[]
}

/** A live Windows step context whose node paths land under `drive` (C:\x → drive/C/x), recording what it reports. */
function realNodeContext(plan: Plan, system: NodeSystem, drive: string, options: { dryRun?: boolean; changed?: string[] } = {}): Recorded {
  const changes: string[] = []
  const journal: JournalRecord[] = []
  const windows = nodePaths('windows', drive)
  const changed = options.changed ?? []
  const context = {
    plan,
    bundleDir: join(drive, 'bundle'),
    root: undefined,
    dryRun: options.dryRun ?? false,
    node: { system },
    placer: {
      paths: windows,
      events: { change: (action: string) => changes.push(action), unchanged: () => changes.push('(unchanged)') },
      changedInDryRun: (path: string) => (options.dryRun ?? false) && changed.some((c) => windows.isAtOrUnder(c, path)),
    },
    journal: {
      open: async () => 1,
      append: async (record: JournalRecord) => void journal.push(record),
      changedAtOrUnder: (path: string) => !(options.dryRun ?? false) && changed.some((c) => windows.isAtOrUnder(c, path)),
    },
    events: { info: () => {}, warn: (message: string) => changes.push(`warn: ${message}`), check: () => {} },
    scratch: async () => drive,
  } as unknown as StepContext
  return { context, changes, journal }
}

const plan = windowsPlan()
const register = plan.steps.find((s): s is StepOf<'register-windows-service'> => s.kind === 'register-windows-service')!
const importImage = plan.steps.find((s): s is StepOf<'import-image'> => s.kind === 'import-image')!

t.test('an unregistered service: containerd.exe registers itself, then sc.exe starts it; journaled first', async (t) => {
  const node = new RecordingNode('absent')
  const { context, changes, journal } = realNodeContext(plan, node, t.testdir())
  await executeStep(register, context)
  t.same(node.calls, [
    ['sc.exe', 'query', 'containerd'],
    [register.binary, ...register.args],
    ['sc.exe', 'start', 'containerd'],
  ])
  t.same(changes, ['register containerd', 'start containerd'])
  t.match(journal, [{ op: 'service', name: 'containerd', step: register.id }])
  t.notOk(node.calls.some((call) => call[0] === 'sc.exe' && call[1] === 'create'), 'no sc.exe create: its service would run --register-service again')
})

t.test('a running service: unchanged unless a path it reads changed, then stopped, waited for and started', async (t) => {
  const quiet = new RecordingNode('RUNNING')
  const same = realNodeContext(plan, quiet, t.testdir())
  await executeStep(register, same.context)
  t.same(same.changes, ['(unchanged)'])
  t.same(quiet.calls.map((c) => c.slice(0, 2).join(' ')), ['sc.exe query', 'sc.exe query'])

  const restarted = new RecordingNode('RUNNING')
  const after = realNodeContext(plan, restarted, t.testdir(), { changed: ['C:\\Program Files\\containerd\\config.toml'] })
  await executeStep(register, after.context)
  t.same(after.changes, ['restart containerd (C:\\Program Files\\containerd\\config.toml changed)'])
  t.same(restarted.calls.map((c) => c.slice(0, 2).join(' ')), ['sc.exe query', 'sc.exe query', 'sc.exe stop', 'sc.exe query', 'sc.exe start'])
})

t.test('a dry run says what would change, from the paths the dry run would write, and runs nothing but queries', async (t) => {
  const node = new RecordingNode('RUNNING')
  const { context, changes } = realNodeContext(plan, node, t.testdir(), { dryRun: true, changed: ['C:\\Program Files\\containerd\\bin\\containerd.exe'] })
  await executeStep(register, context)
  t.same(changes, ['restart containerd (C:\\Program Files\\containerd\\bin changed)'])
  t.ok(node.calls.every((call) => call[0] === 'sc.exe' && call[1] === 'query'))

  const absent = new RecordingNode('absent')
  const fresh = realNodeContext(plan, absent, t.testdir(), { dryRun: true })
  await executeStep(register, fresh.context)
  t.same(fresh.changes, ['register containerd', 'start containerd'])
  t.same(absent.calls, [['sc.exe', 'query', 'containerd']])
})

t.test('import-image finds ctr.exe where the bundle unpacked containerd when it is not on PATH', async (t) => {
  const drive = t.testdir()
  const node = new RecordingNode('RUNNING')
  const missing = realNodeContext(plan, node, drive)
  await executeStep(importImage, missing.context)
  t.match(missing.changes, [/warn: ctr is not installed/], 'neither on PATH nor unpacked: a warning')

  const ctr = join(drive, 'C', 'Program Files', 'containerd', 'ctr.exe')
  mkdirSync(join(ctr, '..'), { recursive: true })
  writeFileSync(ctr, 'stand-in')
  const found = realNodeContext(plan, node, drive)
  await executeStep(importImage, found.context)
  t.same(found.changes, [`loaded ${importImage.image} with ctr`])
  t.same(node.calls.at(-1), ['C:\\Program Files\\containerd\\ctr.exe', '--address', importImage.address, '--namespace', 'k8s.io', 'images', 'import', join(drive, 'bundle', 'images', 'pause-3.9-windows-amd64.oci.tar')])

  const onPath = new RecordingNode('RUNNING', { ctr: 'D:\\tools\\ctr.exe' })
  await executeStep(importImage, realNodeContext(plan, onPath, drive).context)
  t.equal(onPath.calls[0]![0], 'D:\\tools\\ctr.exe', 'PATH comes first')
})

t.test('rollback stops and unregisters the service the run registered', async (t) => {
  const node = new RecordingNode('RUNNING')
  const notes: string[] = []
  const record: JournalRecord = { op: 'service', run: 1, step: register.id, name: 'containerd' }
  await undoRecordsOf([record], node, notes)
  t.same(node.calls, [
    ['sc.exe', 'stop', 'containerd'],
    ['sc.exe', 'delete', 'containerd'],
  ])
  t.same(notes, ['stop and unregister containerd'])
  t.equal(node.service, 'absent')
})

/** Rolls back a journal whose one run holds `records`, on a live Windows node. */
async function undoRecordsOf(records: JournalRecord[], system: NodeSystem, notes: string[]): Promise<void> {
  const all: JournalRecord[] = [{ op: 'begin', run: 1, name: plan.name }, ...records]
  const journal = {
    records: [] as JournalRecord[],
    runs: () => [{ run: 1, name: plan.name, finished: false, records: all }],
    dropRun: async () => {},
  }
  const fs = { removeTree: async () => {}, lstat: async () => null }
  const undone = await rollbackLastRun({
    node: { fs: fs as unknown as UndoContext['node']['fs'], system },
    journal: journal as unknown as UndoContext['journal'],
    paths: nodePaths('windows', undefined),
    dryRun: false,
    root: undefined,
    note: (action) => notes.push(action),
    warn: (message) => notes.push(`warn: ${message}`),
  })
  if (undone?.run !== 1) throw new Error('the run was not rolled back')
}
