/**
 * Resolved target + rendered files → the ordered install plan (plan.json). Pure.
 * Order: preflight → runtime binaries → support binaries → packages → files → links → kernel → services → runtime containers → CRI check.
 */
import { UsageError } from '../model/errors.js'
import { BUNDLE, LINUX_KERNEL_MODULES, LINUX_PATHS, WINDOWS_PATHS, configSourcePath } from '../model/layout.js'
import { type Check, PLAN_SCHEMA_VERSION, type Plan, type Step, type StepOf } from '../model/plan.js'
import type { Resolved, ResolvedComponent } from '../resolve/resolve.js'
import { edgecoreConfigEdit, edgedFragment, keadmJoinArgs } from './edgecore.js'
import type { RenderedFile } from '../model/rendered-file.js'

/** edgecore's own server port (exec, logs, metrics through cloudstream). */
export const EDGECORE_PORT = 10350

const OTHER_RUNTIME_SOCKETS: { runtime: string; socket: string }[] = [
  { runtime: 'containerd', socket: '/run/containerd/containerd.sock' },
  { runtime: 'CRI-O', socket: '/var/run/crio/crio.sock' },
  { runtime: 'Docker', socket: '/var/run/docker.sock' },
  { runtime: 'iSulad', socket: '/var/run/isulad.sock' },
]

const RUNTIME_COMMANDS: Record<string, string> = {
  containerd: 'containerd',
  kata: 'containerd-shim-kata-v2',
  'cri-o': 'crio',
  docker: 'dockerd',
  isulad: 'isulad',
  virtlet: 'docker',
}

export function artifactPath(component: ResolvedComponent): string {
  return `${BUNDLE.artifactsDir}/${component.fileName}`
}

function preflightChecks(resolved: Resolved): Check[] {
  const { runtime, options } = resolved
  if (resolved.family === 'windows') {
    return [
      { kind: 'root', severity: 'error' },
      { kind: 'arch', severity: 'error', machines: ['AMD64'] },
      { kind: 'windows-feature', severity: 'error', feature: 'Containers' },
      { kind: 'port-free', severity: 'warning', port: EDGECORE_PORT, reason: 'edgecore serves exec, logs and metrics on 10350' },
    ]
  }
  const checks: Check[] = [
    { kind: 'root', severity: 'error' },
    { kind: 'os-release', severity: 'error', ids: resolved.osReleaseIds },
    { kind: 'arch', severity: 'error', machines: resolved.unameMachines },
    // Without systemd the files are still installed; services just are not started (docs/architecture.md "The installer on the node": a warning, not a failure).
    { kind: 'init-system', severity: 'warning', expect: 'systemd' },
    { kind: 'cgroup', severity: options.cgroupDriver === 'systemd' ? 'error' : 'warning', driver: options.cgroupDriver },
    ...LINUX_KERNEL_MODULES.map((module): Check => ({ kind: 'kernel-module', severity: 'warning', module })),
    {
      kind: 'port-free',
      severity: runtime.name === 'isulad' ? 'error' : 'warning',
      port: EDGECORE_PORT,
      reason:
        runtime.name === 'isulad'
          ? "edgecore serves on 10350, iSulad's default websocket port; a running iSulad still on 10350 must be reconfigured"
          : 'edgecore serves exec, logs and metrics on 10350',
    },
  ]
  if (runtime.source !== 'release') {
    const command = RUNTIME_COMMANDS[runtime.name] ?? runtime.name
    checks.push({
      kind: 'command',
      severity: 'error',
      command,
      reason: runtime.source === 'preinstalled' ? `${runtime.displayName} must already be installed (--runtime-source preinstalled)` : `installed from the bundled packages`,
    })
  }
  if (runtime.name === 'virtlet') {
    checks.push({ kind: 'command', severity: 'error', command: 'docker', reason: 'the VM runtime containers run on Docker' })
    for (const service of ['libvirtd', 'virtqemud']) {
      checks.push({ kind: 'service-inactive', severity: 'error', service, reason: 'Virtlet brings its own libvirt; stop and disable the host libvirt first' })
    }
  }
  if (resolved.components.some((c) => c.format === 'tar.zst')) {
    checks.push({ kind: 'command', severity: 'error', command: 'zstd', reason: 'Kata Containers ships as a .tar.zst archive' })
  }
  const ownSocket = runtime.endpoint.replace(/^unix:\/\//, '')
  const baseSocket = runtime.base ? '/run/containerd/containerd.sock' : ownSocket
  for (const other of OTHER_RUNTIME_SOCKETS) {
    if (other.socket === ownSocket || other.socket === baseSocket) continue
    if (runtime.name === 'virtlet' && other.runtime === 'Docker') continue
    if (runtime.name === 'docker' && other.runtime === 'containerd') continue
    checks.push({
      kind: 'runtime-absent',
      severity: 'warning',
      runtime: other.runtime,
      socket: other.socket,
      reason: `another runtime (${other.runtime}) is running; edged will use ${runtime.endpoint} only`,
    })
  }
  return checks
}

/**
 * Upstream's checksum file for a component installed withChecksumFile: its bundle path (the build writes
 * it from the digest verified against upstream's) and where it goes on the node, beside the asset.
 */
export function publishedChecksumFile(component: ResolvedComponent): { file: string; dest: string } | null {
  if (component.install.kind !== 'binary' || !component.install.withChecksumFile) return null
  if (component.checksumUrl === null) throw new Error(`catalog: ${component.id} installs its checksum file but has no checksumUrl`)
  const name = component.checksumUrl.slice(component.checksumUrl.lastIndexOf('/') + 1)
  const dest = component.install.dest
  const folder = dest.slice(0, Math.max(dest.lastIndexOf('/'), dest.lastIndexOf('\\')) + 1)
  return { file: `${BUNDLE.artifactsDir}/${name}`, dest: `${folder}${name}` }
}

/**
 * The keadm.exe the bundle installs and the release files keadm join reads offline (Windows): keadm.exe
 * lands in keadm-windows' dest (strip 2 of keadm-v<ver>-windows-amd64/keadm/keadm.exe), the tarball and
 * its checksum file where the catalog places them (bundles/components.yaml).
 */
function keadmOfBundle(resolved: Resolved): Pick<Plan['kubeedge'], 'keadm' | 'joinFiles'> {
  const out: Pick<Plan['kubeedge'], 'keadm' | 'joinFiles'> = {}
  const keadm = resolved.components.find((c) => c.id === 'keadm-windows')
  if (keadm && keadm.install.kind === 'archive') out.keadm = `${keadm.install.dest}\\keadm.exe`
  const joinFiles = resolved.components.flatMap((c) => {
    const checksum = publishedChecksumFile(c)
    return checksum && c.install.kind === 'binary' && c.checksumAlgorithm === 'sha512' ? [{ path: c.install.dest, checksumPath: checksum.dest, algorithm: 'sha512' as const }] : []
  })
  if (joinFiles.length > 0) out.joinFiles = joinFiles
  return out
}

function componentSteps(component: ResolvedComponent): Step[] {
  const checksum = publishedChecksumFile(component)
  if (checksum === null) return [componentStep(component)]
  return [
    componentStep(component),
    {
      kind: 'install-binary',
      id: `install-${component.id}-checksum`,
      description: `place the checksum file of ${component.id} ${component.version} beside it`,
      component: component.id,
      file: checksum.file,
      dest: checksum.dest,
    },
  ]
}

function componentStep(component: ResolvedComponent): Step {
  const file = artifactPath(component)
  const description = `install ${component.id} ${component.version}`
  const id = `install-${component.id}`
  const install = component.install
  switch (install.kind) {
    case 'archive':
      if (component.format === 'binary') throw new Error(`catalog: ${component.id} is a binary but installs as an archive`)
      return { kind: 'install-archive', id, description, component: component.id, file, format: component.format, dest: install.dest, strip: install.strip }
    case 'binary':
      return { kind: 'install-binary', id, description, component: component.id, file, dest: install.dest }
    case 'upstream-installer':
      if (component.format !== 'tar.gz') throw new Error(`catalog: ${component.id}: upstream installers come in .tar.gz`)
      return {
        kind: 'run-upstream-installer',
        id,
        description: `${description} with its own installer`,
        component: component.id,
        file,
        format: 'tar.gz',
        subdir: install.subdir,
        script: install.script,
        interpreter: install.interpreter,
      }
  }
}

function filesFor(files: RenderedFile[], service: string): string[] {
  return files.filter((f) => f.restarts.includes(service)).map((f) => f.dest)
}

/** What a bundle carries besides the catalog's components: images to load on the node, and keadm. */
export interface BundleInputs {
  /** `image`: the name the runtime records it under (normalized: docker.io/kubeedge/installation-package:v1.23.1). */
  images: { file: string; image: string }[]
  /** keadm, taken from the carried installation-package image (bundle-relative file). */
  keadm?: { file: string }
}

/** Where keadm goes on a Linux node: on root's PATH, where the KubeEdge docs install it. */
export const KEADM_PATH = `${LINUX_PATHS.localBin}/keadm`

/** The runtime's own image loader and the socket (or pipe) it talks to. */
function imageLoader(resolved: Resolved): { tool: StepOf<'import-image'>['tool']; address: string } | null {
  switch (resolved.runtime.name) {
    case 'containerd':
    case 'kata':
      return { tool: 'ctr', address: resolved.family === 'windows' ? WINDOWS_PATHS.containerdPipe : LINUX_PATHS.containerdSocket }
    case 'docker':
      return { tool: 'docker', address: '/var/run/docker.sock' }
    case 'isulad':
      return { tool: 'isula', address: '/var/run/isulad.sock' }
    case 'cri-o':
      // CRI-O reads containers-storage, which podman writes.
      return { tool: 'podman', address: '' }
    case 'virtlet':
      return null
  }
}

export function buildPlan(resolved: Resolved, files: RenderedFile[], inputs: BundleInputs = { images: [] }): Plan {
  const { runtime, options, target } = resolved
  // Runtime binaries before support binaries, so a partial install never leaves CNI without its runtime's config.
  const ordered = [...resolved.components.filter((c) => c.role === 'runtime'), ...resolved.components.filter((c) => c.role === 'support')]
  const runtimeCheck = runtimeCheckStep(resolved)
  const steps: Step[] = [
    { kind: 'preflight', id: 'preflight', description: 'check the node before changing anything', checks: preflightChecks(resolved) },
    ...ordered.flatMap(componentSteps),
    ...keadmSteps(resolved, inputs),
    ...packageSteps(resolved),
    ...files.map(writeFileStep),
    ...kataShimSteps(resolved),
    ...serviceSteps(resolved, files, ordered),
    ...(runtime.name === 'virtlet' ? virtletContainers(resolved) : []),
    ...imageSteps(resolved, inputs),
    ...(runtimeCheck.step ? [runtimeCheck.step] : []),
  ]
  const planRuntime: Plan['runtime'] = { name: runtime.name, version: runtime.version, source: runtime.source, endpoint: runtime.endpoint }
  if (runtime.base) planRuntime.base = runtime.base
  return {
    schemaVersion: PLAN_SCHEMA_VERSION,
    name: resolved.name,
    target,
    options,
    runtime: planRuntime,
    kubeedge: planKubeedge(resolved),
    components: resolved.components.map((c) => ({ id: c.id, version: c.version, file: artifactPath(c), url: c.url, sha256: c.sha256 })),
    files: files.map((f) => ({ source: configSourcePath(f.dest), dest: f.dest, mode: f.mode })),
    warnings: [...resolved.warnings, ...runtimeCheck.warnings],
    steps,
  }
}

/** keadm from the installation-package image, when the bundle carries it (Linux only). */
function keadmSteps(resolved: Resolved, inputs: BundleInputs): Step[] {
  if (!inputs.keadm) return []
  if (resolved.family === 'windows') throw new UsageError('Windows bundles cannot carry keadm from the installation-package image', { hint: 'Leave out --pull-kubeedge-images and --image-archive.' })
  return [{ kind: 'install-binary', id: 'install-keadm', description: `install keadm v${resolved.kubeedge.release}`, component: 'keadm', file: inputs.keadm.file, dest: KEADM_PATH }]
}

/** The distribution's own packages (--packages-dir), for a runtime installed from packages. */
function packageSteps(resolved: Resolved): Step[] {
  if (resolved.runtime.source !== 'packages') return []
  const { packages } = resolved.options
  return [
    {
      kind: 'install-packages',
      id: 'install-packages',
      description: `install ${packages.length} ${resolved.packageFormat} packages`,
      manager: resolved.packageFormat === 'rpm' ? 'rpm' : 'dpkg',
      files: packages.map((name) => `${BUNDLE.packagesDir}/${name}`),
    },
  ]
}

function writeFileStep(file: RenderedFile): Step {
  return {
    kind: 'write-file',
    id: `write-file:${file.dest}`,
    description: file.purpose,
    source: configSourcePath(file.dest),
    dest: file.dest,
    mode: file.mode,
    ...(file.merge ? { merge: file.merge } : {}),
  }
}

function kataShimSteps({ runtime }: Resolved): Step[] {
  if (runtime.name !== 'kata' || runtime.source !== 'release') return []
  return [
    {
      kind: 'symlink',
      id: 'link-kata-shim',
      description: 'put containerd-shim-kata-v2 on containerd\'s PATH',
      path: `${LINUX_PATHS.localBin}/containerd-shim-kata-v2`,
      target: '/opt/kata/bin/containerd-shim-kata-v2',
    },
  ]
}

/**
 * Linux: kernel modules, sysctls, then each runtime service, restarted when its files or binaries changed.
 * Windows: the containerd service, registered and started.
 */
function serviceSteps(resolved: Resolved, files: RenderedFile[], ordered: Resolved['components']): Step[] {
  if (resolved.family !== 'linux') {
    return [
      {
        kind: 'register-windows-service',
        id: 'service:containerd',
        description: 'register and start the containerd Windows service',
        service: 'containerd',
        binary: WINDOWS_PATHS.containerdExe,
        args: ['--register-service', '--config', WINDOWS_PATHS.containerdConfig],
        restartWhenChanged: [...filesFor(files, 'containerd'), WINDOWS_PATHS.containerdDir],
      },
    ]
  }
  // What a component's install changes on the node, for restart decisions.
  const componentDests = new Map(
    ordered.map((c) => [c.id, c.install.kind === 'upstream-installer' ? [] : c.install.kind === 'archive' && c.install.watch ? [c.install.watch] : [c.install.dest]]),
  )
  const steps: Step[] = [
    { kind: 'load-kernel-modules', id: 'load-kernel-modules', description: 'load overlay and br_netfilter now', modules: [...LINUX_KERNEL_MODULES] },
    { kind: 'apply-sysctl', id: 'apply-sysctl', description: 'apply pod networking sysctls now', file: LINUX_PATHS.sysctl },
  ]
  for (const service of resolved.runtime.services) {
    const binaries = ordered.filter((c) => c.role === 'runtime' || (service === 'cri-docker' && c.id === 'cri-dockerd')).flatMap((c) => componentDests.get(c.id) ?? [])
    steps.push({
      kind: 'enable-service',
      id: `service:${service}`,
      description: `enable and start ${service}`,
      service,
      restartWhenChanged: [...filesFor(files, service), ...binaries],
    })
  }
  return steps
}

/** Each carried image, loaded with the runtime's own tool. */
function imageSteps(resolved: Resolved, inputs: BundleInputs): Step[] {
  const { runtime } = resolved
  const loader = imageLoader(resolved)
  return inputs.images.map(({ file, image }, index): Step => {
    if (!loader) throw new UsageError(`${runtime.displayName} bundles cannot carry images to load`, { hint: 'Leave out --pull-pause, --pause-image-archive, --pull-kubeedge-images and --image-archive.' })
    return { kind: 'import-image', id: `import-image:${index}`, description: `load ${image} into ${runtime.displayName}`, file, image, ...loader }
  })
}

/** The CRI check at the end, or the warning that says why there is none. */
function runtimeCheckStep(resolved: Resolved): { step: Step | null; warnings: string[] } {
  const { runtime, options } = resolved
  // Docker before KubeEdge 1.14: the CRI endpoint is edged's own dockershim, served only once edgecore runs
  // after the join (bundles/runtimes/docker.yaml), so nothing answers there at install time. Docker itself is
  // checked by its service step and by loading the carried images with `docker load`.
  if (runtime.name === 'docker' && resolved.kubeedge.features.dockershim) {
    return { step: null, warnings: [`no CRI check at ${runtime.endpoint}: KubeEdge ${resolved.kubeedge.version}'s edged serves that dockershim socket itself once edgecore runs (after keadm join)`] }
  }
  return {
    step: {
      kind: 'check-runtime',
      id: 'check-runtime',
      description: `check ${runtime.displayName} over CRI at ${runtime.endpoint}`,
      endpoint: runtime.endpoint,
      sandboxImage: options.pauseImage,
      crictl: resolved.components.some((c) => c.id === 'crictl') || runtime.name === 'cri-o',
    },
    warnings: [],
  }
}

/** What the installer needs for keadm join: the release, its images, keadm's flags, the edged fragment and the post-join edit. */
function planKubeedge(resolved: Resolved): Plan['kubeedge'] {
  const { runtime, options } = resolved
  const edgecore = {
    family: resolved.family,
    runtime: runtime.name,
    endpoint: runtime.endpoint,
    cgroupDriver: options.cgroupDriver,
    pauseImage: options.pauseImage,
    features: resolved.kubeedge.features,
  }
  return {
    version: resolved.kubeedge.version,
    release: resolved.kubeedge.release,
    images: resolved.kubeedge.joinImages,
    keadmJoinArgs: keadmJoinArgs({ ...edgecore, release: resolved.kubeedge.release, imageRepository: options.imageRepository }),
    edged: edgedFragment(edgecore),
    edgecoreConfig: edgecoreConfigEdit(edgecore),
    ...keadmOfBundle(resolved),
  }
}

/**
 * The VM runtime of KubeEdge's hack/setup-vmruntime.sh (Arktos vmruntime-up.sh), as data: a one-shot node
 * preparation, then the vms, libvirt and virtlet containers, each privileged in the host namespaces.
 */
function virtletContainers(resolved: Resolved): Step[] {
  const image = resolved.options.vmRuntimeImage ?? VM_RUNTIME_IMAGE_DEFAULT
  type Mount = StepOf<'run-container'>['mounts'][number]
  const bind = (source: string, target = source, options: { readOnly?: boolean; rshared?: boolean } = {}): Mount =>
    options.rshared ? { source, target, readOnly: false, propagation: 'rshared' } : { source, target, readOnly: options.readOnly ?? false }
  const virtletState = bind('/var/lib/virtlet', '/var/lib/virtlet', { rshared: true })
  const modules = bind('/lib/modules', '/lib/modules', { readOnly: true })
  const boot = bind('/boot', '/boot', { readOnly: true })
  const volumePlugins = bind('/usr/libexec/kubernetes/kubelet-plugins/volume/exec', '/kubelet-volume-plugins')
  const env = { VIRTLET_LOGLEVEL: '4', VIRTLET_DISABLE_KVM: 'y' }
  const container = (name: string, detach: boolean, mounts: Mount[], script: string, log: string, withEnv: boolean): StepOf<'run-container'> => ({
    kind: 'run-container',
    id: `container:${name}`,
    description: detach ? `start the VM runtime container ${name}` : `prepare the node for the VM runtime (${name})`,
    engine: 'docker',
    name,
    image,
    detach,
    privileged: true,
    hostNamespaces: true,
    mounts,
    env: withEnv ? env : {},
    command: ['/bin/bash', '-c', `${script} > ${log} 2>&1`],
    // The one-shot preparation runs first and makes every host folder the others bind.
    createDirs: detach ? [] : ['/var/lib/virtlet/vms', '/var/log/virtlet/vms', '/var/run/libvirt', '/var/run/netns', '/var/lib/virtlet/volumes', '/var/lib/libvirt', '/etc/libvirt/qemu', '/var/log/libvirt', volumePlugins.source],
  })
  const logs = [bind('/var/log/virtlet'), bind('/var/log/virtlet/vms', '/var/log/vms')]
  return [
    container('vmruntime_prepare', false, [bind('/dev'), bind('/var/lib', '/host-var-lib'), bind('/run'), volumePlugins, virtletState, bind('/var/log', '/hostlog')], '/prepare-node.sh', '/hostlog/virtlet/prepare-node.log', true),
    container('vmruntime_vms', true, [bind('/dev'), modules, bind('/var/lib/libvirt'), virtletState, ...logs], '/vms.sh', '/var/log/virtlet/vms.log', false),
    container(
      'vmruntime_libvirt',
      true,
      [boot, bind('/dev'), bind('/var/lib'), bind('/etc/libvirt/qemu'), modules, bind('/run'), bind('/sys/fs/cgroup'), bind('/var/lib/libvirt'), virtletState, bind('/var/log/virtlet'), bind('/var/log/libvirt'), bind('/var/log/virtlet/vms', '/var/log/vms'), bind('/var/run/libvirt')],
      '/libvirt.sh',
      '/var/log/virtlet/libvirt.log',
      false,
    ),
    container(
      'vmruntime_virtlet',
      true,
      [
        bind(LINUX_PATHS.cniConfDir),
        bind(LINUX_PATHS.cniBinDir),
        boot,
        bind('/dev'),
        bind('/var/lib'),
        bind('/etc/libvirt/qemu'),
        modules,
        bind('/run'),
        bind('/sys/fs/cgroup'),
        volumePlugins,
        bind('/var/lib/libvirt'),
        virtletState,
        bind('/var/log'),
        ...logs,
        bind('/var/run/libvirt'),
        bind('/var/run/netns', '/var/run/netns', { rshared: true }),
      ],
      '/start.sh',
      '/var/log/virtlet/virtlet.log',
      true,
    ),
  ]
}

export const VM_RUNTIME_IMAGE_DEFAULT = 'arktosstaging/vmruntime:latest'
