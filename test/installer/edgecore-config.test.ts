/**
 * The post-join edgecore.yaml edit: on a file shaped like the one keadm join writes at each KubeEdge tag
 * that needs it (every key encoding/json would write, from the field table in
 * bundles/upstream/kubeedge-facts.json, serialized the way go-yaml does), only the sandbox image changes;
 * the write is journaled with a backup of keadm's file; edgecore restarts through systemd.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { applyEdgecoreConfig, editEdgecoreYaml } from '../../src/installer/edgecore-config.js'
import { Journal, nodePaths } from '../../src/installer/journal.js'
import { hostFs } from '../../src/installer/node-fs.js'
import { Placer } from '../../src/installer/place.js'
import type { CommandResult, NodeSystem } from '../../src/installer/system.js'
import type { Plan } from '../../src/model/plan.js'
import { render } from '../helpers.js'
import { goYaml, keadmShaped, loadFacts } from '../render/keadm-facts.js'

const facts = loadFacts()
const work = mkdtempSync(join(tmpdir(), 'edgebundle-edgecore-config-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

const edit = (pause: string) => ({ path: '/etc/kubeedge/config/edgecore.yaml', set: [{ key: ['modules', 'edged', 'podSandboxImage'], value: pause }] })

t.test('on edgecore.yaml as keadm writes it at every tag without --set, only podSandboxImage changes', (t) => {
  const tags = Object.keys(facts.tags).filter((tag) => !facts.tags[tag]!.set.exists)
  t.ok(tags.includes('v1.12.7') && tags.includes('v1.17.5') && !tags.includes('v1.18.0'))
  for (const tag of tags) {
    const original = keadmShaped(facts, facts.tags[tag]!.edgecore.root) as { modules: { edged: Record<string, unknown> } }
    const text = goYaml({ apiVersion: 'edgecore.config.kubeedge.io/v1alpha2', kind: 'EdgeCore', ...original })
    const result = editEdgecoreYaml(text, edit('registry.local:5000/edge/pause:3.9'), 'edgecore.yaml')
    if (!result.changed) {
      t.fail(`${tag}: nothing changed`)
      continue
    }
    const before = text.split('\n')
    const after = result.content.split('\n')
    t.equal(after.length, before.length, `${tag}: same number of lines`)
    const differing = before.filter((line, i) => line !== after[i])
    t.same(differing, ['    podSandboxImage: kubeedge/pause:3.6'], `${tag}: exactly the podSandboxImage line differs`)
    const expected = structuredClone(parse(text)) as typeof original
    expected.modules.edged['podSandboxImage'] = 'registry.local:5000/edge/pause:3.9'
    t.same(parse(result.content), expected, `${tag}: the rest of the data is intact`)
    t.same(editEdgecoreYaml(result.content, edit('registry.local:5000/edge/pause:3.9'), 'edgecore.yaml'), { changed: false }, `${tag}: a second edit changes nothing`)
  }
  t.end()
})

t.test('a file without the key, with it twice, or with a non-scalar there is refused', (t) => {
  t.throws(() => editEdgecoreYaml('modules:\n  edgeHub:\n    enable: true\n', edit('p:1'), 'edgecore.yaml'), { message: /has no modules\.edged\.podSandboxImage/ })
  t.throws(() => editEdgecoreYaml('podSandboxImage: x\nmodules:\n  podSandboxImage: y\n', edit('p:1'), 'edgecore.yaml'), { message: /has no modules\.edged\.podSandboxImage/ }, 'the same key elsewhere is not it')
  t.throws(() => editEdgecoreYaml('modules:\n  edged:\n    podSandboxImage: [a]\n', edit('p:1'), 'edgecore.yaml'), { message: /not a single value/ })
  t.throws(() => editEdgecoreYaml('modules:\n  edged:\n    podSandboxImage: a\n  edged:\n    podSandboxImage: b\n', edit('p:1'), 'edgecore.yaml'), { message: /2 times/ })
  t.end()
})

class RecordingSystem implements NodeSystem {
  runs: string[][] = []
  constructor(private readonly systemd: boolean) {}
  async run(command: string, args: readonly string[]): Promise<CommandResult> {
    this.runs.push([command, ...args])
    return { code: 0, stdout: '', stderr: '' }
  }
  which(): string | null {
    return null
  }
  systemdRunning(): boolean {
    return this.systemd
  }
}

async function applyIn(plan: Plan, keadmText: string | null, systemd: boolean, style: 'posix' | 'windows' = 'posix') {
  const root = mkdtempSync(join(work, 'root-'))
  const file = style === 'posix' ? join(root, 'etc/kubeedge/config/edgecore.yaml') : join(root, 'C/etc/kubeedge/config/edgecore.yaml')
  if (keadmText !== null) {
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, keadmText, { mode: 0o644 })
  }
  const fs = hostFs()
  const paths = nodePaths(style, root)
  const journal = await new Journal(fs, paths, plan.name).load()
  const changes: string[] = []
  const placer = new Placer(fs, journal, paths, { dryRun: false, root }, { change: (action) => changes.push(action), unchanged: () => {} })
  const system = new RecordingSystem(systemd)
  const messages: string[] = []
  const events = { info: (m: string) => messages.push(`info ${m}`), warn: (m: string) => messages.push(`warn ${m}`) }
  await applyEdgecoreConfig(plan, { node: { fs, system }, placer, journal, paths, events })
  return { root, file, journal, system, messages, changes }
}

t.test('after the join (1.17): written atomically, journaled with keadm\'s file backed up, edgecore restarted', async (t) => {
  const plan = render({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.17', 'pause-image': 'registry.local/pause:3.9' }).plan
  const keadmText = goYaml({ apiVersion: 'edgecore.config.kubeedge.io/v1alpha2', kind: 'EdgeCore', ...keadmShaped(facts, facts.tags['v1.17.5']!.edgecore.root) })
  const run = await applyIn(plan, keadmText, true)
  t.match(parse(readFileSync(run.file, 'utf8')), { modules: { edged: { podSandboxImage: 'registry.local/pause:3.9' } } })
  t.equal(statSync(run.file).mode & 0o777, 0o644, 'keadm\'s mode kept')
  const records = run.journal.records.map((r) => r.op)
  t.same(records, ['begin', 'dir', 'dir', 'dir', 'replace', 'end'], 'its own run: state folder, the replace, end')
  const replace = run.journal.records.find((r) => r.op === 'replace')!
  t.match(replace, { step: 'edgecore-config', path: '/etc/kubeedge/config/edgecore.yaml' })
  t.equal(readFileSync(join(run.root, run.journal.paths.backupPath(replace.run, '/etc/kubeedge/config/edgecore.yaml')), 'utf8'), keadmText, 'keadm\'s file is the backup')
  t.same(run.system.runs, [['systemctl', 'restart', 'edgecore']])
  t.match(run.messages.join('\n'), /wrote modules\.edged\.podSandboxImage into \/etc\/kubeedge\/config\/edgecore\.yaml/)

  const again = await applyIn(plan, readFileSync(run.file, 'utf8'), true)
  t.same(again.journal.records, [], 'already right: nothing journaled')
  t.same(again.system.runs, [], 'and no restart')
})

t.test('without systemd: written, and a warning to restart edgecore', async (t) => {
  const plan = render({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.12', 'pause-image': 'registry.local/pause:3.9' }).plan
  const run = await applyIn(plan, goYaml(keadmShaped(facts, facts.tags['v1.12.7']!.edgecore.root)), false)
  t.match(parse(readFileSync(run.file, 'utf8')), { modules: { edged: { podSandboxImage: 'registry.local/pause:3.9' } } })
  t.same(run.system.runs, [])
  t.match(run.messages.join('\n'), /warn no systemd here/)
})

t.test('1.18+: --set carries the image, nothing is written; no file after the join is an error', async (t) => {
  const p18 = render({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.18' }).plan
  const untouched = await applyIn(p18, 'modules:\n  edged:\n    podSandboxImage: kubeedge/pause:3.6\n', true)
  t.equal(readFileSync(untouched.file, 'utf8'), 'modules:\n  edged:\n    podSandboxImage: kubeedge/pause:3.6\n')
  t.same(untouched.system.runs, [])
  const p16 = render({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.16' }).plan
  await t.rejects(applyIn(p16, null, true), { message: /edgecore\.yaml is not there/ })
})

t.test('a malformed edgecoreConfig in plan.json is refused before anything is read or written', async (t) => {
  const base = render({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.17' }).plan
  const withEdit = (edgecoreConfig: unknown) => ({ ...base, kubeedge: { ...base.kubeedge, edgecoreConfig } }) as Plan
  const keadmText = 'modules:\n  edged:\n    podSandboxImage: kubeedge/pause:3.6\n'
  await t.rejects(applyIn(withEdit({ path: '/etc/passwd', set: [] }), keadmText, true), { message: /path is not an absolute path to edgecore\.yaml/ })
  await t.rejects(applyIn(withEdit({ path: '/etc/kubeedge/config/edgecore.yaml', set: [{ key: ['modules', '..'], value: 'x' }] }), keadmText, true), { message: /key that is not a list of names/ })
  await t.rejects(applyIn(withEdit({ path: '/etc/kubeedge/config/edgecore.yaml', set: [{ key: ['modules', 'edged', 'podSandboxImage'], value: 'a\nb' }] }), keadmText, true), { message: /not a single line/ })
})

t.test('Windows 1.16: the edit goes to C:\\etc\\kubeedge\\config\\edgecore.yaml and the edgecore service restarts', async (t) => {
  const plan = render({ os: 'windows', runtime: 'containerd', 'kubeedge-version': '1.16', 'pause-image': 'registry.local/pause:3.9' }).plan
  t.equal(plan.kubeedge.edgecoreConfig?.path, 'C:\\etc\\kubeedge\\config\\edgecore.yaml')
  const keadmText = goYaml(keadmShaped(facts, facts.tags['v1.16.6']!.edgecore.root))
  const run = await applyIn(plan, keadmText, false, 'windows')
  t.match(parse(readFileSync(run.file, 'utf8')), { modules: { edged: { podSandboxImage: 'registry.local/pause:3.9' } } })
  t.same(run.system.runs, [['powershell.exe', '-NoProfile', '-NonInteractive', '-Command', 'Restart-Service -Name edgecore']])
})
