/**
 * The edgecore side: the modules.edged fragment of edgecore.yaml for binary installs, and the keadm join
 * flags for keadm installs. Both must name the same endpoint, cgroup driver and sandbox image as the runtime.
 */
import type { FeatureName } from '../catalog/schema.js'
import type { CgroupDriver, OsFamily, RuntimeName } from '../model/target.js'

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

/**
 * Where keadm join writes edgecore's configuration: KubeEdgePath + config/edgecore.yaml
 * (keadm/cmd/keadm/app/cmd/util/common_others.go and common_windows.go, v1.16.0; join.go, v1.12.0).
 */
export const EDGECORE_CONFIG_PATH: Record<OsFamily, string> = {
  linux: '/etc/kubeedge/config/edgecore.yaml',
  windows: 'C:\\etc\\kubeedge\\config\\edgecore.yaml',
}

/**
 * edged's sandbox image in edgecore.yaml: podSandboxImage sits in ContainerRuntimeOptions, embedded without
 * a json tag in TailoredKubeletFlag, itself embedded in Edged, so encoding/json inlines it under
 * modules.edged at every version 1.12–1.23 (edgecore v1alpha2 types.go; checked against the field tables
 * in bundles/upstream/kubeedge-facts.json by test/render/keadm-join.test.ts).
 */
export const PAUSE_IMAGE_KEY = ['modules', 'edged', 'podSandboxImage'] as const

/**
 * The --set path keadm resolves to edged's sandbox image. A lower-case path maps by json tag among direct
 * fields only (set.go findFieldByTag), so modules.edged.podSandboxImage stops at the untagged embedded
 * struct; a path starting upper-case is kept as Go field names (parseTag) and each segment is found with
 * reflect's FieldByName, which does see promoted fields (set.go getFieldValue, v1.18.0).
 */
export const PAUSE_IMAGE_SET_PATH = 'Modules.Edged.PodSandboxImage'

/** What keadm join cannot set at this version, for the installer to write into edgecore.yaml after the join. */
export interface EdgecoreConfigEdit {
  /** Node path of the edgecore.yaml keadm join wrote. */
  path: string
  set: { key: string[]; value: string }[]
}

/**
 * keadm join flags, except --cloudcore-ipport and --token (install-time secrets) and --edgenode-name
 * (given at install time). Every flag here exists in keadm join at the pinned release for the OS
 * (bundles/upstream/kubeedge-facts.json; test/render/keadm-join.test.ts checks each).
 */
export function keadmJoinArgs(settings: EdgecoreSettings & { release: string; imageRepository?: string | undefined }): string[] {
  // Without it keadm asks the internet for the latest release first (util.GetCurrentVersion).
  const args = [`--kubeedge-version=v${settings.release}`]
  // keadm join on Windows pulls no image (it downloads the edgecore release instead: join_windows.go), and its
  // flag set lacks --image-repository from 1.23.
  if (settings.imageRepository !== undefined && settings.family === 'linux') args.push(`--image-repository=${settings.imageRepository}`)
  args.push(`--remote-runtime-endpoint=${settings.endpoint}`)
  if (settings.features.keadmRuntimeTypeFlag) args.push(`--runtimetype=${usesDockershim(settings) ? 'docker' : 'remote'}`)
  // keadm join on Windows has no --cgroupdriver (join_windows.go); keadm's Linux default is cgroupfs.
  if (settings.family === 'linux' && settings.cgroupDriver === 'systemd') args.push('--cgroupdriver=systemd')
  // Without the sandbox image, edged keeps its default and pulls it from Docker Hub (kubeedge#5358, #5943).
  if (settings.features.keadmSetFlag) {
    // ParseSet splits at commas and "=", drops whitespace and reads braces and quotes: none may be in the value.
    if (/[,={}"'\s]/.test(settings.pauseImage)) throw new Error(`internal: pause image ${settings.pauseImage} cannot pass through keadm --set`)
    args.push(`--set=${PAUSE_IMAGE_SET_PATH}=${settings.pauseImage}`)
  }
  return args
}

/** The edgecore.yaml keys keadm join cannot carry at this version: the sandbox image before --set exists. */
export function edgecoreConfigEdit(settings: EdgecoreSettings): EdgecoreConfigEdit | null {
  if (settings.features.keadmSetFlag) return null
  return { path: EDGECORE_CONFIG_PATH[settings.family], set: [{ key: [...PAUSE_IMAGE_KEY], value: settings.pauseImage }] }
}
