/**
 * The edgecore side: the modules.edged fragment of edgecore.yaml for binary installs, and the keadm join
 * flags for keadm installs. Both must name the same endpoint, cgroup driver and sandbox image as the runtime.
 */
import type { FeatureName } from '../../catalog/schema.js'
import type { CgroupDriver, OsFamily, RuntimeName } from '../../model/target.js'

export interface EdgecoreSettings {
  family: OsFamily
  runtime: RuntimeName
  endpoint: string
  cgroupDriver: CgroupDriver
  pauseImage: string
  features: Record<FeatureName, boolean>
}

const usesDockershim = (s: EdgecoreSettings) => s.runtime === 'docker' && s.features.dockershim

export function edgedFragment(settings: EdgecoreSettings): Record<string, unknown> {
  const edged: Record<string, unknown> = {}
  const tailored: Record<string, unknown> = {}
  if (settings.features.edgedRemoteRuntimeFields) {
    edged['containerRuntime'] = usesDockershim(settings) ? 'docker' : 'remote'
    edged['remoteRuntimeEndpoint'] = settings.endpoint
    edged['remoteImageEndpoint'] = settings.endpoint
  }
  if (settings.features.edgedTailoredEndpoints) {
    tailored['containerRuntimeEndpoint'] = settings.endpoint
    tailored['imageServiceEndpoint'] = settings.endpoint
  }
  // edgecore's Windows default cgroupDriver is "" and Windows has no cgroups: leave it unset there.
  if (settings.family === 'linux') tailored['cgroupDriver'] = settings.cgroupDriver
  edged['podSandboxImage'] = settings.pauseImage
  if (Object.keys(tailored).length > 0) edged['tailoredKubeletConfig'] = tailored
  return { modules: { edged } }
}

/** keadm join flags, except --cloudcore-ipport and --token which are install-time secrets. */
export function keadmJoinArgs(settings: EdgecoreSettings): string[] {
  const args = [`--remote-runtime-endpoint=${settings.endpoint}`]
  if (settings.features.keadmRuntimeTypeFlag) args.push(`--runtimetype=${usesDockershim(settings) ? 'docker' : 'remote'}`)
  if (settings.family === 'linux' && settings.cgroupDriver === 'systemd') args.push('--cgroupdriver=systemd')
  // Without this, edged keeps its default sandbox image and pulls it from Docker Hub (kubeedge#5358, #5943).
  if (settings.features.keadmSetFlag) args.push(`--set=modules.edged.podSandboxImage=${settings.pauseImage}`)
  return args
}
