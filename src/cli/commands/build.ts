/** edgebundle build: resolve, fetch, assemble and pack one bundle (the main command). */
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import { buildBundle, DEFAULT_SOURCE_DATE_EPOCH, type BuildResult } from '../../build/build.js'
import type { Catalog } from '../../catalog/schema.js'
import { mapLimit } from '../../fetch/fetch.js'
import { createHttpClient, type Http, type HttpClient } from '../../fetch/http.js'
import { createProgressReporter } from '../../fetch/progress.js'
import { formatBytes } from '../../render/format-bytes.js'
import { checkChecksumOverrides } from '../../fetch/sources.js'
import { EdgebundleError, UsageError } from '../../model/errors.js'
import { ARCHES, OSES, RUNTIMES } from '../../model/target.js'
import { fileTemplates } from '../../io/templates.js'
import { readPrivateKeyFile } from '../../sign/index.js'
import { validateRequest } from '../../resolve/request.js'
import { resolveTarget } from '../../resolve/resolve.js'
import { type ArtifactFlags, type TargetFlags, artifactSettingsFromFlags, requestFromFlags } from '../target-options.js'
import { VERSION } from '../version.js'
import { parseNodeBinaries } from './exe.js'
import type { FetchCommandIo } from './fetch.js'

/** --os, --arch and --runtime repeat for build (a matrix); the other target flags are single. */
export type BuildFlags = Omit<TargetFlags, 'os' | 'arch' | 'runtime'> &
  ArtifactFlags & {
    os?: string | string[]
    arch?: string | string[]
    runtime?: string | string[]
    all?: boolean
    out?: string
    sign?: string
    nodeBinary?: string[]
    npmRegistry?: string
    json?: boolean
    verbose?: boolean
  }

type SingleBuildFlags = BuildFlags & { os?: string; arch?: string; runtime?: string }

const asList = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : [value])

/** The same edges as fetch: output, the terminal for progress, the network (tests inject loopback clients). */
export type BuildCommandIo = FetchCommandIo

/** SOURCE_DATE_EPOCH (reproducible-builds.org): every archive timestamp; unset → a fixed constant, never the clock. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv): number {
  const value = env['SOURCE_DATE_EPOCH']
  if (value === undefined || value === '') return DEFAULT_SOURCE_DATE_EPOCH
  if (!/^\d{1,12}$/.test(value)) throw new UsageError(`SOURCE_DATE_EPOCH ${JSON.stringify(value)} is not a number of seconds`)
  return Number(value)
}

export interface MatrixRow {
  target: string
  status: 'built' | 'skipped' | 'failed'
  note: string
  result?: BuildResult
  exitCode?: number
}

/** Every os/arch/runtime the flags name (all of an axis under --all when the axis is not given). */
export function matrixTargets(flags: BuildFlags): { os: string; arch: string; runtime: string }[] {
  const pick = (given: string[], all: readonly string[], fallback: string[]) => (given.length > 0 ? given : flags.all ? [...all] : fallback)
  const oses = pick(asList(flags.os), OSES, [])
  const arches = pick(asList(flags.arch), ARCHES, ['amd64'])
  const runtimes = pick(asList(flags.runtime), RUNTIMES, [])
  return oses.flatMap((os) => arches.flatMap((arch) => runtimes.map((runtime) => ({ os, arch, runtime }))))
}

/** One target: repeatable axes given once become plain values. */
export function singleTarget(flags: BuildFlags): SingleBuildFlags {
  const first = (value: string | string[] | undefined) => asList(value)[0]
  return { ...flags, os: first(flags.os), arch: first(flags.arch), runtime: first(flags.runtime) }
}

export function isMatrix(flags: BuildFlags): boolean {
  return flags.all === true || [flags.os, flags.arch, flags.runtime].some((value) => Array.isArray(value) && value.length > 1)
}

/**
 * Several targets: the supported ones build in parallel (one per core; they share the cache, and the
 * executable cache lets one build per platform make the installer), the unsupported ones are listed with
 * their reason, and a summary table ends the run.
 */
export async function buildMatrixCommand(catalog: Catalog, flags: BuildFlags, io: BuildCommandIo): Promise<MatrixRow[]> {
  const targets = matrixTargets(flags)
  if (targets.length === 0) throw new UsageError('build --all or a matrix needs at least one --os and --runtime, or --all', { hint: 'e.g. edgebundle build --all --kubeedge-version 1.23' })
  const rows: MatrixRow[] = []
  const runnable: { row: MatrixRow; flags: SingleBuildFlags }[] = []
  for (const target of targets) {
    const label = `${target.os}/${target.arch}/${target.runtime}`
    const single: SingleBuildFlags = { ...flags, ...target, json: false }
    try {
      // Resolve up front: an unsupported combination is a skip with its reason, not a failure.
      resolveTarget(catalog, validateRequest(catalog, requestFromFlags(single)))
      const row: MatrixRow = { target: label, status: 'built', note: '' }
      rows.push(row)
      runnable.push({ row, flags: single })
    } catch (error) {
      if (error instanceof UsageError) rows.push({ target: label, status: 'skipped', note: error.message.replace(/^.* is not supported: /, '') })
      else throw error
    }
  }
  // One progress display for the whole matrix: a line per finished target, not one set of bars per build.
  const quiet: BuildCommandIo = { ...io, stdout: () => {}, stderr: () => {}, progressStream: undefined }
  let finished = 0
  const results = await mapLimit(runnable, Math.max(1, availableParallelism()), async ({ row, flags: single }) => {
    const start = performance.now()
    try {
      return await buildCommand(catalog, single, quiet)
    } finally {
      finished++
      io.stderr(`[${finished}/${runnable.length}] ${row.target} done in ${((performance.now() - start) / 1000).toFixed(1)} s\n`)
    }
  })
  results.forEach((settled, index) => {
    const { row } = runnable[index]!
    if (settled.status === 'fulfilled') {
      row.result = settled.value
      row.note = `${formatBytes(settled.value.size)}  ${settled.value.archive}`
    } else {
      const error = settled.reason as Error
      row.status = 'failed'
      row.note = error.message.split('\n')[0]!
      row.exitCode = error instanceof EdgebundleError ? error.exitCode : 1
    }
  })
  if (flags.json) io.stdout(`${JSON.stringify(rows, null, 2)}\n`)
  else {
    const width = Math.max(6, ...rows.map((r) => r.target.length))
    const lines = rows.map((r) => `${r.target.padEnd(width)}  ${r.status.padEnd(7)}  ${r.note}`)
    const count = (status: MatrixRow['status']) => rows.filter((r) => r.status === status).length
    io.stdout(`${'TARGET'.padEnd(width)}  RESULT   NOTE\n${lines.join('\n')}\n\n${count('built')} built, ${count('skipped')} skipped, ${count('failed')} failed\n`)
  }
  const failed = rows.find((r) => r.status === 'failed')
  if (failed) throw new EdgebundleError(`${rows.filter((r) => r.status === 'failed').length} of ${runnable.length} builds failed (first: ${failed.target}: ${failed.note})`, (failed.exitCode ?? 1) as 1)
  return rows
}

export async function buildCommand(catalog: Catalog, flags: SingleBuildFlags, io: BuildCommandIo): Promise<BuildResult> {
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
      { templates: fileTemplates(), http, reporter, transfer: reporter.transfer, note: (m) => io.stderr(`${m}\n`), edgebundleVersion: VERSION, env },
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
