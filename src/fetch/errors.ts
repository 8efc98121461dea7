/**
 * Errors of the artifact fetcher. Each carries the exit code the CLI maps it to (docs/architecture.md "Exit codes": 1 a step
 * failed, 2 bad usage or input, 3 integrity failure), so callers never inspect messages.
 */
import { EXIT, EdgebundleError, UsageError } from '../model/errors.js'
import type { ResolvedComponent } from '../resolve/resolve.js'

/** The bytes do not hash to the expected SHA-256. Integrity (exit 3); nothing was cached. */
export class ChecksumMismatchError extends EdgebundleError {
  readonly fileName: string
  /** Where the bytes came from: a URL or a local path, with its kind ("mirror https://…"). */
  readonly source: string
  readonly expected: string
  readonly actual: string
  readonly algorithm: 'sha256' | 'sha512'

  constructor(fileName: string, source: string, expected: string, actual: string, hint?: string, algorithm: 'sha256' | 'sha512' = 'sha256') {
    super(`checksum mismatch for ${fileName} from ${source}: expected ${algorithm} ${expected}, got ${actual}`, EXIT.integrity, {
      hint:
        hint ??
        'The file was not cached. A mirror or proxy may serve a corrupted or altered file; check the source, or the pinned SHA-256 in bundles/components.yaml.',
    })
    this.fileName = fileName
    this.source = source
    this.expected = expected
    this.actual = actual
    this.algorithm = algorithm
  }
}

/** A published checksum file could not be read or does not name the artifact. Integrity (exit 3). */
export class ChecksumFileError extends EdgebundleError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, EXIT.integrity, options)
  }
}

/** What one source answered, for an error that lists every source tried. */
export interface SourceFailure {
  source: string
  reason: string
}

/** Every source was tried and none delivered the file (HTTP errors, network errors after retries). Exit 1. */
export class DownloadError extends EdgebundleError {
  readonly fileName: string
  readonly failures: SourceFailure[]

  constructor(fileName: string, failures: SourceFailure[], hint?: string) {
    const tried = failures.length === 0 ? 'no source is configured' : failures.map((f) => `${f.source}: ${f.reason}`).join('; ')
    super(`cannot download ${fileName}: ${tried}`, EXIT.stepFailed, {
      hint: hint ?? 'Check the network, proxy settings (HTTPS_PROXY, NO_PROXY) and --mirror URLs, or put the file in an --artifacts-dir.',
    })
    this.fileName = fileName
    this.failures = failures
  }
}

/** An artifact the run needs but cannot get, as the offline error lists it. */
export interface MissingArtifact {
  component: ResolvedComponent
  /** null when the SHA-256 is not known either (a checksum file that was never fetched). */
  sha256: string | null
  /** Why the SHA-256 is unknown, when it is. */
  checksumNote?: string
}

/**
 * --offline, and some artifacts are neither in --artifacts-dir nor in the cache. One error naming every
 * one of them, so a sneakernet round trip fetches all at once rather than one per attempt. Exit 2: the
 * input (the artifacts the user provides) is incomplete, nothing failed.
 */
export class MissingArtifactsError extends EdgebundleError {
  readonly missing: MissingArtifact[]

  constructor(missing: MissingArtifact[], where: { artifactsDirs: string[]; cacheDir: string }) {
    const dir = where.artifactsDirs[0] ?? 'DIR'
    const lines = missing.map((m) => {
      const c = m.component
      const checksum = m.sha256 ?? `unknown${m.checksumNote ? ` (${m.checksumNote})` : ''}`
      return [
        `  ${c.id} ${c.version} (${c.platform}): ${c.fileName}`,
        `      sha256:   ${checksum}`,
        `      upstream: ${c.url}`,
        `      put it at ${dir}/${c.id}/${c.version}/${c.fileName} (or ${dir}/${c.fileName})`,
      ].join('\n')
    })
    super(
      `--offline: ${missing.length} artifact${missing.length === 1 ? ' is' : 's are'} neither in an --artifacts-dir nor in the cache ${where.cacheDir}:\n${lines.join('\n')}`,
      EXIT.usage,
      {
        hint:
          `Download them (\`edgebundle fetch --print-urls\` with the same target lists them), put them in a folder and pass --artifacts-dir ${dir}. ` +
          `To keep them in the cache instead, run \`edgebundle fetch --offline --artifacts-dir ${dir}\` once (it verifies and copies them into ${where.cacheDir}), ` +
          'or run `edgebundle fetch` with the same target and --cache-dir where the network is reachable.',
      },
    )
    this.missing = missing
  }
}

/** --offline, and something tried to open a connection anyway. A defect: the fetcher should not ask. */
export class OfflineViolationError extends EdgebundleError {
  constructor(url: string) {
    super(`--offline: refused to connect to ${url}`, EXIT.stepFailed)
  }
}

/** Several artifacts failed in different ways; the exit code is the gravest (integrity first). */
export class FetchFailedError extends EdgebundleError {
  readonly errors: EdgebundleError[]

  constructor(errors: EdgebundleError[]) {
    const code = errors.some((e) => e.exitCode === EXIT.integrity)
      ? EXIT.integrity
      : errors.every((e) => e.exitCode === EXIT.usage)
        ? EXIT.usage
        : EXIT.stepFailed
    super(`${errors.length} artifacts failed:\n${errors.map((e) => `  - ${e.message.replace(/\n/g, '\n    ')}`).join('\n')}`, code, {
      hint: [...new Set(errors.map((e) => e.hint).filter((h): h is string => h !== undefined))].join('\n  '),
    })
    this.errors = errors
  }
}

/** A component with neither a pinned SHA-256 nor a checksum file upstream, and no --checksum for it. */
export class ChecksumRequiredError extends UsageError {
  constructor(component: ResolvedComponent) {
    super(
      `${component.id} ${component.version} (${component.platform}, ${component.fileName}) has no pinned SHA-256 and upstream publishes no checksum file`,
      {
        hint:
          `Download ${component.url}, check it against the publisher's release notes, then pass ` +
          `--checksum ${component.id}=<sha256> (and --artifacts-dir DIR holding ${component.fileName}, or a --mirror that has it).`,
      },
    )
  }
}
