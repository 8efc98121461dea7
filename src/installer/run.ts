/**
 * The installer's flow, in the order docs/architecture.md fixes ("The installer on the node"): find the bundle → verify it (SHA256SUMS, then the
 * signature) before anything is trusted → check every archive → preflight → steps → runtime check over
 * CRI → report. Plus rollback, uninstall, status and verify, which work from the journal
 * (docs/node-state.md).
 *
 * Returns the exit code; main.ts sets it. Nothing here calls process.exit, so tests run it in-process;
 * every piece of the node (files, commands, the probe preflight reads, CRI) comes in as one Node
 * (node.ts) on InstallerIo, so tests and the crash harness can stand in for any of them.
 */
import { readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { EXIT, type ExitCode, EdgebundleError, UsageError } from '../model/errors.js'
import { BUNDLE } from '../model/layout.js'
import type { Plan } from '../model/plan.js'
import { type ArchiveIndex, ArchiveScans, archivesOfPlan, checkIndexedMembers, parseArchiveIndex } from './archive/index.js'
import { type LocateContext, bundleFilesOf, locateBundle, peekBundleName, readPlan } from './bundle.js'
import { type InstallerArgs, type JoinArgs, USAGE, parseInstallerArgs } from './cli.js'
import { applyEdgecoreConfig } from './edgecore-config.js'
import { IntegrityError, type IntegrityProblem } from './errors.js'
import { bundleArchives } from './bundle-archives.js'
import { PreflightError, type ScratchSpace, type StepContext, executeStep, scratchSpace } from './execute.js'
import { type JoinReadiness, joinReadiness } from './join-ready.js'
import { Journal, type NodePaths, nodePaths } from './journal.js'
import type { Node } from './node.js'
import type { NodeFs } from './node-fs.js'
import { Placer, StepError } from './place.js'
import { type Output, type Reporter, jsonReporter, textReporter } from './report.js'
import { type SignatureCheck, checkSignature } from './signature.js'
import { rollbackLastRun, uninstallAll } from './undo.js'
import { readSha256Sums, unlistedFiles, verifyEntries } from './verify.js'

/** The installer's version, set by esbuild's define when the executable is built. */
declare const EDGEBUNDLE_VERSION: string | undefined
export const INSTALLER_VERSION: string = typeof EDGEBUNDLE_VERSION === 'string' ? EDGEBUNDLE_VERSION : '0.0.0-dev'

export interface InstallerIo extends Output, LocateContext {
  nodeVersion: string
  /** process.platform-process.arch with Node's names, e.g. linux-arm64, win32-x64. */
  platform: string
  now(): number
  env?: Record<string, string | undefined>
  /** The node (node.ts; main.ts passes hostNode()). Absent: verification still works; installing needs it. */
  node?: Node
}

/**
 * Verifies the bundle: the signature over SHA256SUMS (when there is one, or a key demands one), then
 * every SHA256SUMS entry hashes right, and every bundle file the plan uses is listed. Throws
 * IntegrityError with all problems found, after reporting each one.
 */
export async function verifyBundle(
  dir: string,
  reporter: Reporter,
  now: () => number,
  keys: { pubkey?: string | undefined; trusted?: string | undefined } = {},
  alongside?: (listed: ReadonlySet<string>, verified: (path: string) => Promise<void>) => void,
): Promise<{ files: number; bytes: number; signature: SignatureCheck; sha256: ReadonlyMap<string, string> }> {
  const started = now()
  const parsed = await readSha256Sums(join(dir, BUNDLE.checksums))
  if (parsed === null) {
    throw new IntegrityError(`${BUNDLE.checksums} is missing from ${dir}, so the bundle cannot be verified`, [], 'Copy the complete bundle again: SHA256SUMS must sit beside plan.json.')
  }
  const signature = await checkSignature(dir, keys)
  reporter.emit({ event: 'verify-start', files: parsed.entries.length })
  const problems: IntegrityProblem[] = [...signature.problems, ...parsed.problems]
  if (!parsed.entries.some((entry) => entry.path === BUNDLE.plan)) problems.push({ kind: 'not-covered', path: BUNDLE.plan })
  const listed = new Set(parsed.entries.map((entry) => entry.path))
  // A file is vouched for once its own hash matched, SHA256SUMS read cleanly and its signature held.
  const vouched = new Map(parsed.entries.map((entry) => [entry.path, deferred()]))
  for (const { promise } of vouched.values()) promise.catch(() => undefined)
  const unvouched = new Error('the bundle failed verification')
  // Work that only reads listed files may start now; its results count once verification passes.
  alongside?.(listed, (path) => vouched.get(path)?.promise ?? Promise.reject(unvouched))
  const result = await verifyEntries(dir, parsed.entries, {
    onFile(entry, { ok }) {
      if (ok && problems.length === 0) vouched.get(entry.path)?.resolve()
      else vouched.get(entry.path)?.reject(unvouched)
    },
  })
  for (const { reject } of vouched.values()) reject(unvouched)
  problems.push(...result.problems)
  for (const path of await unlistedFiles(dir, listed, [BUNDLE.checksums, BUNDLE.signature])) problems.push({ kind: 'unlisted', path })
  // Only now is plan.json trustworthy enough to read its file references (when it verified).
  if (problems.length === 0) {
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
  reporter.emit({ event: 'signature', status: signature.status, key: signature.key, fingerprint: signature.fingerprint })
  for (const warning of signature.warnings) reporter.emit({ event: 'warning', message: warning })
  reporter.emit({ event: 'verified', files: result.files, bytes: result.bytes, ms: now() - started })
  return { ...result, signature, sha256: new Map(parsed.entries.map((entry) => [entry.path, entry.sha256])) }
}

/** Promise.withResolvers, which the Node that runs the tests (20) lacks. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve!: () => void
  let reject!: (error: Error) => void
  const promise = new Promise<void>((yes, no) => {
    resolve = yes
    reject = no
  })
  return { promise, resolve, reject }
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

/** --root DIR, checked and made absolute (the journal and every node path hang off it). */
function resolveRoot(root: string | undefined, cwd: string): string | undefined {
  if (root === undefined) return undefined
  const absolute = resolve(cwd, root)
  let isDir = false
  try {
    isDir = statSync(absolute).isDirectory()
  } catch {
    // reported below
  }
  if (!isDir) throw new UsageError(`--root ${root} is not a folder`, { hint: 'Give the folder where the node\'s root filesystem is mounted.' })
  // "--root /" is the real node's layout, but still "no services".
  return absolute === '/' ? '' : absolute.replace(/[\\/]+$/, '')
}

const styleOf = (plan: Plan | null, platform: string): NodePaths['style'] =>
  plan ? (plan.target.os === 'windows' ? 'windows' : 'posix') : platform.startsWith('win32') ? 'windows' : 'posix'

/**
 * Every archive the plan unpacks, checked member by member before any step runs. A run that only looks
 * (verify, a dry run) takes the members from archives.json where it describes the verified bytes, and
 * checks them by the same rules; a run that installs always reads the archives themselves.
 */
async function checkArchives(plan: Plan, dir: string, scans: ArchiveScans, verified: ReadonlyMap<string, string>, reporter: Reporter, deep = false): Promise<void> {
  const index = scans.unpacks || deep ? null : readArchiveIndex(dir, verified, reporter)
  for (const archive of archivesOfPlan(plan)) {
    const file = join(dir, ...archive.file.split('/'))
    const entry = index?.archives[archive.file]
    if (entry !== undefined && entry.sha256 === verified.get(archive.file) && entry.format === archive.format && entry.strip === archive.strip) {
      scans.fromIndex(file, archive.format, archive.strip, checkIndexedMembers(file, entry))
    } else {
      await scans.checkOrUnpack(file, archive.format, archive.strip)
    }
  }
}

/** archives.json once verification passed, when the bundle has a usable one. */
function readArchiveIndex(dir: string, verified: ReadonlyMap<string, string>, reporter: Reporter): ArchiveIndex | null {
  if (!verified.has(BUNDLE.archiveIndex)) return null
  const index = parseArchiveIndex(readFileSync(join(dir, BUNDLE.archiveIndex), 'utf8'))
  if ('unusable' in index) {
    reporter.emit({ event: 'warning', message: `${BUNDLE.archiveIndex} is not used: ${index.unusable}; the archives are read instead` })
    return null
  }
  return index
}

/**
 * Starts checking the archives while the bundle is hashed. plan.json is not verified yet, so only
 * archives SHA256SUMS lists (safe bundle paths) are read, an archive is unpacked only once it verified
 * (ArchiveScans), and a plan that cannot be read is simply left for later: checkArchives, after
 * verification, is what decides.
 */
function prescanArchives(dir: string, scans: ArchiveScans, deep = false): (listed: ReadonlySet<string>, verified: (path: string) => Promise<void>) => void {
  return (listed, verified) => {
    // A run that only looks reads archives.json instead, once it verified.
    if (!scans.unpacks && !deep && listed.has(BUNDLE.archiveIndex)) return
    let plan: Plan
    try {
      plan = readPlan(dir)
    } catch {
      return
    }
    for (const archive of archivesOfPlan(plan)) {
      if (listed.has(archive.file)) void scans.checkOrUnpack(join(dir, ...archive.file.split('/')), archive.format, archive.strip, verified(archive.file)).catch(() => undefined)
    }
  }
}

/** keadm join for this bundle: the address and token given at install time, the bundle's own flags after. */
export function keadmJoinArgv(plan: Plan, join: JoinArgs, token: string): string[] {
  return [
    'join',
    `--cloudcore-ipport=${join.cloudcore}`,
    `--token=${token}`,
    ...(join.nodeName === undefined ? [] : [`--edgenode-name=${join.nodeName}`]),
    ...plan.kubeedge.keadmJoinArgs,
  ]
}

async function reportJoinReadiness(plan: Plan, node: Node, reporter: Reporter): Promise<JoinReadiness> {
  const readiness = await joinReadiness(plan, node)
  for (const warning of readiness.warnings) reporter.emit({ event: 'warning', message: warning })
  reporter.emit({
    event: 'join-ready',
    ready: readiness.ready,
    keadm: { expected: `v${plan.kubeedge.release}`, found: readiness.keadmVersion },
    images: readiness.images,
    ...(readiness.files.length > 0 ? { files: readiness.files } : {}),
    problems: readiness.problems,
    checked: true,
  })
  return readiness
}

async function joinCluster(plan: Plan, join: JoinArgs, node: Node, reporter: Reporter): Promise<ExitCode> {
  const shown = ['keadm', ...keadmJoinArgv(plan, join, '<token>')]
  if (!join.run) {
    reporter.emit({ event: 'join', command: shown, ran: false })
    return EXIT.ok
  }
  // Readiness first: offline, keadm must not reach for the network (a missing image, another keadm version).
  const readiness = await reportJoinReadiness(plan, node, reporter)
  if (!readiness.ready) {
    throw new StepError(
      `the node is not ready to join: ${readiness.problems.map((problem) => problem.message).join('; ')}; the runtime stays installed`,
      [...new Set(readiness.problems.map((problem) => problem.hint))].join(' '),
    )
  }
  const result = await node.system.run(plan.kubeedge.keadm ?? 'keadm', keadmJoinArgv(plan, join, join.token))
  // keadm may echo its flags: the token leaves this process only as keadm's argument.
  const scrub = (text: string) => text.split(join.token).join('<token>')
  for (const line of scrub(result.stdout + result.stderr).split('\n').filter((l) => l.trim() !== '')) reporter.emit({ event: 'info', message: line })
  reporter.emit({ event: 'join', command: shown, ran: true, exitCode: result.code })
  if (result.code !== 0) throw new StepError(`keadm join failed (exit ${result.code}); the runtime stays installed`, 'Fix what keadm reports above and run the install again with --join.')
  return EXIT.ok
}

interface Counters {
  changed: number
  unchanged: number
  warnings: number
}

async function install(args: InstallerArgs, io: InstallerIo, reporter: Reporter, counters: Counters): Promise<ExitCode> {
  const scratch = scratchSpace()
  // A run that installs unpacks each archive as it checks it; a dry run only scans.
  const scans = new ArchiveScans(args.dryRun ? undefined : () => scratch.make())
  try {
    return await verifyAndInstall(scratch, scans, args, io, reporter, counters)
  } finally {
    // Unpacking that verification started may still be writing into scratch when it failed.
    await scans.settled()
    await scratch.cleanup()
  }
}

async function verifyAndInstall(
  scratch: ScratchSpace,
  scans: ArchiveScans,
  args: InstallerArgs,
  io: InstallerIo,
  reporter: Reporter,
  counters: Counters,
): Promise<ExitCode> {
  const { plan, dir, root, node } = await verifyForInstall(scratch, scans, args, io, reporter)
  const paths = nodePaths(styleOf(plan, io.platform), root)
  const journal = await new Journal(node.fs, paths, plan.name).load()
  const run = stepRun({ plan, bundleDir: dir, root, dryRun: args.dryRun, node, journal, paths }, reporter, counters)
  const context: StepContext = { ...run.context, archives: bundleArchives(scans), scratch: () => scratch.make() }
  await runStepsOrRollBack(plan, context, run, scratch, reporter, counters)
  await scratch.cleanup()
  if (args.join !== null && !args.dryRun) await joinCluster(plan, args.join, node, reporter)
  if (args.join?.run === true && !args.dryRun) await applyEdgecoreConfig(plan, { node, placer: context.placer, journal, paths, events: context.events })
  else if (args.join !== null) reporter.emit({ event: 'join', command: ['keadm', ...keadmJoinArgv(plan, args.join, '<token>')], ran: false })
  reporter.emit({ event: 'done', exitCode: EXIT.ok, dryRun: args.dryRun, steps: plan.steps.length, ...counters })
  return EXIT.ok
}

/** Everything before the first step: the bundle found and verified, its archives checked, the node reachable. */
async function verifyForInstall(scratch: ScratchSpace, scans: ArchiveScans, args: InstallerArgs, io: InstallerIo, reporter: Reporter) {
  const location = locateBundle(args.bundle, io)
  const root = resolveRoot(args.root, io.cwd)
  const node = io.node
  const trusted = node ? await readTrusted(node.fs, root) : undefined
  const keys = { pubkey: args.pubkey === undefined ? undefined : resolve(io.cwd, args.pubkey), trusted }
  const swept = await scratch.sweep()
  if (swept > 0) reporter.emit({ event: 'info', message: `removed ${swept} scratch folder${swept === 1 ? '' : 's'} that killed runs left in the temporary folder` })
  const { sha256 } = await verifyBundle(location.dir, reporter, io.now, keys, prescanArchives(location.dir, scans))
  const plan = readPlan(location.dir)
  reportPlan(plan, location.dir, reporter, args.dryRun)
  for (const warning of plan.warnings ?? []) reporter.emit({ event: 'warning', message: warning })
  await checkArchives(plan, location.dir, scans, sha256, reporter)
  if (!node) throw new UsageError('this build of the installer cannot reach the node')
  return { plan, dir: location.dir, root, node }
}

/** The step context of one run, minus scratch and archives, with the step being run and its change counts kept for the reports. */
interface StepRun {
  context: Omit<StepContext, 'archives' | 'scratch'>
  current: { id: string; changed: number; unchanged: number }
}

function stepRun(
  { plan, bundleDir, root, dryRun, node, journal, paths }: Omit<StepContext, 'placer' | 'events' | 'archives' | 'scratch'> & { paths: NodePaths },
  reporter: Reporter,
  counters: Counters,
): StepRun {
  const current = { id: '', changed: 0, unchanged: 0 }
  const placer = new Placer(node.fs, journal, paths, { dryRun, root }, {
    change(action) {
      counters.changed++
      current.changed++
      reporter.emit({ event: 'change', step: current.id, action, dryRun })
    },
    unchanged() {
      counters.unchanged++
      current.unchanged++
    },
  })
  const events: StepContext['events'] = {
    info: (message) => reporter.emit({ event: 'info', message }),
    warn(message) {
      counters.warnings++
      reporter.emit({ event: 'warning', message })
    },
    check(result) {
      if (result.outcome === 'failed' && result.severity === 'warning') counters.warnings++
      reporter.emit({
        event: 'check',
        kind: result.check.kind,
        severity: result.severity,
        outcome: result.outcome,
        message: result.message,
        ...(result.whatToDo === undefined ? {} : { whatToDo: result.whatToDo }),
      })
    },
  }
  return { context: { plan, bundleDir, root, dryRun, placer, journal, node, events }, current }
}

/** Runs every step in order; a failed step takes its whole run back, so the node is left as it was before this run. */
async function runStepsOrRollBack(plan: Plan, context: StepContext, run: StepRun, scratch: ScratchSpace, reporter: Reporter, counters: Counters): Promise<void> {
  const { current, context: { dryRun, journal } } = run
  try {
    for (const [index, step] of plan.steps.entries()) {
      current.id = step.id
      context.placer.step = step.id
      current.changed = 0
      current.unchanged = 0
      reporter.emit({ event: 'step', index: index + 1, total: plan.steps.length, id: step.id, kind: step.kind, description: step.description, actions: [], dryRun })
      await executeStep(step, context)
      reporter.emit({ event: 'step-done', id: step.id, changed: current.changed, unchanged: current.unchanged })
    }
    if (!dryRun) await journal.finish()
  } catch (error) {
    await scratch.cleanup()
    if (error instanceof PreflightError || dryRun || !journal.isOpen) throw error
    const failure = error instanceof EdgebundleError ? error : new StepError(`step ${current.id}: ${(error as Error).message}`)
    const undone = await rollbackLastRun(undoContext(context.node, journal, context.placer.paths, context.root, false, reporter, counters))
    if (undone) reporter.emit({ event: 'rolled-back', ...undone, dryRun: false, reason: 'step-failed' })
    throw new StepError(`step ${current.id} failed: ${failure.message}${undone ? '; its run was rolled back' : ''}`, failure.hint)
  }
}

/** The node's own trust anchor (provisioned once per fleet), when it has one. */
async function readTrusted(fs: NodeFs, root: string | undefined): Promise<string | undefined> {
  const path = join(root ?? '/', 'etc', 'edgebundle', 'trusted.pub')
  if (process.platform === 'win32' && root === undefined) return undefined
  const stat = await fs.lstat(path)
  return stat?.isFile() ? path : undefined
}

function undoContext(node: Node, journal: Journal, paths: NodePaths, root: string | undefined, dryRun: boolean, reporter: Reporter, counters: Counters) {
  return {
    node,
    journal,
    paths,
    dryRun,
    root,
    note: (action: string) => reporter.emit({ event: 'undo', action, dryRun }),
    warn(message: string) {
      counters.warnings++
      reporter.emit({ event: 'warning', message })
    },
  }
}

/** rollback, uninstall and status need no bundle (an operator may undo from a damaged copy), only the journal. */
async function undoOrShowStatus(args: InstallerArgs, io: InstallerIo, reporter: Reporter, counters: Counters): Promise<ExitCode> {
  const node = io.node
  if (!node) throw new UsageError('this build of the installer cannot reach the node')
  const root = resolveRoot(args.root, io.cwd)
  let plan: Plan | null = null
  try {
    plan = readPlan(locateBundle(args.bundle, io).dir)
  } catch {
    // Without a readable bundle the node's own OS decides the path style.
  }
  const paths = nodePaths(styleOf(plan, io.platform), root)
  const journal = await new Journal(node.fs, paths, plan?.name ?? 'unknown').load()
  if (args.command === 'status') {
    reporter.emit({
      event: 'status',
      runs: journal.runs().map((run) => {
        const changes: Record<string, number> = {}
        for (const record of run.records) if (record.op !== 'begin' && record.op !== 'end') changes[record.op] = (changes[record.op] ?? 0) + 1
        return { run: run.run, name: run.name, finished: run.finished, changes }
      }),
    })
    if (plan !== null) {
      if (root !== undefined) {
        reporter.emit({ event: 'join-ready', ready: false, keadm: { expected: `v${plan.kubeedge.release}`, found: null }, images: [], problems: [], checked: false })
      } else {
        await reportJoinReadiness(plan, node, reporter)
      }
    }
    return EXIT.ok
  }
  const context = undoContext(node, journal, paths, root, args.dryRun, reporter, counters)
  const undone = args.command === 'rollback' ? [await rollbackLastRun(context)].filter((run) => run !== null) : await uninstallAll(context)
  for (const run of undone) reporter.emit({ event: 'rolled-back', ...run, dryRun: args.dryRun, reason: args.command === 'rollback' ? 'rollback' : 'uninstall' })
  if (undone.length === 0) reporter.emit({ event: 'info', message: 'nothing to undo: no edgebundle runs are recorded on this node' })
  reporter.emit({ event: 'done', exitCode: EXIT.ok, dryRun: args.dryRun, steps: 0, warnings: counters.warnings })
  return EXIT.ok
}

export async function runInstaller(argv: string[], io: InstallerIo): Promise<ExitCode> {
  // --json is honored even when the rest of the line is bad, so a driving tool always gets JSON back.
  let reporter: Reporter = argv.includes('--json') ? jsonReporter(io) : textReporter(io)
  const counters: Counters = { changed: 0, unchanged: 0, warnings: 0 }
  try {
    const args = parseInstallerArgs(argv, io.env ?? {})
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
    switch (args.command) {
      case 'verify': {
        const location = locateBundle(args.bundle, io)
        const root = resolveRoot(args.root, io.cwd)
        const trusted = io.node ? await readTrusted(io.node.fs, root) : undefined
        const scans = new ArchiveScans()
        const keys = { pubkey: args.pubkey === undefined ? undefined : resolve(io.cwd, args.pubkey), trusted }
        const { sha256 } = await verifyBundle(location.dir, reporter, io.now, keys, prescanArchives(location.dir, scans, args.deep))
        await checkArchives(readPlan(location.dir), location.dir, scans, sha256, reporter, args.deep)
        reporter.emit({ event: 'done', exitCode: EXIT.ok, dryRun: false, steps: 0 })
        return EXIT.ok
      }
      case 'install':
        return await install(args, io, reporter, counters)
      case 'rollback':
      case 'uninstall':
      case 'status':
        return await undoOrShowStatus(args, io, reporter, counters)
    }
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
