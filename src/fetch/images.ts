/**
 * The images a bundle carries, one path for all of them: the pause image every config names, and the images
 * `keadm join` asks the runtime for (plan.kubeedge.images: kubeedge/installation-package, and what else a
 * version pulls). Each comes from an archive the user gives (--pause-image-archive, --image-archive) or is
 * pulled from its registry for the target platform (--pull-pause, --pull-kubeedge-images) into the artifact
 * cache, so a later offline build finds it. Either way the archive must hold the image under the exact
 * name the node will ask for, and every blob is verified (src/oci/archive.ts).
 */
import { createHash } from 'node:crypto'
import { mkdir, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { publishFile, tempPathFor } from '../archive/publish.js'
import { UsageError } from '../model/errors.js'
import type { Arch, OsFamily } from '../model/target.js'
import type { Http } from '../io/http.js'
import { findArchiveImage, pullImage, readImageArchive, resolveEndpoint, type ArchiveImage, type ImageArchiveInfo, type TargetPlatform } from '../oci/index.js'
import { parseImageReference } from '../resolve/validate.js'
import { hashFile } from './cache.js'

/** pause: the sandbox image; kubeedge: an image keadm join asks the runtime for. */
export type ImageRole = 'pause' | 'kubeedge'

/** The flags that ask for each role, for messages. */
const ROLE_FLAGS: Record<ImageRole, { what: string; option: string; pull: string; archive: string }> = {
  pause: { what: 'the pause image', option: '--pause-image', pull: '--pull-pause', archive: '--pause-image-archive' },
  kubeedge: { what: 'the KubeEdge image', option: '--image-repository', pull: '--pull-kubeedge-images', archive: '--image-archive' },
}

export interface ImageRequest {
  reference: string
  role: ImageRole
  family: OsFamily
  arch: Arch
  /** An archive the user gave for this image (already read, when `info` is set). */
  archive?: { path: string; info?: ImageArchiveInfo } | undefined
  pull: boolean
  insecureRegistries: string[]
  offline: boolean
  cacheDir: string
  /** The builder's HTTP client (proxy settings and all); needed only to pull. */
  http?: Http | undefined
}

export interface CarriedImage {
  role: ImageRole
  /** As the plan names it (kubeedge/installation-package:v1.23.1). */
  reference: string
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

/** The image settings of fetch and build (ArtifactSettings carries them). */
export interface ImageSettings {
  pauseImageArchive: string | undefined
  pullPause: boolean
  /** --pull-kubeedge-images */
  pullKubeedgeImages: boolean
  /** --image-archive FILE, repeatable: archives holding images keadm join asks for. */
  imageArchives: string[]
  insecureRegistries: string[]
  offline: boolean
  cacheDir: string
}

export function targetPlatform(family: OsFamily, arch: Arch): TargetPlatform {
  return arch === 'arm' ? { os: family, arch, variant: 'v7' } : { os: family, arch }
}

const formatTarget = (platform: TargetPlatform) => `${platform.os}/${platform.arch}${platform.variant ? `/${platform.variant}` : ''}`

/** docker.io/library/pause:3.6 for "pause:3.6": the form runtimes record, so names compare reliably. */
export function normalizedImageName(reference: string, option = '--pause-image'): string {
  const ref = parseImageReference(option, reference)
  const { name } = resolveEndpoint(ref)
  return ref.digest ? `${name}@${ref.digest}` : `${name}:${ref.tag}`
}

/** The names an archive image answers to, normalized; a tag-only OCI ref.name ("3.6") names nothing a runtime could look up. */
function normalizedNames(image: ArchiveImage): string[] {
  return image.names.flatMap((name) => {
    try {
      return [normalizedImageName(name)]
    } catch {
      return []
    }
  })
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

/**
 * The requests for a target: its pause image, then each image keadm join asks for. An --image-archive is
 * read once and given to every image it holds; one that holds none of them is refused (a typo would
 * otherwise leave the node pulling).
 */
export async function imageRequests(
  target: { pauseImage: string; kubeedgeImages: readonly string[]; family: OsFamily; arch: Arch },
  settings: ImageSettings,
  http: Http | undefined,
): Promise<ImageRequest[]> {
  const platform = targetPlatform(target.family, target.arch)
  const common = { family: target.family, arch: target.arch, insecureRegistries: settings.insecureRegistries, offline: settings.offline, cacheDir: settings.cacheDir, http }
  if (target.family === 'windows' && (settings.pullKubeedgeImages || settings.imageArchives.length > 0)) {
    // join_windows.go (pullAndCopyResources → util.DownloadEdgecoreBin, keadm/cmd/keadm/app/cmd/util/common_windows.go
    // at v1.15.0 … v1.23.1) runs no container: it downloads kubeedge-v<version>-windows-amd64.tar.gz and its
    // checksum file from --download-repo. No image would be used.
    throw new UsageError('Windows bundles carry no KubeEdge images: keadm join on Windows downloads edgecore from --download-repo, it pulls no image', {
      hint: 'Leave out --pull-kubeedge-images and --image-archive for Windows targets.',
    })
  }
  const archives: { path: string; info: ImageArchiveInfo; used: boolean }[] = []
  for (const path of settings.imageArchives) archives.push({ path, info: await readImageArchive(path), used: false })
  const requests: ImageRequest[] = [
    {
      ...common,
      reference: target.pauseImage,
      role: 'pause',
      archive: settings.pauseImageArchive === undefined ? undefined : { path: settings.pauseImageArchive },
      pull: settings.pullPause,
    },
  ]
  const pauseName = normalizedImageName(target.pauseImage)
  const seen = new Set<string>()
  for (const reference of target.kubeedgeImages) {
    const name = normalizedImageName(reference, '--image-repository')
    if (seen.has(name)) continue
    seen.add(name)
    const given = archives.find((archive) => archive.info.images.some((image) => normalizedNames(image).includes(name)))
    if (given) given.used = true
    if (name === pauseName) {
      // keadm asks for the sandbox image itself (older versions): one image, carried once, under the pause request.
      const pause = requests[0]!
      if (pause.archive === undefined && given) {
        pause.archive = { path: given.path, info: given.info }
        pause.pull = false
      } else if (pause.archive === undefined) {
        pause.pull ||= settings.pullKubeedgeImages
      }
      continue
    }
    requests.push({ ...common, reference, role: 'kubeedge', archive: given ? { path: given.path, info: given.info } : undefined, pull: settings.pullKubeedgeImages && !given })
  }
  for (const archive of archives.filter((a) => !a.used)) {
    throw new UsageError(`--image-archive ${archive.path} holds none of the images keadm join asks for at this version (${target.kubeedgeImages.join(', ') || 'none'})`, {
      hint: `It names: ${archive.info.names.join(', ') || 'nothing'}. Export the image under the name keadm asks for (for ${formatTarget(platform)}), or leave the archive out.`,
    })
  }
  return requests
}

/** Every image the request list asks to carry, in order (pause first); images asked for by no flag are left out. */
export async function prepareImages(requests: readonly ImageRequest[]): Promise<CarriedImage[]> {
  const carried: CarriedImage[] = []
  for (const request of requests) {
    const image = await prepareImage(request)
    if (image) carried.push(image)
  }
  return carried
}

export async function prepareImage(request: ImageRequest): Promise<CarriedImage | null> {
  const flags = ROLE_FLAGS[request.role]
  const platform = targetPlatform(request.family, request.arch)
  const imageName = normalizedImageName(request.reference, flags.option)
  const fileName = bundleFileName(request.reference, platform)
  const platformName = formatTarget(platform)
  const carried = (path: string, sha256: string, size: number, source: CarriedImage['source']): CarriedImage => ({
    role: request.role,
    reference: request.reference,
    path,
    sha256,
    size,
    source,
    imageName,
    platform: platformName,
    fileName,
  })
  if (request.archive !== undefined && request.pull) {
    throw new UsageError(`${flags.archive} and ${flags.pull} exclude each other`, { hint: 'Give the archive, or let edgebundle pull the image, not both.' })
  }

  if (request.archive !== undefined) {
    const info = request.archive.info ?? (await readImageArchive(request.archive.path))
    const image = findArchiveImage(info, platform)
    if (!normalizedNames(image).includes(imageName)) {
      throw new UsageError(`${flags.archive} ${request.archive.path} holds no image named ${request.reference}`, {
        hint: `It names: ${image.names.join(', ') || 'nothing'}. Export the image under ${request.reference}: the runtime must find it by the name the node asks for, or it pulls it.`,
      })
    }
    const { sha256, size } = await hashFile(request.archive.path)
    return carried(request.archive.path, sha256, size, 'archive')
  }

  if (!request.pull) return null
  const cached = cachedImagePath(request.cacheDir, request.reference, platform)
  const ref = parseImageReference(flags.option, request.reference)
  // A digest pins the bytes, so a cached pull is final; a tag may have moved, so online builds ask again.
  if ((ref.digest !== undefined || request.offline) && (await exists(cached))) {
    const { sha256, size } = await hashFile(cached)
    return carried(cached, sha256, size, 'cache')
  }
  if (request.offline) {
    throw new UsageError(`--offline: ${flags.what} ${request.reference} for ${platformName} is not in the cache`, {
      hint: `Run \`edgebundle fetch ... ${flags.pull}\` while online, or give the image with ${flags.archive} FILE (an OCI or docker archive).`,
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
  return carried(cached, result.sha256, result.size, 'registry')
}

/** Pulls in flight in this process, by cache path. */
const pulls = new Map<string, Promise<{ sha256: string; size: number }>>()

async function pullIntoCache(request: ImageRequest, platform: TargetPlatform, cached: string): Promise<{ sha256: string; size: number }> {
  await mkdir(dirname(cached), { recursive: true })
  // Unique per pull, not per process and millisecond: parallel builds of one process pull at once.
  const temporary = tempPathFor(cached)
  if (request.http === undefined) throw new Error('internal: pulling an image needs an HTTP client')
  try {
    const result = await pullImage(request.reference, platform, {
      output: temporary,
      insecureRegistries: request.insecureRegistries,
      http: request.http,
    })
    await publishFile(temporary, cached)
    return { sha256: result.sha256, size: result.size }
  } finally {
    await rm(temporary, { force: true })
  }
}
