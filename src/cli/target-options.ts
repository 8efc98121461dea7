/** The target and option flags shared by plan, render, fetch (and later build), and the artifact flags of fetch and build. */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { type Command, Option } from 'commander'
import { UsageError } from '../model/errors.js'
import { resolveCacheDir } from '../fetch/cache.js'
import { parseChecksumOverrides, parseMirrors } from '../fetch/sources.js'
import { ARCHES, CGROUP_DRIVERS, OSES, RUNTIMES, RUNTIME_SOURCES } from '../model/target.js'
import { DEFAULTS, type RawRequest } from '../resolve/request.js'
import type { ArtifactSettings } from '../fetch/settings.js'
import { artifactDefaults, mergeRequest, readConfigFile } from './config-file.js'

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value]

/** `matrix`: --os, --arch and --runtime may repeat (build builds every combination). */
export function addTargetOptions(command: Command, options: { matrix?: boolean } = {}): Command {
  const axis = (option: Option) => (options.matrix ? option.argParser(collect) : option)
  const repeat = options.matrix ? '; repeatable' : ''
  return command
    .addOption(axis(new Option('--os <os>', `target operating system: ${OSES.join(', ')}${repeat}`)))
    .addOption(axis(new Option('--arch <arch>', `CPU architecture: ${ARCHES.join(', ')} (default ${DEFAULTS.arch})${repeat}`)))
    .addOption(axis(new Option('--runtime <runtime>', `container runtime: ${RUNTIMES.join(', ')}${repeat}`)))
    .addOption(new Option('--kubeedge-version <version>', 'KubeEdge version, 1.12 to 1.23 (default the newest)'))
    .addOption(new Option('--cgroup-driver <driver>', `${CGROUP_DRIVERS.join(' or ')}, the same for runtime and edgecore (default ${DEFAULTS.cgroupDriver})`))
    .addOption(new Option('--pause-image <ref>', `pod sandbox image every config names (default ${DEFAULTS.pauseImage})`))
    .addOption(new Option('--cni-subnet <cidr>', `pod network of the CNI bridge (default ${DEFAULTS.cniSubnet})`))
    .addOption(new Option('--runtime-version <version>', 'runtime version (default: the pinned one for the KubeEdge version)'))
    .addOption(new Option('--runtime-source <source>', `where the runtime comes from: ${RUNTIME_SOURCES.join(', ')}`))
    .addOption(new Option('--registry-mirror <url>', 'registry mirror: URL (for docker.io) or HOST=URL; repeatable').argParser(collect))
    .addOption(new Option('--packages-dir <dir>', '.deb/.rpm files to carry for --runtime-source packages'))
    .addOption(new Option('--image-repository <repo>', 'where the KubeEdge images live instead of docker.io/kubeedge, e.g. registry.local:5000/kubeedge (keadm join --image-repository)'))
    .addOption(new Option('--vm-runtime-image <ref>', 'Virtlet: the Arktos VM runtime image'))
    .addOption(new Option('--config <file>', 'YAML or TOML file with the same options (flags win)'))
}

export interface TargetFlags {
  os?: string
  arch?: string
  runtime?: string
  kubeedgeVersion?: string
  cgroupDriver?: string
  pauseImage?: string
  cniSubnet?: string
  runtimeVersion?: string
  runtimeSource?: string
  registryMirror?: string[]
  packagesDir?: string
  vmRuntimeImage?: string
  imageRepository?: string
  config?: string
}

function listPackages(dir: string): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (error) {
    throw new UsageError(`--packages-dir ${dir} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
  for (const name of names) {
    if (!statSync(join(dir, name)).isFile()) throw new UsageError(`--packages-dir ${dir}: ${name} is not a regular file`, { hint: 'Put only .deb or .rpm files there.' })
  }
  if (names.length === 0) throw new UsageError(`--packages-dir ${dir} is empty`)
  return names
}

/** Flags (and --config) → the raw request validateRequest takes. */
export function requestFromFlags(flags: TargetFlags): RawRequest {
  const fromFlags: RawRequest & { 'packages-dir'?: string | undefined } = {
    os: flags.os,
    arch: flags.arch,
    runtime: flags.runtime,
    'kubeedge-version': flags.kubeedgeVersion,
    'cgroup-driver': flags.cgroupDriver,
    'pause-image': flags.pauseImage,
    'cni-subnet': flags.cniSubnet,
    'runtime-version': flags.runtimeVersion,
    'runtime-source': flags.runtimeSource,
    'registry-mirror': flags.registryMirror,
    'vm-runtime-image': flags.vmRuntimeImage,
    'image-repository': flags.imageRepository,
    'packages-dir': flags.packagesDir,
  }
  const merged = flags.config ? mergeRequest(readConfigFile(flags.config), fromFlags) : fromFlags
  const { 'packages-dir': packagesDir, ...request } = merged
  if (packagesDir !== undefined) request.packages = listPackages(packagesDir)
  return request
}

/** Where artifacts come from and go: the flags `fetch` and `build` share. */
export function addArtifactOptions(command: Command): Command {
  return command
    .addOption(new Option('--mirror <url>', 'artifact mirror laid out as <url>/<id>/<version>/<file>, tried before upstream; repeatable').argParser(collect))
    .addOption(new Option('--artifacts-dir <dir>', 'folder of artifacts you downloaded (<dir>/<file> or <dir>/<id>/<version>/<file>), used first; repeatable').argParser(collect))
    .addOption(new Option('--cache-dir <dir>', 'artifact cache (default $EDGEBUNDLE_CACHE_DIR, else $XDG_CACHE_HOME/edgebundle or ~/.cache/edgebundle)'))
    .addOption(new Option('--offline', 'never open a network connection: use --artifacts-dir and the cache only'))
    .addOption(new Option('--no-upstream', 'never download from upstream URLs: --mirror, --artifacts-dir and the cache only'))
    .addOption(new Option('--checksum <id=sha256>', 'SHA-256 of an artifact nothing pins (e.g. docker-static); repeatable').argParser(collect))
    .addOption(new Option('--concurrency <n>', 'downloads at once (default 4)'))
    .addOption(new Option('--pull-pause', 'pull the pause image for the target platform from its registry and carry it'))
    .addOption(new Option('--pause-image-archive <file>', 'carry this pause image archive (OCI layout or docker save tar)'))
    .addOption(new Option('--pull-kubeedge-images', 'pull the images keadm join asks for (kubeedge/installation-package:v<patch>) for the target platform and carry them, with keadm'))
    .addOption(new Option('--image-archive <file>', 'carry an image keadm join asks for from this archive (OCI layout or docker save tar); repeatable').argParser(collect))
    .addOption(new Option('--insecure-registry <host>', 'registry reached over plain HTTP when pulling (loopback always is); repeatable').argParser(collect))
}

export interface ArtifactFlags {
  mirror?: string[]
  artifactsDir?: string[]
  cacheDir?: string
  offline?: boolean
  /** false with --no-upstream. */
  upstream?: boolean
  checksum?: string[]
  concurrency?: string
  pullPause?: boolean
  pauseImageArchive?: string
  pullKubeedgeImages?: boolean
  imageArchive?: string[]
  insecureRegistry?: string[]
}

export type { ArtifactSettings } from '../fetch/settings.js'

export function artifactSettingsFromFlags(commandFlags: ArtifactFlags & { config?: string }, env: NodeJS.ProcessEnv = process.env): ArtifactSettings {
  // Config file values fill in what the flags leave unset; repeatable flags replace the file's list.
  const fromFile = commandFlags.config ? artifactDefaults(readConfigFile(commandFlags.config)) : {}
  const flags: ArtifactFlags = { ...fromFile }
  for (const [key, value] of Object.entries(commandFlags)) if (value !== undefined) (flags as Record<string, unknown>)[key] = value
  const artifactsDirs = flags.artifactsDir ?? []
  for (const dir of artifactsDirs) {
    let isDir: boolean
    try {
      isDir = statSync(dir).isDirectory()
    } catch (error) {
      throw new UsageError(`--artifacts-dir ${dir} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
    if (!isDir) throw new UsageError(`--artifacts-dir ${dir} is not a folder`)
  }
  let concurrency = 4
  if (flags.concurrency !== undefined) {
    concurrency = Number(flags.concurrency)
    if (!/^\d+$/.test(flags.concurrency) || concurrency < 1 || concurrency > 32) throw new UsageError(`--concurrency ${flags.concurrency} is not a number from 1 to 32`)
  }
  return {
    cacheDir: resolveCacheDir(flags.cacheDir, env),
    artifactsDirs,
    mirrors: parseMirrors(flags.mirror ?? []),
    upstream: flags.upstream ?? true,
    offline: flags.offline ?? false,
    checksums: parseChecksumOverrides(flags.checksum ?? []),
    concurrency,
    pullPause: flags.pullPause ?? false,
    pauseImageArchive: flags.pauseImageArchive,
    pullKubeedgeImages: flags.pullKubeedgeImages ?? false,
    imageArchives: flags.imageArchive ?? [],
    insecureRegistries: (flags.insecureRegistry ?? []).map((host) => {
      if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host)) throw new UsageError(`--insecure-registry ${JSON.stringify(host)} is not a registry host[:port]`)
      return host.toLowerCase()
    }),
  }
}
