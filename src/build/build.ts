/**
 * edgebundle build: one target → one bundle archive. A short ordered pipeline over a shared context; each
 * step names itself for progress and errors. I/O lives here and in the modules it calls; what the bundle
 * says (plan, configs, scripts, README, SBOM, manifest) comes from the pure core.
 */
import type { DownloadHooks } from '../io/http-download.js'
import { createHash } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Catalog } from '../catalog/schema.js'
import { fetchArtifacts, type FetchedArtifact } from '../fetch/fetch.js'
import type { Http } from '../fetch/http.js'
import type { ArtifactSettings } from '../fetch/settings.js'
import { hashFile } from '../fetch/cache.js'
import { type CarriedImage, imageRequests, prepareImages, targetPlatform } from '../fetch/images.js'
import type { FetchReporter } from '../fetch/fetch.js'
import { BUNDLE } from '../model/layout.js'
import { sha256And512OfFile } from '../io/file-chunks.js'
import { publishedChecksumFile } from '../plan/build-plan.js'
import { type BundleManifest, MANIFEST_SCHEMA_VERSION, type ManifestFile } from '../model/manifest.js'
import { GzipMemberCache, type PackEntry, type PackResult, writeBundleArchive } from '../pack/index.js'
import { type RenderedBundle, renderResolved } from '../render/bundle.js'
import { renderFleetFiles } from '../render/fleet.js'
import type { TemplateSource } from '../model/templates.js'
import type { ValidRequest } from '../resolve/request.js'
import { type Resolved, resolveTarget } from '../resolve/resolve.js'
import { buildInstallerExecutable, type BuiltExecutable } from '../sea/build-exe.js'
import type { ExePlatform } from '../sea/runtimes.js'
import { formatSha256Sums } from '../archive/sha256sums.js'
import { publicKeyPemOf, signChecksums } from '../sign/index.js'
import { formatArchiveIndex } from '../installer/archive/index.js'
import { tracked } from '../io/finish.js'
import { buildArchiveIndex } from './archive-index.js'
import { type ImageFile, imageFile } from './image-file.js'
import { renderBundleReadme } from './readme.js'
import { type SbomComponent, renderSbom } from './sbom.js'

/** Where the installation-package image holds keadm (build/docker/installation-package/installation-package.dockerfile, v1.12.0 … v1.23.1). */
export const KEADM_IN_IMAGE = '/usr/local/bin/keadm'

/** The default timestamp of every archive entry when SOURCE_DATE_EPOCH is unset: 2020-01-01T00:00:00Z. */
export const DEFAULT_SOURCE_DATE_EPOCH = 1577836800

export interface BuildSettings extends ArtifactSettings {
  /** --packages-dir, whose file names validateRequest has already checked. */
  packagesDir: string | undefined
  /** Private key (PEM) to sign SHA256SUMS with. */
  signingKeyPem: string | undefined
  sourceDateEpoch: number
  nodeBinaries: Partial<Record<ExePlatform, string>>
  npmRegistry: string | undefined
}

export interface BuildIo {
  templates: TemplateSource
  http?: Http | undefined
  reporter?: FetchReporter | undefined
  /** Progress of other downloads (Node packages): the reporter's bars. */
  transfer?: ((label: string, source: string) => DownloadHooks) | undefined
  note: (message: string) => void
  edgebundleVersion: string
  env?: NodeJS.ProcessEnv
}

export interface BuildResult {
  name: string
  archive: string
  sha256: string
  size: number
  files: number
  timings: Record<string, number>
  executable: { cached: boolean; size: number }
  /** How the .tar.gz's gzip members were made (copied from the member cache or compressed); null for a zip. */
  gzip: PackResult['gzip'] | null
}

/** A file of the bundle: content we made, or a file on disk (cache, --artifacts-dir, --packages-dir). */
interface StagedFile {
  path: string
  mode: '0644' | '0755'
  sha256: string
  size: number
  source: { content: Buffer } | { file: string }
}

function staged(path: string, content: string | Buffer, mode: StagedFile['mode'] = '0644'): StagedFile {
  const bytes = typeof content === 'string' ? Buffer.from(content) : content
  return { path, mode, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, source: { content: bytes } }
}

export function exePlatformOf(request: ValidRequest, family: 'linux' | 'windows'): ExePlatform {
  return `${family}/${request.target.arch}` as ExePlatform
}

/**
 * Installer executables found in this process. Finding one in the cache means bundling the installer
 * script to learn its key (esbuild, some hundred ms): the same answer for every target of a matrix on
 * one platform, so it is asked once per process. A process builds from one source tree, so the answer
 * stands; one whose file has gone from the cache since (pruned) is asked for again.
 */
const executables = new Map<string, Promise<BuiltExecutable>>()

async function installerExecutable(platform: ExePlatform, options: Parameters<typeof buildInstallerExecutable>[1]): Promise<BuiltExecutable> {
  const key = JSON.stringify([platform, options.cacheDir, options.offline ?? false, options.nodeBinaries?.[platform] ?? null, options.npmRegistry ?? null])
  const known = executables.get(key)
  if (known !== undefined) {
    const found = await known.catch(() => null)
    if (found !== null && (await stat(found.path).then((s) => s.size === found.size, () => false))) return { ...found, cached: true }
    executables.delete(key)
  }
  const pending = buildInstallerExecutable(platform, options)
  executables.set(key, pending)
  // A failure is not remembered: the next build asks again.
  pending.catch(() => {
    if (executables.get(key) === pending) executables.delete(key)
  })
  return pending
}

function byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0
}

type Timed = <T>(name: string, work: () => Promise<T> | T) => Promise<T>

/** Runs each named stage under `tracked` (progress, errors name it) and records its wall time in `timings`. */
function stageTimer(target: string, timings: Record<string, number>): Timed {
  return async (name, work) => {
    const start = performance.now()
    try {
      return await tracked(`${target}: ${name}`, work)
    } finally {
      timings[name] = Math.round(performance.now() - start)
    }
  }
}

/** The images the bundle carries, and keadm taken out of the installation-package image among them. */
interface Carried {
  images: CarriedImage[]
  installationPackage: CarriedImage | undefined
  keadm: (ImageFile & { file: string }) | null
}

const imageFileOf = (image: CarriedImage) => `${BUNDLE.imagesDir}/${image.fileName}`

export async function buildBundle(catalog: Catalog, request: ValidRequest, settings: BuildSettings, outDir: string, io: BuildIo): Promise<BuildResult> {
  const timings: Record<string, number> = {}
  const timed = stageTimer(`${request.target.os}/${request.target.arch}/${request.target.runtime}`, timings)
  const family = catalog.platforms.oses[request.target.os].family

  const resolved = resolveTarget(catalog, request)

  // 1. The images first (the pause image, those keadm join asks for): the plan must know which the bundle carries.
  const carried = await carryImages(resolved, request, family, settings, io, timed)

  // 2. Plan and rendered files (pure).
  const rendered: RenderedBundle = renderResolved(resolved, io.templates, {
    images: carried.images.map((image) => ({ file: imageFileOf(image), image: image.imageName })),
    ...(carried.keadm ? { keadm: { file: carried.keadm.file } } : {}),
  })
  const { plan } = rendered

  // 3. Upstream artifacts, verified, from the cache or the network.
  const artifacts: FetchedArtifact[] = await timed('artifacts', () => (resolved.components.length === 0 ? [] : fetchArtifacts(resolved.components, fetchOptions(settings, io))))

  // 4. The installer executable for the target platform (cached per platform and installer).
  const executable: BuiltExecutable = await timed('executable', () => installerExecutable(exePlatformOf(request, family), executableOptions(settings, io)))

  // 5. Stage every file.
  const files: StagedFile[] = await timed('stage', () => stageFiles(rendered, family, executable, artifacts, carried, settings))

  // 5b. What each archive holds (archives.json), so verify and dry runs on the node need not decompress them.
  const index = await timed('archive index', () =>
    buildArchiveIndex(
      plan,
      files.flatMap((f) => ('file' in f.source ? [{ path: f.path, file: f.source.file, sha256: f.sha256 }] : [])),
      settings.cacheDir,
      io.note,
    ),
  )
  const indexed = Object.keys(index.archives).length > 0
  if (indexed) files.push(staged(BUNDLE.archiveIndex, formatArchiveIndex(index)))

  // 5c. What the bundle says about itself, then SHA256SUMS over everything and its signature.
  addBundleDocuments(files, { catalog, request, plan, family, artifacts, executable, carried, indexed, settings, io })

  // 6. One archive, written atomically.
  const { archive, packed } = await timed('pack', () => packBundle(files, plan.name, family, outDir, settings, io.note))
  return { name: plan.name, archive, sha256: packed.sha256, size: packed.size, files: files.length, timings, executable: { cached: executable.cached, size: executable.size }, gzip: packed.gzip ?? null }
}

async function carryImages(resolved: Resolved, request: ValidRequest, family: 'linux' | 'windows', settings: BuildSettings, io: BuildIo, timed: Timed): Promise<Carried> {
  const kubeedgeImages = resolved.kubeedge.joinImages
  const images: CarriedImage[] = await timed('images', async () =>
    prepareImages(await imageRequests({ pauseImage: request.options.pauseImage, kubeedgeImages, family, arch: request.target.arch }, settings, io.http)),
  )
  // keadm from the installation-package image the bundle carries (/usr/local/bin/keadm): its bytes follow the image digest.
  const installationPackage = images.find((image) => image.role === 'kubeedge' && /(^|\/)installation-package:/.test(image.reference))
  const keadm = installationPackage
    ? await timed('keadm', async () => ({
        ...(await imageFile(installationPackage.path, installationPackage.sha256, targetPlatform(family, request.target.arch), KEADM_IN_IMAGE, settings.cacheDir, installationPackage.reference)),
        file: `${BUNDLE.artifactsDir}/keadm-${installationPackage.reference.split(':').at(-1)}-${family}-${request.target.arch}`,
      }))
    : null
  return { images, installationPackage, keadm }
}

function fetchOptions(settings: BuildSettings, io: BuildIo): Parameters<typeof fetchArtifacts>[1] {
  return {
    cacheDir: settings.cacheDir,
    http: io.http,
    artifactsDirs: settings.artifactsDirs,
    mirrors: settings.mirrors,
    upstream: settings.upstream,
    offline: settings.offline,
    checksums: settings.checksums,
    concurrency: settings.concurrency,
    ...(io.reporter ? { reporter: io.reporter } : {}),
  }
}

function executableOptions(settings: BuildSettings, io: BuildIo): Parameters<typeof buildInstallerExecutable>[1] {
  return {
    cacheDir: settings.cacheDir,
    ...(io.http ? { http: io.http } : {}),
    offline: settings.offline,
    nodeBinaries: settings.nodeBinaries,
    ...(settings.npmRegistry ? { npmRegistry: settings.npmRegistry } : {}),
    ...(io.env ? { env: io.env } : {}),
    ...(io.transfer ? { transfer: io.transfer } : {}),
    note: io.note,
  }
}

/** The rendered files, the installer, the artifacts with upstream's checksum files, the images, keadm and --packages-dir. */
async function stageFiles(
  rendered: RenderedBundle,
  family: 'linux' | 'windows',
  executable: BuiltExecutable,
  artifacts: FetchedArtifact[],
  { images, keadm }: Carried,
  settings: BuildSettings,
): Promise<StagedFile[]> {
  const list: StagedFile[] = rendered.files.map((f) => staged(f.path, f.content, f.mode === '0755' ? '0755' : '0644'))
  list.push({ path: BUNDLE.installExe[family], mode: '0755', sha256: executable.sha256, size: executable.size, source: { file: executable.path } })
  for (const artifact of artifacts) {
    // The digest is fetch's (a cache blob is verified before it is stored, and read-only): only the size is read here.
    const { size } = await stat(artifact.path)
    const mode = artifact.component.format === 'binary' ? '0755' : '0644'
    list.push({ path: `${BUNDLE.artifactsDir}/${artifact.component.fileName}`, mode, sha256: artifact.sha256, size, source: { file: artifact.path } })
  }
  for (const artifact of artifacts) {
    const checksum = publishedChecksumFile(artifact.component)
    if (checksum === null) continue
    // Verified against upstream's SHA-512, or a pinned (or --checksum) SHA-256: either way these are the
    // published bytes, so their SHA-512 is what upstream's checksum file holds.
    const sha512 = artifact.sha512 ?? (await sha256And512OfFile(artifact.path)).sha512
    // Byte for byte what upstream publishes: the digest and a newline (hack/make-rules/release.sh, kubeedge v1.23.1).
    list.push(staged(checksum.file, `${sha512}\n`))
  }
  for (const image of images) list.push({ path: imageFileOf(image), mode: '0644', sha256: image.sha256, size: image.size, source: { file: image.path } })
  if (keadm) list.push({ path: keadm.file, mode: '0755', sha256: keadm.sha256, size: keadm.size, source: { file: keadm.path } })
  if (settings.packagesDir) {
    for (const name of readdirSync(settings.packagesDir).sort()) {
      const path = join(settings.packagesDir, name)
      const { sha256, size } = await hashFile(path)
      list.push({ path: `${BUNDLE.packagesDir}/${name}`, mode: '0644', sha256, size, source: { file: path } })
    }
  }
  return list
}

/** Every component the bundle carries, for the SBOM (the manifest lists the same, less the installer). */
function sbomComponentsOf(plan: RenderedBundle['plan'], family: 'linux' | 'windows', artifacts: FetchedArtifact[], executable: BuiltExecutable, { images, installationPackage, keadm }: Carried, edgebundleVersion: string): SbomComponent[] {
  const components: SbomComponent[] = [
    ...artifacts.map((a): SbomComponent => ({
      type: 'file',
      id: a.component.id,
      name: a.component.id,
      version: a.component.version,
      sha256: a.sha256,
      file: `${BUNDLE.artifactsDir}/${a.component.fileName}`,
      url: a.component.url,
      license: a.component.license,
      description: a.component.description,
      homepage: a.component.homepage,
    })),
    {
      type: 'application',
      id: 'installer',
      name: `edgebundle installer (Node.js ${executable.nodeVersion})`,
      version: edgebundleVersion,
      sha256: executable.sha256,
      file: BUNDLE.installExe[family],
      license: 'Apache-2.0',
    },
  ]
  for (const image of images) {
    const id = image.role === 'pause' ? 'pause-image' : image.reference.split(/[:@]/)[0]!.split('/').at(-1)!
    components.push({ type: 'container', id, name: image.imageName, version: image.reference.split(/[:@]/).at(-1)!, sha256: image.sha256, file: imageFileOf(image) })
  }
  if (keadm && installationPackage) {
    components.push({
      type: 'file',
      id: 'keadm',
      name: 'keadm',
      version: plan.kubeedge.release,
      sha256: keadm.sha256,
      file: keadm.file,
      url: `docker://${installationPackage.imageName}#${KEADM_IN_IMAGE}`,
      license: 'Apache-2.0',
      description: `keadm from ${installationPackage.imageName} (${KEADM_IN_IMAGE})`,
      homepage: 'https://kubeedge.io',
    })
  }
  return components
}

interface DocumentsInput {
  catalog: Catalog
  request: ValidRequest
  plan: RenderedBundle['plan']
  family: 'linux' | 'windows'
  artifacts: FetchedArtifact[]
  executable: BuiltExecutable
  carried: Carried
  /** The bundle carries archives.json. */
  indexed: boolean
  settings: BuildSettings
  io: BuildIo
}

/** Adds README, the fleet playbooks (Linux), the signer's key, SBOM and manifest, then SHA256SUMS over them all and its signature. */
function addBundleDocuments(files: StagedFile[], input: DocumentsInput): void {
  const { catalog, request, plan, family, carried, settings, io } = input
  const sbomComponents = sbomComponentsOf(plan, family, input.artifacts, input.executable, carried, io.edgebundleVersion)
  const manifestComponents = sbomComponents
    .filter((c) => c.type !== 'application')
    .map((c) => ({ id: c.id, version: c.version, url: c.url ?? (c.type === 'container' ? `docker://${c.name}` : ''), sha256: c.sha256, file: c.file }))
  const readme = renderBundleReadme(
    {
      plan,
      osName: catalog.platforms.oses[request.target.os].displayName,
      edgebundleVersion: io.edgebundleVersion,
      components: manifestComponents,
      imageCarried: carried.images.some((image) => image.role === 'pause'),
      kubeedgeImages: carried.images.filter((image) => image.role === 'kubeedge').map((image) => image.imageName),
      keadm: carried.keadm?.file ?? null,
      signed: settings.signingKeyPem !== undefined,
      archiveIndex: input.indexed,
    },
    io.templates,
  )
  files.push(staged(BUNDLE.readme, readme))
  // Linux bundles carry the Ansible playbooks for a fleet (Windows nodes are not driven over SSH here).
  if (family === 'linux') files.push(...renderFleetFiles({ name: plan.name }, io.templates).map((f) => staged(f.path, f.content)))
  if (settings.signingKeyPem !== undefined) files.push(staged(BUNDLE.signerKey, publicKeyPemOf(settings.signingKeyPem)))
  files.push(staged(BUNDLE.sbom, renderSbom({ bundle: plan.name, edgebundleVersion: io.edgebundleVersion, components: sbomComponents })))
  files.sort(byPath)

  const manifest: BundleManifest = {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    name: plan.name,
    target: plan.target,
    options: plan.options,
    components: manifestComponents,
    files: files.map((f): ManifestFile => ({ path: f.path, size: f.size, mode: f.mode, sha256: f.sha256 })),
    edgebundleVersion: io.edgebundleVersion,
    sourceDateEpoch: settings.sourceDateEpoch,
  }
  files.push(staged(BUNDLE.manifest, `${JSON.stringify(manifest, null, 2)}\n`))
  const checksums = formatSha256Sums(files)
  files.push(staged(BUNDLE.checksums, checksums))
  if (settings.signingKeyPem !== undefined) files.push(staged(BUNDLE.signature, signChecksums(Buffer.from(checksums), settings.signingKeyPem)))
}

/** The bundle as one archive under outDir (zip for Windows, tar.gz else), entries sorted, written atomically. */
async function packBundle(files: StagedFile[], name: string, family: 'linux' | 'windows', outDir: string, settings: BuildSettings, note: (message: string) => void) {
  const format = family === 'windows' ? 'zip' : 'tar.gz'
  const archive = join(outDir, `${name}.${format}`)
  const entries: PackEntry[] = files.sort(byPath).map((f) => ({
    path: `${name}/${f.path}`,
    mode: f.mode === '0755' ? 0o755 : 0o644,
    source: 'file' in f.source ? { file: f.source.file } : { content: f.source.content },
    // Known digests let the packer copy cached gzip members of large files instead of compressing them
    // (it checks any file it does read against the digest, so SHA256SUMS and the archive agree).
    sha256: f.sha256,
  }))
  const cache = new GzipMemberCache(settings.cacheDir, {
    onWait: (pid) => note(`another build (process ${pid}) is compressing a file of this bundle into ${settings.cacheDir}: waiting to copy it rather than compress it twice`),
  })
  const packed = await writeBundleArchive(entries, archive, { format, mtime: new Date(settings.sourceDateEpoch * 1000), gzip: { cache } })
  return { archive, packed }
}
