/**
 * Pulls one platform of an image from a registry into an OCI image layout archive (the pause image a
 * bundle carries). Everything is verified before it is kept: the manifest against the digest that names
 * it (the reference's, or the index entry's), every blob against its descriptor's sha256 and size while it
 * streams to disk, and the config's platform against the one asked for. The archive appears at the output
 * path only when complete (temp file, fsync, rename); on any failure nothing is left there.
 */
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { publishFile } from '../archive/publish.js'
import { EdgebundleError, UsageError } from '../model/errors.js'
import { parseImageReference } from '../resolve/validate.js'
import { assertDigest, assertSize, parseDigest, sha256Hex, type Sha256Digest } from './digest.js'
import { IntegrityError, RegistryError } from './errors.js'
import { archiveMtime, layoutIndexJson, writeLayoutTar, type LayoutBlob } from './layout.js'
import { assertConfigPlatform, descriptorPlatform, formatPlatform, selectManifest, validateTargetPlatform, type ImagePlatform, type TargetPlatform } from './platform.js'
import { downloadToFile } from '../io/http-download.js'
import { RegistryClient, asRegistryError, resolveEndpoint, type RegistryClientOptions } from './registry.js'
import {
  ANNOTATIONS,
  INDEX_MEDIA_TYPES,
  MANIFEST_ACCEPT,
  MANIFEST_MEDIA_TYPES,
  MEDIA_TYPES,
  configSchema,
  describeZodError,
  indexSchema,
  manifestSchema,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
} from './types.js'

/** containerd refuses manifests over 4 MiB; so do we (a larger one is an attack or a mistake). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024
/** Image configs are kilobytes; a generous cap still bounds memory, since the config is parsed whole. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024

export type PullProgress =
  | { kind: 'manifest'; digest: string; mediaType: string; platform?: string }
  | { kind: 'blob'; role: 'config' | 'layer'; digest: string; received: number; size: number }
  | { kind: 'blob-done'; role: 'config' | 'layer'; digest: string; size: number }
  | { kind: 'archive'; path: string; size: number; sha256: string }

export interface PullOptions extends RegistryClientOptions {
  /** Where the archive goes. Replaced atomically if it exists; untouched when the pull fails. */
  output: string
  onProgress?: (event: PullProgress) => void
  /** Modification time in the tar; default SOURCE_DATE_EPOCH, else 0. */
  sourceDateEpoch?: number
}

export interface PullResult {
  output: string
  /** Archive size and sha256, for the bundle's manifest.json without re-reading the file. */
  size: number
  sha256: string
  /** The name the node's containerd will give the image (io.containerd.image.name). */
  imageName: string
  platform: ImagePlatform
  /** Set when the reference named an index (multi-platform image): its digest. */
  indexDigest: string | undefined
  manifest: { digest: string; mediaType: string; size: number }
  config: { digest: string; size: number }
  layers: { digest: string; mediaType: string; size: number }[]
}

interface FetchedManifest {
  digest: Sha256Digest
  bytes: Buffer
  mediaType: string
  kind: 'index' | 'manifest'
  document: ImageIndex | ImageManifest
}

export async function pullImage(reference: string, platform: TargetPlatform, options: PullOptions): Promise<PullResult> {
  validateTargetPlatform(platform)
  const ref = parseImageReference('image', reference)
  const endpoint = resolveEndpoint(ref, options.insecureRegistries)
  const client = new RegistryClient(endpoint, options)
  const progress = options.onProgress ?? (() => undefined)
  const mtime = archiveMtime(options.sourceDateEpoch)
  // containerd's ParseDockerRef drops the tag when a digest is present; CRI looks images up by that form.
  const imageName = ref.digest ? `${endpoint.name}@${ref.digest}` : `${endpoint.name}:${ref.tag}`
  const { chosen, indexDigest, entryPlatform } = await fetchPlatformManifest(client, reference, ref, platform, progress)
  const manifest = chosen.document as ImageManifest
  if (manifest.config.mediaType !== MEDIA_TYPES.ociConfig && manifest.config.mediaType !== MEDIA_TYPES.dockerConfig) {
    throw new UsageError(`${reference} is not a container image (its config is ${manifest.config.mediaType})`)
  }

  const output = resolve(options.output)
  await mkdir(dirname(output), { recursive: true })
  // Staging next to the output keeps the final rename on one filesystem, hence atomic.
  const staging = await mkdtemp(join(dirname(output), `.${basename(output)}.partial-`))
  try {
    const blobs = new Map<string, LayoutBlob>()
    const manifestFile = join(staging, chosen.digest.hex)
    await writeNewFile(manifestFile, chosen.bytes)
    blobs.set(chosen.digest.hex, { hex: chosen.digest.hex, file: manifestFile })
    // Config first: it settles the platform before any large layer is downloaded.
    const { imagePlatform } = await downloadConfig(client, reference, manifest, platform, entryPlatform, staging, blobs, progress)
    const layers = await downloadLayers(client, reference, manifest, staging, blobs, progress)

    const annotations: Record<string, string> = { [ANNOTATIONS.containerdName]: imageName }
    if (ref.tag) annotations[ANNOTATIONS.refName] = ref.tag
    const { variant, osVersion } = imagePlatform
    const indexJson = layoutIndexJson([
      {
        mediaType: chosen.mediaType,
        digest: chosen.digest.digest,
        size: chosen.bytes.length,
        platform: {
          architecture: imagePlatform.architecture,
          os: imagePlatform.os,
          ...(variant ? { variant } : {}),
          ...(osVersion ? { 'os.version': osVersion } : {}),
        },
        annotations,
      },
    ])
    const written = await publishLayoutArchive(staging, output, [...blobs.values()], indexJson, mtime)
    progress({ kind: 'archive', path: output, size: written.size, sha256: written.sha256 })
    return {
      output,
      size: written.size,
      sha256: written.sha256,
      imageName,
      platform: imagePlatform,
      indexDigest,
      manifest: { digest: chosen.digest.digest, mediaType: chosen.mediaType, size: chosen.bytes.length },
      config: { digest: manifest.config.digest, size: manifest.config.size },
      layers,
    }
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}

/** The image manifest for `platform`: the reference's own, or the one its index lists for the platform. */
async function fetchPlatformManifest(
  client: RegistryClient,
  reference: string,
  ref: ReturnType<typeof parseImageReference>,
  platform: TargetPlatform,
  progress: (event: PullProgress) => void,
): Promise<{ chosen: FetchedManifest; indexDigest: string | undefined; entryPlatform: ImagePlatform | undefined }> {
  // A digest pins the content, so it wins over a tag that may have moved (as in containerd).
  const pinned = ref.digest === undefined ? undefined : parseDigest(ref.digest, reference)
  const top = await fetchManifest(client, reference, pinned?.digest ?? ref.tag!, pinned ? { digest: pinned } : undefined)
  progress({ kind: 'manifest', digest: top.digest.digest, mediaType: top.mediaType })
  if (top.kind !== 'index') return { chosen: top, indexDigest: undefined, entryPlatform: undefined }
  const entry = selectManifest((top.document as ImageIndex).manifests, platform, reference)
  if (INDEX_MEDIA_TYPES.includes(entry.mediaType)) {
    throw new UsageError(`the image ${reference} nests an index inside its index for ${formatPlatform(platform)}, which edgebundle does not follow`)
  }
  const digest = parseDigest(entry.digest, `${reference} index entry`)
  const chosen = await fetchManifest(client, reference, digest.digest, { digest, size: entry.size })
  if (chosen.kind !== 'manifest') throw new IntegrityError(`${reference}: the index entry for ${formatPlatform(platform)} points at another index`)
  progress({ kind: 'manifest', digest: chosen.digest.digest, mediaType: chosen.mediaType, platform: formatPlatform(platform) })
  return { chosen, indexDigest: top.digest.digest, entryPlatform: descriptorPlatform(entry) }
}

/** Downloads the config into staging and checks it: well-formed, the platform asked for, as many layers as the manifest. */
async function downloadConfig(
  client: RegistryClient,
  reference: string,
  manifest: ImageManifest,
  platform: TargetPlatform,
  entryPlatform: ImagePlatform | undefined,
  staging: string,
  blobs: Map<string, LayoutBlob>,
  progress: (event: PullProgress) => void,
): Promise<{ imagePlatform: ImagePlatform }> {
  const configDigest = parseDigest(manifest.config.digest, `${reference} config`)
  if (manifest.config.size > MAX_CONFIG_BYTES) throw new UsageError(`${reference}: config of ${manifest.config.size} bytes is over the ${MAX_CONFIG_BYTES} allowed`)
  const configFile = await downloadBlob(client, manifest.config, configDigest, staging, 'config', progress)
  blobs.set(configDigest.hex, { hex: configDigest.hex, file: configFile })
  const configParsed = configSchema.safeParse(parseJson(await readFile(configFile), `${reference} config`))
  if (!configParsed.success) throw new RegistryError(`${reference}: the image config is malformed: ${describeZodError(configParsed.error)}`)
  const config = configParsed.data
  // The config is authoritative; the index entry fills in what configs often omit (arm's variant).
  const variant = config.variant ?? entryPlatform?.variant
  const osVersion = config['os.version'] ?? entryPlatform?.osVersion
  const imagePlatform: ImagePlatform = {
    os: config.os,
    architecture: config.architecture,
    ...(variant ? { variant } : {}),
    ...(osVersion ? { osVersion } : {}),
  }
  assertConfigPlatform(imagePlatform, platform, reference)
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new IntegrityError(`${reference}: the manifest lists ${manifest.layers.length} layers but the config ${config.rootfs.diff_ids.length}`)
  }
  return { imagePlatform }
}

/** Downloads each layer not already staged (a layer listed twice is fetched once). */
async function downloadLayers(
  client: RegistryClient,
  reference: string,
  manifest: ImageManifest,
  staging: string,
  blobs: Map<string, LayoutBlob>,
  progress: (event: PullProgress) => void,
): Promise<PullResult['layers']> {
  const layers: PullResult['layers'] = []
  for (const layer of manifest.layers) {
    const digest = parseDigest(layer.digest, `${reference} layer`)
    if (!blobs.has(digest.hex)) {
      const file = await downloadBlob(client, layer, digest, staging, 'layer', progress)
      blobs.set(digest.hex, { hex: digest.hex, file })
    }
    layers.push({ digest: layer.digest, mediaType: layer.mediaType, size: layer.size })
  }
  return layers
}

/** Writes the OCI layout tar in staging, then renames it to `output` once it is on disk (fsync of file and folder). */
async function publishLayoutArchive(staging: string, output: string, blobs: LayoutBlob[], indexJson: Buffer, mtime: number): Promise<{ size: number; sha256: string }> {
  const partial = join(staging, 'archive.tar')
  const stream = createWriteStream(partial, { flags: 'wx', mode: 0o644 })
  const closed = new Promise<void>((done, fail) => {
    stream.once('close', done)
    stream.once('error', fail)
  })
  let written: { size: number; sha256: string }
  try {
    written = await writeLayoutTar(stream, blobs, indexJson, mtime)
  } catch (error) {
    stream.destroy()
    await closed.catch(() => undefined)
    throw error
  }
  stream.end()
  await closed
  await publishFile(partial, output)
  return written
}

/**
 * GETs a manifest or index, verifies it against `expect` (a digest from the reference or an index entry),
 * and against the registry's own Docker-Content-Digest header when it sends one.
 */
async function fetchManifest(
  client: RegistryClient,
  reference: string,
  tagOrDigest: string,
  expect: { digest: Sha256Digest; size?: number } | undefined,
): Promise<FetchedManifest> {
  const notFound = (detail: string) =>
    new UsageError(`the image ${reference} was not found at ${client.endpoint.host}${detail}`, {
      hint: 'Check the repository and tag; edgebundle does not guess a default tag.',
    })
  const { bytes, headers } = await client.getBytes(`manifests/${tagOrDigest}`, MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, notFound)
  const hex = sha256Hex(bytes)
  const what = `manifest ${tagOrDigest} of ${reference}`
  if (expect) {
    if (expect.size !== undefined) assertSize(expect.size, bytes.length, what)
    assertDigest(expect.digest, hex, what)
  }
  const claimed = headers['docker-content-digest']
  if (claimed && /^sha256:[a-f0-9]{64}$/.test(claimed) && claimed !== `sha256:${hex}`) {
    throw new IntegrityError(`${what}: the registry says ${claimed} but the bytes hash to sha256:${hex}`)
  }
  const json = parseJson(bytes, what) as { schemaVersion?: unknown; mediaType?: unknown; manifests?: unknown; layers?: unknown }
  const headerType = (headers['content-type'] ?? '').split(';')[0]!.trim()
  const mediaType = typeof json.mediaType === 'string' ? json.mediaType : headerType
  if (json.schemaVersion === 1 || mediaType === MEDIA_TYPES.dockerSchema1 || mediaType === MEDIA_TYPES.dockerSchema1Signed) {
    throw new UsageError(`the image ${reference} uses Docker's schema 1 manifest format, which cannot be verified by digest`, {
      hint: 'Use an image pushed with a current Docker or buildkit (schema 2 or OCI).',
    })
  }
  const isIndex = INDEX_MEDIA_TYPES.includes(mediaType) || (!MANIFEST_MEDIA_TYPES.includes(mediaType) && Array.isArray(json.manifests))
  const isManifest = MANIFEST_MEDIA_TYPES.includes(mediaType) || (!INDEX_MEDIA_TYPES.includes(mediaType) && Array.isArray(json.layers))
  const digest = { digest: `sha256:${hex}`, hex }
  if (isIndex) {
    const parsed = indexSchema.safeParse(json)
    if (!parsed.success) throw new RegistryError(`${what} is a malformed image index: ${describeZodError(parsed.error)}`)
    return { digest, bytes, mediaType: INDEX_MEDIA_TYPES.includes(mediaType) ? mediaType : MEDIA_TYPES.ociIndex, kind: 'index', document: parsed.data }
  }
  if (isManifest) {
    const parsed = manifestSchema.safeParse(json)
    if (!parsed.success) throw new RegistryError(`${what} is a malformed image manifest: ${describeZodError(parsed.error)}`)
    return { digest, bytes, mediaType: MANIFEST_MEDIA_TYPES.includes(mediaType) ? mediaType : MEDIA_TYPES.ociManifest, kind: 'manifest', document: parsed.data }
  }
  throw new UsageError(`${reference} is not a container image (manifest media type ${JSON.stringify(mediaType)})`)
}

/**
 * Streams one blob to `<dir>/<hex>` through the builder's one download routine: hashed as it goes,
 * stopped the moment it exceeds the declared size, resumed with a Range request after a cut (a registry
 * that ignores Range sends it whole again), verified before it returns. A bad blob's file is removed.
 */
async function downloadBlob(
  client: RegistryClient,
  descriptor: Descriptor,
  digest: Sha256Digest,
  dir: string,
  role: 'config' | 'layer',
  progress: (event: PullProgress) => void,
): Promise<string> {
  const file = join(dir, digest.hex)
  const what = `${role} blob ${digest.digest}`
  const path = `blobs/${digest.digest}`
  try {
    await downloadToFile({
      url: client.apiUrl(path),
      open: async (headers) => {
        const response = await client.open(path, '*/*', headers)
        // 206 and 416 answer the resume; the rest of the statuses are the registry's to explain.
        if (response.status === 200 || response.status === 206 || response.status === 416) return response
        throw await client.failure(path, response, (detail) => new RegistryError(`${what} is missing from the registry${detail}`, { status: 404 }))
      },
      label: what,
      partPath: file,
      expectedSize: descriptor.size,
      sizeMismatch: (announced) => new IntegrityError(`${what}: the registry sends ${announced} bytes but the manifest says ${descriptor.size}`),
      verifier: () => {
        const hash = createHash('sha256')
        let received = 0
        return {
          update(chunk) {
            received += chunk.length
            if (received > descriptor.size) throw new IntegrityError(`${what}: more than the ${descriptor.size} bytes the manifest declares`)
            hash.update(chunk)
          },
          mismatch() {
            const hex = hash.copy().digest('hex')
            return hex === digest.hex ? null : `sha256:${hex}`
          },
        }
      },
      mismatch: (actual) =>
        new IntegrityError(`${what}: sha256 mismatch: expected ${digest.digest}, got ${actual}`, {
          hint: 'The bytes were altered in transit or storage. Nothing was written; retry, and if it persists, distrust the source.',
        }),
      retry: client.retry,
      hooks: { progress: (received) => progress({ kind: 'blob', role, digest: digest.digest, received, size: descriptor.size }) },
      signal: client.signal,
    })
  } catch (error) {
    await rm(file, { force: true })
    throw wrapNetworkError(asRegistryError(error), what)
  }
  progress({ kind: 'blob-done', role, digest: digest.digest, size: descriptor.size })
  return file
}

function wrapNetworkError(error: unknown, what: string): unknown {
  if (error instanceof EdgebundleError) return error
  if (error instanceof Error && error.name === 'AbortError') return error
  const reason = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error)
  return new RegistryError(`${what}: download failed: ${reason}`, { cause: error })
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new RegistryError(`${what} is not valid JSON`)
  }
}

async function writeNewFile(path: string, data: Buffer): Promise<void> {
  const handle = await open(path, 'wx', 0o600)
  try {
    await handle.writeFile(data)
  } finally {
    await handle.close()
  }
}


