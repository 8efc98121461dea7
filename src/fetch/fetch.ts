/**
 * fetchArtifacts: makes sure every artifact of a resolved target is in the content-addressed cache,
 * verified, and says where each came from. Resolution order (docs/architecture.md "Artifacts and caches"):
 *
 *   explicit local files (--artifacts-dir) → cache → mirrors (--mirror) → upstream
 *
 * Local files come first so that what the user hands over is always checked (a wrong file is an error,
 * not silently shadowed by the cache). The network is the Http the caller injects; with --offline it
 * is replaced by one that refuses, and a run that lacks files reports every one of them at once.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { EXIT, EdgebundleError } from '../model/errors.js'
import type { ResolvedComponent } from '../resolve/resolve.js'
import { sha256And512OfFile } from '../io/file-chunks.js'
import { ArtifactCache, hashFile } from './cache.js'
import { checksumLabel, parseChecksumFile } from './checksum-file.js'
import { DEFAULT_RETRY, type DownloadHooks, type RetryPolicy, SourceUnavailableError, downloadText, downloadVerified } from './download.js'
import {
  ChecksumFileError,
  ChecksumMismatchError,
  ChecksumRequiredError,
  DownloadError,
  FetchFailedError,
  type MissingArtifact,
  MissingArtifactsError,
  type SourceFailure,
} from './errors.js'
import { type Http, offlineHttp } from './http.js'
import { checkChecksumOverrides, checksumFileName, localCandidates, mirrorUrl } from './sources.js'

export type ArtifactSource = 'local' | 'cache' | 'mirror' | 'upstream'

export interface FetchedArtifact {
  component: ResolvedComponent
  /** The verified file in the cache (read-only; copy it, do not move it). */
  path: string
  sha256: string
  /** The SHA-512 upstream publishes, when that is its algorithm (KubeEdge): the bytes hash to it. */
  sha512?: string
  source: ArtifactSource
}

/** Events for progress display. Every member is optional; none may throw. */
export interface FetchReporter {
  started?(event: { component: ResolvedComponent; source: 'mirror' | 'upstream'; url: string; totalBytes: number | null; resumedFrom: number }): void
  progress?(component: ResolvedComponent, bytes: number): void
  retrying?(event: { component: ResolvedComponent; url: string; attempt: number; delayMs: number; reason: string }): void
  note?(message: string): void
  finished?(artifact: FetchedArtifact): void
  failed?(component: ResolvedComponent, error: Error): void
}

export interface FetchOptions {
  /** The cache root (see resolveCacheDir). */
  cacheDir: string
  /** The network. Required unless offline; ignored when offline. */
  http?: Http
  /** --artifacts-dir, in order. */
  artifactsDirs?: string[]
  /** --mirror roots, in order (validated URLs: see parseMirrors). */
  mirrors?: string[]
  /** Whether the upstream URL is the last resort (default true; false: mirrors only). */
  upstream?: boolean
  /** Never open a connection. */
  offline?: boolean
  /** --checksum: component id → SHA-256, for files nothing pins. */
  checksums?: Record<string, string>
  /** Downloads at once (default 4). */
  concurrency?: number
  retry?: RetryPolicy
  reporter?: FetchReporter
  /**
   * Re-hash cache hits. Off by default: blobs are verified before they enter the cache, are read-only,
   * and the bundle's staging hashes every file again for SHA256SUMS anyway.
   */
  verifyCached?: boolean
  signal?: AbortSignal
}

/** Largest checksum file read (they are one line; the cap keeps a wrong URL from filling memory). */
const CHECKSUM_FILE_MAX_BYTES = 64 * 1024

interface Context {
  cache: ArtifactCache
  http: Http
  offline: boolean
  artifactsDirs: string[]
  mirrors: string[]
  upstream: boolean
  checksums: Record<string, string>
  retry: RetryPolicy
  reporter: FetchReporter
  verifyCached: boolean
  signal: AbortSignal | undefined
  /** One acquisition per blob in a run, however many components share it. */
  inflight: Map<string, Promise<Acquired | null>>
}

interface Acquired {
  path: string
  source: ArtifactSource
}

/**
 * What a component must hash to. A SHA-512 alone (upstream publishes SHA-512, nothing learned yet) is
 * checked while downloading; the SHA-256 of the bytes that match it then names the blob.
 */
type Checksum = { sha256: string; sha512?: string } | { sha256: null; sha512: string } | { sha256: null; note: string }

const isCode = (error: unknown, ...codes: string[]) => codes.includes((error as NodeJS.ErrnoException)?.code ?? '')

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch (error) {
    if (isCode(error, 'ENOENT', 'ENOTDIR')) return false
    throw error
  }
}

/** Runs fn over items with at most `limit` at once; every item settles (one failure does not stop the rest). */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      try {
        results[index] = { status: 'fulfilled', value: await fn(items[index]!, index) }
      } catch (reason) {
        results[index] = { status: 'rejected', reason }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

/** The SHA-256 a component must have: --checksum, pinned, learned (cache), or read from a checksum file. */
async function expectedChecksum(component: ResolvedComponent, ctx: Context): Promise<Checksum> {
  if (component.sha256 !== null) return { sha256: component.sha256 }
  const override = ctx.checksums[component.id]
  if (override !== undefined) return { sha256: override }
  const checksumUrl = component.checksumUrl
  if (checksumUrl === null) throw new ChecksumRequiredError(component)

  const algorithm = component.checksumAlgorithm ?? 'sha256'
  const learned = await ctx.cache.learnedChecksum(checksumUrl, component.fileName)
  // An entry learned before SHA-512 support holds no SHA-512: read the checksum file again.
  if (learned && algorithm === 'sha256') return { sha256: learned.sha256 }
  if (learned?.sha512 !== undefined) return { sha256: learned.sha256, sha512: learned.sha512 }

  const name = checksumFileName(checksumUrl)
  const learn = async (text: string, from: string): Promise<Checksum> => {
    let digest: string
    try {
      digest = parseChecksumFile(text, component.fileName, algorithm)
    } catch (error) {
      throw new ChecksumFileError(`the checksum file for ${component.fileName} from ${from} is unusable: ${(error as Error).message}`, {
        hint: `It should hold the ${checksumLabel(algorithm)} of ${component.fileName}, as upstream publishes it at ${checksumUrl}.`,
      })
    }
    // Recorded once the download that matches it is hashed (acquireBySha512).
    if (algorithm === 'sha512') return { sha256: null, sha512: digest }
    const sha256 = digest
    // Kept so a later --offline build can verify the same file without the checksum file.
    await ctx.cache.recordChecksum({ url: checksumUrl, fileName: component.fileName, sha256, learnedFrom: from })
    return { sha256 }
  }

  // The checksum file may travel with the artifact by sneakernet: look beside where the artifact would be.
  for (const dir of ctx.artifactsDirs) {
    for (const candidate of localCandidates(dir, component, name)) {
      if (!(await isFile(candidate))) continue
      if ((await stat(candidate)).size > CHECKSUM_FILE_MAX_BYTES) throw new ChecksumFileError(`${candidate} is too large to be a checksum file`)
      return learn(await readFile(candidate, 'utf8'), candidate)
    }
  }
  if (ctx.offline) {
    return {
      sha256: null,
      note: `upstream publishes it at ${checksumUrl}: put ${name} beside the file in the --artifacts-dir, or pass --checksum ${component.id}=<sha256>`,
    }
  }
  // A mirror that serves the checksum file is trusted like one that serves the artifact: the user chose it.
  const sources = [
    ...ctx.mirrors.map((mirror) => ({ label: 'mirror', url: mirrorUrl(mirror, component, name) })),
    ...(ctx.upstream ? [{ label: 'upstream', url: checksumUrl }] : []),
  ]
  const failures: SourceFailure[] = []
  for (const source of sources) {
    try {
      const text = await downloadText(ctx.http, {
        url: source.url,
        maxBytes: CHECKSUM_FILE_MAX_BYTES,
        retry: ctx.retry,
        hooks: { retrying: (event) => ctx.reporter.retrying?.({ component, ...event }) },
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      })
      return await learn(text, source.url)
    } catch (error) {
      if (!(error instanceof SourceUnavailableError)) throw error
      failures.push({ source: `${source.label} ${source.url}`, reason: error.message })
    }
  }
  throw new DownloadError(name, failures, noSourceHint(ctx, `${name} (the ${checksumLabel(algorithm)} of ${component.fileName})`, component))
}

function noSourceHint(ctx: Context, what: string, component: ResolvedComponent): string | undefined {
  if (ctx.mirrors.length === 0 && !ctx.upstream) {
    return `No --mirror is given and upstream downloads are off: add --mirror URL, or put ${what} in an --artifacts-dir (layout ${component.id}/${component.version}/).`
  }
  return undefined
}

/** Copies a user's file into the cache, hashing in the same pass; a wrong file is an error and not cached. */
async function importLocal(candidate: string, component: ResolvedComponent, sha256: string, ctx: Context): Promise<Acquired> {
  const mismatch = (actual: string) =>
    new ChecksumMismatchError(
      component.fileName,
      `--artifacts-dir file ${candidate}`,
      sha256,
      actual,
      `That file is not the ${component.id} ${component.version} ${component.platform} build this target needs (another version or architecture?). It was not cached.`,
    )
  if (await ctx.cache.hasBlob(sha256)) {
    // Already cached: still check the user's file, so a wrong one is reported rather than masked.
    const { sha256: actual } = await hashFile(candidate)
    if (actual !== sha256) throw mismatch(actual)
    return { path: ctx.cache.blobPath(sha256), source: 'local' }
  }
  const temp = await ctx.cache.tempFile(sha256)
  try {
    const hash = createHash('sha256')
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk)
        callback(null, chunk)
      },
    })
    await pipeline(createReadStream(candidate), hashing, createWriteStream(temp))
    const actual = hash.digest('hex')
    if (actual !== sha256) throw mismatch(actual)
    return { path: await ctx.cache.commit(temp, sha256), source: 'local' }
  } catch (error) {
    await ctx.cache.discard(temp)
    throw error
  }
}

/** The blob for one component: local → cache → mirrors → upstream. null: offline and not at hand. */
async function acquire(component: ResolvedComponent, sha256: string, ctx: Context): Promise<Acquired | null> {
  for (const dir of ctx.artifactsDirs) {
    for (const candidate of localCandidates(dir, component)) {
      if (await isFile(candidate)) return importLocal(candidate, component, sha256, ctx)
    }
  }

  if (await ctx.cache.hasBlob(sha256)) {
    if (!ctx.verifyCached) return { path: ctx.cache.blobPath(sha256), source: 'cache' }
    const { sha256: actual } = await hashFile(ctx.cache.blobPath(sha256))
    if (actual === sha256) return { path: ctx.cache.blobPath(sha256), source: 'cache' }
    ctx.reporter.note?.(`${component.fileName}: the cached copy is corrupt (sha256 ${actual}); removed, fetching again`)
    await ctx.cache.evict(sha256)
  }

  if (ctx.offline) return null

  const sources = downloadSources(component, ctx)

  // The partial of an earlier attempt (any source, any build) is resumed: the content is named by its hash.
  const part = await ctx.cache.claimPartial(sha256)
  let keepPart = true
  try {
    return await fromFirstSource(component, sources, async (source) => {
      await downloadFrom(source, component, part, { sha256 }, ctx)
      const path = await ctx.cache.commit(part, sha256)
      keepPart = false
      return { path, source: source.kind }
    })
  } catch (error) {
    // A source serving other bytes than pinned: none of its bytes stay behind to be resumed.
    if (error instanceof ChecksumMismatchError) {
      keepPart = false
      await ctx.cache.discard(part)
    }
    throw error
  } finally {
    if (keepPart) await ctx.cache.releasePartial(sha256, part)
  }
}

/** One source's download into `part` (resumed when it holds a prefix), verified against the pinned digest. */
function downloadFrom(source: DownloadSource, component: ResolvedComponent, part: string, expected: { sha256: string } | { sha512: string }, ctx: Context): Promise<void> {
  return downloadVerified(ctx.http, {
    url: source.url,
    sourceLabel: `${source.kind} ${source.url}`,
    fileName: component.fileName,
    ...('sha512' in expected ? { expectedSha256: expected.sha512, algorithm: 'sha512' as const } : { expectedSha256: expected.sha256 }),
    partPath: part,
    retry: ctx.retry,
    hooks: downloadHooks(component, source.kind, ctx),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  })
}

/**
 * `download` from each source in order until one succeeds. Fail closed: other bytes than published
 * (ChecksumMismatchError) or an unexpected error end the fetch at once, never papered over by trying the
 * next source; a source that is unavailable is noted and the next one tried.
 */
async function fromFirstSource<T>(
  component: ResolvedComponent,
  sources: readonly DownloadSource[],
  download: (source: DownloadSource) => Promise<T>,
): Promise<T> {
  const failures: SourceFailure[] = []
  for (const source of sources) {
    try {
      return await download(source)
    } catch (error) {
      if (error instanceof ChecksumMismatchError || !(error instanceof SourceUnavailableError)) throw error
      failures.push({ source: `${source.kind} ${source.url}`, reason: error.message })
    }
  }
  throw new DownloadError(component.fileName, failures)
}

/**
 * The blob for a component known only by the SHA-512 upstream publishes (nothing learned yet): a local
 * file or a download must hash to it; its SHA-256 then names the blob, and both are recorded so later
 * (offline) builds find it in the cache. null: offline and not at hand.
 */
async function acquireBySha512(component: ResolvedComponent, sha512: string, ctx: Context): Promise<(Acquired & { sha256: string }) | null> {
  const record = (sha256: string, from: string) =>
    ctx.cache.recordChecksum({ url: component.checksumUrl!, fileName: component.fileName, sha256, sha512, learnedFrom: from })
  for (const dir of ctx.artifactsDirs) {
    for (const candidate of localCandidates(dir, component)) {
      if (!(await isFile(candidate))) continue
      const digests = await sha256And512OfFile(candidate)
      if (digests.sha512 !== sha512) {
        throw new ChecksumMismatchError(
          component.fileName,
          `--artifacts-dir file ${candidate}`,
          sha512,
          digests.sha512,
          `That file is not the ${component.id} ${component.version} ${component.platform} build upstream published. It was not cached.`,
          'sha512',
        )
      }
      const acquired = await importLocal(candidate, component, digests.sha256, ctx)
      await record(digests.sha256, candidate)
      return { ...acquired, sha256: digests.sha256 }
    }
  }
  if (ctx.offline) return null
  const sources = downloadSources(component, ctx)
  const part = await ctx.cache.tempFile(`${component.fileName}.sha512`)
  try {
    return await fromFirstSource(component, sources, async (source) => {
      await downloadFrom(source, component, part, { sha512 }, ctx)
      const { sha256 } = await hashFile(part)
      const path = await ctx.cache.commit(part, sha256)
      await record(sha256, source.url)
      return { path, source: source.kind, sha256 }
    })
  } catch (error) {
    await ctx.cache.discard(part)
    throw error
  }
}

interface DownloadSource {
  kind: 'mirror' | 'upstream'
  url: string
}

/** Where a component is downloaded from, in order: the mirrors, then upstream (unless --no-upstream). */
function downloadSources(component: ResolvedComponent, ctx: Context): DownloadSource[] {
  const sources = [
    ...ctx.mirrors.map((mirror) => ({ kind: 'mirror' as const, url: mirrorUrl(mirror, component) })),
    ...(ctx.upstream ? [{ kind: 'upstream' as const, url: component.url }] : []),
  ]
  if (sources.length === 0) throw new DownloadError(component.fileName, [], noSourceHint(ctx, component.fileName, component))
  return sources
}

/** The progress reporter's view of one download. */
function downloadHooks(component: ResolvedComponent, source: 'mirror' | 'upstream', ctx: Context): DownloadHooks {
  return {
    started: (event) => ctx.reporter.started?.({ component, source, ...event }),
    progress: (bytes) => ctx.reporter.progress?.(component, bytes),
    retrying: (event) => ctx.reporter.retrying?.({ component, ...event }),
    note: (message) => ctx.reporter.note?.(message),
  }
}

function asEdgebundleError(error: unknown, component: ResolvedComponent, cacheDir: string): EdgebundleError {
  if (error instanceof EdgebundleError) return error
  const code = (error as NodeJS.ErrnoException).code
  if (code !== undefined) {
    // A system error (disk full, permissions): the user's to fix, so a message rather than a stack.
    return new EdgebundleError(`${component.fileName}: ${(error as Error).message}`, EXIT.stepFailed, {
      hint: `Check the cache folder ${cacheDir} (free space, permissions) and the --artifacts-dir folders.`,
      cause: error,
    })
  }
  throw error // a defect: let the CLI report it as one
}

/** One component's artifact from wherever it is found, verified; null (and a `missing` entry) when no source has it. */
async function fetchOne(component: ResolvedComponent, ctx: Context, missing: MissingArtifact[]): Promise<FetchedArtifact | null> {
  const checksum = await expectedChecksum(component, ctx)
  if (checksum.sha256 === null && 'sha512' in checksum) {
    const acquired = await acquireBySha512(component, checksum.sha512, ctx)
    if (acquired === null) {
      missing.push({ component, sha256: null, checksumNote: `not in an --artifacts-dir, and it is verified against the SHA-512 ${checksum.sha512}` })
      return null
    }
    const artifact: FetchedArtifact = { component, path: acquired.path, sha256: acquired.sha256, sha512: checksum.sha512, source: acquired.source }
    ctx.reporter.finished?.(artifact)
    return artifact
  }
  if (checksum.sha256 === null) {
    missing.push({ component, sha256: null, checksumNote: 'note' in checksum ? checksum.note : '' })
    return null
  }
  const { sha256 } = checksum
  const sha512 = 'sha512' in checksum && checksum.sha512 !== undefined ? { sha512: checksum.sha512 } : {}
  let pending = ctx.inflight.get(sha256)
  if (!pending) {
    pending = acquire(component, sha256, ctx)
    ctx.inflight.set(sha256, pending)
  }
  const acquired = await pending
  if (acquired === null) {
    missing.push({ component, sha256 })
    return null
  }
  const artifact: FetchedArtifact = { component, path: acquired.path, sha256, ...sha512, source: acquired.source }
  ctx.reporter.finished?.(artifact)
  return artifact
}

/**
 * Ensures every component's artifact is in the cache and verified. Returns one entry per component, in
 * order. Throws MissingArtifactsError (--offline, listing every missing file), ChecksumMismatchError,
 * DownloadError, ChecksumRequiredError, or FetchFailedError when several components fail.
 */
export async function fetchArtifacts(components: ResolvedComponent[], options: FetchOptions): Promise<FetchedArtifact[]> {
  const offline = options.offline ?? false
  const concurrency = options.concurrency ?? 4
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`internal: concurrency must be a positive integer, got ${concurrency}`)
  if (!offline && options.http === undefined) throw new Error('internal: fetchArtifacts needs an Http unless offline')
  const checksums = options.checksums ?? {}
  checkChecksumOverrides(checksums, components)

  // Components nothing can verify fail before any download starts: the fix is a flag, not a retry.
  const unverifiable = components.filter((c) => c.sha256 === null && c.checksumUrl === null && checksums[c.id] === undefined)
  if (unverifiable.length === 1) throw new ChecksumRequiredError(unverifiable[0]!)
  if (unverifiable.length > 1) throw new FetchFailedError(unverifiable.map((c) => new ChecksumRequiredError(c)))

  const ctx: Context = {
    cache: await ArtifactCache.open(options.cacheDir),
    // Offline is enforced by the client itself: even a bug that asks cannot connect.
    http: offline ? offlineHttp() : options.http!,
    offline,
    artifactsDirs: options.artifactsDirs ?? [],
    mirrors: options.mirrors ?? [],
    upstream: options.upstream ?? true,
    checksums,
    retry: options.retry ?? DEFAULT_RETRY,
    reporter: options.reporter ?? {},
    verifyCached: options.verifyCached ?? false,
    signal: options.signal,
    inflight: new Map(),
  }

  const missing: MissingArtifact[] = []
  const settled = await mapLimit(components, concurrency, async (component): Promise<FetchedArtifact | null> => {
    try {
      return await fetchOne(component, ctx, missing)
    } catch (error) {
      const wrapped = asEdgebundleError(error, component, options.cacheDir)
      ctx.reporter.failed?.(component, wrapped)
      throw wrapped
    }
  })

  const errors = settled.flatMap((result) => (result.status === 'rejected' ? [result.reason as Error] : []))
  const defect = errors.find((error) => !(error instanceof EdgebundleError))
  if (defect) throw defect
  const failures = errors as EdgebundleError[]
  if (missing.length > 0) {
    // Report in the components' order, whatever order the downloads finished in.
    missing.sort((a, b) => components.indexOf(a.component) - components.indexOf(b.component))
    failures.push(new MissingArtifactsError(missing, { artifactsDirs: ctx.artifactsDirs, cacheDir: options.cacheDir }))
  }
  if (failures.length === 1) throw failures[0]
  if (failures.length > 1) throw new FetchFailedError(failures)
  return settled.map((result) => (result as PromiseFulfilledResult<FetchedArtifact | null>).value!)
}
