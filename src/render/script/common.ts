/**
 * What the scripts share: the plan facts the headers of install.sh and install.ps1 show, the bundle files
 * install.sh must see listed in SHA256SUMS, and the checks that refuse plan values no script could carry out
 * safely. The planner validates user input; the plan schema (src/model/plan.ts) checks the plan's shape,
 * and these guards add what matters to a script's quoting, so a defective plan fails at render time instead
 * of on a node.
 */
import { type Check, type CheckKind, type Plan, formatPlanIssue, isBundlePath, planIssues } from '../../model/plan.js'
import { planBundleFiles } from '../../plan/bundle-files.js'
import { shWord } from '../quote.js'

export type CheckOf<K extends CheckKind> = Extract<Check, { kind: K }>

/** A plan value no script can carry out; thrown at render time. */
export class PlanRenderError extends Error {
  constructor(step: string, message: string) {
    super(`plan step ${step}: ${message}`)
    this.name = 'PlanRenderError'
  }
}

// Control characters (and the Unicode line breaks) never belong in a path or a name.
const CONTROL = /[\u0000-\u001f\u007f\u0085\u2028\u2029]/

/** A bundle-relative path (artifacts/x.tar.gz), where the plan schema allows a node path too (apply-sysctl's file). */
export function assertBundlePath(step: string, field: string, value: string): void {
  if (!isBundlePath(value)) throw new PlanRenderError(step, `${field} ${JSON.stringify(value)} is not a plain path inside the bundle`)
}

/** An absolute POSIX node path with no `.`/`..` components (`/` alone is allowed where `allowRoot`). */
export function assertLinuxPath(step: string, field: string, value: string, allowRoot = false): void {
  if (allowRoot && value === '/') return
  const parts = value.split('/').slice(1)
  if (!value.startsWith('/') || CONTROL.test(value) || parts.some((part) => part === '' || part === '.' || part === '..')) {
    throw new PlanRenderError(step, `${field} ${JSON.stringify(value)} is not an absolute node path`)
  }
}

/** A name that goes to a tool as one argument (service, module, command, container): no leading `-`, no `/`. */
export function assertName(step: string, field: string, value: string, pattern = /^[A-Za-z0-9_][A-Za-z0-9_.@:+-]*$/): void {
  if (!pattern.test(value)) throw new PlanRenderError(step, `${field} ${JSON.stringify(value)} is not a valid name`)
}

/** Any other text value: may hold anything printable, but never a control character or NUL. */
export function assertText(step: string, field: string, value: string): void {
  if (CONTROL.test(value)) throw new PlanRenderError(step, `${field} contains a control character: ${JSON.stringify(value)}`)
}

/**
 * The plan has the plan schema's shape (src/model/plan.ts: kinds, enums, modes, ports, strip, unique
 * non-empty ids), the same check the installer executable makes; the first problem is thrown.
 */
export function assertPlanShape(plan: Plan): void {
  const issue = planIssues(plan)[0]
  if (issue === undefined) return
  if (issue.step === undefined) throw new Error(`plan.json is not a valid plan: ${formatPlanIssue(issue)}`)
  const id = plan.steps[issue.step]?.id
  throw new PlanRenderError(typeof id === 'string' && id !== '' ? id : `#${issue.step + 1}`, `${issue.where}: ${issue.text}`)
}

/** Step ids are shown, quoted and journaled: no control characters in them or in descriptions. */
export function assertStepIds(plan: Plan): void {
  for (const step of plan.steps) {
    // Ids are shown and quoted, never used as names: write-file:/etc/containerd/config.toml is fine.
    assertText(step.id, 'id', step.id)
    assertText(step.id, 'description', step.description)
  }
}

/** Every bundle file the plan reads: a script must find each listed in SHA256SUMS before any step. */
export const bundleFiles = planBundleFiles

/** The archive steps whose listings a script checks before it changes anything. */
export function archiveSteps(plan: Plan): { file: string; format: string; strip: number }[] {
  const archives: { file: string; format: string; strip: number }[] = []
  for (const step of plan.steps) {
    if (step.kind === 'install-archive') archives.push({ file: step.file, format: step.format, strip: step.strip })
    else if (step.kind === 'run-upstream-installer') archives.push({ file: step.file, format: step.format, strip: 0 })
  }
  return archives
}

/** The keadm join command shown at the end, with placeholders for the two install-time secrets. */
export function keadmJoinCommand(plan: Plan, word: (value: string) => string = shWord): string {
  plan.kubeedge.keadmJoinArgs.forEach((arg) => assertText('keadm-join', 'argument', arg))
  return ['keadm join', '--cloudcore-ipport=<CLOUDCORE_IP:PORT>', '--token=<TOKEN>', ...plan.kubeedge.keadmJoinArgs.map(word)].join(' ')
}

/** The facts every script header states, as display text. */
export function headerFacts(plan: Plan): { label: string; value: string }[] {
  const { target, runtime, options } = plan
  const facts = [
    { label: 'bundle', value: plan.name },
    { label: 'target', value: `${target.os}/${target.arch}, KubeEdge ${target.kubeedge} (${plan.kubeedge.version})` },
    { label: 'runtime', value: `${runtime.name} ${runtime.version} (${runtime.source})${runtime.base ? ` on ${runtime.base.name} ${runtime.base.version}` : ''}` },
    { label: 'CRI endpoint', value: runtime.endpoint },
    { label: 'pause image', value: options.pauseImage },
  ]
  if (target.os !== 'windows') facts.push({ label: 'cgroup driver', value: options.cgroupDriver })
  return facts
}
