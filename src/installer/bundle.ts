/**
 * The bundle the installer works on: where it is, its plan.json checked for the shape this installer
 * carries out, and which bundle files each step reads (so verification can prove they are covered).
 *
 * The plan is checked with the plan schema itself (zod/mini, a few tens of KiB in the executable); it was
 * written by edgebundle and verified against SHA256SUMS before it is parsed, so the check guards against a
 * plan from another edgebundle version, not against hostile JSON.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { BUNDLE } from '../model/layout.js'
import { type Check, type CheckKind, PLAN_SCHEMA_VERSION, type Plan, formatPlanIssue, planIssues } from '../model/plan.js'
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

/**
 * Checks the parsed plan.json has the shape this installer carries out (the plan schema in
 * src/model/plan.ts, the one the builder's types come from); returns it typed, as it was given.
 */
export function checkPlan(data: unknown): Plan {
  const isObject = typeof data === 'object' && data !== null && !Array.isArray(data)
  if (!isObject) throw new PlanFormatError('plan.json is not a JSON object')
  const schemaVersion = (data as { schemaVersion?: unknown }).schemaVersion
  if (schemaVersion !== PLAN_SCHEMA_VERSION) {
    throw new PlanFormatError(`plan.json has schemaVersion ${JSON.stringify(schemaVersion)}; this installer carries out version ${PLAN_SCHEMA_VERSION}`, {
      hint: 'Use the install executable that came in the same bundle as this plan.json.',
    })
  }
  const problems = planIssues(data).map(formatPlanIssue)
  if (problems.length > 0) {
    const more = problems.length > 20 ? [`and ${problems.length - 20} more`] : []
    throw new PlanFormatError(`plan.json is not a plan this installer understands:\n  - ${[...problems.slice(0, 20), ...more].join('\n  - ')}`, {
      hint: 'Use the install executable that came in the same bundle as this plan.json.',
    })
  }
  // The input itself, not zod's copy: nothing is transformed, and keys a newer builder adds stay visible.
  return data as Plan
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
