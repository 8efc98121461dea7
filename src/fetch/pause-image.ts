/**
 * The pause image a bundle carries: either an archive the user gives (--pause-image-archive) or one pulled from
 * its registry for the target platform (--pull-pause), kept in the artifact cache so a later offline build
 * finds it. Either way the archive must hold the image under the name every config uses.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { UsageError } from '../model/errors.js'
import type { Arch, OsFamily } from '../model/target.js'
import type { Http } from '../io/http.js'
import { findArchiveImage, pullImage, readImageArchive, resolveEndpoint, type TargetPlatform } from '../oci/index.js'
import { parseImageReference } from '../resolve/validate.js'
import { hashFile } from './cache.js'

export interface PauseImageRequest {
  reference: string
  family: OsFamily
  arch: Arch
  /** --pause-image-archive FILE */
  archive?: string | undefined
  /** --pull-pause */
  pull: boolean
  insecureRegistries: string[]
  offline: boolean
  cacheDir: string
  /** The builder's HTTP client (proxy settings and all); needed only to pull. */
  http?: Http | undefined
}

/** The request for a target from the artifact settings (fetch and build ask the same way). */
export function pauseImageRequest(
  target: { pauseImage: string; family: OsFamily; arch: Arch },
  settings: { pauseImageArchive: string | undefined; pullPause: boolean; insecureRegistries: string[]; offline: boolean; cacheDir: string },
  http: Http | undefined,
): PauseImageRequest {
  return {
    reference: target.pauseImage,
    family: target.family,
    arch: target.arch,
    archive: settings.pauseImageArchive,
    pull: settings.pullPause,
    insecureRegistries: settings.insecureRegistries,
    offline: settings.offline,
    cacheDir: settings.cacheDir,
    http,
  }
}

export interface PauseImage {
  path: string
  sha256: string
  size: number
  source: 'archive' | 'cache' | 'registry'
  /** The normalized name the runtime will know the image by (docker.io/kubeedge/pause:3.6). */
  imageName: string
  platform: string
  /** Bundle file name under images/. */
  fileName: string
}

export function targetPlatform(family: OsFamily, arch: Arch): TargetPlatform {
  return arch === 'arm' ? { os: family, arch, variant: 'v7' } : { os: family, arch }
}

/** docker.io/library/pause:3.6 for "pause:3.6": the form runtimes record, so names compare reliably. */
export function normalizedImageName(reference: string): string {
  const ref = parseImageReference('--pause-image', reference)
  const { name } = resolveEndpoint(ref)
  return ref.digest ? `${name}@${ref.digest}` : `${name}:${ref.tag}`
}

function bundleFileName(reference: string, platform: TargetPlatform): string {
  const ref = parseImageReference('--pause-image', reference)
  const base = ref.repository.split('/').at(-1)!
  const version = ref.tag ?? ref.digest!.replace(':', '-').slice(0, 19)
  return `${base}-${version}-${platform.os}-${platform.arch}${platform.variant ?? ''}.oci.tar`.replace(/[^A-Za-z0-9._-]/g, '_')
}

/** Where a pulled image lives in the cache: keyed by the exact reference and platform. */
export function cachedImagePath(cacheDir: string, reference: string, platform: TargetPlatform): string {
  const key = createHash('sha256').update(`${normalizedImageName(reference)}\n${platform.os}/${platform.arch}/${platform.variant ?? ''}`).digest('hex')
  return join(cacheDir, 'images', `${key}.oci.tar`)
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  )
}

export async function preparePauseImage(request: PauseImageRequest): Promise<PauseImage | null> {
  const platform = targetPlatform(request.family, request.arch)
  const imageName = normalizedImageName(request.reference)
  const fileName = bundleFileName(request.reference, platform)
  const platformName = `${platform.os}/${platform.arch}${platform.variant ? `/${platform.variant}` : ''}`
  if (request.archive !== undefined && request.pull) {
    throw new UsageError('--pause-image-archive and --pull-pause exclude each other', { hint: 'Give the archive, or let edgebundle pull the image, not both.' })
  }

  if (request.archive !== undefined) {
    const info = await readImageArchive(request.archive)
    const image = findArchiveImage(info, platform)
    const names = image.names.flatMap((name) => {
      try {
        return [normalizedImageName(name)]
      } catch {
        return [] // a tag-only OCI ref.name ("3.6") names nothing a runtime could look up
      }
    })
    if (!names.includes(imageName)) {
      throw new UsageError(`--pause-image-archive ${request.archive} holds no image named ${request.reference}`, {
        hint: `It names: ${image.names.join(', ') || 'nothing'}. Give --pause-image as one of those, or export the image under ${request.reference}: the runtime must find it by the name its config uses, or it pulls it.`,
      })
    }
    const { sha256, size } = await hashFile(request.archive)
    return { path: request.archive, sha256, size, source: 'archive', imageName, platform: platformName, fileName }
  }

  if (!request.pull) return null
  const cached = cachedImagePath(request.cacheDir, request.reference, platform)
  const ref = parseImageReference('--pause-image', request.reference)
  // A digest pins the bytes, so a cached pull is final; a tag may have moved, so online builds ask again.
  if ((ref.digest !== undefined || request.offline) && (await exists(cached))) {
    const { sha256, size } = await hashFile(cached)
    return { path: cached, sha256, size, source: 'cache', imageName, platform: platformName, fileName }
  }
  if (request.offline) {
    throw new UsageError(`--offline: the pause image ${request.reference} for ${platformName} is not in the cache`, {
      hint: `Run \`edgebundle fetch ... --pull-pause\` while online, or give the image with --pause-image-archive FILE (an OCI or docker archive).`,
    })
  }
  // The targets of a matrix that share a platform pull its image once, not once each.
  let pull = pulls.get(cached)
  if (pull === undefined) {
    pull = pullIntoCache(request, platform, cached)
    pulls.set(cached, pull)
    pull.then(
      () => pulls.delete(cached),
      () => pulls.delete(cached),
    )
  }
  const result = await pull
  return { path: cached, sha256: result.sha256, size: result.size, source: 'registry', imageName, platform: platformName, fileName }
}

/** Pulls in flight in this process, by cache path. */
const pulls = new Map<string, Promise<{ sha256: string; size: number }>>()

async function pullIntoCache(request: PauseImageRequest, platform: TargetPlatform, cached: string): Promise<{ sha256: string; size: number }> {
  await mkdir(dirname(cached), { recursive: true })
  // Unique per pull, not per process and millisecond: parallel builds of one process pull at once.
  const temporary = `${cached}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`
  if (request.http === undefined) throw new Error('internal: pulling an image needs an HTTP client')
  try {
    const result = await pullImage(request.reference, platform, {
      output: temporary,
      insecureRegistries: request.insecureRegistries,
      http: request.http,
    })
    await rename(temporary, cached)
    return { sha256: result.sha256, size: result.size }
  } finally {
    await rm(temporary, { force: true })
  }
}
