/** CNI network configs: the bridge conflist most runtimes use, Virtlet's single bridge.conf, and loopback. */

export const CNI_VERSION = '1.0.0'

export function bridgeConflist(subnet: string): Record<string, unknown> {
  return {
    cniVersion: CNI_VERSION,
    name: 'containerd-net',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: true,
        promiscMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }] },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  }
}

/** The single-plugin config from KubeEdge's Virtlet guide (CNI spec 0.3.1, which Virtlet's libcni reads). */
export function virtletBridgeConf(subnet: string): Record<string, unknown> {
  return {
    cniVersion: '0.3.1',
    name: 'containerd-net',
    type: 'bridge',
    bridge: 'cni0',
    isGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', subnet, routes: [{ dst: '0.0.0.0/0' }] },
  }
}

export function loopbackConf(): Record<string, unknown> {
  return { cniVersion: CNI_VERSION, name: 'lo', type: 'loopback' }
}
