/**
 * Which bundle files each plan step reads, in one place for every plan consumer (install.sh, the installer
 * executable): each must find them listed in SHA256SUMS before it changes anything. Exhaustive,
 * so a new step kind must say which files it uses. Pure, and dependency-free for the installer's bundle.
 */
import type { Plan, Step, StepKind } from '../model/plan.js'

const STEP_BUNDLE_FILES: { [K in StepKind]: (step: Extract<Step, { kind: K }>) => string[] } = {
  preflight: () => [],
  'install-archive': (step) => [step.file],
  'install-binary': (step) => [step.file],
  'run-upstream-installer': (step) => [step.file],
  'install-packages': (step) => step.files,
  'write-file': (step) => [step.source],
  symlink: () => [],
  'load-kernel-modules': () => [],
  // An absolute path was written by an earlier write-file step; a relative one is read from the bundle.
  'apply-sysctl': (step) => (step.file.startsWith('/') ? [] : [step.file]),
  'enable-service': () => [],
  'register-windows-service': () => [],
  'run-container': () => [],
  'import-image': (step) => [step.file],
  'check-runtime': () => [],
}

export function stepBundleFiles(step: Step): string[] {
  return (STEP_BUNDLE_FILES[step.kind] as (s: Step) => string[])(step)
}

/** Every bundle file the plan reads, once each, in plan order. */
export function planBundleFiles(plan: Plan): string[] {
  return [...new Set(plan.steps.flatMap(stepBundleFiles))]
}
