/**
 * Target + options + catalog → everything the planner and renderers need, with every version rule
 * applied. Pure: no I/O, no clock.
 */
import { UnsupportedTargetError, UsageError } from '../model/errors.js'
import {
  ARCHES,
  OSES,
  RUNTIMES,
  type Arch,
  type OsFamily,
  type RuntimeName,
  type RuntimeSource,
  type Target,
  type TargetOptions,
  bundleName,
} from '../model/target.js'
import {
  type Catalog,
  type ComponentInstall,
  type ComponentRef,
  FEATURE_NAMES,
  type FeatureName,
  type RuntimeEntry,
  type UnsupportedRule,
} from '../catalog/schema.js'
import { pickByRange, satisfies } from './versions.js'
import type { ValidRequest } from './request.js'

export interface ResolvedComponent {
  id: string
  version: string
  /** "runtime": the runtime's own binaries (only with source release); "support": always installed. */
  role: 'runtime' | 'support'
  platform: string
  url: string
  fileName: string
  sha256: string | null
  checksumUrl: string | null
  /** What the checksumUrl file holds; absent means SHA-256. */
  checksumAlgorithm?: 'sha256' | 'sha512'
  format: 'tar.gz' | 'tar.zst' | 'zip' | 'binary'
  install: ComponentInstall
  description: string
  homepage: string
  license: string
}

export type ChoiceValue = string | number | boolean

export interface ResolvedRuntime {
  name: RuntimeName
  displayName: string
  version: string
  source: RuntimeSource
  endpoint: string
  services: string[]
  /** kata: the containerd it runs on. */
  base?: { name: RuntimeName; version: string }
  choices: Record<string, ChoiceValue>
}

export interface Resolved {
  name: string
  target: Target
  family: OsFamily
  osReleaseIds: string[]
  packageFormat: 'deb' | 'rpm' | 'none'
  unameMachines: string[]
  kubeedge: {
    version: string
    /** The released patch keadm and the installation-package image are pinned to, e.g. "1.23.1". */
    release: string
    /** The image references keadm join asks the runtime for, exactly as keadm writes them. */
    joinImages: string[]
    features: Record<FeatureName, boolean>
    defaultPodSandboxImage: string
  }
  runtime: ResolvedRuntime
  components: ResolvedComponent[]
  options: TargetOptions
  warnings: string[]
}

const asList = <T>(value: T | T[] | undefined): T[] | undefined => (value === undefined ? undefined : Array.isArray(value) ? value : [value])

function ruleMatches(rule: UnsupportedRule, target: Target, source: RuntimeSource): boolean {
  const { when } = rule
  const os = asList(when.os)
  const arch = asList(when.arch)
  const runtime = asList(when.runtime)
  const sources = asList(when.source)
  return (
    (!os || os.includes(target.os)) &&
    (!arch || arch.includes(target.arch)) &&
    (!runtime || runtime.includes(target.runtime)) &&
    (!sources || sources.includes(source)) &&
    (when.kubeedge === undefined || satisfies(target.kubeedge, when.kubeedge))
  )
}

/**
 * Why this target is refused, or null when it is supported: a matrix rule, or (with source release, where
 * only pinned versions can be carried) a runtime constraint that no pinned release of the runtime, or of
 * the runtime it runs on (kata on containerd), meets at this KubeEdge version.
 */
export function unsupportedReason(catalog: Catalog, target: Target, source?: RuntimeSource): string | null {
  const effectiveSource = source ?? catalog.runtimes[target.runtime].sources.default
  const rule = catalog.matrix.unsupported.find((candidate) => ruleMatches(candidate, target, effectiveSource))
  if (rule) return rule.reason
  const runtime = catalog.runtimes[target.runtime]
  if (runtime.base) {
    const base = catalog.runtimes[runtime.base]
    const violated = violatedConstraint(base, target.kubeedge, defaultRuntimeVersion(base, target.kubeedge))
    if (violated) return violated.reason
  }
  if (effectiveSource !== 'release') return null
  const pinned = Object.keys(runtime.versions)
  if (pinned.length === 0 || pinned.some((version) => violatedConstraint(runtime, target.kubeedge, version) === null)) return null
  const violated = violatedConstraint(runtime, target.kubeedge, defaultRuntimeVersion(runtime, target.kubeedge))
  const reason = violated?.reason ?? `no pinned ${runtime.displayName} release serves KubeEdge ${target.kubeedge}`
  return `${reason}; no pinned ${runtime.displayName} release qualifies (use --runtime-source packages or preinstalled with a matching --runtime-version)`
}

export interface MatrixEntry {
  target: Target
  source: RuntimeSource
  supported: boolean
  reason: string | null
}

/** Every combination of the catalog's axes with its default runtime source. */
export function listMatrix(catalog: Catalog): MatrixEntry[] {
  const entries: MatrixEntry[] = []
  for (const kubeedge of catalog.kubeedge.versions) {
    for (const os of OSES) {
      for (const arch of ARCHES) {
        for (const runtime of RUNTIMES) {
          const target: Target = { os, arch, runtime, kubeedge }
          const source = catalog.runtimes[runtime].sources.default
          const reason = unsupportedReason(catalog, target, source)
          entries.push({ target, source, supported: reason === null, reason })
        }
      }
    }
  }
  return entries
}

function kubeedgeFeatures(catalog: Catalog, version: string): Record<FeatureName, boolean> {
  return Object.fromEntries(FEATURE_NAMES.map((name) => [name, satisfies(version, catalog.kubeedge.features[name].range)])) as Record<
    FeatureName,
    boolean
  >
}

function defaultRuntimeVersion(runtime: RuntimeEntry, kubeedge: string): string {
  const rule = runtime.defaultVersion.find((entry) => satisfies(kubeedge, entry.kubeedge))
  if (!rule) throw new Error(`catalog: no default ${runtime.name} version for KubeEdge ${kubeedge}`)
  return rule.version
}

function chooseVersion(runtime: RuntimeEntry, kubeedge: string, source: RuntimeSource, requested: string | undefined): string {
  const known = Object.keys(runtime.versions)
  if (requested === undefined) return defaultRuntimeVersion(runtime, kubeedge)
  if (source === 'release' && !known.includes(requested)) {
    throw new UsageError(`--runtime-version ${requested} has no pinned ${runtime.displayName} release in bundles/`, {
      hint: `Pinned versions: ${known.join(', ')}. For another version use --runtime-source packages or preinstalled.`,
    })
  }
  return requested
}

type Constraint = RuntimeEntry['constraints'][number]

/** The first constraint this runtime version breaks at this KubeEdge version, or null. */
function violatedConstraint(runtime: RuntimeEntry, kubeedge: string, version: string): Constraint | null {
  return (
    runtime.constraints.find(
      (constraint) => (constraint.kubeedge === undefined || satisfies(kubeedge, constraint.kubeedge)) && !satisfies(version, constraint.requires),
    ) ?? null
  )
}

function checkConstraints(runtime: RuntimeEntry, kubeedge: string, version: string): void {
  const constraint = violatedConstraint(runtime, kubeedge, version)
  if (constraint) {
    throw new UsageError(`${runtime.displayName} ${version} cannot serve KubeEdge ${kubeedge}: ${constraint.reason}`, {
      hint: `Choose a ${runtime.displayName} version matching ${constraint.requires} (--runtime-version).`,
    })
  }
}

function evaluateChoices(runtime: RuntimeEntry, versions: Partial<Record<RuntimeName, string>>): Record<string, ChoiceValue> {
  const result: Record<string, ChoiceValue> = {}
  for (const [name, entries] of Object.entries(runtime.choices)) {
    const match = entries.find((entry) => {
      const version = versions[entry.of ?? runtime.name]
      return version !== undefined && satisfies(version, entry.range)
    })
    if (match) result[name] = match.value
  }
  return result
}

function expandPattern(pattern: string, values: Record<string, string>): string {
  return pattern.replace(/\{(\w+)\}/g, (whole, key: string) => values[key] ?? whole)
}

function resolveComponent(
  catalog: Catalog,
  ref: ComponentRef,
  role: ResolvedComponent['role'],
  family: OsFamily,
  arch: Arch,
  warnings: string[],
): ResolvedComponent | null {
  const entry = catalog.components[ref.id]
  const versionEntry = entry?.versions[ref.version]
  if (!entry || !versionEntry) throw new Error(`catalog: component ${ref.id} ${ref.version} is missing`)
  const platform = `${family}/${arch}`
  if (!versionEntry.platforms.includes(platform)) {
    const message = `${ref.id} ${ref.version} has no ${platform} build (upstream publishes: ${versionEntry.platforms.join(', ')})`
    if (ref.optional) {
      warnings.push(`${message}; the bundle goes without it`)
      return null
    }
    throw new UnsupportedTargetError(message)
  }
  const install = entry.install[family]
  if (!install) throw new Error(`catalog: component ${ref.id} has no install rule for ${family}`)
  const url = expandPattern(entry.url, { version: ref.version, os: family, arch: entry.archNames?.[arch] ?? arch })
  const fileName = url.slice(url.lastIndexOf('/') + 1)
  const checksumUrl = entry.checksumUrl ? expandPattern(entry.checksumUrl, { url, version: ref.version, os: family, arch: entry.archNames?.[arch] ?? arch }) : null
  return {
    id: ref.id,
    version: ref.version,
    role,
    platform,
    url,
    fileName,
    sha256: versionEntry.sha256[platform as keyof typeof versionEntry.sha256] ?? null,
    checksumUrl,
    checksumAlgorithm: entry.checksumAlgorithm,
    format: entry.format,
    install: install.kind === 'binary' ? { ...install, dest: expandPattern(install.dest, { file: fileName }) } : install,
    description: entry.description,
    homepage: entry.homepage,
    license: entry.license,
  }
}

export function resolveTarget(catalog: Catalog, request: ValidRequest): Resolved {
  const { target, options } = request
  const runtimeEntry = catalog.runtimes[target.runtime]
  const source = options.runtimeSource ?? runtimeEntry.sources.default
  checkTargetAndSource(catalog, request, runtimeEntry, source)
  const osEntry = catalog.platforms.oses[target.os]
  const family = osEntry.family
  const kubeedge = target.kubeedge
  const features = kubeedgeFeatures(catalog, kubeedge)
  const version = chooseVersion(runtimeEntry, kubeedge, source, options.runtimeVersion)
  checkConstraints(runtimeEntry, kubeedge, version)

  const warnings: string[] = []
  // Windows pod networking is not set up by the bundle (the facts are in bundles/matrix.yaml, Windows section).
  if (family === 'windows') {
    warnings.push(
      'pods need a CNI network on Windows: the bundle installs the win-bridge/win-overlay plugins but writes no network config, ' +
        'and those plugins attach only to an HNS network that already exists; set one up (e.g. with your cluster\'s Windows CNI add-on) before pods can start',
    )
  }
  const { components, base, versions } = resolveComponents(catalog, request, runtimeEntry, source, version, family, warnings)
  const runtime = resolveRuntime(runtimeEntry, request, source, version, family, features, versions, catalog)
  if (base) runtime.base = base
  const release = catalog.kubeedge.releases[kubeedge]!
  const podSandboxDefault = pickByRange(catalog.kubeedge.defaults.podSandboxImage, kubeedge)?.value ?? 'kubeedge/pause:3.6'
  return {
    name: bundleName(target),
    target,
    family,
    osReleaseIds: osEntry.osReleaseIds,
    packageFormat: osEntry.packageFormat,
    unameMachines: catalog.platforms.arches[target.arch].unameMachine,
    kubeedge: {
      version: kubeedge,
      release,
      joinImages: catalog.kubeedge.joinImages
        .filter((entry) => satisfies(kubeedge, entry.range) && (entry.family === undefined || entry.family === family))
        .map((entry) => keadmImageReference(entry.image, release, options.imageRepository)),
      features,
      defaultPodSandboxImage: podSandboxDefault,
    },
    runtime,
    components,
    options,
    warnings,
  }
}

/** Refuses a target the matrix does not support, a source the runtime lacks, and options that do not fit the OS or source. */
function checkTargetAndSource(catalog: Catalog, { target, options }: ValidRequest, runtimeEntry: RuntimeEntry, source: RuntimeSource): void {
  const reason = unsupportedReason(catalog, target, source)
  if (reason !== null) {
    throw new UnsupportedTargetError(`${describeTarget(target)} is not supported: ${reason}`, {
      hint: 'Run `edgebundle list` to see every supported combination.',
    })
  }
  if (!runtimeEntry.sources.allowed.includes(source)) {
    throw new UsageError(`--runtime-source ${source} is not available for ${runtimeEntry.displayName}`, {
      hint: `Choose one of: ${runtimeEntry.sources.allowed.join(', ')}.`,
    })
  }
  const osEntry = catalog.platforms.oses[target.os]
  if (osEntry.family === 'windows' && options.cgroupDriver === 'systemd') {
    throw new UsageError('--cgroup-driver systemd does not apply to Windows nodes', { hint: 'Leave --cgroup-driver unset for Windows.' })
  }
  if (source === 'packages' && options.packages.length === 0) {
    throw new UsageError(`--runtime-source packages needs the ${runtimeEntry.displayName} packages`, {
      hint: `Give --packages-dir DIR holding the .${osEntry.packageFormat} files (the runtime and its dependencies).`,
    })
  }
  if (source !== 'packages' && options.packages.length > 0) {
    throw new UsageError('--packages-dir is only used with --runtime-source packages')
  }
  if (source === 'packages' && osEntry.packageFormat !== 'none') {
    const wrong = options.packages.filter((name) => !name.endsWith(`.${osEntry.packageFormat}`))
    if (wrong.length > 0) {
      throw new UsageError(`${osEntry.displayName} installs .${osEntry.packageFormat} packages, but --packages-dir holds ${wrong.join(', ')}`)
    }
  }
}

/**
 * The components a node of this target gets: the runtime's own binaries (a base runtime's before the one
 * on top; none when installed from packages), then what every node needs, then KubeEdge's release assets.
 */
function resolveComponents(
  catalog: Catalog,
  { target }: ValidRequest,
  runtimeEntry: RuntimeEntry,
  source: RuntimeSource,
  version: string,
  family: OsFamily,
  warnings: string[],
): { components: ResolvedComponent[]; base: ResolvedRuntime['base']; versions: Partial<Record<RuntimeName, string>> } {
  const kubeedge = target.kubeedge
  const versions: Partial<Record<RuntimeName, string>> = { [target.runtime]: version }
  const runtimeRefs: ComponentRef[] = []
  const supportRefs: ComponentRef[] = []
  let base: ResolvedRuntime['base']
  if (runtimeEntry.base) {
    const baseEntry = catalog.runtimes[runtimeEntry.base]
    const baseVersion = defaultRuntimeVersion(baseEntry, kubeedge)
    checkConstraints(baseEntry, kubeedge, baseVersion)
    base = { name: baseEntry.name, version: baseVersion }
    versions[baseEntry.name] = baseVersion
    runtimeRefs.push(...(baseEntry.versions[baseVersion]?.components ?? []))
    supportRefs.push(...baseEntry.components)
  }
  runtimeRefs.push(...(runtimeEntry.versions[version]?.components ?? []))
  supportRefs.push(...runtimeEntry.components)
  const refs = [
    ...(source === 'release' ? runtimeRefs.map((ref) => ({ ref, role: 'runtime' as const })) : []),
    ...supportRefs.map((ref) => ({ ref, role: 'support' as const })),
  ]

  const components: ResolvedComponent[] = []
  for (const { ref, role } of refs) {
    if (ref.family !== undefined && ref.family !== family) continue
    if (ref.kubeedge !== undefined && !satisfies(kubeedge, ref.kubeedge)) continue
    if (components.some((c) => c.id === ref.id)) continue
    const component = resolveComponent(catalog, ref, role, family, target.arch, warnings)
    if (component) components.push(component)
  }
  // KubeEdge's own release assets (keadm and edgecore for Windows), at the pinned release: keadm join reads
  // them offline instead of downloading (bundles/kubeedge.yaml components).
  for (const asset of catalog.kubeedge.components) {
    if (asset.family !== undefined && asset.family !== family) continue
    if (!satisfies(kubeedge, asset.range)) continue
    const ref: ComponentRef = { id: asset.id, version: catalog.kubeedge.releases[kubeedge]! }
    const component = resolveComponent(catalog, ref, 'support', family, target.arch, warnings)
    if (component) components.push(component)
  }
  return { components, base, versions }
}

/** The runtime as the node gets it: its CRI endpoint, its services, its version-dependent choices. */
function resolveRuntime(
  runtimeEntry: RuntimeEntry,
  { target, options }: ValidRequest,
  source: RuntimeSource,
  version: string,
  family: OsFamily,
  features: Resolved['kubeedge']['features'],
  versions: Partial<Record<RuntimeName, string>>,
  catalog: Catalog,
): ResolvedRuntime {
  const endpoint =
    family === 'windows'
      ? runtimeEntry.endpoints.windows
      : target.runtime === 'docker' && features.dockershim
        ? runtimeEntry.endpoints['linux-dockershim']
        : runtimeEntry.endpoints.linux
  if (!endpoint) throw new Error(`catalog: ${runtimeEntry.name} has no ${family} endpoint`)
  const services = (family === 'windows' ? runtimeEntry.services.windows : runtimeEntry.services.linux) ?? []
  const runtime: ResolvedRuntime = {
    name: target.runtime,
    displayName: runtimeEntry.displayName,
    version,
    source,
    endpoint,
    services: target.runtime === 'docker' && features.dockershim ? services.filter((s) => s !== 'cri-docker') : services,
    // A runtime on a base (kata on containerd) inherits the base's choices for the base's config; its own win.
    choices: {
      ...(runtimeEntry.base ? evaluateChoices(catalog.runtimes[runtimeEntry.base], versions) : {}),
      ...evaluateChoices(runtimeEntry, versions),
    },
  }
  // A runtime version that cannot be told to use systemd cgroups would silently keep cgroupfs while edged uses systemd.
  if (options.cgroupDriver === 'systemd' && runtime.choices['systemdCgroupDriver'] === false) {
    throw new UsageError(`${runtimeEntry.displayName} ${version} has no setting for the systemd cgroup driver`, {
      hint: `Use --cgroup-driver cgroupfs, or a newer ${runtimeEntry.displayName} (--runtime-version; see bundles/runtimes/${runtimeEntry.name}.yaml).`,
    })
  }
  return runtime
}

/**
 * keadm's own image naming (Set.Current in keadm's image.go): a tagless image gets v<release>; an image
 * repository replaces the first path component, or prefixes a one-component name.
 */
export function keadmImageReference(image: string, release: string, imageRepository: string | undefined): string {
  const tagged = /:[^/]*$/.test(image) ? image : `${image}:v${release}`
  if (imageRepository === undefined) return tagged
  const slash = tagged.indexOf('/')
  return `${imageRepository}/${slash === -1 ? tagged : tagged.slice(slash + 1)}`
}

export function describeTarget(target: Target): string {
  return `${target.runtime} on ${target.os}/${target.arch} for KubeEdge ${target.kubeedge}`
}

