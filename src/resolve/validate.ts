/**
 * Validation of every user-supplied value before it can reach a config file or a script.
 * Anything refused here never gets near the renderers; the renderers still quote what they emit.
 */
import { UsageError } from '../model/errors.js'

/** Characters that mean something to sh or PowerShell, plus whitespace and control characters. */
const HOSTILE = /[\s;&|$`<>\\'"(){}[\]*?!#~^%,\u0000-\u001f\u007f]/

export function describeHostile(value: string): string | null {
  const match = HOSTILE.exec(value)
  if (!match) return null
  const ch = match[0]
  const shown = ch === '\n' ? '\\n' : ch === '\r' ? '\\r' : ch === '\t' ? '\\t' : /[\u0000-\u001f\u007f]/.test(ch) ? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}` : ch === ' ' ? 'a space' : `"${ch}"`
  return `contains ${shown}`
}

/** Refuses shell metacharacters, whitespace and control characters. */
export function assertPlainValue(option: string, value: string, allowed = 'letters, digits and . _ - / : @ + ='): void {
  const problem = describeHostile(value)
  if (problem) {
    throw new UsageError(`${option} ${JSON.stringify(value)} ${problem}`, { hint: `Use only ${allowed}.` })
  }
  if (value.length === 0) throw new UsageError(`${option} is empty`)
  if (value.length > 512) throw new UsageError(`${option} is longer than 512 characters`)
}

// Image reference grammar after github.com/distribution/reference (domain, path components, tag, digest).
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]{1,5})?`
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
const TAG = '[\\w][\\w.-]{0,127}'
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}'
const IMAGE_REFERENCE = new RegExp(
  `^(?:(?<domain>${DOMAIN})/)?(?<path>${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(?<tag>${TAG}))?(?:@(?<digest>${DIGEST}))?$`,
)

export interface ImageReference {
  /** Registry host as written, or docker.io when none is. */
  registry: string
  repository: string
  tag: string | undefined
  digest: string | undefined
}

export function parseImageReference(option: string, value: string): ImageReference {
  assertPlainValue(option, value)
  const match = IMAGE_REFERENCE.exec(value)
  const groups = match?.groups
  if (!groups || !groups.path) {
    throw new UsageError(`${option} ${JSON.stringify(value)} is not a valid image reference`, {
      hint: 'Write [registry[:port]/]repository[:tag][@sha256:digest] with a lower-case repository, e.g. kubeedge/pause:3.6.',
    })
  }
  // A first component is a registry only when it looks like a host (has a dot or port, or is localhost).
  let registry = groups.domain
  let repository = groups.path
  if (registry !== undefined && !/[.:]/.test(registry) && registry !== 'localhost') {
    if (/[A-Z]/.test(registry)) {
      throw new UsageError(`${option} ${JSON.stringify(value)} is not a valid image reference: repository names are lower-case`)
    }
    repository = `${registry}/${repository}`
    registry = undefined
  }
  if (value.length > 255 + 200) throw new UsageError(`${option} ${JSON.stringify(value)} is too long`)
  if (!groups.tag && !groups.digest) {
    throw new UsageError(`${option} ${JSON.stringify(value)} has no tag or digest`, {
      hint: 'Pin the image, e.g. kubeedge/pause:3.6 or …@sha256:<digest>, so every node runs the same bytes.',
    })
  }
  return { registry: registry ?? 'docker.io', repository, tag: groups.tag, digest: groups.digest }
}

/**
 * `--image-repository`: where the KubeEdge images live instead of docker.io/kubeedge, as keadm takes it
 * ([registry[:port]/]path, no tag or digest), e.g. registry.local:5000/kubeedge.
 */
export function parseImageRepository(option: string, value: string): string {
  assertPlainValue(option, value)
  if (/[@]/.test(value) || /:[^/]*$/.test(value.replace(/^[^/]*\//, '')) || value.endsWith('/')) {
    throw new UsageError(`${option} ${JSON.stringify(value)} is not an image repository`, {
      hint: 'Give [registry[:port]/]path without a tag or digest, e.g. registry.local:5000/kubeedge.',
    })
  }
  parseImageReference(option, `${value}/installation-package:v0`)
  return value
}

export interface Ipv4Cidr {
  network: string
  prefix: number
  /** The first usable address, which the bridge takes as gateway. */
  gateway: string
}

export function parseIpv4Cidr(option: string, value: string): Ipv4Cidr {
  assertPlainValue(option, value)
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value)
  const bad = (why: string, hint = 'Give an IPv4 network in CIDR form, e.g. 10.88.0.0/16.') =>
    new UsageError(`${option} ${JSON.stringify(value)} ${why}`, { hint })
  if (!match) throw bad('is not an IPv4 CIDR')
  const octets = match.slice(1, 5).map(Number)
  const prefix = Number(match[5])
  if (octets.some((o) => o > 255) || match.slice(1, 5).some((o) => o.length > 1 && o.startsWith('0'))) throw bad('has an octet outside 0-255')
  if (prefix < 8 || prefix > 28) throw bad(`has prefix /${prefix}`, 'Use a prefix from /8 to /28: pods need room for addresses.')
  const address = octets.reduce((acc, o) => acc * 256 + o, 0)
  const size = 2 ** (32 - prefix)
  const network = address - (address % size)
  const dotted = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.')
  if (network !== address) throw bad('has host bits set', `Did you mean ${dotted(network)}/${prefix}?`)
  if (octets[0] === 127 || octets[0] === 0 || (octets[0] ?? 0) >= 224) throw bad('is not a usable pod network (loopback, "this network", multicast or reserved)')
  return { network: dotted(network), prefix, gateway: dotted(network + 1) }
}

const REGISTRY_HOST = new RegExp(`^${DOMAIN}$`)

/** `--registry-mirror URL` (mirrors docker.io) or `--registry-mirror HOST=URL`. */
export function parseRegistryMirror(option: string, value: string): { registry: string; endpoint: string } {
  const eq = value.indexOf('=')
  const registry = eq === -1 ? 'docker.io' : value.slice(0, eq)
  const endpoint = eq === -1 ? value : value.slice(eq + 1)
  assertPlainValue(option, value)
  if (!REGISTRY_HOST.test(registry)) {
    throw new UsageError(`${option} ${JSON.stringify(value)}: ${JSON.stringify(registry)} is not a registry host`, {
      hint: 'Write URL (a mirror of docker.io) or HOST=URL, e.g. registry.k8s.io=https://mirror.example.com.',
    })
  }
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    throw new UsageError(`${option} ${JSON.stringify(value)}: ${JSON.stringify(endpoint)} is not a URL`, {
      hint: 'Write the mirror as an http:// or https:// URL, e.g. https://mirror.example.com.',
    })
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`${option} ${JSON.stringify(value)}: scheme ${url.protocol} is not allowed`, { hint: 'Use http:// or https://.' })
  }
  if (url.username || url.password) {
    throw new UsageError(`${option} ${JSON.stringify(value)} carries credentials`, {
      hint: 'Bundles hold no secrets: configure registry credentials on the node.',
    })
  }
  if (url.search || url.hash) throw new UsageError(`${option} ${JSON.stringify(value)} has a query or fragment`)
  const normalized = `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '')}`
  return { registry: registry.toLowerCase(), endpoint: normalized }
}

export function parseExactVersion(option: string, value: string): string {
  assertPlainValue(option, value)
  const match = /^v?(\d+\.\d+\.\d+)$/.exec(value)
  if (!match?.[1]) throw new UsageError(`${option} ${JSON.stringify(value)} is not a version`, { hint: 'Write MAJOR.MINOR.PATCH, e.g. 1.7.34.' })
  return match[1]
}

const PACKAGE_FILE = /^[A-Za-z0-9][A-Za-z0-9._+~-]*\.(deb|rpm)$/

export function parsePackageFileName(option: string, value: string): string {
  if (!PACKAGE_FILE.test(value)) {
    throw new UsageError(`${option}: ${JSON.stringify(value)} is not an allowed package file name`, {
      hint: 'Package files must be *.deb or *.rpm with letters, digits and . _ + ~ - only.',
    })
  }
  return value
}

/** One of a fixed list, with the list in the error. */
export function parseChoice<T extends string>(option: string, value: string, allowed: readonly T[], hint?: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T
  const shown = describeHostile(value) ? JSON.stringify(value) : value
  throw new UsageError(`${option} ${shown} is not one of: ${allowed.join(', ')}`, hint === undefined ? {} : { hint })
}
