/** Docker Engine daemon.json. The cgroup driver is always explicit: Moby picks systemd on cgroup v2 by itself. */
import type { CgroupDriver, RegistryMirror } from '../../model/target.js'

export function dockerDaemonJson(options: { cgroupDriver: CgroupDriver; mirrors: RegistryMirror[] }): Record<string, unknown> {
  const config: Record<string, unknown> = { 'exec-opts': [`native.cgroupdriver=${options.cgroupDriver}`] }
  // Docker's registry-mirrors apply to Docker Hub only; other registries' mirrors are reported as warnings.
  const hubMirrors = options.mirrors.filter((m) => m.registry === 'docker.io').map((m) => m.endpoint)
  if (hubMirrors.length > 0) config['registry-mirrors'] = hubMirrors
  const insecure = options.mirrors.filter((m) => m.registry === 'docker.io' && m.endpoint.startsWith('http:')).map((m) => new URL(m.endpoint).host)
  if (insecure.length > 0) config['insecure-registries'] = insecure
  return config
}
