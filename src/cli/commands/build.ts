/** edgebundle build: resolve, fetch, assemble and pack one bundle (the main command). */
import { resolve } from 'node:path'
import { buildBundle, DEFAULT_SOURCE_DATE_EPOCH, type BuildResult } from '../../build/build.js'
import type { Catalog } from '../../catalog/schema.js'
import { formatBytes } from '../../fetch/progress.js'
import { createHttpClient, type Http, type HttpClient } from '../../fetch/http.js'
import { createProgressReporter, type ProgressStream } from '../../fetch/progress.js'
import { checkChecksumOverrides } from '../../fetch/sources.js'
import { UsageError } from '../../model/errors.js'
import type { HttpFetch } from '../../oci/index.js'
import { fileTemplates } from '../../io/templates.js'
import { readPrivateKeyFile } from '../../sign/index.js'
import { validateRequest } from '../../resolve/request.js'
import { resolveTarget } from '../../resolve/resolve.js'
import { type ArtifactFlags, type TargetFlags, artifactSettingsFromFlags, requestFromFlags } from '../target-options.js'
import { VERSION } from '../version.js'
import { parseNodeBinaries } from './exe.js'

export type BuildFlags = TargetFlags &
  ArtifactFlags & { out?: string; sign?: string; nodeBinary?: string[]; npmRegistry?: string; json?: boolean; verbose?: boolean }

export interface BuildCommandIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  progressStream?: ProgressStream | undefined
  http?: Http | undefined
  registryFetch?: HttpFetch | undefined
  env?: NodeJS.ProcessEnv | undefined
}

/** SOURCE_DATE_EPOCH (reproducible-builds.org): every archive timestamp; unset → a fixed constant, never the clock. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv): number {
  const value = env['SOURCE_DATE_EPOCH']
  if (value === undefined || value === '') return DEFAULT_SOURCE_DATE_EPOCH
  if (!/^\d{1,12}$/.test(value)) throw new UsageError(`SOURCE_DATE_EPOCH ${JSON.stringify(value)} is not a number of seconds`)
  return Number(value)
}

export async function buildCommand(catalog: Catalog, flags: BuildFlags, io: BuildCommandIo): Promise<BuildResult> {
  const env = io.env ?? process.env
  const request = validateRequest(catalog, requestFromFlags(flags))
  const resolved = resolveTarget(catalog, request)
  const settings = artifactSettingsFromFlags(flags, env)
  checkChecksumOverrides(settings.checksums, resolved.components)
  for (const warning of resolved.warnings) io.stderr(`warning: ${warning}\n`)
  const signingKeyPem = flags.sign ? await readPrivateKeyFile(flags.sign, '--sign key') : undefined

  let client: HttpClient | undefined
  let http: Http | undefined
  if (!settings.offline) http = io.http ?? (client = createHttpClient({ env, userAgent: `edgebundle/${VERSION}` }))
  const reporter = createProgressReporter({ stream: io.progressStream, verbose: flags.verbose ?? false, log: io.stderr })
  try {
    const result = await buildBundle(
      catalog,
      request,
      {
        ...settings,
        packagesDir: flags.packagesDir,
        signingKeyPem,
        sourceDateEpoch: sourceDateEpoch(env),
        nodeBinaries: parseNodeBinaries(flags.nodeBinary),
        npmRegistry: flags.npmRegistry,
      },
      resolve(flags.out ?? '.'),
      { templates: fileTemplates(), http, registryFetch: io.registryFetch, reporter, note: (m) => io.stderr(`${m}\n`), edgebundleVersion: VERSION, env },
    )
    if (flags.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`)
    else
      io.stdout(
        `${result.archive}\n  ${result.files} files, ${formatBytes(result.size)}, sha256 ${result.sha256}\n  ${Object.entries(result.timings)
          .map(([step, ms]) => `${step} ${ms} ms`)
          .join(', ')}${result.executable.cached ? ' (installer executable from the cache)' : ''}\n`,
      )
    return result
  } finally {
    reporter.close()
    await client?.close()
  }
}
