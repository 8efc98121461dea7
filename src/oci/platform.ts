/**
 * Platforms: what the caller asks for, what an image index or config declares, and the choice between them.
 * The matching follows containerd's rules (platforms.Only) so the archive we pick is the one the runtime
 * on the node would have pulled itself.
 */
import { UsageError } from '../model/errors.js'
import type { Arch, OsFamily } from '../model/target.js'
import type { Descriptor } from './types.js'

/** The platform a bundle targets. */
export interface TargetPlatform {
  os: OsFamily
  arch: Arch
  /** CPU variant, e.g. v7 for arm (the default there), v8 for arm64. */
  variant?: string
  /**
   * Windows only: the OS build the node runs, e.g. 10.0.17763 (a prefix of the image's os.version).
   * Windows images are built per OS build and an index often lists several.
   */
  osVersion?: string
}

/** A platform as an image declares it (any os/architecture string a registry may hold). */
export interface ImagePlatform {
  os: string
  architecture: string
  variant?: string
  osVersion?: string
}

const OSES: readonly string[] = ['linux', 'windows']
const ARCHES: readonly string[] = ['amd64', 'arm64', 'arm']

/** Checks a platform handed in at run time (from the CLI or a config file), not only at compile time. */
export function validateTargetPlatform(platform: TargetPlatform): TargetPlatform {
  if (!OSES.includes(platform.os)) throw new UsageError(`unsupported image OS ${JSON.stringify(platform.os)}`, { hint: `Use one of: ${OSES.join(', ')}.` })
  if (!ARCHES.includes(platform.arch)) {
    throw new UsageError(`unsupported image architecture ${JSON.stringify(platform.arch)}`, { hint: `Use one of: ${ARCHES.join(', ')}.` })
  }
  if (platform.variant !== undefined && !/^v[0-9]{1,2}$/.test(platform.variant)) {
    throw new UsageError(`unsupported CPU variant ${JSON.stringify(platform.variant)}`, { hint: 'Write a variant like v7 (arm) or v8 (arm64).' })
  }
  if (platform.osVersion !== undefined && (platform.os !== 'windows' || !/^[0-9]+(\.[0-9]+){0,3}$/.test(platform.osVersion))) {
    throw new UsageError(`OS version ${JSON.stringify(platform.osVersion)} is not valid here`, { hint: 'An OS version applies to Windows only, e.g. 10.0.17763.' })
  }
  return platform
}

/** "linux/arm/v7", "windows/amd64 10.0.17763.1234". */
export function formatPlatform(platform: ImagePlatform | TargetPlatform): string {
  const arch = 'architecture' in platform ? platform.architecture : platform.arch
  const base = `${platform.os}/${arch}${platform.variant ? `/${platform.variant}` : ''}`
  return platform.osVersion ? `${base} ${platform.osVersion}` : base
}

/** Architecture spellings seen in the wild, mapped as containerd's platforms.Normalize does. */
function normalizeArch(architecture: string, variant: string | undefined): { architecture: string; variant: string | undefined } {
  const arch = architecture.toLowerCase()
  const v = variant?.toLowerCase() || undefined
  switch (arch) {
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return { architecture: 'amd64', variant: v === 'v1' ? undefined : v }
    case 'aarch64':
    case 'arm64':
      return { architecture: 'arm64', variant: v === 'v8' || v === '8' ? undefined : v }
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' }
    case 'armel':
      return { architecture: 'arm', variant: 'v6' }
    case 'arm':
      return { architecture: 'arm', variant: v && /^[0-9]$/.test(v) ? `v${v}` : v }
    default:
      return { architecture: arch, variant: v }
  }
}

export function normalizePlatform(platform: ImagePlatform): ImagePlatform {
  const { architecture, variant } = normalizeArch(platform.architecture, platform.variant)
  return {
    os: platform.os.toLowerCase(),
    architecture,
    ...(variant ? { variant } : {}),
    ...(platform.osVersion ? { osVersion: platform.osVersion } : {}),
  }
}

/**
 * How well an image platform serves the target: 0 is best, larger is a fallback, null is unusable.
 * arm follows containerd: a v7 CPU runs v7, then variant-less, then v6 and v5 images, never v8.
 * amd64 and arm64 accept only the baseline (no variant, v1 / v8) unless a variant is asked for, since a
 * v2/v3 amd64 image needs CPU features an edge box may lack.
 */
export function platformRank(target: TargetPlatform, candidate: ImagePlatform): number | null {
  const have = normalizePlatform(candidate)
  if (have.os !== target.os || have.architecture !== target.arch) return null
  const wanted = normalizeArch(target.arch, target.variant).variant
  if (target.arch === 'arm') {
    const want = Number((wanted ?? 'v7').slice(1))
    if (have.variant === undefined) return 1
    const got = /^v([0-9]+)$/.exec(have.variant)
    if (!got) return null
    const n = Number(got[1])
    if (n === want) return 0
    return n < want ? 1 + (want - n) : null
  }
  return have.variant === wanted ? 0 : null
}

export function windowsVersionMatches(wanted: string | undefined, have: string | undefined): boolean {
  if (wanted === undefined) return true
  if (have === undefined) return false
  return have === wanted || have.startsWith(`${wanted}.`)
}

/** The platform an index entry declares, or undefined (e.g. an attestation manifest without one). */
export function descriptorPlatform(descriptor: Descriptor): ImagePlatform | undefined {
  const p = descriptor.platform
  if (!p) return undefined
  return {
    os: p.os,
    architecture: p.architecture,
    ...(p.variant ? { variant: p.variant } : {}),
    ...(p['os.version'] ? { osVersion: p['os.version'] } : {}),
  }
}

/**
 * Picks the manifest for `target` from an index's entries. Throws a UsageError naming the platforms the
 * image does have when none fits, and when several Windows builds fit but no osVersion says which.
 */
export function selectManifest(entries: readonly Descriptor[], target: TargetPlatform, imageName: string): Descriptor {
  let best: { rank: number; entry: Descriptor } | undefined
  const windowsCandidates: Descriptor[] = []
  for (const entry of entries) {
    const platform = descriptorPlatform(entry)
    if (!platform) continue
    const rank = platformRank(target, platform)
    if (rank === null) continue
    if (target.os === 'windows') {
      if (!windowsVersionMatches(target.osVersion, platform.osVersion)) continue
      windowsCandidates.push(entry)
    }
    // Strictly better only: among equals the first listed wins, as the OCI spec asks.
    if (!best || rank < best.rank) best = { rank, entry }
  }
  if (target.os === 'windows' && target.osVersion === undefined) {
    const builds = new Set(windowsCandidates.map((entry) => descriptorPlatform(entry)?.osVersion ?? ''))
    if (builds.size > 1) {
      throw new UsageError(`the image ${imageName} has several ${formatPlatform(target)} builds: ${[...builds].map((b) => b || '(no os.version)').join(', ')}`, {
        hint: 'Windows containers must match the node\'s OS build; name it (e.g. 10.0.17763 for Windows Server 2019).',
      })
    }
  }
  if (best) return best.entry
  const listed = entries
    .map(descriptorPlatform)
    .filter((p): p is ImagePlatform => p !== undefined && p.os !== 'unknown' && p.architecture !== 'unknown')
    .map((p) => formatPlatform(normalizePlatform(p)))
  const unique = [...new Set(listed)]
  throw new UsageError(`the image ${imageName} has no ${formatPlatform(target)} manifest; it has: ${unique.length > 0 ? unique.join(', ') : '(no platform-specific manifests)'}`, {
    hint: `Choose an image published for ${formatPlatform(target)}, or give --pause-image-archive with an archive for it.`,
  })
}

/** Throws unless the image's own config declares a platform that serves the target. */
export function assertConfigPlatform(config: ImagePlatform, target: TargetPlatform, imageName: string): void {
  const rank = platformRank(target, config)
  if (rank === null || (target.os === 'windows' && !windowsVersionMatches(target.osVersion, config.osVersion))) {
    throw new UsageError(`the image ${imageName} is ${formatPlatform(normalizePlatform(config))} only; it has no ${formatPlatform(target)} manifest`, {
      hint: `Choose a multi-platform image or one built for ${formatPlatform(target)}, or give --pause-image-archive with an archive for it.`,
    })
  }
}
