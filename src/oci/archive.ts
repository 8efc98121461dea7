/**
 * Inspects an image archive a user hands in (`--pause-image-archive FILE`): an OCI image layout tar
 * (skopeo, `ctr images export`, buildkit, edgebundle's own pulls, `docker save` from Docker 25 on) or a
 * classic `docker save` tar. Every blob an image needs is checked for presence, size and sha256, so a
 * broken archive is refused on the workstation, not discovered by `ctr images import` on an air-gapped node.
 *
 * The tar is read by offset, never extracted, and content is hashed in a streaming pass; only JSON
 * documents (with size caps) are held in memory.
 */
import { open } from 'node:fs/promises'
import { UsageError } from '../model/errors.js'
import { blobPath, parseDigest, type Sha256Digest } from './digest.js'
import { IntegrityError } from './errors.js'
import { descriptorPlatform, formatPlatform, normalizePlatform, platformRank, windowsVersionMatches, type ImagePlatform, type TargetPlatform } from './platform.js'
import { listTar, TarFile, type TarEntry } from './tar.js'
import {
  ANNOTATIONS,
  INDEX_MEDIA_TYPES,
  MANIFEST_MEDIA_TYPES,
  MEDIA_TYPES,
  configSchema,
  describeZodError,
  dockerSaveManifestSchema,
  indexSchema,
  manifestSchema,
  ociLayoutSchema,
  type Descriptor,
  type ImageConfig,
} from './types.js'

const MAX_JSON_BYTES = 4 * 1024 * 1024
const MAX_CONFIG_BYTES = 16 * 1024 * 1024

export interface ArchiveImage {
  platform: ImagePlatform
  /** Reference names the archive gives this image: containerd's name, the OCI ref.name, docker RepoTags. */
  names: string[]
  /** OCI layouts only: the manifest's digest (what a runtime records as the image's target). */
  manifestDigest: string | undefined
  configDigest: string
  layers: number
  /** The archive members holding its layers, lowest first (compressed or not, as the archive has them). */
  layerMembers: string[]
  /** Bytes of the image's blobs (manifest, config, layers) in the archive. */
  size: number
}

export interface ImageArchiveInfo {
  path: string
  format: 'oci-layout' | 'docker-save'
  /** Complete, verified images. */
  images: ArchiveImage[]
  /** Every platform held, deduplicated, as "linux/arm64"-style strings in archive order. */
  platforms: string[]
  /** Every reference name held, deduplicated. */
  names: string[]
  /** Platforms an index in the archive lists but whose content the archive does not carry (a partial export). */
  absent: string[]
}

export async function readImageArchive(path: string): Promise<ImageArchiveInfo> {
  const label = `image archive ${path}`
  await refuseCompressed(path, label)
  const entries = await listTar(path, label)
  const files = new Map<string, TarEntry>()
  for (const entry of entries) if (entry.type === 'file') files.set(entry.path, entry)
  const tar = await TarFile.open(path, label)
  try {
    const reader = new ArchiveReader(tar, files, label)
    if (files.has('index.json')) return await reader.readOciLayout(path)
    if (files.has('manifest.json')) return await reader.readDockerSave(path)
    throw new UsageError(`${label} is not an image archive: it has neither index.json (OCI layout) nor manifest.json (docker save)`, {
      hint: 'Make one with `skopeo copy docker://IMAGE oci-archive:FILE:TAG`, `ctr images export` or `docker save`.',
    })
  } finally {
    await tar.close()
  }
}

/**
 * The image in `info` for `target`, by containerd's platform preference; throws a UsageError naming what
 * the archive does hold otherwise.
 */
export function findArchiveImage(info: ImageArchiveInfo, target: TargetPlatform): ArchiveImage {
  let best: { rank: number; image: ArchiveImage } | undefined
  for (const image of info.images) {
    const rank = platformRank(target, image.platform)
    if (rank === null || (target.os === 'windows' && !windowsVersionMatches(target.osVersion, image.platform.osVersion))) continue
    if (!best || rank < best.rank) best = { rank, image }
  }
  if (best) return best.image
  throw new UsageError(`the image archive ${info.path} has no ${formatPlatform(target)} image; it has: ${info.platforms.join(', ') || 'none'}`, {
    hint: `Give an archive made for ${formatPlatform(target)} (e.g. skopeo copy --override-arch ${target.arch} …), or let edgebundle pull the image.`,
  })
}

async function refuseCompressed(path: string, label: string): Promise<void> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${label}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`)
  })
  try {
    const magic = Buffer.alloc(4)
    const { bytesRead } = await handle.read(magic, 0, 4, 0)
    const compressed =
      bytesRead >= 2 && magic[0] === 0x1f && magic[1] === 0x8b ? 'gzip' : bytesRead === 4 && magic.readUInt32LE(0) === 0xfd2fb528 ? 'zstd' : undefined
    if (compressed) {
      // Random access (and so hashing without extracting) needs the plain tar.
      throw new UsageError(`${label} is ${compressed}-compressed`, { hint: `Decompress it first (${compressed === 'gzip' ? 'gunzip' : 'unzstd'}), then give the .tar.` })
    }
  } finally {
    await handle.close()
  }
}

/** The config is authoritative; a descriptor's platform fills in what configs often omit (arm's variant). */
function platformOf(config: ImageConfig, declared?: ImagePlatform): ImagePlatform {
  const variant = config.variant ?? declared?.variant
  const osVersion = config['os.version'] ?? declared?.osVersion
  return {
    os: config.os,
    architecture: config.architecture,
    ...(variant ? { variant } : {}),
    ...(osVersion ? { osVersion } : {}),
  }
}

class ArchiveReader {
  /** sha256 hex by path, so a blob shared by several images is hashed once. */
  private readonly hashed = new Map<string, string>()
  private readonly images: ArchiveImage[] = []
  private readonly absent: string[] = []

  constructor(
    private readonly tar: TarFile,
    private readonly files: Map<string, TarEntry>,
    private readonly label: string,
  ) {}

  private async hashOf(entry: TarEntry): Promise<string> {
    let hex = this.hashed.get(entry.path)
    if (hex === undefined) {
      hex = await this.tar.sha256(entry)
      this.hashed.set(entry.path, hex)
    }
    return hex
  }

  private parseJson(bytes: Buffer, what: string): unknown {
    try {
      return JSON.parse(bytes.toString('utf8'))
    } catch {
      throw new UsageError(`${this.label}: ${what} is not valid JSON`)
    }
  }

  /** Verifies the blob a descriptor names (present, size, sha256) and returns its tar entry. */
  private async verifyBlob(descriptor: { digest: string; size: number }, what: string): Promise<{ entry: TarEntry; digest: Sha256Digest }> {
    const digest = parseDigest(descriptor.digest, `${this.label}: ${what}`)
    const entry = this.files.get(blobPath(digest))
    if (!entry) throw new IntegrityError(`${this.label}: ${what} ${digest.digest} is missing (no ${blobPath(digest)})`)
    if (entry.size !== descriptor.size) throw new IntegrityError(`${this.label}: ${what} ${digest.digest} is ${entry.size} bytes, the descriptor says ${descriptor.size}`)
    const hex = await this.hashOf(entry)
    if (hex !== digest.hex) throw new IntegrityError(`${this.label}: ${what} ${blobPath(digest)} has sha256:${hex}, not the ${digest.digest} its name and descriptor claim`)
    return { entry, digest }
  }

  private finish(path: string, format: ImageArchiveInfo['format']): ImageArchiveInfo {
    if (this.images.length === 0) {
      throw new UsageError(`${this.label} holds no complete container image${this.absent.length > 0 ? ` (its index lists ${this.absent.join(', ')}, but not their content)` : ''}`)
    }
    const platforms = [...new Set(this.images.map((image) => formatPlatform(normalizePlatform(image.platform))))]
    const names = [...new Set(this.images.flatMap((image) => image.names))]
    return { path, format, images: this.images, platforms, names, absent: [...new Set(this.absent)] }
  }

  async readOciLayout(path: string): Promise<ImageArchiveInfo> {
    const layoutEntry = this.files.get('oci-layout')
    if (!layoutEntry) throw new UsageError(`${this.label} has index.json but no oci-layout file, so it is not an OCI image layout`)
    const layout = ociLayoutSchema.safeParse(this.parseJson(await this.tar.read(layoutEntry, 4096), 'oci-layout'))
    if (!layout.success || !/^1\.[0-9]+\.[0-9]+$/.test(layout.data.imageLayoutVersion)) {
      throw new UsageError(`${this.label}: oci-layout does not declare a supported imageLayoutVersion (1.x)`)
    }
    const indexEntry = this.files.get('index.json')!
    const index = indexSchema.safeParse(this.parseJson(await this.tar.read(indexEntry, MAX_JSON_BYTES), 'index.json'))
    if (!index.success) throw new UsageError(`${this.label}: index.json is not an OCI image index: ${describeZodError(index.error)}`)
    for (const [i, descriptor] of index.data.manifests.entries()) {
      await this.walk(descriptor, namesOf(descriptor), `index.json manifests[${i}]`, true, 0, descriptorPlatform(descriptor))
    }
    await this.addDockerRepoTags()
    return this.finish(path, 'oci-layout')
  }

  /**
   * Follows one descriptor. Entries of index.json must be present (`required`); the children of a nested
   * index may be absent, as in a single-platform export of a multi-platform image, which containerd
   * imports too. Whatever is present must be intact.
   */
  private async walk(descriptor: Descriptor, names: string[], where: string, required: boolean, depth: number, declared: ImagePlatform | undefined): Promise<void> {
    if (depth > 4) throw new UsageError(`${this.label}: indexes nested more than 4 deep`)
    const digest = parseDigest(descriptor.digest, `${this.label}: ${where}`)
    const isIndex = INDEX_MEDIA_TYPES.includes(descriptor.mediaType)
    const isManifest = MANIFEST_MEDIA_TYPES.includes(descriptor.mediaType)
    if (!isIndex && !isManifest) return // an artifact or something newer: not an image we could load
    if (!required && !this.files.has(blobPath(digest))) {
      const platform = descriptorPlatform(descriptor)
      if (platform && platform.os !== 'unknown') this.absent.push(formatPlatform(normalizePlatform(platform)))
      return
    }
    const { entry } = await this.verifyBlob(descriptor, `${where} (${isIndex ? 'index' : 'manifest'})`)
    const json = this.parseJson(await this.tar.read(entry, MAX_JSON_BYTES), `${where} ${digest.digest}`)
    if (isIndex) {
      const nested = indexSchema.safeParse(json)
      if (!nested.success) throw new UsageError(`${this.label}: ${where} ${digest.digest} is not an image index: ${describeZodError(nested.error)}`)
      for (const [i, child] of nested.data.manifests.entries()) {
        await this.walk(child, [...names, ...namesOf(child)], `${where} → manifests[${i}]`, false, depth + 1, descriptorPlatform(child))
      }
      return
    }
    const manifest = manifestSchema.safeParse(json)
    if (!manifest.success) throw new UsageError(`${this.label}: ${where} ${digest.digest} is not an image manifest: ${describeZodError(manifest.error)}`)
    const { config: configDescriptor, layers } = manifest.data
    // Attestations and signatures are manifests too, but carry no image config: nothing to load.
    if (configDescriptor.mediaType !== MEDIA_TYPES.ociConfig && configDescriptor.mediaType !== MEDIA_TYPES.dockerConfig) return
    if (configDescriptor.size > MAX_CONFIG_BYTES) throw new UsageError(`${this.label}: ${where} has a config of ${configDescriptor.size} bytes, over the ${MAX_CONFIG_BYTES} allowed`)
    const { entry: configEntry } = await this.verifyBlob(configDescriptor, `${where} config`)
    const config = configSchema.safeParse(this.parseJson(await this.tar.read(configEntry, MAX_CONFIG_BYTES), `${where} config`))
    if (!config.success) throw new UsageError(`${this.label}: ${where} config is not an image config: ${describeZodError(config.error)}`)
    if (config.data.rootfs.diff_ids.length !== layers.length) {
      throw new IntegrityError(`${this.label}: ${where} lists ${layers.length} layers but its config ${config.data.rootfs.diff_ids.length}`)
    }
    let size = entry.size + configEntry.size
    const layerMembers: string[] = []
    for (const [i, layer] of layers.entries()) {
      const { entry: layerEntry } = await this.verifyBlob(layer, `${where} layer ${i}`)
      size += layerEntry.size
      layerMembers.push(layerEntry.path)
    }
    this.images.push({
      platform: platformOf(config.data, declared),
      names: [...new Set(names)],
      manifestDigest: digest.digest,
      configDigest: configDescriptor.digest,
      layers: layers.length,
      layerMembers,
      size,
    })
  }

  /** Docker 25+ writes manifest.json beside index.json; its RepoTags name the images too. */
  private async addDockerRepoTags(): Promise<void> {
    const entry = this.files.get('manifest.json')
    if (!entry) return
    const parsed = dockerSaveManifestSchema.safeParse(this.parseJson(await this.tar.read(entry, MAX_JSON_BYTES), 'manifest.json'))
    if (!parsed.success) return // index.json is authoritative here; a foreign manifest.json is only extra names.
    for (const item of parsed.data) {
      const match = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(normalizeMemberPath(item.Config))
      const image = match ? this.images.find((i) => i.configDigest === `sha256:${match[1]}`) : undefined
      if (image) image.names = [...new Set([...image.names, ...(item.RepoTags ?? [])])]
    }
  }

  async readDockerSave(path: string): Promise<ImageArchiveInfo> {
    const entry = this.files.get('manifest.json')!
    const parsed = dockerSaveManifestSchema.safeParse(this.parseJson(await this.tar.read(entry, MAX_JSON_BYTES), 'manifest.json'))
    if (!parsed.success) throw new UsageError(`${this.label}: manifest.json is not a docker save manifest: ${describeZodError(parsed.error)}`)
    for (const [i, item] of parsed.data.entries()) {
      const where = `manifest.json[${i}]`
      const configPath = normalizeMemberPath(item.Config)
      const configEntry = this.files.get(configPath)
      if (!configEntry) throw new IntegrityError(`${this.label}: ${where} config ${item.Config} is missing`)
      const configBytes = await this.tar.read(configEntry, MAX_CONFIG_BYTES)
      // docker names the config by its sha256 (<hex>.json, or blobs/sha256/<hex> from Docker 25 on): check it.
      const named = /(?:^|\/)([a-f0-9]{64})(?:\.json)?$/.exec(configPath)
      const configHex = await this.hashOf(configEntry)
      if (named && named[1] !== configHex) throw new IntegrityError(`${this.label}: ${where} config ${item.Config} has sha256:${configHex}, not the digest in its name`)
      const config = configSchema.safeParse(this.parseJson(configBytes, `${where} config`))
      if (!config.success) throw new UsageError(`${this.label}: ${where} config is not an image config: ${describeZodError(config.error)}`)
      const diffIds = config.data.rootfs.diff_ids
      if (diffIds.length !== item.Layers.length) {
        throw new IntegrityError(`${this.label}: ${where} has ${item.Layers.length} layers but its config lists ${diffIds.length}`)
      }
      let size = configEntry.size
      const layerMembers: string[] = []
      for (const [j, layerName] of item.Layers.entries()) {
        const layerEntry = this.files.get(normalizeMemberPath(layerName))
        if (!layerEntry) throw new IntegrityError(`${this.label}: ${where} layer ${layerName} is missing`)
        // docker save writes layers uncompressed, so each one's sha256 is its diff_id in the config.
        const expected = parseDigest(diffIds[j]!, `${this.label}: ${where} config diff_ids[${j}]`)
        const hex = await this.hashOf(layerEntry)
        if (hex !== expected.hex) throw new IntegrityError(`${this.label}: ${where} layer ${layerName} has sha256:${hex}, but the config expects ${expected.digest}`)
        size += layerEntry.size
        layerMembers.push(layerEntry.path)
      }
      this.images.push({
        platform: platformOf(config.data),
        names: [...new Set(item.RepoTags ?? [])],
        manifestDigest: undefined,
        configDigest: `sha256:${configHex}`,
        layers: item.Layers.length,
        layerMembers,
        size,
      })
    }
    return this.finish(path, 'docker-save')
  }
}

function namesOf(descriptor: Descriptor): string[] {
  const annotations = descriptor.annotations ?? {}
  return [annotations[ANNOTATIONS.containerdName], annotations[ANNOTATIONS.refName]].filter((n): n is string => typeof n === 'string' && n !== '')
}

/** Member paths in manifest.json are relative; listTar stores them without "./". */
function normalizeMemberPath(path: string): string {
  let p = path
  while (p.startsWith('./')) p = p.slice(2)
  return p
}
