/** The plan schema: the one shape of plan.json, and words for every way a plan can differ from it. */
import t from 'tap'
import { CHECK_KINDS, STEP_KINDS, formatPlanIssue, planIssues } from '../../src/model/plan.js'
import { foreignSteps, linuxPlan, windowsPlan } from '../fixtures/plans.js'

const problems = (data: unknown) => planIssues(data).map(formatPlanIssue)
const plan = linuxPlan()
const stepOf = (kind: string) => plan.steps.find((step) => step.kind === kind) as Record<string, unknown>

t.test('the fixture plans are plans, and together hold every step and check kind the schema names', async (t) => {
  t.same(problems(linuxPlan()), [])
  t.same(problems(windowsPlan()), [])
  const kinds = new Set([...linuxPlan().steps, ...windowsPlan().steps, ...foreignSteps('linux')].map((step) => step.kind))
  t.same([...kinds].sort(), [...STEP_KINDS].sort())
  const checks = new Set([...linuxPlan().steps, ...windowsPlan().steps].flatMap((step) => (step.kind === 'preflight' ? step.checks.map((c) => c.kind) : [])))
  t.same([...checks].sort(), [...CHECK_KINDS].sort())
})

t.test('each problem names where it is, the field, and what is allowed', async (t) => {
  const cases: [string, unknown, string][] = [
    ['unknown step kind', { ...plan, steps: [{ id: 'x', kind: 'format-disk', description: 'no' }] }, 'steps[0]: unknown kind "format-disk"; allowed: preflight, install-archive,'],
    ['wrong type', { ...plan, steps: [{ ...stepOf('install-binary'), file: 7 }] }, 'steps[0] (install-binary): file is not a string (it is 7)'],
    ['missing field', { ...plan, steps: [{ ...stepOf('symlink'), target: undefined }] }, 'steps[0] (symlink): target is missing (it must be a string)'],
    ['enum', { ...plan, steps: [{ ...stepOf('install-archive'), format: 'rar' }] }, 'steps[0] (install-archive): format is "rar"; allowed: "tar.gz", "tar.zst", "zip"'],
    ['below the range', { ...plan, steps: [{ ...stepOf('install-archive'), strip: -1 }] }, 'steps[0] (install-archive): strip is -1; the least allowed is 0'],
    ['not an integer', { ...plan, steps: [{ ...stepOf('install-archive'), strip: 1.5 }] }, 'steps[0] (install-archive): strip is not an integer (it is 1.5)'],
    ['mode', { ...plan, steps: [{ ...stepOf('write-file'), mode: 'rwxr-xr-x' }] }, 'steps[0] (write-file): mode "rwxr-xr-x" is not an octal file mode such as 0644'],
    ['optional enum', { ...plan, steps: [{ ...stepOf('write-file'), merge: 'yaml' }] }, 'steps[0] (write-file): merge is "yaml"; allowed: "json", "toml"'],
    ['empty id', { ...plan, steps: [{ ...stepOf('symlink'), id: '' }] }, 'steps[0] (symlink): id is empty'],
    ['id twice', { ...plan, steps: [stepOf('symlink'), stepOf('symlink')] }, 'steps[1] (symlink): id link-kata-runtime is used twice'],
    ['unknown check', { ...plan, steps: [{ ...stepOf('preflight'), checks: [{ kind: 'moon-phase', severity: 'error' }] }] }, 'steps[0].checks[0]: unknown check "moon-phase"; allowed: os-release,'],
    ['severity', { ...plan, steps: [{ ...stepOf('preflight'), checks: [{ kind: 'root', severity: 'fatal' }] }] }, 'steps[0].checks[0] (root): severity is "fatal"; allowed: "error", "warning"'],
    ['port', { ...plan, steps: [{ ...stepOf('preflight'), checks: [{ kind: 'port-free', severity: 'error', port: 70000, reason: 'r' }] }] }, 'steps[0].checks[0] (port-free): port is 70000; the most allowed is 65535'],
    ['top level', { ...plan, name: 3 }, 'plan.json: name is not a string (it is 3)'],
    ['nested object', { ...plan, target: { ...plan.target, os: 'plan9' } }, 'target: os is "plan9"; allowed: "ubuntu", "centos", "openeuler", "windows"'],
    ['not a list', { ...plan, steps: 'all' }, 'plan.json: steps is not a list (it is "all")'],
    ['bundle path leaving the bundle', { ...plan, steps: [{ ...stepOf('write-file'), source: 'config/../../x' }] }, 'steps[0] (write-file): source "config/../../x" is not a plain path inside the bundle'],
    ['absolute bundle path', { ...plan, steps: [{ ...stepOf('install-binary'), file: '/etc/passwd' }] }, 'steps[0] (install-binary): file "/etc/passwd" is not a plain path inside the bundle'],
    ['no package files', { ...plan, steps: [{ ...stepOf('install-packages'), files: [] }] }, 'steps[0] (install-packages): files is an empty list; it needs at least 1'],
    ['Windows step in a Linux plan', { ...plan, steps: foreignSteps('linux') }, 'steps[0] (register-windows-service): register-windows-service runs on Windows only; this plan is for ubuntu'],
  ]
  for (const [name, data, expected] of cases) {
    const found = problems(data)
    t.ok(found.some((problem) => problem.startsWith(expected)), name, { found, expected })
  }
})

t.test('a problem inside a step carries the step index, for messages that name the step by id', async (t) => {
  const [issue] = planIssues({ ...plan, steps: [stepOf('symlink'), { ...stepOf('write-file'), mode: '9' }] })
  t.equal(issue?.step, 1)
  t.same(planIssues({ ...plan, name: 1 }).map((i) => i.step), [undefined])
})
