/**
 * Plan → install.ps1, the PowerShell installer for Windows bundles (Windows PowerShell 5.1 and PowerShell 7).
 * Pure given its TemplateSource; the default one reads the package's templates/ folder.
 *
 * The function library is text in templates/install.ps1.hbs; this module writes the main block, one
 * function call per plan step with every value psQuoted. Step and check kinds that only Linux has still
 * have an entry (a `throw`), so the maps stay exhaustive and a misplaced step stops the script.
 */
import { WINDOWS_PATHS } from '../../model/layout.js'
import { PLAN_SCHEMA_VERSION, type CheckKind, type Plan, type Step, type StepKind, type StepOf } from '../../model/plan.js'
import { compileTemplate } from '../handlebars.js'
import { psArray, psQuote } from '../quote.js'
import { SCRIPT_TEMPLATES, type TemplateSource } from '../templates.js'
import {
  type CheckOf,
  PlanRenderError,
  archiveSteps,
  assertBundlePath,
  assertName,
  assertPort,
  assertSeverity,
  assertStepIds,
  assertStrip,
  assertText,
  assertWindowsPath,
  bundleFiles,
  headerFacts,
  keadmJoinCommand,
} from './common.js'

const INDENT = '    '

/** One line of the main block: a library function and its arguments, each a quoted literal or an array of them. */
function call(fn: string, ...args: (string | readonly string[])[]): string {
  return [fn, ...args.map((arg) => (typeof arg === 'string' ? psQuote(arg) : psArray(arg)))].join(' ')
}

/** A `throw` for a kind only Linux runs: the script stops there, before carrying out anything of it. */
function notOnWindows(what: string, id: string): string {
  return `throw ${psQuote(`step ${id}: ${what} is not supported on Windows`)}`
}

/**
 * Windows PowerShell 5.1 passes arguments to native programs by joining them into one command line, and it
 * does not escape embedded double quotes; a trailing backslash in a quoted argument escapes the closing quote.
 * Refuse such values instead of letting the program receive something else.
 */
function assertNativeArg(step: string, field: string, value: string): void {
  assertText(step, field, value)
  if (value.includes('"')) throw new PlanRenderError(step, `${field} ${JSON.stringify(value)} holds a double quote, which Windows PowerShell 5.1 cannot pass to a program intact`)
  if (/\s/.test(value) && value.endsWith('\\')) throw new PlanRenderError(step, `${field} ${JSON.stringify(value)} ends with a backslash and holds a space`)
}

type CheckLines = { [K in CheckKind]: (check: CheckOf<K>, step: string) => string[] }

const checkLines: CheckLines = {
  'os-release': (check, step) => {
    check.ids.forEach((id) => assertName(step, 'os-release id', id))
    return [call('Test-OsRelease', check.severity, check.ids)]
  },
  arch: (check, step) => {
    check.machines.forEach((machine) => assertName(step, 'machine', machine))
    return [call('Test-Arch', check.severity, check.machines)]
  },
  root: (check) => [call('Test-Administrator', check.severity)],
  'init-system': (check, step) => [notOnWindows(`the ${check.kind} check`, step)],
  cgroup: (check, step) => [notOnWindows(`the ${check.kind} check`, step)],
  'kernel-module': (check, step) => [notOnWindows(`the ${check.kind} check`, step)],
  'port-free': (check, step) => {
    assertPort(step, check.port)
    assertText(step, 'reason', check.reason)
    return [call('Test-PortFree', check.severity, String(check.port), check.reason)]
  },
  command: (check, step) => {
    assertName(step, 'command', check.command)
    assertText(step, 'reason', check.reason)
    return [call('Test-CommandPresent', check.severity, check.command, check.reason)]
  },
  'service-inactive': (check, step) => {
    assertName(step, 'service', check.service)
    assertText(step, 'reason', check.reason)
    return [call('Test-ServiceInactive', check.severity, check.service, check.reason)]
  },
  'runtime-absent': (check, step) => {
    assertText(step, 'runtime', check.runtime)
    assertText(step, 'socket', check.socket)
    assertText(step, 'reason', check.reason)
    return [call('Test-RuntimeAbsent', check.severity, check.runtime, check.socket, check.reason)]
  },
  'windows-feature': (check, step) => {
    assertName(step, 'feature', check.feature, /^[A-Za-z0-9][A-Za-z0-9_.-]*$/)
    return [call('Test-WindowsFeature', check.severity, check.feature)]
  },
}

function renderCheck(check: CheckOf<CheckKind>, step: string): string[] {
  assertSeverity(step, check)
  return (checkLines[check.kind] as (c: CheckOf<CheckKind>, s: string) => string[])(check, step)
}

type StepLines = { [K in StepKind]: (step: StepOf<K>, plan: Plan) => string[] }

const stepLines: StepLines = {
  preflight: (step) => [...step.checks.flatMap((check) => renderCheck(check, step.id)), 'Complete-Preflight'],
  'install-archive': (step) => {
    assertName(step.id, 'component', step.component)
    assertBundlePath(step.id, 'file', step.file)
    assertWindowsPath(step.id, 'dest', step.dest)
    assertStrip(step.id, step.strip)
    return [call('Install-Archive', step.component, step.file, step.format, step.dest, String(step.strip))]
  },
  'write-file': (step) => {
    assertBundlePath(step.id, 'source', step.source)
    assertWindowsPath(step.id, 'dest', step.dest)
    return [call('Install-BundleFile', step.source, step.dest)]
  },
  'register-windows-service': (step) => {
    assertName(step.id, 'service', step.service)
    assertWindowsPath(step.id, 'binary', step.binary)
    step.args.forEach((arg) => assertNativeArg(step.id, 'args', arg))
    step.restartWhenChanged.forEach((path) => assertWindowsPath(step.id, 'restartWhenChanged', path))
    return [call('Register-BundleService', step.service, step.binary, step.args, step.restartWhenChanged)]
  },
  'import-image': (step) => {
    if (step.tool !== 'ctr') return [notOnWindows(`${step.kind} with ${step.tool}`, step.id)]
    assertText(step.id, 'image', step.image)
    assertNativeArg(step.id, 'address', step.address)
    return [call('Import-BundleImage', step.file, step.image, step.address)]
  },
  'check-runtime': (step, plan) => {
    assertNativeArg(step.id, 'endpoint', step.endpoint)
    assertText(step.id, 'sandboxImage', step.sandboxImage)
    // The bundle's archives do not land on PATH (crictl.exe goes to C:\Program Files\containerd): look there too.
    const folders = [...new Set(plan.steps.flatMap((s) => (s.kind === 'install-archive' ? [s.dest] : [])))]
    return [`${call('Test-Runtime', step.endpoint, step.sandboxImage)} ${step.crictl ? '$true' : '$false'} ${psArray(folders)}`]
  },
  'install-binary': (step) => [notOnWindows(step.kind, step.id)],
  'run-upstream-installer': (step) => [notOnWindows(step.kind, step.id)],
  'install-packages': (step) => [notOnWindows(step.kind, step.id)],
  symlink: (step) => [notOnWindows(step.kind, step.id)],
  'load-kernel-modules': (step) => [notOnWindows(step.kind, step.id)],
  'apply-sysctl': (step) => [notOnWindows(step.kind, step.id)],
  'enable-service': (step) => [notOnWindows(step.kind, step.id)],
  'run-container': (step) => [notOnWindows(step.kind, step.id)],
}

function renderStep(step: Step, plan: Plan): string[] {
  return (stepLines[step.kind] as (s: Step, p: Plan) => string[])(step, plan)
}

/** The statements inside the main try block, in plan order. */
function mainBlock(plan: Plan): string {
  const lines: string[] = ['Initialize-Install', 'Test-Bundle']
  for (const file of bundleFiles(plan)) lines.push(call('Assert-Listed', file))
  for (const archive of archiveSteps(plan)) lines.push(call('Test-Archive', archive.file, String(archive.strip)))
  plan.steps.forEach((step, index) => {
    lines.push('', call('Start-Step', String(index + 1), String(plan.steps.length), step.id, step.description))
    lines.push(...renderStep(step, plan))
  })
  lines.push('', 'Write-Report')
  return lines.map((line) => (line === '' ? '' : INDENT + line)).join('\n')
}

export interface PowerShellView {
  schemaVersion: string
  stateDir: string
  name: string
  kubeedgeVersion: string
  facts: { label: string; value: string }[]
  steps: { number: string; id: string; kind: string; description: string }[]
  warnings: string[]
  keadmJoin: string
  main: string
}

export function renderInstallPs1(plan: Plan, templates: TemplateSource): string {
  if (plan.schemaVersion !== PLAN_SCHEMA_VERSION) throw new Error(`install.ps1 renders plan schema ${PLAN_SCHEMA_VERSION}, not ${plan.schemaVersion}`)
  if (plan.target.os !== 'windows') throw new Error(`${plan.name} is a Linux bundle: it gets install.sh, not install.ps1`)
  assertStepIds(plan)
  const view: PowerShellView = {
    schemaVersion: String(plan.schemaVersion),
    stateDir: WINDOWS_PATHS.stateDir,
    name: plan.name,
    kubeedgeVersion: plan.kubeedge.version,
    facts: headerFacts(plan).map((fact) => ({ label: fact.label.padEnd(14), value: fact.value })),
    steps: plan.steps.map((step, index) => ({ number: String(index + 1).padStart(2), id: step.id, kind: step.kind, description: step.description })),
    warnings: plan.warnings,
    // Shown to be pasted into PowerShell: each argument as a PowerShell literal where it needs quoting.
    keadmJoin: keadmJoinCommand(plan, (arg) => (/^[A-Za-z0-9_=:,./-]+$/.test(arg) ? arg : psQuote(arg))),
    main: mainBlock(plan),
  }
  // A byte order mark makes Windows PowerShell 5.1 read the file as UTF-8. Without it, it reads the system ANSI
  // code page, where a byte of a UTF-8 sequence can decode to U+2019, a quote that ends a literal early.
  return UTF8_BOM + compileTemplate<PowerShellView>(templates(SCRIPT_TEMPLATES.installPs1))(view)
}

export const UTF8_BOM = '\uFEFF'
