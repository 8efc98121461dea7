/**
 * edgebundle fetch: warms the artifact cache for a target (so a later build works offline), or with
 * --print-urls lists what to download by hand, without downloading.
 */
import type { Catalog } from '../../catalog/schema.js'
import { validateRequest } from '../../resolve/request.js'
import { resolveTarget } from '../../resolve/resolve.js'
import { fetchArtifacts, type FetchedArtifact } from '../../fetch/fetch.js'
import { createHttpClient, type Http, type HttpClient, offlineHttp } from '../../fetch/http.js'
import { type DownloadEntry, listDownloads } from '../../fetch/list.js'
import { createProgressReporter, type ProgressStream } from '../../fetch/progress.js'
import { checkChecksumOverrides, artifactRelativePath } from '../../fetch/sources.js'
import { type CarriedImage, imageRequests, normalizedImageName, prepareImages, targetPlatform } from '../../fetch/images.js'
import { type ArtifactFlags, type TargetFlags, artifactSettingsFromFlags, requestFromFlags } from '../target-options.js'
import { VERSION } from '../version.js'

export interface FetchCommandIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** The terminal for progress bars (process.stderr); none: no bars. */
  progressStream?: ProgressStream | undefined
  /** The network for artifacts and --pull-pause; default the client honoring HTTP(S)_PROXY and NO_PROXY. Tests inject one. */
  http?: Http | undefined
  env?: NodeJS.ProcessEnv | undefined
}

export type FetchFlags = TargetFlags & ArtifactFlags & { printUrls?: boolean; json?: boolean; verbose?: boolean }

/** The --print-urls checksum column: the SHA-256, or where it will come from. */
function checksumColumn(entry: DownloadEntry): string {
  if (entry.sha256 !== null) return entry.sha256
  if (entry.checksum.kind === 'checksum-file') return `checksum from ${entry.checksum.url}`
  return `checksum unknown: give --checksum ${entry.id}=<sha256>`
}

/** One line per file, tab-separated: URL, file name, SHA-256 (or its source), path in an --artifacts-dir or mirror. */
export function formatDownloadList(entries: DownloadEntry[]): string {
  return entries.map((e) => [e.url, e.fileName, checksumColumn(e), e.path].join('\t')).join('\n')
}

function formatImage(image: CarriedImage): string {
  const from = image.source === 'archive' ? 'from the given archive' : image.source === 'cache' ? 'cached' : 'pulled'
  return `${image.role === 'pause' ? 'pause image' : 'KubeEdge image'} ${image.imageName} (${image.platform}) ${from}: ${image.path} ${image.sha256}\n`
}

function formatFetched(name: string, cacheDir: string, artifacts: FetchedArtifact[]): string {
  const counts = new Map<string, number>()
  for (const a of artifacts) counts.set(a.source, (counts.get(a.source) ?? 0) + 1)
  const width = Math.max(...artifacts.map((a) => a.component.fileName.length))
  const lines = artifacts.map((a) => `  ${a.component.fileName.padEnd(width)}  ${a.source.padEnd(8)}  ${a.sha256}`)
  const summary = [...counts].map(([source, count]) => `${count} ${source === 'cache' ? 'cached' : `from ${source}`}`).join(', ')
  return `${name}: ${artifacts.length} artifact${artifacts.length === 1 ? '' : 's'} ready in ${cacheDir} (${summary})\n${lines.join('\n')}\n`
}

export async function fetchCommand(catalog: Catalog, flags: FetchFlags, io: FetchCommandIo): Promise<void> {
  const resolved = resolveTarget(catalog, validateRequest(catalog, requestFromFlags(flags)))
  const settings = artifactSettingsFromFlags(flags, io.env ?? process.env)
  checkChecksumOverrides(settings.checksums, resolved.components)
  for (const warning of resolved.warnings) io.stderr(`warning: ${warning}\n`)

  if (flags.printUrls) {
    const entries = await listDownloads(resolved.components, { cacheDir: settings.cacheDir, checksums: settings.checksums })
    const platform = targetPlatform(resolved.family, resolved.target.arch)
    const platformName = `${platform.os}/${platform.arch}${platform.variant ? `/${platform.variant}` : ''}`
    const image = settings.pullPause ? { reference: normalizedImageName(resolved.options.pauseImage), platform: platformName } : null
    // Windows joins pull no image (join_windows.go): nothing to list.
    const kubeedgeImages = settings.pullKubeedgeImages && resolved.family !== 'windows' ? resolved.kubeedge.joinImages.map((reference) => ({ reference: normalizedImageName(reference, '--image-repository'), platform: platformName })) : []
    if (flags.json) {
      const extra = { ...(image ? { pauseImage: image } : {}), ...(kubeedgeImages.length > 0 ? { kubeedgeImages } : {}) }
      io.stdout(`${JSON.stringify(Object.keys(extra).length > 0 ? { artifacts: entries, ...extra } : entries, null, 2)}\n`)
    } else {
      if (entries.length > 0) io.stdout(`${formatDownloadList(entries)}\n`)
      if (image) io.stdout(`docker://${image.reference}\t(pause image)\tpulled for ${image.platform}\t--pause-image-archive FILE\n`)
      for (const k of kubeedgeImages) io.stdout(`docker://${k.reference}\t(KubeEdge image)\tpulled for ${k.platform}\t--image-archive FILE\n`)
    }
    return
  }

  // One client for the pause image and the artifacts: the same proxy settings, timeouts and retries.
  let client: HttpClient | undefined
  let http: Http
  if (settings.offline) http = offlineHttp()
  else if (io.http) http = io.http
  else http = client = createHttpClient({ env: io.env ?? process.env, userAgent: `edgebundle/${VERSION}` })
  const reporter = createProgressReporter({ stream: io.progressStream, verbose: flags.verbose ?? false, log: io.stderr })
  let artifacts: FetchedArtifact[]
  try {
    const images = await prepareImages(
      await imageRequests(
        { pauseImage: resolved.options.pauseImage, kubeedgeImages: resolved.kubeedge.joinImages, family: resolved.family, arch: resolved.target.arch },
        settings,
        http,
      ),
    )
    if (!flags.json) for (const image of images) io.stdout(formatImage(image))

    if (resolved.components.length === 0) {
      if (flags.json) io.stdout('[]\n')
      else io.stdout(`${resolved.name}: nothing to download (${resolved.runtime.displayName} comes from ${resolved.runtime.source})\n`)
      return
    }
    artifacts = await fetchArtifacts(resolved.components, { ...settings, http, reporter })
  } finally {
    reporter.close()
    await client?.close()
  }
  if (flags.json) {
    const out = artifacts.map((a) => ({
      id: a.component.id,
      version: a.component.version,
      platform: a.component.platform,
      fileName: a.component.fileName,
      url: a.component.url,
      sha256: a.sha256,
      source: a.source,
      path: a.path,
      layoutPath: artifactRelativePath(a.component),
    }))
    io.stdout(`${JSON.stringify(out, null, 2)}\n`)
  } else {
    io.stdout(formatFetched(resolved.name, settings.cacheDir, artifacts))
  }
}
