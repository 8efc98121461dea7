/**
 * A build request as a user gives it (flags, config file): plain strings, validated here into a
 * Target and TargetOptions. Pure.
 */
import { UsageError } from '../model/errors.js'
import {
  ARCHES,
  CGROUP_DRIVERS,
  OSES,
  RUNTIMES,
  RUNTIME_SOURCES,
  type Target,
  type TargetOptions,
} from '../model/target.js'
import type { Catalog } from '../catalog/schema.js'
import {
  parseChoice,
  parseExactVersion,
  parseImageReference,
  parseImageRepository,
  parseIpv4Cidr,
  parsePackageFileName,
  parseRegistryMirror,
} from './validate.js'

/** The option names of the CLI and the config file (kebab-case, as on the command line). */
export interface RawRequest {
  os?: string | undefined
  arch?: string | undefined
  runtime?: string | undefined
  'kubeedge-version'?: string | undefined
  'cgroup-driver'?: string | undefined
  'pause-image'?: string | undefined
  'cni-subnet'?: string | undefined
  'runtime-version'?: string | undefined
  'runtime-source'?: string | undefined
  'registry-mirror'?: string[] | undefined
  'vm-runtime-image'?: string | undefined
  'image-repository'?: string | undefined
  /** File names found in --packages-dir (the CLI lists the folder). */
  packages?: string[] | undefined
}

export const DEFAULTS = {
  arch: 'amd64',
  cgroupDriver: 'cgroupfs',
  pauseImage: 'kubeedge/pause:3.6',
  cniSubnet: '10.88.0.0/16',
} as const

export interface ValidRequest {
  target: Target
  options: TargetOptions
}

export function validateRequest(catalog: Catalog, raw: RawRequest): ValidRequest {
  if (raw.os === undefined) throw new UsageError('--os is required', { hint: `Choose one of: ${OSES.join(', ')}.` })
  if (raw.runtime === undefined) throw new UsageError('--runtime is required', { hint: `Choose one of: ${RUNTIMES.join(', ')}.` })
  const os = parseChoice('--os', raw.os, OSES)
  const arch = parseChoice('--arch', raw.arch ?? DEFAULTS.arch, ARCHES)
  const runtime = parseChoice('--runtime', raw.runtime, RUNTIMES)
  const kubeedgeInput = raw['kubeedge-version'] ?? catalog.kubeedge.default
  const kubeedge = parseChoice(
    '--kubeedge-version',
    kubeedgeInput.replace(/^v/, '').replace(/^(\d+\.\d+)\.\d+$/, '$1'),
    catalog.kubeedge.versions,
    `The default is ${catalog.kubeedge.default}; a patch release such as 1.23.1 is accepted and means 1.23.`,
  )
  const options: TargetOptions = {
    cgroupDriver: parseChoice('--cgroup-driver', raw['cgroup-driver'] ?? DEFAULTS.cgroupDriver, CGROUP_DRIVERS),
    pauseImage: raw['pause-image'] ?? DEFAULTS.pauseImage,
    cniSubnet: raw['cni-subnet'] ?? DEFAULTS.cniSubnet,
    registryMirrors: (raw['registry-mirror'] ?? []).map((value) => parseRegistryMirror('--registry-mirror', value)),
    packages: (raw.packages ?? []).map((name) => parsePackageFileName('--packages-dir', name)).sort(),
  }
  parseImageReference('--pause-image', options.pauseImage)
  const cidr = parseIpv4Cidr('--cni-subnet', options.cniSubnet)
  options.cniSubnet = `${cidr.network}/${cidr.prefix}`
  if (raw['runtime-version'] !== undefined) options.runtimeVersion = parseExactVersion('--runtime-version', raw['runtime-version'])
  if (raw['runtime-source'] !== undefined) options.runtimeSource = parseChoice('--runtime-source', raw['runtime-source'], RUNTIME_SOURCES)
  if (raw['image-repository'] !== undefined) options.imageRepository = parseImageRepository('--image-repository', raw['image-repository'])
  if (raw['vm-runtime-image'] !== undefined) {
    if (runtime !== 'virtlet') throw new UsageError('--vm-runtime-image applies to --runtime virtlet only')
    parseImageReference('--vm-runtime-image', raw['vm-runtime-image'])
    options.vmRuntimeImage = raw['vm-runtime-image']
  }
  const seen = new Set<string>()
  for (const mirror of options.registryMirrors) {
    const key = `${mirror.registry} ${mirror.endpoint}`
    if (seen.has(key)) throw new UsageError(`--registry-mirror ${mirror.endpoint} is given twice for ${mirror.registry}`)
    seen.add(key)
  }
  return { target: { os, arch, runtime, kubeedge }, options }
}
