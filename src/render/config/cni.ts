/**
 * CNI network configs: the bridge conflist most runtimes use and Virtlet's single bridge.conf. No loopback
 * config: every runtime edgebundle sets up brings the pod's lo up by itself (containerd: cni.WithLoNetwork;
 * cri-dockerd: its cni-loopback network; CRI-O: ocicni bringUpLoopback; iSulad: its cni-loopback conflist;
 * cited in bundles/runtimes/*.yaml).
 */

/** The CNI spec version of the bridge conflist unless the runtime says otherwise (choices.cniVersion). */
export const CNI_VERSION = '1.0.0'

/** cniVersion: what the runtime's own CNI library reads (iSulad before 2.1.4 reads up to 0.4.0). */
export function bridgeConflist(subnet: string, cniVersion: string = CNI_VERSION): Record<string, unknown> {
  return {
    cniVersion,
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
