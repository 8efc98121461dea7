/** iSulad /etc/isulad/daemon.json: CNI, CRI v1, sandbox image, cgroup driver, and its websocket port moved off 10350. */
import { LINUX_PATHS } from '../../model/layout.js'
import type { CgroupDriver, RegistryMirror } from '../../model/target.js'

export interface IsuladSettings {
  pauseImage: string
  cgroupDriver: CgroupDriver
  criV1: boolean
  websocketPort: number
  mirrors: RegistryMirror[]
}

export function isuladDaemonJson(settings: IsuladSettings): Record<string, unknown> {
  // iSulad takes mirror hosts (e.g. "docker.io"), not URLs; plain-http mirrors must also be listed as insecure.
  const mirrorHosts = settings.mirrors.map((m) => new URL(m.endpoint).host)
  const insecure = settings.mirrors.filter((m) => m.endpoint.startsWith('http:')).map((m) => new URL(m.endpoint).host)
  const config: Record<string, unknown> = {
    hosts: ['unix:///var/run/isulad.sock'],
    'registry-mirrors': mirrorHosts.length > 0 ? [...new Set(mirrorHosts)] : ['docker.io'],
    'insecure-registries': [...new Set(insecure)],
    'pod-sandbox-image': settings.pauseImage,
    'network-plugin': 'cni',
    'cni-bin-dir': LINUX_PATHS.cniBinDir,
    'cni-conf-dir': LINUX_PATHS.cniConfDir,
    'websocket-server-listening-port': settings.websocketPort,
    'enable-cri-v1': settings.criV1,
    'systemd-cgroup': settings.cgroupDriver === 'systemd',
  }
  return config
}
