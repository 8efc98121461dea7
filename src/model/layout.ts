/** The bundle layout contract (docs/architecture.md, "Bundle layout") and the node paths edgebundle writes to. */

export const BUNDLE = {
  plan: 'plan.json',
  manifest: 'manifest.json',
  checksums: 'SHA256SUMS',
  signature: 'SHA256SUMS.sig',
  /** The signer's public key, in a signed bundle: checks integrity when the node has no key of its own. */
  signerKey: 'signer.pub',
  readme: 'README.md',
  sbom: 'sbom.cdx.json',
  /** What each archive the plan unpacks holds, as the builder read it (src/installer/archive/index-file.ts). */
  archiveIndex: 'archives.json',
  installSh: 'install.sh',
  installPs1: 'install.ps1',
  installExe: { linux: 'install', windows: 'install.exe' },
  artifactsDir: 'artifacts',
  imagesDir: 'images',
  configDir: 'config',
  packagesDir: 'packages',
  /** Linux bundles: the Ansible playbooks that roll the bundle out to a fleet (templates/ansible/). */
  ansibleDir: 'ansible',
} as const

export const LINUX_PATHS = {
  cniBinDir: '/opt/cni/bin',
  cniConfDir: '/etc/cni/net.d',
  crictlConfig: '/etc/crictl.yaml',
  containerdConfig: '/etc/containerd/config.toml',
  containerdCertsDir: '/etc/containerd/certs.d',
  containerdRoot: '/var/lib/containerd',
  containerdState: '/run/containerd',
  containerdSocket: '/run/containerd/containerd.sock',
  systemdUnitDir: '/etc/systemd/system',
  crioDropIn: '/etc/crio/crio.conf.d/20-edgebundle.conf',
  containersRegistriesDropIn: '/etc/containers/registries.conf.d/50-edgebundle-mirrors.conf',
  dockerDaemonJson: '/etc/docker/daemon.json',
  isuladDaemonJson: '/etc/isulad/daemon.json',
  modulesLoad: '/etc/modules-load.d/edgebundle.conf',
  sysctl: '/etc/sysctl.d/99-edgebundle.conf',
  edgebundleEtc: '/etc/edgebundle',
  stateDir: '/var/lib/edgebundle',
  localBin: '/usr/local/bin',
} as const

export const WINDOWS_PATHS = {
  containerdDir: 'C:\\Program Files\\containerd',
  containerdConfig: 'C:\\Program Files\\containerd\\config.toml',
  containerdExe: 'C:\\Program Files\\containerd\\containerd.exe',
  containerdCertsDir: 'C:\\Program Files\\containerd\\certs.d',
  cniBinDir: 'C:\\Program Files\\containerd\\cni\\bin',
  cniConfDir: 'C:\\Program Files\\containerd\\cni\\conf',
  containerdRoot: 'C:\\ProgramData\\containerd\\root',
  containerdState: 'C:\\ProgramData\\containerd\\state',
  containerdPipe: '\\\\.\\pipe\\containerd-containerd',
  edgebundleEtc: 'C:\\ProgramData\\edgebundle',
  stateDir: 'C:\\ProgramData\\edgebundle\\state',
} as const

/**
 * Where a rendered node file sits inside the bundle: config/ + the node path.
 * /etc/containerd/config.toml → config/etc/containerd/config.toml;
 * C:\Program Files\containerd\config.toml → config/C/Program Files/containerd/config.toml.
 */
export function configSourcePath(nodePath: string): string {
  const windows = /^([A-Za-z]):\\(.*)$/.exec(nodePath)
  if (windows) return `${BUNDLE.configDir}/${windows[1]!.toUpperCase()}/${windows[2]!.split('\\').join('/')}`
  if (!nodePath.startsWith('/')) throw new Error(`not an absolute node path: ${nodePath}`)
  return `${BUNDLE.configDir}${nodePath}`
}

/** Kernel modules a Linux node needs for the CNI bridge and overlay snapshots (loaded and persisted). */
export const LINUX_KERNEL_MODULES = ['overlay', 'br_netfilter'] as const

/** Where the bundle's systemd units go: the local-admin unit folder, so package units are left alone. */
export const UNIT_DIR = '/usr/local/lib/systemd/system'
