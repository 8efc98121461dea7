/**
 * The bundle the installer works on: where it is, its plan.json checked for the shape this installer
 * carries out, and which bundle files each step reads (so verification can prove they are covered).
 *
 * No zod here: the executable carries only what it needs, and the plan was written by edgebundle itself
 * and verified against SHA256SUMS before it is parsed; the checks guard against a plan from another
 * edgebundle version, not against hostile JSON.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { BUNDLE } from '../model/layout.js'
import { type Check, type CheckKind, PLAN_SCHEMA_VERSION, type Plan, type StepKind } from '../model/plan.js'
import { BundleNotFoundError, PlanFormatError } from './errors.js'

export interface BundleLocation {
  dir: string
  /** How it was found, for messages. */
  how: 'flag' | 'executable'
}

export interface LocateContext {
  /** Whether this process is the bundle's single executable (node:sea isSea()). */
  isSea: boolean
  execPath: string
  cwd: string
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/**
 * --bundle DIR, else the folder of the executable when it is the SEA (the bundle layout puts `install`
 * at the bundle root). Running the installer's JS under a plain `node` has no such folder: --bundle is
 * then required.
 */
export function locateBundle(flag: string | undefined, context: LocateContext): BundleLocation {
  if (flag !== undefined) {
    const dir = resolve(context.cwd, flag)
    if (!isDir(dir)) throw new BundleNotFoundError(`--bundle ${flag} is not a folder`)
    if (!existsSync(join(dir, BUNDLE.plan))) {
      throw new BundleNotFoundError(`--bundle ${flag} is not an edgebundle bundle: it has no ${BUNDLE.plan}`, {
        hint: 'Give the unpacked bundle folder (the one holding plan.json, SHA256SUMS and install).',
      })
    }
    return { dir, how: 'flag' }
  }
  if (!context.isSea) {
    throw new BundleNotFoundError('not running as a bundle\'s executable, so there is no bundle folder to use', {
      hint: 'Pass --bundle DIR (the unpacked bundle folder).',
    })
  }
  const dir = dirname(context.execPath)
  if (!existsSync(join(dir, BUNDLE.plan))) {
    throw new BundleNotFoundError(`${dir} holds no ${BUNDLE.plan}: this executable is not inside an unpacked bundle`, {
      hint: 'Run the executable from the unpacked bundle folder it came in, or pass --bundle DIR.',
    })
  }
  return { dir, how: 'executable' }
}

/** The bundle's name from plan.json, for --version; null when there is no readable plan (no verification). */
export function peekBundleName(dir: string): string | null {
  try {
    const plan = JSON.parse(readFileSync(join(dir, BUNDLE.plan), 'utf8')) as { name?: unknown }
    return typeof plan.name === 'string' ? plan.name : null
  } catch {
    return null
  }
}

// ------------------------------------------------------------------------------------------ plan shape

type FieldType = 'string' | 'number' | 'boolean' | 'string[]' | 'object' | 'array'

/**
 * The fields each step kind must have, and their types. A Record over StepKind, so adding a step kind to
 * the model without teaching the installer about it does not compile.
 */
const STEP_FIELDS: Record<StepKind, Record<string, FieldType>> = {
  preflight: { checks: 'array' },
  'install-archive': { component: 'string', file: 'string', format: 'string', dest: 'string', strip: 'number' },
  'install-binary': { component: 'string', file: 'string', dest: 'string' },
  'run-upstream-installer': { component: 'string', file: 'string', format: 'string', subdir: 'string', script: 'string', interpreter: 'string' },
  'install-packages': { manager: 'string', files: 'string[]' },
  'write-file': { source: 'string', dest: 'string', mode: 'string' },
  symlink: { path: 'string', target: 'string' },
  'load-kernel-modules': { modules: 'string[]' },
  'apply-sysctl': { file: 'string' },
  'enable-service': { service: 'string', restartWhenChanged: 'string[]' },
  'register-windows-service': { service: 'string', binary: 'string', args: 'string[]', restartWhenChanged: 'string[]' },
  'run-container': {
    engine: 'string',
    name: 'string',
    image: 'string',
    detach: 'boolean',
    privileged: 'boolean',
    hostNamespaces: 'boolean',
    mounts: 'array',
    env: 'object',
    command: 'string[]',
    createDirs: 'string[]',
  },
  'import-image': { file: 'string', image: 'string', tool: 'string', address: 'string' },
  'check-runtime': { endpoint: 'string', sandboxImage: 'string', crictl: 'boolean' },
}

const CHECK_KINDS: Record<CheckKind, true> = {
  'os-release': true,
  arch: true,
  root: true,
  'init-system': true,
  cgroup: true,
  'kernel-module': true,
  'port-free': true,
  command: true,
  'service-inactive': true,
  'runtime-absent': true,
  'windows-feature': true,
}

function hasType(value: unknown, type: FieldType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string'
    case 'number':
      return typeof value === 'number' && Number.isFinite(value)
    case 'boolean':
      return typeof value === 'boolean'
    case 'string[]':
      return Array.isArray(value) && value.every((item) => typeof item === 'string')
    case 'array':
      return Array.isArray(value)
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value)
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/** Checks the parsed plan.json has the shape this installer carries out; returns it typed. */
export function checkPlan(data: unknown): Plan {
  const problems: string[] = []
  if (!isRecord(data)) throw new PlanFormatError('plan.json is not a JSON object')
  if (data.schemaVersion !== PLAN_SCHEMA_VERSION) {
    throw new PlanFormatError(`plan.json has schemaVersion ${JSON.stringify(data.schemaVersion)}; this installer carries out version ${PLAN_SCHEMA_VERSION}`, {
      hint: 'Use the install executable that came in the same bundle as this plan.json.',
    })
  }
  if (typeof data.name !== 'string') problems.push('name: not a string')
  const target = data.target
  if (!isRecord(target) || typeof target.os !== 'string' || typeof target.arch !== 'string' || typeof target.runtime !== 'string') {
    problems.push('target: needs os, arch and runtime')
  }
  if (!isRecord(data.runtime) || typeof data.runtime.name !== 'string' || typeof data.runtime.version !== 'string') problems.push('runtime: needs name and version')
  if (!isRecord(data.kubeedge) || typeof data.kubeedge.version !== 'string') problems.push('kubeedge: needs version')
  if (!Array.isArray(data.steps)) problems.push('steps: not a list')
  const ids = new Set<string>()
  const steps: unknown[] = Array.isArray(data.steps) ? data.steps : []
  steps.forEach((step, index) => {
    const at = `steps[${index}]`
    if (!isRecord(step)) return problems.push(`${at}: not an object`)
    if (typeof step.id !== 'string' || step.id === '') problems.push(`${at}: id is not a string`)
    else if (ids.has(step.id)) problems.push(`${at}: id ${step.id} is used twice`)
    else ids.add(step.id)
    if (typeof step.description !== 'string') problems.push(`${at}: description is not a string`)
    const kind = step.kind
    if (typeof kind !== 'string' || !Object.hasOwn(STEP_FIELDS, kind)) return problems.push(`${at}: unknown kind ${JSON.stringify(kind)}`)
    for (const [field, type] of Object.entries(STEP_FIELDS[kind as StepKind])) {
      if (!hasType(step[field], type)) problems.push(`${at} (${kind}): ${field} is not a ${type}`)
    }
    if (kind === 'write-file' && step.merge !== undefined && step.merge !== 'json' && step.merge !== 'toml') {
      problems.push(`${at} (write-file): merge must be json or toml`)
    }
    if (kind === 'preflight' && Array.isArray(step.checks)) {
      step.checks.forEach((check: unknown, checkIndex: number) => {
        if (!isRecord(check) || typeof check.kind !== 'string' || !Object.hasOwn(CHECK_KINDS, check.kind)) {
          problems.push(`${at}.checks[${checkIndex}]: unknown check ${JSON.stringify(isRecord(check) ? check.kind : check)}`)
        } else if (check.severity !== 'error' && check.severity !== 'warning') {
          problems.push(`${at}.checks[${checkIndex}]: severity must be error or warning`)
        }
      })
    }
    return undefined
  })
  if (problems.length > 0) {
    throw new PlanFormatError(`plan.json is not a plan this installer understands:\n  - ${problems.slice(0, 20).join('\n  - ')}`, {
      hint: 'Use the install executable that came in the same bundle as this plan.json.',
    })
  }
  return data as unknown as Plan
}

/** Reads and checks `<dir>/plan.json`. Call after verification: the file is trusted from then on. */
export function readPlan(dir: string): Plan {
  let data: unknown
  try {
    data = JSON.parse(readFileSync(join(dir, BUNDLE.plan), 'utf8'))
  } catch (error) {
    throw new PlanFormatError(`cannot read ${BUNDLE.plan}: ${(error as Error).message}`)
  }
  return checkPlan(data)
}

export { stepBundleFiles as bundleFilesOf } from '../plan/bundle-files.js'

/**
 * A node path as the installer will touch it: unchanged without --root; under --root, the Linux path
 * below DIR, and a Windows path below DIR/<drive>/ (the layout config/ uses in the bundle).
 */
export function nodePath(path: string, root: string | undefined): string {
  if (root === undefined) return path
  const windows = /^([A-Za-z]):\\(.*)$/.exec(path)
  if (windows) return join(root, windows[1]!.toUpperCase(), ...windows[2]!.split('\\'))
  if (!path.startsWith('/')) return path
  return join(root, ...path.split('/'))
}

/** Names a check for people: "root", "kernel module overlay", ... Exhaustive over CheckKind. */
export const CHECK_TEXT: { [K in CheckKind]: (check: Extract<Check, { kind: K }>) => string } = {
  'os-release': (c) => `the OS is ${c.ids.join(' or ')} (/etc/os-release ID)`,
  arch: (c) => `the CPU architecture is ${c.machines.join(' or ')}`,
  root: () => 'running as root (Administrator on Windows)',
  'init-system': (c) => `the init system is ${c.expect}`,
  cgroup: (c) => `the cgroup setup suits the ${c.driver} cgroup driver`,
  'kernel-module': (c) => `kernel module ${c.module} is available`,
  'port-free': (c) => `port ${c.port} is free (${c.reason})`,
  command: (c) => `command ${c.command} is present (${c.reason})`,
  'service-inactive': (c) => `service ${c.service} is not running (${c.reason})`,
  'runtime-absent': (c) => `no ${c.runtime} answers at ${c.socket} (${c.reason})`,
  'windows-feature': (c) => `Windows feature ${c.feature} is enabled`,
}

export function describeCheck(check: Check): string {
  return `${(CHECK_TEXT[check.kind] as (c: Check) => string)(check)}${check.severity === 'warning' ? ' [warning only]' : ''}`
}
