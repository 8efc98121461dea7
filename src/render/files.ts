/**
 * Every file a node needs for one resolved target, with its node path, content and mode. Structured
 * formats are built as objects and serialized; units come from templates. Pure: templates are injected.
 */
import { stringify as stringifyToml } from 'smol-toml'
import { stringify as stringifyYaml } from 'yaml'
import { LINUX_KERNEL_MODULES, LINUX_PATHS, UNIT_DIR, WINDOWS_PATHS } from '../model/layout.js'
import type { RenderedFile } from '../model/rendered-file.js'
import type { Resolved } from '../resolve/resolve.js'
import { parseIpv4Cidr } from '../resolve/validate.js'
import { CNI_VERSION, bridgeConflist, virtletBridgeConf } from './config/cni.js'
import { containerdConfig, containerdHostsToml, containerdSettings } from './config/containerd.js'
import { containersRegistriesMirrors, crioDropIn, groupMirrors } from './config/crio.js'
import { dockerDaemonJson } from './config/docker.js'
import { edgedFragment } from '../plan/edgecore.js'
import { isuladDaemonJson } from './config/isulad.js'
import type { TemplateSource } from '../model/templates.js'
import { renderUnit } from './units.js'

export const LINUX_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv4.ip_forward': '1',
  'net.bridge.bridge-nf-call-iptables': '1',
  'net.bridge.bridge-nf-call-ip6tables': '1',
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`
const toml = (value: Record<string, unknown>) => `${stringifyToml(value)}\n`
const header = (resolved: Resolved, comment: string) => `${comment} Written by edgebundle for ${resolved.name}. Edits are backed up and replaced on re-install.\n`


export function renderNodeFiles(resolved: Resolved, templates: TemplateSource): RenderedFile[] {
  const { runtime, family } = resolved
  // Checked for every family: a bad --cni-subnet is refused even where no CNI config is written.
  const subnet = parseIpv4Cidr('--cni-subnet', resolved.options.cniSubnet)
  return [
    ...(runtime.name === 'containerd' || runtime.name === 'kata' ? containerdFiles(resolved, templates) : []),
    ...(runtime.name === 'kata' ? kataFiles() : []),
    ...(runtime.name === 'cri-o' ? crioFiles(resolved) : []),
    ...(runtime.name === 'docker' ? dockerFiles(resolved, templates) : []),
    ...(runtime.name === 'isulad' ? isuladFiles(resolved) : []),
    ...(family === 'linux' ? linuxNodeFiles(resolved, subnet) : []),
    ...edgedFragmentFiles(resolved),
  ]
}

/** containerd's config, its mirror hosts.toml files and (a release install on Linux) its unit: containerd and Kata. */
function containerdFiles(resolved: Resolved, templates: TemplateSource): RenderedFile[] {
  const files: RenderedFile[] = []
  const { options, runtime, family } = resolved
  const settings = containerdSettings(resolved)
  files.push({
    dest: family === 'windows' ? WINDOWS_PATHS.containerdConfig : LINUX_PATHS.containerdConfig,
    content: header(resolved, '#') + toml(containerdConfig(settings)),
    mode: '0644',
    format: 'toml',
    merge: 'toml',
    restarts: ['containerd'],
    purpose: `containerd config (version ${settings.configVersion}): CRI enabled, sandbox image, cgroup driver, CNI dirs`,
  })
  const certsDir = family === 'windows' ? WINDOWS_PATHS.containerdCertsDir : LINUX_PATHS.containerdCertsDir
  const sep = family === 'windows' ? '\\' : '/'
  for (const [registry, endpoints] of groupMirrors(options.registryMirrors)) {
    files.push({
      dest: `${certsDir}${sep}${registry}${sep}hosts.toml`,
      content: header(resolved, '#') + toml(containerdHostsToml(registry, endpoints)),
      mode: '0644',
      format: 'toml',
      restarts: [],
      purpose: `registry mirrors for ${registry} (read without a restart)`,
    })
  }
  if (family === 'linux' && runtime.source === 'release') {
    files.push({
      dest: `${UNIT_DIR}/containerd.service`,
      content: renderUnit(templates, 'containerd', { bundle: resolved.name, execStart: ['/usr/local/bin/containerd'] }),
      mode: '0644',
      format: 'text',
      restarts: ['containerd'],
      purpose: 'systemd unit for containerd',
    })
  }
  return files
}

/** The RuntimeClass a Kata node needs in the cluster. */
function kataFiles(): RenderedFile[] {
  return [
    {
      dest: `${LINUX_PATHS.edgebundleEtc}/manifests/runtimeclass-kata.yaml`,
      content:
        '# Apply on the cloud side: kubectl apply -f runtimeclass-kata.yaml; then set runtimeClassName: kata in pod specs.\n' +
        stringifyYaml({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'kata' }, handler: 'kata' }),
      mode: '0644',
      format: 'yaml',
      restarts: [],
      purpose: 'RuntimeClass "kata" (handler kata) to apply in the cluster',
    },
  ]
}

/** CRI-O's drop-in and, with mirrors, its registries drop-in. */
function crioFiles(resolved: Resolved): RenderedFile[] {
  const files: RenderedFile[] = []
  const { options } = resolved
  files.push({
    dest: LINUX_PATHS.crioDropIn,
    content: header(resolved, '#') + toml(crioDropIn({ pauseImage: options.pauseImage, cgroupDriver: options.cgroupDriver })),
    mode: '0644',
    format: 'toml',
    restarts: ['crio'],
    purpose: 'CRI-O drop-in: pause image, cgroup manager, conmon cgroup, CNI dirs',
  })
  if (options.registryMirrors.length > 0) {
    files.push({
      dest: LINUX_PATHS.containersRegistriesDropIn,
      content: header(resolved, '#') + toml(containersRegistriesMirrors(options.registryMirrors)),
      mode: '0644',
      format: 'toml',
      restarts: ['crio'],
      purpose: 'registry mirrors for CRI-O (containers-registries.conf v2)',
    })
  }
  return files
}

/** Docker's daemon.json, dockerd's unit (a release install) and cri-dockerd's (KubeEdge without dockershim). */
function dockerFiles(resolved: Resolved, templates: TemplateSource): RenderedFile[] {
  const files: RenderedFile[] = []
  const { options, runtime } = resolved
  const endpoint = runtime.endpoint
  files.push({
    dest: LINUX_PATHS.dockerDaemonJson,
    content: json(dockerDaemonJson({ cgroupDriver: options.cgroupDriver, mirrors: options.registryMirrors })),
    mode: '0644',
    format: 'json',
    merge: 'json',
    restarts: ['docker'],
    purpose: `Docker daemon.json: native.cgroupdriver=${options.cgroupDriver}`,
  })
  if (runtime.source === 'release') {
    files.push({
      dest: `${UNIT_DIR}/docker.service`,
      content: renderUnit(templates, 'docker', { bundle: resolved.name, execStart: ['/usr/local/bin/dockerd'] }),
      mode: '0644',
      format: 'text',
      restarts: ['docker'],
      purpose: 'systemd unit for dockerd',
    })
  }
  if (!resolved.kubeedge.features.dockershim) {
    files.push({
      dest: `${UNIT_DIR}/cri-docker.service`,
      content: renderUnit(templates, 'cri-docker', {
        bundle: resolved.name,
        execStart: [
          '/usr/local/bin/cri-dockerd',
          `--container-runtime-endpoint=${endpoint}`,
          `--pod-infra-container-image=${options.pauseImage}`,
          '--network-plugin=cni',
          `--cni-bin-dir=${LINUX_PATHS.cniBinDir}`,
          `--cni-conf-dir=${LINUX_PATHS.cniConfDir}`,
        ],
      }),
      mode: '0644',
      format: 'text',
      restarts: ['cri-docker'],
      purpose: 'systemd unit for cri-dockerd: pause image, CNI network plugin and dirs',
    })
  }
  return files
}

/** iSulad's daemon.json. */
function isuladFiles(resolved: Resolved): RenderedFile[] {
  const files: RenderedFile[] = []
  const { options, runtime } = resolved
  files.push({
    dest: LINUX_PATHS.isuladDaemonJson,
    content: json(
      isuladDaemonJson({
        pauseImage: options.pauseImage,
        cgroupDriver: options.cgroupDriver,
        criV1: resolved.kubeedge.features.criV1Only,
        websocketPort: Number(runtime.choices['websocketPort'] ?? 10355),
        mirrors: options.registryMirrors,
      }),
    ),
    mode: '0644',
    format: 'json',
    merge: 'json',
    restarts: ['isulad'],
    purpose: 'iSulad daemon.json: CNI, CRI v1, sandbox image, cgroup driver, websocket port off 10350',
  })
  return files
}

/** A Linux node's CNI network, crictl config, boot-time kernel modules and sysctls. */
function linuxNodeFiles(resolved: Resolved, subnet: { network: string; prefix: number }): RenderedFile[] {
  const files: RenderedFile[] = []
  const { options, runtime } = resolved
  const endpoint = runtime.endpoint
  const cniConf = LINUX_PATHS.cniConfDir
  if (runtime.name === 'virtlet') {
    files.push({
      dest: `${cniConf}/bridge.conf`,
      content: json(virtletBridgeConf(options.cniSubnet)),
      mode: '0644',
      format: 'json',
      restarts: [],
      purpose: `CNI bridge cni0 on ${subnet.network}/${subnet.prefix} (Virtlet guide form)`,
    })
  } else {
    files.push({
      dest: `${cniConf}/10-containerd-net.conflist`,
      content: json(bridgeConflist(options.cniSubnet, String(runtime.choices['cniVersion'] ?? CNI_VERSION))),
      mode: '0644',
      format: 'json',
      restarts: [],
      purpose: `CNI bridge cni0 on ${subnet.network}/${subnet.prefix} with portmap`,
    })
  }
  if (runtime.name !== 'virtlet') {
    files.push({
      dest: LINUX_PATHS.crictlConfig,
      content: stringifyYaml({ 'runtime-endpoint': endpoint, 'image-endpoint': endpoint, timeout: 10, debug: false }),
      mode: '0644',
      format: 'yaml',
      restarts: [],
      purpose: `crictl talks to ${endpoint}`,
    })
  }
  files.push({
    dest: LINUX_PATHS.modulesLoad,
    content: `${header(resolved, '#')}${LINUX_KERNEL_MODULES.join('\n')}\n`,
    mode: '0644',
    format: 'text',
    restarts: [],
    purpose: 'kernel modules loaded at boot: overlay, br_netfilter',
  })
  files.push({
    dest: LINUX_PATHS.sysctl,
    content: `${header(resolved, '#')}${Object.entries(LINUX_SYSCTLS).map(([key, value]) => `${key} = ${value}`).join('\n')}\n`,
    mode: '0644',
    format: 'text',
    restarts: [],
    purpose: 'sysctls for pod networking: ip_forward, bridge-nf-call-iptables',
  })
  return files
}

/** The modules.edged fragment for binary edgecore installs. */
function edgedFragmentFiles(resolved: Resolved): RenderedFile[] {
  const { options, runtime, family } = resolved
  const endpoint = runtime.endpoint
  return [
    {
      dest: family === 'windows' ? `${WINDOWS_PATHS.edgebundleEtc}\\edgecore-edged.yaml` : `${LINUX_PATHS.edgebundleEtc}/edgecore-edged.yaml`,
      content:
        `# For binary edgecore installs: merge into edgecore.yaml (keadm join sets these itself from its flags).\n` +
        stringifyYaml(
          edgedFragment({
            family,
            runtime: runtime.name,
            endpoint,
            cgroupDriver: options.cgroupDriver,
            pauseImage: options.pauseImage,
            features: resolved.kubeedge.features,
          }),
        ),
      mode: '0644',
      format: 'yaml',
      restarts: [],
      purpose: `edgecore.yaml modules.edged fragment for KubeEdge ${resolved.kubeedge.version}`,
    },
  ]
}
