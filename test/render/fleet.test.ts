/**
 * The ansible/ folder of a Linux bundle (src/render/fleet.ts): the playbooks carried verbatim, the README and
 * example inventory naming the bundle, and every task a module of ansible.builtin (an air-gapped controller
 * has no Galaxy). The playbooks themselves run in test/ansible/fleet.test.ts.
 */
import t from 'tap'
import { parse } from 'yaml'
import { FLEET_PLAYBOOKS, renderFleetFiles } from '../../src/render/fleet.js'
import { templates } from '../helpers.js'

const NAME = 'edgebundle-1.23-ubuntu-arm64-isulad'
const TASK_KEYWORDS = new Set([
  'name', 'when', 'register', 'loop', 'loop_control', 'vars', 'delegate_to', 'become', 'run_once', 'check_mode', 'no_log',
  'failed_when', 'changed_when', 'block', 'rescue', 'always', 'tags', 'environment',
])

t.test('five files under ansible/, playbooks verbatim, the rest naming the bundle', async (t) => {
  const files = renderFleetFiles({ name: NAME }, templates)
  t.same(files.map((f) => f.path), ['ansible/install.yml', 'ansible/rollback.yml', 'ansible/uninstall.yml', 'ansible/inventory.example.ini', 'ansible/README.md'])
  t.ok(files.every((f) => f.mode === '0644'))
  for (const name of FLEET_PLAYBOOKS) t.equal(files.find((f) => f.path === `ansible/${name}`)!.content, templates(`ansible/${name}`), `${name} as in templates/`)
  t.match(files.find((f) => f.path === 'ansible/README.md')!.content, `# Rolling ${NAME} out to a fleet`)
  t.match(files.find((f) => f.path === 'ansible/inventory.example.ini')!.content, `edgebundle_archive=/srv/bundles/${NAME}.tar.gz`)
  t.notMatch(files.find((f) => f.path === 'ansible/inventory.example.ini')!.content, /^edgebundle_token/m, 'the example inventory holds no token')
})

t.test('every task uses an ansible.builtin module; the token is no_log wherever it is an argument', async (t) => {
  for (const name of FLEET_PLAYBOOKS) {
    const plays = parse(templates(`ansible/${name}`)) as { tasks: Record<string, unknown>[] }[]
    const modules: string[] = []
    const carriers: string[] = []
    const walk = (tasks: Record<string, unknown>[]) => {
      for (const task of tasks) {
        if (Array.isArray(task['block'])) walk(task['block'] as Record<string, unknown>[])
        else {
          const keys = Object.keys(task).filter((key) => !TASK_KEYWORDS.has(key))
          t.equal(keys.length, 1, `${name}: "${String(task['name'])}" has one module`)
          modules.push(keys[0]!)
          // The token may be tested for presence anywhere; a task whose arguments carry its value is no_log.
          const args = JSON.stringify(task[keys[0]!]).replace(/edgebundle__token != ''/g, '')
          if (args.includes('edgebundle__token')) {
            carriers.push(String(task['name']))
            t.equal(task['no_log'], true, `${name}: "${String(task['name'])}" carries the token and is no_log`)
          }
        }
      }
    }
    for (const play of plays) walk(play.tasks)
    t.same(carriers, name === 'install.yml' ? ['Run the installer (its --dry-run under --check)'] : [], `${name}: the tasks that carry the token`)
    t.same(modules.filter((m) => !m.startsWith('ansible.builtin.')), [], `${name}: ansible.builtin only (${[...new Set(modules)].join(', ')})`)
  }
})
