/**
 * The edgebundle command line. Thin: parses flags, calls the core, prints. The only place that exits.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { Command, CommanderError, Option } from 'commander'
import { loadCatalog } from '../catalog/load.js'
import type { Catalog } from '../catalog/schema.js'
import type { Http } from '../fetch/http.js'
import type { HttpFetch } from '../oci/index.js'
import type { ProgressStream } from '../fetch/progress.js'
import { EXIT, EdgebundleError, UsageError } from '../model/errors.js'
import { renderBundle } from '../render/bundle.js'
import { validateRequest } from '../resolve/request.js'
import { listMatrix } from '../resolve/resolve.js'
import { fileTemplates } from '../io/templates.js'
import { writeFolderAtomically } from '../io/output-dir.js'
import { type FetchFlags, fetchCommand } from './commands/fetch.js'
import { formatMatrix, summarizeMatrix } from './commands/list.js'
import { formatPlan } from './commands/plan.js'
import { addArtifactOptions, addTargetOptions, requestFromFlags } from './target-options.js'
import { VERSION } from './version.js'

interface Io {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Where progress bars go when it is a terminal; tests leave it out. */
  progressStream?: ProgressStream
  /** The network for downloads; tests inject a client bound to 127.0.0.1. */
  http?: Http
  /** The registry client's fetch (--pull-pause); tests inject one bound to 127.0.0.1. */
  registryFetch?: HttpFetch
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
      await fetchCommand(catalog(), flags, { stdout: io.stdout, stderr: io.stderr, progressStream: io.progressStream, http: io.http, registryFetch: io.registryFetch })
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
