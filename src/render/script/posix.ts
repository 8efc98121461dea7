/**
 * Plan → install.sh, the POSIX sh installer for Linux bundles (it must also run where the installer executable
 * cannot: CentOS 7, Ubuntu 18.04, BusyBox). Pure given its TemplateSource; the default one reads the package's
 * templates/ folder.
 *
 * The function library is text in templates/install.sh.hbs; this module writes the braced main block, one
 * function call per plan step with every argument shQuoted. The per-kind maps are exhaustive, so a new step
 * or check kind does not compile until install.sh implements it.
 */
import { LINUX_PATHS } from '../../model/layout.js'
import { PLAN_SCHEMA_VERSION, type CheckKind, type Plan, type Step, type StepKind, type StepOf } from '../../model/plan.js'
import { containerRunArgs } from '../../plan/container-args.js'
import { compileTemplate } from '../handlebars.js'
import { shQuote } from '../quote.js'
import type { TemplateSource } from '../../model/templates.js'
import { SCRIPT_TEMPLATES } from '../templates.js'
import {
  type CheckOf,
  PlanRenderError,
  archiveSteps,
  assertBundlePath,
  assertLinuxPath,
  assertName,
  assertPlanShape,
  assertStepIds,
  assertText,
  bundleFiles,
  headerFacts,
  keadmJoinCommand,
} from './common.js'

const INDENT = '    '

/** One line of the main block: a library function and its arguments, each a single-quoted word. */
function call(fn: string, ...args: string[]): string {
  return [fn, ...args.map(shQuote)].join(' ')
}

type CheckLines = { [K in CheckKind]: (check: CheckOf<K>, step: string) => string[] }

const checkLines: CheckLines = {
  'os-release': (check, step) => {
    check.ids.forEach((id) => assertName(step, 'os-release id', id))
    return [call('check_os_release', check.severity, ...check.ids)]
  },
  arch: (check, step) => {
    check.machines.forEach((machine) => assertName(step, 'machine', machine))
    return [call('check_arch', check.severity, ...check.machines)]
  },
  root: (check) => [call('check_root', check.severity)],
  'init-system': (check) => [call('check_init_system', check.severity, check.expect)],
  cgroup: (check) => [call('check_cgroup', check.severity, check.driver)],
  'kernel-module': (check, step) => {
    assertName(step, 'kernel module', check.module, /^[A-Za-z0-9_][A-Za-z0-9_-]*$/)
    return [call('check_kernel_module', check.severity, check.module)]
  },
  'port-free': (check, step) => {
    assertText(step, 'reason', check.reason)
    return [call('check_port_free', check.severity, String(check.port), check.reason)]
  },
  command: (check, step) => {
    assertName(step, 'command', check.command)
    assertText(step, 'reason', check.reason)
    return [call('check_command', check.severity, check.command, check.reason)]
  },
  'service-inactive': (check, step) => {
    assertName(step, 'service', check.service)
    assertText(step, 'reason', check.reason)
    return [call('check_service_inactive', check.severity, check.service, check.reason)]
  },
  'runtime-absent': (check, step) => {
    assertText(step, 'runtime', check.runtime)
    assertLinuxPath(step, 'socket', check.socket.replace(/^unix:\/\//, ''))
    assertText(step, 'reason', check.reason)
    return [call('check_runtime_absent', check.severity, check.runtime, check.socket, check.reason)]
  },
  // Windows plans only; a Linux plan holding one is a planner defect, stopped where it appears.
  'windows-feature': (check) => [call('unsupported_check', check.kind)],
}

function renderCheck(check: CheckOf<CheckKind>, step: string): string[] {
  return (checkLines[check.kind] as (c: CheckOf<CheckKind>, s: string) => string[])(check, step)
}

type StepLines = { [K in StepKind]: (step: StepOf<K>) => string[] }

const stepLines: StepLines = {
  preflight: (step) => [...step.checks.flatMap((check) => renderCheck(check, step.id)), call('end_preflight')],
  'install-archive': (step) => {
    if (step.format === 'zip') throw new PlanRenderError(step.id, 'zip archives are for Windows bundles; install.sh extracts tar.gz and tar.zst')
    assertName(step.id, 'component', step.component)
    assertLinuxPath(step.id, 'dest', step.dest, true)
    return [call('install_archive', step.component, step.file, step.format, step.dest, String(step.strip))]
  },
  'install-binary': (step) => {
    assertName(step.id, 'component', step.component)
    assertLinuxPath(step.id, 'dest', step.dest)
    return [call('install_binary', step.component, step.file, step.dest)]
  },
  'run-upstream-installer': (step) => {
    assertName(step.id, 'component', step.component)
    return [call('run_upstream_installer', step.component, step.file, step.format, step.subdir, step.script, step.interpreter)]
  },
  'install-packages': (step) => {
    return [call('install_packages', step.manager, ...step.files)]
  },
  'write-file': (step) => {
    assertLinuxPath(step.id, 'dest', step.dest)
    return [call('write_file', step.source, step.dest, step.mode)]
  },
  symlink: (step) => {
    assertLinuxPath(step.id, 'path', step.path)
    assertText(step.id, 'target', step.target)
    if (step.target === '') throw new PlanRenderError(step.id, 'empty symlink target')
    return [call('make_symlink', step.path, step.target)]
  },
  'load-kernel-modules': (step) => {
    step.modules.forEach((module) => assertName(step.id, 'module', module, /^[A-Za-z0-9_][A-Za-z0-9_-]*$/))
    return [call('load_kernel_modules', ...step.modules)]
  },
  'apply-sysctl': (step) => {
    if (step.file.startsWith('/')) assertLinuxPath(step.id, 'file', step.file)
    else assertBundlePath(step.id, 'file', step.file)
    return [call('apply_sysctl', step.file)]
  },
  'enable-service': (step) => {
    assertName(step.id, 'service', step.service)
    step.restartWhenChanged.forEach((path) => assertLinuxPath(step.id, 'restartWhenChanged', path, true))
    return [call('enable_service', step.service, ...step.restartWhenChanged)]
  },
  'register-windows-service': (step) => [call('unsupported_step', step.kind, step.id)],
  'run-container': (step) => {
    assertName(step.id, 'name', step.name, /^[A-Za-z0-9][A-Za-z0-9_.-]*$/)
    assertText(step.id, 'image', step.image)
    if (step.image === '' || step.image.startsWith('-')) throw new PlanRenderError(step.id, `image ${JSON.stringify(step.image)} is not an image reference`)
    step.createDirs.forEach((dir) => assertLinuxPath(step.id, 'createDirs', dir))
    for (const mount of step.mounts) {
      assertLinuxPath(step.id, 'mount source', mount.source)
      assertLinuxPath(step.id, 'mount target', mount.target)
    }
    for (const [key, value] of Object.entries(step.env)) {
      assertName(step.id, 'env name', key, /^[A-Za-z_][A-Za-z0-9_]*$/)
      assertText(step.id, `env ${key}`, value)
    }
    step.command.forEach((arg) => assertText(step.id, 'command', arg))
    const detach = step.detach ? 'true' : 'false'
    return [call('run_container', step.name, step.image, detach, String(step.createDirs.length), ...step.createDirs, ...containerRunArgs(step))]
  },
  'import-image': (step) => {
    assertText(step.id, 'image', step.image)
    assertText(step.id, 'address', step.address)
    return [call('import_image', step.tool, step.file, step.image, step.address)]
  },
  'check-runtime': (step) => {
    assertText(step.id, 'endpoint', step.endpoint)
    assertText(step.id, 'sandboxImage', step.sandboxImage)
    return [call('check_runtime', step.endpoint, step.sandboxImage, step.crictl ? 'true' : 'false')]
  },
}

function renderStep(step: Step): string[] {
  return (stepLines[step.kind] as (s: Step) => string[])(step)
}

/**
 * The braced main block: sh reads it whole before running it, so a truncated copy of the script runs nothing.
 * dispatch runs rollback, uninstall and status and exits before the bundle is read; verify exits at end_verify.
 */
function mainBlock(plan: Plan): string {
  const lines: string[] = ['setup_env "$@"', 'dispatch', 'verify_bundle']
  for (const file of bundleFiles(plan)) lines.push(call('require_listed', file))
  for (const archive of archiveSteps(plan)) lines.push(call('check_archive', archive.file, archive.format, String(archive.strip)))
  lines.push('end_verify')
  plan.steps.forEach((step, index) => {
    lines.push('', call('begin_step', String(index + 1), String(plan.steps.length), step.id, step.description))
    lines.push(...renderStep(step))
  })
  lines.push('', 'report')
  // keadm join runs only with --join; the images are checked as keadm names them (ImageStatus normalizes).
  const images = plan.target.os === 'windows' ? [] : plan.kubeedge.images
  images.forEach((image) => assertText('join', 'image', image))
  plan.kubeedge.keadmJoinArgs.forEach((arg) => assertText('join', 'keadm argument', arg))
  assertText('join', 'endpoint', plan.runtime.endpoint)
  lines.push(call('join_node', plan.runtime.endpoint, plan.kubeedge.release, String(images.length), ...images, ...plan.kubeedge.keadmJoinArgs))
  return ['{', ...lines.map((line) => (line === '' ? '' : INDENT + line)), '}'].join('\n')
}

export interface PosixView {
  schemaVersion: string
  stateDir: string
  name: string
  kubeedgeVersion: string
  facts: { label: string; value: string }[]
  steps: { number: string; id: string; kind: string; description: string }[]
  warnings: string[]
  keadmJoin: string
  /** "1" when plan.kubeedge.edgecoreConfig leaves keys for `install.sh edgecore-config`, else "0". */
  edgecoreEdits: string
  edgecoreConfig: string
  runtimeEndpoint: string
  keadmRelease: string
  joinImages: string
  joinImageCount: string
  main: string
}

/** edgecore_config_edits(): one edgecore_set call per key keadm join cannot set (plan.kubeedge.edgecoreConfig). */
function edgecoreConfigFunction(plan: Plan): string {
  const edits = plan.kubeedge.edgecoreConfig?.set ?? []
  const lines = edits.map(({ key, value }) => {
    key.forEach((part) => assertName('edgecore-config', 'edgecore.yaml key', part))
    // A plain YAML scalar that awk -v takes as it is: an image reference's characters only.
    assertName('edgecore-config', 'edgecore.yaml value', value, /^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$/)
    return call('edgecore_set', plan.kubeedge.edgecoreConfig!.path, key.join('.'), value)
  })
  return ['edgecore_config_edits() {', ...(lines.length > 0 ? lines : [':']).map((line) => INDENT + line), '}'].join('\n')
}

export function renderInstallSh(plan: Plan, templates: TemplateSource): string {
  if (plan.schemaVersion !== PLAN_SCHEMA_VERSION) throw new Error(`install.sh renders plan schema ${PLAN_SCHEMA_VERSION}, not ${plan.schemaVersion}`)
  if (plan.target.os === 'windows') throw new Error(`${plan.name} is a Windows bundle: it gets install.ps1, not install.sh`)
  assertPlanShape(plan)
  assertStepIds(plan)
  for (const step of plan.steps) {
    // The journal's fields are separated by single spaces and only the last may hold one (docs/node-state.md).
    if (/\s/.test(step.id)) throw new PlanRenderError(step.id, 'a step id holds a space, which the journal cannot carry')
  }
  const view: PosixView = {
    schemaVersion: String(plan.schemaVersion),
    stateDir: LINUX_PATHS.stateDir,
    name: plan.name,
    kubeedgeVersion: plan.kubeedge.version,
    facts: headerFacts(plan).map((fact) => ({ label: fact.label.padEnd(14), value: fact.value })),
    steps: plan.steps.map((step, index) => ({ number: String(index + 1).padStart(2), id: step.id, kind: step.kind, description: step.description })),
    warnings: plan.warnings,
    keadmJoin: keadmJoinCommand(plan),
    edgecoreEdits: (plan.kubeedge.edgecoreConfig?.set.length ?? 0) > 0 ? '1' : '0',
    edgecoreConfig: edgecoreConfigFunction(plan),
    runtimeEndpoint: plan.runtime.endpoint,
    keadmRelease: plan.kubeedge.release,
    joinImages: plan.kubeedge.images.join('\n'),
    joinImageCount: String(plan.kubeedge.images.length),
    main: mainBlock(plan),
  }
  return compileTemplate<PosixView>(templates(SCRIPT_TEMPLATES.installSh))(view)
}
