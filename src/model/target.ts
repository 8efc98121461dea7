/** The axes of a build target. The literal lists are the vocabulary; which combinations work is data in bundles/. */

export const OSES = ['ubuntu', 'centos', 'openeuler', 'windows'] as const
export type Os = (typeof OSES)[number]

export const ARCHES = ['amd64', 'arm64', 'arm'] as const
export type Arch = (typeof ARCHES)[number]

export const RUNTIMES = ['containerd', 'cri-o', 'docker', 'kata', 'virtlet', 'isulad'] as const
export type RuntimeName = (typeof RUNTIMES)[number]

export const OS_FAMILIES = ['linux', 'windows'] as const
export type OsFamily = (typeof OS_FAMILIES)[number]

export const CGROUP_DRIVERS = ['cgroupfs', 'systemd'] as const
export type CgroupDriver = (typeof CGROUP_DRIVERS)[number]

/** Where the runtime's own binaries come from. */
export const RUNTIME_SOURCES = ['release', 'packages', 'preinstalled'] as const
export type RuntimeSource = (typeof RUNTIME_SOURCES)[number]

export interface Target {
  os: Os
  arch: Arch
  runtime: RuntimeName
  /** KubeEdge minor version, e.g. "1.23". */
  kubeedge: string
}

/** A registry mirror: pulls for `registry` (a host, default docker.io) go to `endpoint` first. */
export interface RegistryMirror {
  registry: string
  endpoint: string
}

/** Everything a user can choose besides the target, after validation. */
export interface TargetOptions {
  cgroupDriver: CgroupDriver
  pauseImage: string
  cniSubnet: string
  runtimeVersion?: string
  runtimeSource?: RuntimeSource
  registryMirrors: RegistryMirror[]
  /** OS package files (names only) carried into the bundle for --runtime-source packages. */
  packages: string[]
  /**
   * Where the KubeEdge images are pulled from instead of docker.io/kubeedge (keadm join --image-repository):
   * keadm replaces the first path component of each image it needs with this.
   */
  imageRepository?: string
  /** Virtlet only: the Arktos VM runtime image the three runtime containers run. */
  vmRuntimeImage?: string
}

export function bundleName(target: Target): string {
  return `edgebundle-${target.kubeedge}-${target.os}-${target.arch}-${target.runtime}`
}
