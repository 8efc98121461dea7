/** edgebundle plan: the ordered steps for one target, for people (default) or machines (--json). */
import type { Plan, Step } from '../../model/plan.js'

function detail(step: Step): string {
  switch (step.kind) {
    case 'preflight':
      return `${step.checks.length} checks: ${[...new Set(step.checks.map((c) => c.kind))].join(', ')}`
    case 'install-archive':
    case 'install-binary':
      return `${step.file} → ${step.dest}`
    case 'run-upstream-installer':
      return `${step.file}: ${step.interpreter} ${step.subdir}/${step.script}`
    case 'install-packages':
      return `${step.manager}: ${step.files.length} files`
    case 'write-file':
      return `${step.dest} (${step.mode})`
    case 'symlink':
      return `${step.path} → ${step.target}`
    case 'load-kernel-modules':
      return step.modules.join(', ')
    case 'apply-sysctl':
      return step.file
    case 'enable-service':
    case 'register-windows-service':
      return `${step.service}; restarted when ${step.restartWhenChanged.length} paths change`
    case 'run-container':
      return `${step.engine} ${step.detach ? 'run -d' : 'run --rm'} ${step.name} (${step.image})`
    case 'import-image':
      return `${step.tool}: ${step.file} as ${step.image}`
    case 'check-runtime':
      return `${step.endpoint}, sandbox image ${step.sandboxImage}`
  }
}

export function formatPlan(plan: Plan): string {
  const lines = [
    `${plan.name}: ${plan.runtime.name} ${plan.runtime.version} (${plan.runtime.source}) for KubeEdge ${plan.kubeedge.version} on ${plan.target.os}/${plan.target.arch}`,
    `CRI endpoint: ${plan.runtime.endpoint}   cgroup driver: ${plan.options.cgroupDriver}   pause image: ${plan.options.pauseImage}`,
    '',
  ]
  plan.steps.forEach((step, index) => {
    lines.push(`${String(index + 1).padStart(3)}. ${step.description}`)
    lines.push(`     ${step.kind}: ${detail(step)}`)
  })
  lines.push('', `keadm join --cloudcore-ipport=<CLOUDCORE_IP:PORT> --token=<TOKEN> ${plan.kubeedge.keadmJoinArgs.join(' ')}`)
  for (const warning of plan.warnings) lines.push(`warning: ${warning}`)
  return lines.join('\n')
}
