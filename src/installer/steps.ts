/**
 * What each step of the plan does, said as the concrete actions it takes on this node: the lines a dry
 * run prints. One entry per step kind (a Record over StepKind, so a new kind does not compile until it
 * is described); the executors of the full installer sit beside these with the same keys.
 */
import type { Step, StepKind } from '../model/plan.js'
import { describeCheck, nodePath } from './bundle.js'

export interface StepContext {
  /** --root DIR, or undefined for the live system. */
  root: string | undefined
  /** Whether services are started: never under --root (DESIGN). */
  startsServices: boolean
}

type Describe<K extends StepKind> = (step: Extract<Step, { kind: K }>, context: StepContext) => string[]

const at = (path: string, context: StepContext) => nodePath(path, context.root)
/** A command line for display: arguments with spaces (C:\Program Files\…) in double quotes, as a shell would need them. */
const commandLine = (argv: string[]) => argv.map((arg) => (/\s/.test(arg) ? `"${arg}"` : arg)).join(' ')

const DESCRIBE: { [K in StepKind]: Describe<K> } = {
  preflight: (step) => step.checks.map((check) => `check ${describeCheck(check)}`),
  'install-archive': (step, c) => [
    `extract ${step.file} (${step.format}${step.strip > 0 ? `, dropping ${step.strip} leading path component${step.strip === 1 ? '' : 's'}` : ''}) into ${at(step.dest, c)}`,
  ],
  'install-binary': (step, c) => [`copy ${step.file} to ${at(step.dest, c)} (mode 0755)`],
  'run-upstream-installer': (step, c) => [
    `unpack ${step.file} to a temporary folder`,
    `run ${step.interpreter} ${step.subdir}/${step.script} there${c.root === undefined ? '' : ` with DESTDIR=${c.root}`}`,
  ],
  'install-packages': (step, c) => [
    `install ${step.files.length} ${step.manager === 'dpkg' ? '.deb' : '.rpm'} package${step.files.length === 1 ? '' : 's'} with ${step.manager}${c.root === undefined ? '' : ` --root ${c.root}`}: ${step.files.join(', ')}`,
  ],
  'write-file': (step, c) => [`write ${at(step.dest, c)} (mode ${step.mode}) from ${step.source}, backing up a different existing file`],
  symlink: (step, c) => [`link ${at(step.path, c)} -> ${step.target}`],
  'load-kernel-modules': (step, c) => [c.startsServices ? `load kernel modules ${step.modules.join(', ')}` : `skip loading kernel modules ${step.modules.join(', ')} (--root)`],
  'apply-sysctl': (step, c) => [c.startsServices ? `apply sysctls from ${step.file}` : `skip applying ${at(step.file, c)} (--root)`],
  'enable-service': (step, c) => [
    c.startsServices ? `enable and start ${step.service}` : `enable ${step.service} (not started under --root)`,
    ...(step.restartWhenChanged.length > 0 ? [`restart ${step.service} if anything changed at ${step.restartWhenChanged.map((p) => at(p, c)).join(', ')}`] : []),
  ],
  'register-windows-service': (step, c) => [
    `register Windows service ${step.service}: ${commandLine([at(step.binary, c), ...step.args])}`,
    c.startsServices ? `start ${step.service}` : `leave ${step.service} stopped (--root)`,
  ],
  'run-container': (step) => [
    `${step.engine} run ${step.detach ? '--detach' : '--rm'} --name ${step.name}${step.privileged ? ' --privileged' : ''}${step.hostNamespaces ? ' (host namespaces)' : ''} ${step.image}${step.command.length > 0 ? ` ${commandLine(step.command)}` : ''}`,
    ...(step.createDirs.length > 0 ? [`create ${step.createDirs.join(', ')} first`] : []),
  ],
  'import-image': (step, c) => [
    c.startsServices
      ? `load ${step.file} into the runtime's image store with ${step.tool} (${step.address}) as ${step.image}`
      : `skip importing ${step.file} as ${step.image} (--root: no runtime runs to import into)`,
  ],
  'check-runtime': (step, c) => [
    c.startsServices
      ? `ask the runtime at ${step.endpoint} over CRI for its version and status; expect sandbox image ${step.sandboxImage}${step.crictl ? ' (crictl as well)' : ''}`
      : `skip the CRI check of ${step.endpoint} (--root: nothing runs)`,
  ],
}

export function describeStep(step: Step, context: StepContext): string[] {
  return (DESCRIBE[step.kind] as Describe<StepKind>)(step as never, context)
}
