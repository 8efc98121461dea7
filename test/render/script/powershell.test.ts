/**
 * install.ps1 without PowerShell: structural checks. The script must scan cleanly (comments, literals and
 * brackets), run every plan step in order through a library function, and carry every plan value only
 * inside single-quoted literals that read back to the value.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { templates } from '../../helpers.js'
import { packageRoot } from '../../../src/catalog/load.js'
import type { Plan, Step } from '../../../src/model/plan.js'
import { UTF8_BOM, renderInstallPs1 } from '../../../src/render/script/powershell.js'
import { HOSTILE, HOSTILE_NATIVE, foreignSteps, linuxPlan, windowsPlan } from '../../fixtures/plans.js'
import { readCommandLine, scanPowerShell } from '../../fixtures/powershell.js'

const plan = windowsPlan()
const script = renderInstallPs1(plan, templates)
const withSteps = (steps: Step[]): Plan => ({ ...windowsPlan(), steps })

/** The statements of the main try block. */
function mainLines(text: string): string[] {
  const start = text.indexOf('\ntry {\n')
  const end = text.indexOf('\n} catch {', start)
  return text
    .slice(start + '\ntry {\n'.length, end)
    .split('\n')
    .filter((line) => line.trim() !== '')
}

/** Which library function runs each kind (or throws, for the kinds Linux only has). */
const FUNCTION_OF: Record<Step['kind'], string> = {
  preflight: 'Complete-Preflight',
  'install-archive': 'Install-Archive',
  'write-file': 'Install-BundleFile',
  'register-windows-service': 'Register-BundleService',
  'import-image': 'Import-BundleImage',
  'check-runtime': 'Test-Runtime',
  'install-binary': 'throw',
  'run-upstream-installer': 'throw',
  'install-packages': 'throw',
  symlink: 'throw',
  'load-kernel-modules': 'throw',
  'apply-sysctl': 'throw',
  'enable-service': 'throw',
  'run-container': 'throw',
}

t.test('install.ps1 starts with a UTF-8 byte order mark, so Windows PowerShell 5.1 reads it as UTF-8', async (t) => {
  t.ok(script.startsWith(UTF8_BOM))
  t.equal(script.indexOf(UTF8_BOM, 1), -1)
})

t.test('the script scans cleanly: comments, literals and brackets all close', async (t) => {
  const scan = scanPowerShell(script.slice(1))
  t.same(scan.problems, [])
  // Values never reach code: the hostile text is only ever inside a literal or a comment.
  t.notMatch(scan.code, 'touch /tmp/pwned')
  t.notMatch(scan.code, 'Remove-Item C:')
  t.ok(scan.literals.includes(`needed to unpack archives; ${HOSTILE}`))
  const template = readFileSync(join(packageRoot(), 'templates/install.ps1.hbs'), 'utf8')
  // "$name:" in a double-quoted string is a scope-qualified variable in PowerShell, not "$name" then ":".
  for (const match of template.matchAll(/"[^"\n]*"/g)) {
    if (/\$[A-Za-z_]\w*:/.test(match[0]) && !/\$(?:env|script|global|using):/.test(match[0])) t.fail(`scope trap in ${match[0]}`)
  }
})

t.test('the header documents the bundle, the parameters and every step, as comments', async (t) => {
  const header = script.slice(1, script.indexOf('#Requires'))
  for (const line of header.split('\n')) if (line !== '' && !line.startsWith('#')) t.fail(`header line outside a comment: ${line}`)
  for (const text of [plan.name, 'windows/amd64', plan.runtime.endpoint, '-Root DIR', '-DryRun', 'EDGEBUNDLE_ROOT']) t.match(header, text)
  plan.steps.forEach((step, index) => t.match(header, `${index + 1}. ${step.id} (${step.kind})`))
  t.match(script, /^param\(\n {4}\[string\]\$Root = '',\n {4}\[switch\]\$DryRun\n\)$/m)
  t.notMatch(script, /^Remove-Item/m)
})

t.test('every step runs in plan order, with every value as a literal that reads back to it', async (t) => {
  const lines = mainLines(script)
  const calls = lines.map((line) => ({ line, call: readCommandLine(line) }))
  for (const { line, call } of calls) if (!call) t.fail(`not a command with literal arguments: ${line}`)
  const parsed = calls.map(({ call }) => call!).filter(Boolean)
  t.same(parsed.slice(0, 2).map((c) => c.command), ['Initialize-Install', 'Test-Bundle'])
  t.same(parsed.at(-1)!.command, 'Write-Report')
  const starts = parsed.filter((c) => c.command === 'Start-Step')
  t.same(
    starts.map((c) => c.args[2]),
    plan.steps.map((step) => step.id),
  )
  // After each Start-Step, the step's own function.
  plan.steps.forEach((step) => {
    const at = parsed.findIndex((c) => c.command === 'Start-Step' && c.args[2] === step.id)
    const next = parsed.slice(at + 1).find((c) => c.command === FUNCTION_OF[step.kind] || (step.kind === 'preflight' && c.command === 'Complete-Preflight'))
    t.ok(next, `${step.id} runs ${FUNCTION_OF[step.kind]}`)
  })
  const find = (command: string) => parsed.find((c) => c.command === command)!
  t.same(find('Register-BundleService').args, [
    'containerd',
    'C:\\Program Files\\containerd\\containerd.exe',
    ['--register-service', `--log-file=C:\\logs\\${HOSTILE_NATIVE}.log`],
    ['C:\\Program Files\\containerd\\config.toml', 'C:\\Program Files\\containerd\\bin'],
  ])
  t.same(find('Install-Archive').args, ['containerd', 'artifacts/containerd-2.3.4-windows-amd64.tar.gz', 'tar.gz', 'C:\\Program Files\\containerd', '1'])
  t.same(find('Test-CommandPresent').args, ['warning', 'tar.exe', `needed to unpack archives; ${HOSTILE}`])
  t.same(find('Test-Runtime').args, [
    'npipe:////./pipe/containerd-containerd',
    'mcr.microsoft.com/oss/kubernetes/pause:3.9',
    true,
    ['C:\\Program Files\\containerd', 'C:\\Program Files\\containerd\\cni\\bin'],
  ])
  t.same(find('Test-WindowsFeature').args, ['error', 'Containers'])
  const hostile = parsed.filter((c) => c.command === 'Install-BundleFile')[1]!
  t.same(hostile.args, ["config/it's ’odd’ $(x).txt", "C:\\ProgramData\\edgebundle-test\\it's ’odd’ $(x).txt"])
  // Every bundle file the plan reads is checked against SHA256SUMS, every archive listing before any step.
  const listed = parsed.filter((c) => c.command === 'Assert-Listed').map((c) => c.args[0])
  t.same(listed, [
    'artifacts/containerd-2.3.4-windows-amd64.tar.gz',
    'artifacts/cni-plugins-windows-amd64-v1.9.1.zip',
    'config/Program Files/containerd/config.toml',
    "config/it's ’odd’ $(x).txt",
    'images/pause-3.9-windows-amd64.oci.tar',
  ])
  const firstStep = parsed.findIndex((c) => c.command === 'Start-Step')
  t.ok(parsed.findIndex((c) => c.command === 'Test-Archive') < firstStep)
})

t.test('every function the main block calls is defined in the library', async (t) => {
  const defined = new Set([...script.matchAll(/^function ([A-Za-z-]+)/gm)].map((m) => m[1]))
  const all = renderInstallPs1(withSteps([...plan.steps, ...foreignSteps('windows')]), templates)
  for (const line of mainLines(all)) {
    const call = readCommandLine(line)
    if (call && call.command !== 'throw') t.ok(defined.has(call.command), call.command)
  }
})

t.test('kinds that only Linux runs become a throw at their place, with the reason quoted', async (t) => {
  const foreign = foreignSteps('windows')
  const lines = mainLines(renderInstallPs1(withSteps(foreign), templates))
  const throws = lines.map((line) => readCommandLine(line)).filter((call) => call?.command === 'throw')
  t.same(
    throws.map((call) => call!.args[0]),
    foreign.map((step) => `step ${step.id}: ${step.kind} is not supported on Windows`),
  )
  const checks = renderInstallPs1(
    withSteps([
      {
        id: 'preflight',
        kind: 'preflight',
        description: 'x',
        checks: [
          { kind: 'init-system', severity: 'error', expect: 'systemd' },
          { kind: 'cgroup', severity: 'error', driver: 'cgroupfs' },
          { kind: 'kernel-module', severity: 'error', module: 'overlay' },
        ],
      },
    ]),
    templates,
  )
  for (const kind of ['init-system', 'cgroup', 'kernel-module']) t.match(checks, `throw 'step preflight: the ${kind} check is not supported on Windows'`)
})

t.test('rendering refuses what a Windows script cannot carry out intact', async (t) => {
  const step = <K extends Step['kind']>(kind: K) => plan.steps.find((s) => s.kind === kind) as Extract<Step, { kind: K }>
  const cases: [string, Step][] = [
    ['a double quote in a service argument', { ...step('register-windows-service'), args: ['--log="x"'] }],
    ['a trailing backslash with a space', { ...step('register-windows-service'), args: ['C:\\a b\\'] }],
    ['a POSIX dest', { ...step('install-archive'), dest: '/opt/x' }],
    ['a relative dest', { ...step('write-file'), dest: 'Program Files\\x' }],
    ['a .. in a dest', { ...step('write-file'), dest: 'C:\\x\\..\\Windows\\x' }],
    ['a stream in a dest', { ...step('write-file'), dest: 'C:\\x\\a:b' }],
    ['a newline in a value', { ...step('write-file'), description: 'a\nb' }],
  ]
  for (const [name, bad] of cases) t.throws(() => renderInstallPs1(withSteps([bad]), templates), /plan step/, name)
  t.throws(() => renderInstallPs1(linuxPlan(), templates), /install\.sh/)
})

t.test('the script verifies SHA256SUMS with Get-FileHash and unpacks with the system tar.exe', async (t) => {
  t.match(script, /Get-FileHash -LiteralPath \$Path -Algorithm SHA256/)
  t.match(script, /Stop-Install 3 \('SHA256SUMS is missing/)
  t.match(script, /System32\\tar\.exe/)
  t.match(script, /Stop-Install 4 'preflight failed/)
  t.match(script, /Get-WindowsOptionalFeature -Online -FeatureName \$Feature/)
  t.match(script, /IsInRole\(\[Security\.Principal\.WindowsBuiltInRole\]::Administrator\)/)
})
