/**
 * The installer's command line, parsed with node:util parseArgs: the executable carries no CLI library
 * (start-up time and size), and the grammar is small.
 */
import { parseArgs } from 'node:util'
import { UsageError } from '../model/errors.js'

export type InstallerMode = 'help' | 'version' | 'install'

export interface InstallerArgs {
  mode: InstallerMode
  /** --bundle DIR: the bundle folder, instead of the executable's own folder. */
  bundle: string | undefined
  /** --root DIR: a mounted root filesystem; node paths are taken relative to it. */
  root: string | undefined
  dryRun: boolean
  /** One JSON event per line on stdout instead of text. */
  json: boolean
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  bundle: { type: 'string' },
  root: { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
} as const

export const USAGE = `Usage: install [options]

Prepares this node for KubeEdge from the bundle the executable sits in: verifies every file against
SHA256SUMS, then carries out the steps of plan.json.

Options:
  --dry-run        verify the bundle and list what each step would do; change nothing
  --json           print one JSON event per line
  --bundle DIR     use the bundle in DIR (default: the folder holding this executable)
  --root DIR       take node paths relative to DIR (a mounted root filesystem); start no service
  -V, --version    print the installer, Node.js and bundle versions
  -h, --help       print this help

Exit codes: 0 done, 1 a step failed, 2 bad usage or input, 3 integrity failure, 4 preflight failure.
`

/** Why parseArgs refused, in words a user can act on (its own messages mention internals such as "strict"). */
function usageMessage(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string }
  const text = message ?? String(error)
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const option = /'([^']+)'/.exec(text)?.[1]
      return option ? `unknown option ${option}` : text
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const arg = /'([^']+)'/.exec(text)?.[1]
      return arg ? `unexpected argument ${arg}` : text
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return text.replace(/^Option '([^']+)'.*argument missing$/, 'option $1 needs a value')
    default:
      return text
  }
}

export function parseInstallerArgs(argv: string[]): InstallerArgs {
  let values: { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean }
  try {
    ;({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }))
  } catch (error) {
    throw new UsageError(usageMessage(error), { hint: 'Run with --help for usage.' })
  }
  for (const name of ['bundle', 'root'] as const) {
    const value = values[name]
    // `--bundle=` or a value that is really the next flag: both mean the user forgot the folder.
    if (value !== undefined && (value === '' || value.startsWith('-'))) {
      throw new UsageError(`--${name} needs a folder, got ${JSON.stringify(value)}`, { hint: 'Run with --help for usage.' })
    }
  }
  const mode: InstallerMode = values.help ? 'help' : values.version ? 'version' : 'install'
  return {
    mode,
    bundle: values.bundle,
    root: values.root,
    dryRun: values['dry-run'] === true,
    json: values.json === true,
  }
}
