/**
 * The installer's flow, in the order DESIGN fixes: find the bundle → verify it (SHA256SUMS) before
 * anything is trusted → read plan.json → (preflight → steps → runtime check → report). This version
 * carries out --dry-run: verification and the list of what each step would do. The full installer
 * replaces the dry-run branch below with preflight, the step executors, the journal and rollback.
 *
 * Returns the exit code; main.ts sets it. Nothing here calls process.exit, so tests run it in-process.
 */
import { join } from 'node:path'
import { EXIT, type ExitCode, EdgebundleError, UsageError } from '../model/errors.js'
import { BUNDLE } from '../model/layout.js'
import type { Plan } from '../model/plan.js'
import { USAGE, parseInstallerArgs } from './cli.js'
import { type LocateContext, bundleFilesOf, locateBundle, peekBundleName, readPlan } from './bundle.js'
import { IntegrityError, type IntegrityProblem } from './errors.js'
import { type Output, type Reporter, jsonReporter, textReporter } from './report.js'
import { describeStep } from './steps.js'
import { readSha256Sums, verifyEntries } from './verify.js'

/** The installer's version, set by esbuild's define when the executable is built. */
declare const EDGEBUNDLE_VERSION: string | undefined
export const INSTALLER_VERSION: string = typeof EDGEBUNDLE_VERSION === 'string' ? EDGEBUNDLE_VERSION : '0.0.0-dev'

export interface InstallerIo extends Output, LocateContext {
  nodeVersion: string
  /** process.platform-process.arch with Node's names, e.g. linux-arm64, win32-x64. */
  platform: string
  now(): number
}

/**
 * Verifies the bundle: every SHA256SUMS entry hashes right, and every bundle file the plan uses is
 * listed. Throws IntegrityError with all problems found, after reporting each one.
 */
export async function verifyBundle(dir: string, reporter: Reporter, now: () => number): Promise<{ files: number; bytes: number }> {
  const started = now()
  const parsed = await readSha256Sums(join(dir, BUNDLE.checksums))
  if (parsed === null) {
    throw new IntegrityError(`${BUNDLE.checksums} is missing from ${dir}, so the bundle cannot be verified`, [], 'Copy the complete bundle again: SHA256SUMS must sit beside plan.json.')
  }
  reporter.emit({ event: 'verify-start', files: parsed.entries.length })
  const problems: IntegrityProblem[] = [...parsed.problems]
  if (!parsed.entries.some((entry) => entry.path === BUNDLE.plan)) problems.push({ kind: 'not-covered', path: BUNDLE.plan })
  const result = await verifyEntries(dir, parsed.entries)
  problems.push(...result.problems)
  // Only now is plan.json trustworthy enough to read its file references (when it verified).
  if (problems.length === 0) {
    const listed = new Set(parsed.entries.map((entry) => entry.path))
    for (const step of readPlan(dir).steps) {
      for (const file of bundleFilesOf(step)) {
        if (!listed.has(file)) problems.push({ kind: 'not-covered', path: file, detail: `step ${step.id}` })
      }
    }
  }
  for (const problem of problems) reporter.emit({ event: 'verify-problem', problem })
  if (problems.length > 0) {
    throw new IntegrityError(`the bundle in ${dir} failed verification (${problems.length} problem${problems.length === 1 ? '' : 's'}); nothing was changed`, problems)
  }
  reporter.emit({ event: 'verified', files: result.files, bytes: result.bytes, ms: now() - started })
  return result
}

function reportPlan(plan: Plan, dir: string, reporter: Reporter, dryRun: boolean): void {
  reporter.emit({
    event: 'bundle',
    dir,
    name: plan.name,
    os: plan.target.os,
    arch: plan.target.arch,
    runtime: plan.runtime.name,
    runtimeVersion: plan.runtime.version,
    kubeedge: plan.kubeedge.version,
    dryRun,
  })
}

export async function runInstaller(argv: string[], io: InstallerIo): Promise<ExitCode> {
  // --json is honored even when the rest of the line is bad, so a driving tool always gets JSON back.
  let reporter: Reporter = argv.includes('--json') ? jsonReporter(io) : textReporter(io)
  try {
    const args = parseInstallerArgs(argv)
    reporter = args.json ? jsonReporter(io) : textReporter(io)
    if (args.mode === 'help') {
      io.stdout(USAGE)
      return EXIT.ok
    }
    if (args.mode === 'version') {
      let bundle: string | null = null
      try {
        bundle = peekBundleName(locateBundle(args.bundle, io).dir)
      } catch {
        // --version answers whether or not a bundle is around.
      }
      reporter.emit({ event: 'version', installer: INSTALLER_VERSION, node: io.nodeVersion, platform: io.platform, bundle })
      return EXIT.ok
    }
    if (!args.dryRun) {
      throw new UsageError('this installer version verifies a bundle and lists its steps (--dry-run); it does not install yet', {
        hint: 'Run it with --dry-run, and install with install.sh (install.ps1 on Windows) from the same bundle.',
      })
    }

    const location = locateBundle(args.bundle, io)
    await verifyBundle(location.dir, reporter, io.now)
    const plan = readPlan(location.dir)
    reportPlan(plan, location.dir, reporter, true)
    for (const warning of plan.warnings ?? []) reporter.emit({ event: 'warning', message: warning })
    const context = { root: args.root, startsServices: args.root === undefined }
    plan.steps.forEach((step, index) => {
      reporter.emit({
        event: 'step',
        index: index + 1,
        total: plan.steps.length,
        id: step.id,
        kind: step.kind,
        description: step.description,
        actions: describeStep(step, context),
        dryRun: true,
      })
    })
    reporter.emit({ event: 'done', exitCode: EXIT.ok, dryRun: true, steps: plan.steps.length })
    return EXIT.ok
  } catch (error) {
    if (error instanceof EdgebundleError) {
      // An integrity failure has reported each problem as an event already; its summary is enough here.
      const message = error instanceof IntegrityError ? error.summary : error.message
      reporter.emit({ event: 'error', exitCode: error.exitCode, message, ...(error.hint ? { hint: error.hint } : {}) })
      return error.exitCode
    }
    reporter.emit({ event: 'error', exitCode: EXIT.stepFailed, message: `internal error: ${(error as Error).stack ?? String(error)}` })
    return EXIT.stepFailed
  }
}
