/**
 * containerd config.toml as an object (serialized with smol-toml): version 2 for containerd 1.x,
 * version 3 for 2.x, CRI always enabled, and the sandbox image, cgroup driver and CNI dirs chosen.
 */
import { LINUX_PATHS, WINDOWS_PATHS } from '../../model/layout.js'
import type { Resolved } from '../../resolve/resolve.js'

type Table = Record<string, unknown>

export interface ContainerdSettings {
  version: string
  configVersion: 2 | 3
  windows: boolean
  sandboxImage: string
  systemdCgroup: boolean
  cniBinDirKey: 'bin_dir' | 'bin_dirs'
  kata: { runtime: boolean; untrustedWorkload: boolean }
}

export function containerdSettings(resolved: Resolved): ContainerdSettings {
  const version = resolved.runtime.base?.name === 'containerd' ? resolved.runtime.base.version : resolved.runtime.version
  const choices = resolved.runtime.choices
  const isKata = resolved.runtime.name === 'kata'
  return {
    version,
    // bundles/runtimes/containerd.yaml choices.configVersion (kata inherits it from its containerd base).
    configVersion: choices['configVersion'] === 3 ? 3 : 2,
    windows: resolved.family === 'windows',
    sandboxImage: resolved.options.pauseImage,
    systemdCgroup: resolved.options.cgroupDriver === 'systemd',
    cniBinDirKey: choices['cniBinDirKey'] === 'bin_dirs' ? 'bin_dirs' : 'bin_dir',
    kata: { runtime: isKata, untrustedWorkload: isKata && choices['untrustedWorkloadRuntime'] === true },
  }
}

const KATA_RUNTIME = { runtime_type: 'io.containerd.kata.v2' }

export function containerdConfig(settings: ContainerdSettings): Table {
  const paths = settings.windows
    ? {
        root: WINDOWS_PATHS.containerdRoot,
        state: WINDOWS_PATHS.containerdState,
        address: WINDOWS_PATHS.containerdPipe,
        cniBin: WINDOWS_PATHS.cniBinDir,
        cniConf: WINDOWS_PATHS.cniConfDir,
        certs: WINDOWS_PATHS.containerdCertsDir,
      }
    : {
        root: LINUX_PATHS.containerdRoot,
        state: LINUX_PATHS.containerdState,
        address: LINUX_PATHS.containerdSocket,
        cniBin: LINUX_PATHS.cniBinDir,
        cniConf: LINUX_PATHS.cniConfDir,
        certs: LINUX_PATHS.containerdCertsDir,
      }

  const defaultRuntimeName = settings.windows ? 'runhcs-wcow-process' : 'runc'
  const runtimes: Table = settings.windows
    ? { 'runhcs-wcow-process': { runtime_type: 'io.containerd.runhcs.v1' } }
    : { runc: { runtime_type: 'io.containerd.runc.v2', options: { SystemdCgroup: settings.systemdCgroup } } }
  if (settings.kata.runtime) runtimes['kata'] = { ...KATA_RUNTIME }
  const runtimeSection: Table = { default_runtime_name: defaultRuntimeName, runtimes }
  if (settings.kata.untrustedWorkload) runtimeSection['untrusted_workload_runtime'] = { ...KATA_RUNTIME }
  const cni: Table =
    settings.cniBinDirKey === 'bin_dirs' ? { bin_dirs: [paths.cniBin], conf_dir: paths.cniConf } : { bin_dir: paths.cniBin, conf_dir: paths.cniConf }
  const snapshotter = settings.windows ? 'windows' : 'overlayfs'

  const head: Table = {
    version: settings.configVersion,
    root: paths.root,
    state: paths.state,
    // Explicitly empty: packaged configs (e.g. Docker's containerd.io) disable the CRI plugin, which edged needs.
    disabled_plugins: [],
    grpc: { address: paths.address },
  }

  if (settings.configVersion === 2) {
    return {
      ...head,
      plugins: {
        'io.containerd.grpc.v1.cri': {
          sandbox_image: settings.sandboxImage,
          containerd: { snapshotter, ...runtimeSection },
          cni,
          registry: { config_path: paths.certs },
        },
      },
    }
  }
  return {
    ...head,
    plugins: {
      'io.containerd.cri.v1.images': {
        snapshotter,
        pinned_images: { sandbox: settings.sandboxImage },
        registry: { config_path: paths.certs },
      },
      'io.containerd.cri.v1.runtime': { containerd: runtimeSection, cni },
    },
  }
}

/** certs.d/<host>/hosts.toml for one upstream registry and its mirrors, tried in order. */
export function containerdHostsToml(registry: string, endpoints: string[]): Table {
  const server = registry === 'docker.io' ? 'https://registry-1.docker.io' : `https://${registry}`
  const hosts: Table = {}
  for (const endpoint of endpoints) hosts[endpoint] = { capabilities: ['pull', 'resolve'] }
  return { server, host: hosts }
}
