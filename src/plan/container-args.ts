/**
 * The `docker run` arguments of a run-container step after the ones the installers add themselves
 * (--detach/--rm, --name, --restart, the label): flags, the image, then the command. One function, so
 * install.sh and the installer executable run the same container and hash the same arguments.
 */
import type { StepOf } from '../model/plan.js'

function mountOption(mount: StepOf<'run-container'>['mounts'][number]): string {
  // docker's --mount is CSV: a field holding a comma or a quote is quoted, quotes doubled.
  const csv = (field: string) => (/[",]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field)
  const fields = ['type=bind', `src=${mount.source}`, `dst=${mount.target}`]
  if (mount.readOnly) fields.push('readonly')
  if (mount.propagation) fields.push(`bind-propagation=${mount.propagation}`)
  return `--mount=${fields.map(csv).join(',')}`
}

export function containerRunArgs(step: StepOf<'run-container'>): string[] {
  const flags: string[] = []
  if (step.privileged) flags.push('--privileged')
  if (step.hostNamespaces) flags.push('--net=host', '--pid=host', '--uts=host', '--ipc=host')
  for (const mount of step.mounts) flags.push(mountOption(mount))
  for (const [key, value] of Object.entries(step.env)) flags.push(`--env=${key}=${value}`)
  return [...flags, step.image, ...step.command]
}
