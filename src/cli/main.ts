/**
 * The edgebundle command line. Thin: parses flags, calls the core, prints. The only place that exits.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { Command, CommanderError, Option } from 'commander'
import { loadCatalog } from '../catalog/load.js'
import type { Catalog } from '../catalog/schema.js'
import type { Http } from '../fetch/http.js'
import type { ProgressStream } from '../fetch/progress.js'
import { EXIT, EdgebundleError, UsageError } from '../model/errors.js'
import { renderBundle } from '../render/bundle.js'
import { validateRequest } from '../resolve/request.js'
import { listMatrix } from '../resolve/resolve.js'
import { fileTemplates } from '../io/templates.js'
import { writeFolderAtomically } from '../io/output-dir.js'
import { type ExeFlags, exeCommand } from './commands/exe.js'
import { type BuildFlags, buildCommand, buildMatrixCommand, isMatrix, singleTarget } from './commands/build.js'
import { type FetchFlags, fetchCommand } from './commands/fetch.js'
import { formatMatrix, summarizeMatrix } from './commands/list.js'
import { formatPlan } from './commands/plan.js'
import { inspectCommand } from './commands/inspect.js'
import { keygenCommand } from './commands/keygen.js'
import { reportCommand } from './commands/report.js'
import { type VerifyFlags, verifyCommand } from './commands/verify.js'
import { addArtifactOptions, addTargetOptions, requestFromFlags } from './target-options.js'
import { VERSION } from './version.js'

interface Io {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Where progress bars go when it is a terminal; tests leave it out. */
  progressStream?: ProgressStream
  /** The network for downloads and registry pulls; tests inject a client bound to 127.0.0.1. */
  http?: Http
}

const defaultIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  progressStream: process.stderr,
}

/** --catalog DIR (a bundles/ folder), else the shipped catalog. */
function openCatalog(dir: string | undefined): Catalog {
  if (dir === undefined) return loadCatalog()
  let ok: boolean
  try {
    ok = statSync(dir).isDirectory() && statSync(join(dir, 'matrix.yaml')).isFile()
  } catch {
    ok = false
  }
  if (!ok) throw new UsageError(`--catalog ${dir} is not a bundles/ folder`, { hint: 'Give a copy of edgebundle\'s bundles/ folder (with matrix.yaml, components.yaml, runtimes/).' })
  return loadCatalog(dir)
}

// Long by design: one declaration per command, read top to bottom as the CLI's table of contents; each action only delegates to src/cli/commands.
export function buildProgram(io: Io = defaultIo): Command {
  const program = new Command('edgebundle')
    .description('Build offline bundles that prepare KubeEdge edge nodes: runtime, CNI plugins, pause image, configs.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride()
    .addOption(new Option('--catalog <dir>', 'use this bundles/ folder (e.g. a copy with extra pinned versions) instead of the shipped one'))
  const catalog = () => openCatalog(program.opts<{ catalog?: string }>().catalog)

  program
    .command('list')
    .description('show the support matrix: every os/arch/runtime with its KubeEdge versions, and why the rest are unsupported')
    .addOption(new Option('--json', 'one JSON document with every combination and reason'))
    .action((flags: { json?: boolean }) => {
      const loaded = catalog()
      if (flags.json) {
        const entries = listMatrix(loaded)
        io.stdout(`${JSON.stringify({ kubeedgeVersions: loaded.kubeedge.versions, default: loaded.kubeedge.default, combinations: entries }, null, 2)}\n`)
      } else {
        io.stdout(`${formatMatrix(summarizeMatrix(loaded))}\n`)
      }
    })

  addTargetOptions(program.command('plan').description('print the ordered install steps for a target'))
    .addOption(new Option('--json', 'print plan.json'))
    .action((flags: Parameters<typeof requestFromFlags>[0] & { json?: boolean }) => {
      const loaded = catalog()
      const rendered = renderBundle(loaded, validateRequest(loaded, requestFromFlags(flags)), fileTemplates())
      io.stdout(flags.json ? `${JSON.stringify(rendered.plan, null, 2)}\n` : `${formatPlan(rendered.plan)}\n`)
    })

  addTargetOptions(
    program.command('render').description('write plan.json, the install script and config/<node path> files for a target (no downloads)'),
  )
    .addOption(new Option('--out <dir>', 'a new or empty folder to write into').makeOptionMandatory())
    .action((flags: Parameters<typeof requestFromFlags>[0] & { out: string }) => {
      const loaded = catalog()
      const rendered = renderBundle(loaded, validateRequest(loaded, requestFromFlags(flags)), fileTemplates())
      writeFolderAtomically(flags.out, rendered.files)
      for (const warning of rendered.plan.warnings) io.stderr(`warning: ${warning}\n`)
      io.stdout(`${rendered.plan.name}: wrote ${rendered.files.length} files to ${flags.out}\n`)
    })

  addArtifactOptions(
    addTargetOptions(
      program.command('fetch').description('download and verify the artifacts of a target into the cache (a later build then works offline)'),
    ),
  )
    .addOption(new Option('--print-urls', 'list what to download by hand (URL, file, SHA-256, path in an --artifacts-dir), without downloading'))
    .addOption(new Option('--json', 'machine-readable output'))
    .addOption(new Option('--verbose', 'one line per file, retry and resume'))
    .action(async (flags: FetchFlags) => {
      await fetchCommand(catalog(), flags, { stdout: io.stdout, stderr: io.stderr, progressStream: io.progressStream, http: io.http })
    })

  addArtifactOptions(
    addTargetOptions(program.command('build').description('build the offline bundle for a target: <name>.tar.gz (Linux) or <name>.zip (Windows); several targets at once with repeated --os/--arch/--runtime or --all'), { matrix: true }),
  )
    .addOption(new Option('--all', 'every supported os/arch/runtime combination (narrowed by any --os/--arch/--runtime given)'))
    .addOption(new Option('--out <dir>', 'folder to write the archive into (default: the current folder)'))
    .addOption(new Option('--sign <key>', 'sign SHA256SUMS with this ed25519 private key (edgebundle keygen)'))
    .addOption(
      new Option('--node-binary <platform=path>', 'a Node binary of the pinned version for the installer, e.g. arm=/opt/node/bin/node; repeatable').argParser(
        (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
      ),
    )
    .addOption(new Option('--npm-registry <url>', 'where the Node runtime packages come from (default `npm config get registry`)'))
    .addOption(new Option('--json', 'machine-readable result'))
    .addOption(new Option('--verbose', 'one line per downloaded file'))
    .action(async (flags: BuildFlags) => {
      const buildIo = { stdout: io.stdout, stderr: io.stderr, progressStream: io.progressStream, http: io.http }
      if (isMatrix(flags)) await buildMatrixCommand(catalog(), flags, buildIo)
      else await buildCommand(catalog(), singleTarget(flags), buildIo)
    })

  program
    .command('exe')
    .description('build the installer executable (install, install.exe) for a platform, cached per platform and installer version')
    .addOption(new Option('--platform <platform>', 'linux/amd64, linux/arm64, linux/arm or windows/amd64').makeOptionMandatory())
    .addOption(new Option('--out <dir>', 'folder to write install (install.exe for Windows) into').makeOptionMandatory())
    .addOption(
      new Option('--node-binary <platform=path>', 'a Node binary of the pinned version, or its npm package .tgz, e.g. arm=/opt/node/bin/node; repeatable').argParser(
        (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
      ),
    )
    .addOption(new Option('--npm-registry <url>', 'where Node packages come from (default $EDGEBUNDLE_NPM_REGISTRY, else `npm config get registry`)'))
    .addOption(new Option('--cache-dir <dir>', 'cache (default $EDGEBUNDLE_CACHE_DIR, else $XDG_CACHE_HOME/edgebundle or ~/.cache/edgebundle)'))
    .addOption(new Option('--offline', 'never open a network connection: the cache and --node-binary only'))
    .addOption(new Option('--json', 'machine-readable output'))
    .action(async (flags: ExeFlags) => {
      await exeCommand(flags, { stdout: io.stdout, stderr: io.stderr, http: io.http })
    })

  program
    .command('verify')
    .description('check a bundle archive without unpacking it: every file against SHA256SUMS and manifest.json, the layout, the signature')
    .argument('<bundle>', 'the bundle archive (<name>.tar.gz or <name>.zip)')
    .addOption(new Option('--pubkey <file>', 'ed25519 public key (edgebundle keygen\'s FILE.pub): SHA256SUMS.sig must exist and verify with it'))
    .addOption(new Option('--require-signature', 'fail unless the bundle carries a signature verified with --pubkey'))
    .addOption(new Option('--json', 'machine-readable result'))
    .action(async (bundle: string, flags: VerifyFlags) => {
      await verifyCommand(bundle, flags, { stdout: io.stdout })
    })

  program
    .command('inspect')
    .description('show what a bundle archive holds: target, versions, components, plan steps, files, signature (read without unpacking)')
    .argument('<bundle>', 'the bundle archive (<name>.tar.gz or <name>.zip)')
    .addOption(new Option('--json', 'the full report, every file with its size, mode and sha256'))
    .action(async (bundle: string, flags: { json?: boolean }) => {
      await inspectCommand(bundle, flags, { stdout: io.stdout })
    })

  program
    .command('keygen')
    .description('make an ed25519 key pair for signing bundles: FILE (private, mode 0600) and FILE.pub')
    .addOption(new Option('--out <file>', 'where to write the private key; the public key goes to FILE.pub; never overwrites').makeOptionMandatory())
    .addOption(new Option('--json', 'machine-readable result'))
    .action(async (flags: { out: string; json?: boolean }) => {
      await keygenCommand(flags, { stdout: io.stdout })
    })

  program
    .command('report')
    .description('summarise the <host>.jsonl reports the fleet playbooks (ansible/ in a bundle) fetched: installed, unchanged, failed, versions')
    .argument('<dir>', 'the edgebundle_report_dir the playbooks wrote to')
    .addOption(new Option('--json', 'machine-readable summary'))
    .action((dir: string, flags: { json?: boolean }) => {
      reportCommand(dir, flags, { stdout: io.stdout })
    })

  return program
}

/** Runs the CLI and returns the exit code (tests call this; bin/edgebundle.js exits with it). */
export async function run(argv: string[], io: Io = defaultIo): Promise<number> {
  const program = buildProgram(io)
  try {
    await program.parseAsync(argv, { from: 'user' })
    return EXIT.ok
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are successes; every parse error is a usage error (exit 2).
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' ? EXIT.ok : EXIT.usage
    }
    if (error instanceof EdgebundleError) {
      io.stderr(`edgebundle: ${error.message}\n`)
      if (error.hint) io.stderr(`  ${error.hint}\n`)
      return error.exitCode
    }
    io.stderr(`edgebundle: internal error: ${(error as Error).stack ?? String(error)}\n  Please report this with the command you ran.\n`)
    return EXIT.stepFailed
  }
}
