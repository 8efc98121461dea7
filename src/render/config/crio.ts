/** CRI-O drop-in (crio.conf.d, later files win) and a containers-registries mirror drop-in. */
import { LINUX_PATHS } from '../../model/layout.js'
import type { CgroupDriver, RegistryMirror } from '../../model/target.js'

export function crioDropIn(options: { pauseImage: string; cgroupDriver: CgroupDriver }): Record<string, unknown> {
  return {
    crio: {
      image: { pause_image: options.pauseImage },
      runtime: {
        cgroup_manager: options.cgroupDriver,
        // With cgroupfs CRI-O refuses any conmon cgroup but "pod" (or empty); with systemd pin the default slice.
        conmon_cgroup: options.cgroupDriver === 'cgroupfs' ? 'pod' : 'system.slice',
      },
      network: { network_dir: `${LINUX_PATHS.cniConfDir}/`, plugin_dirs: [`${LINUX_PATHS.cniBinDir}/`] },
    },
  }
}

/** registries.conf v2 entries: one [[registry]] per mirrored registry with its mirrors in order. */
export function containersRegistriesMirrors(mirrors: RegistryMirror[]): Record<string, unknown> {
  const byRegistry = groupMirrors(mirrors)
  return {
    registry: [...byRegistry].map(([registry, endpoints]) => ({
      prefix: registry,
      location: registry,
      mirror: endpoints.map((endpoint) => {
        const url = new URL(endpoint)
        const location = `${url.host}${url.pathname === '/' ? '' : url.pathname}`
        return url.protocol === 'http:' ? { location, insecure: true } : { location }
      }),
    })),
  }
}

export function groupMirrors(mirrors: RegistryMirror[]): Map<string, string[]> {
  const byRegistry = new Map<string, string[]>()
  for (const mirror of mirrors) byRegistry.set(mirror.registry, [...(byRegistry.get(mirror.registry) ?? []), mirror.endpoint])
  return new Map([...byRegistry].sort(([a], [b]) => a.localeCompare(b)))
}
