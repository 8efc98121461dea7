/**
 * The installer's command line, parsed with node:util parseArgs: the executable carries no CLI library
 * (start-up time and size), and the grammar is small.
 */
import { parseArgs } from 'node:util'
import { UsageError } from '../model/errors.js'

export type InstallerMode = 'help' | 'version' | 'command'

export const COMMANDS = ['install', 'rollback', 'uninstall', 'status', 'verify'] as const
export type InstallerCommand = (typeof COMMANDS)[number]

export interface JoinArgs {
  /** HOST:PORT of CloudCore. */
  cloudcore: string
  /** Never written to disk or output: kept in memory and handed to keadm only. */
  token: string
  nodeName: string | undefined
  /** Run keadm join, rather than print the command. */
  run: boolean
}

export interface InstallerArgs {
  mode: InstallerMode
  command: InstallerCommand
  /** --bundle DIR: the bundle folder, instead of the executable's own folder. */
  bundle: string | undefined
  /** --root DIR: a mounted root filesystem; node paths are taken relative to it. */
  root: string | undefined
  dryRun: boolean
  /** One JSON event per line on stdout instead of text. */
  json: boolean
  /** --pubkey FILE: the ed25519 key SHA256SUMS.sig must verify with. */
  pubkey: string | undefined
  /** verify --deep: decompress and check every archive instead of trusting archives.json for what it holds. */
  deep: boolean
  join: JoinArgs | null
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  bundle: { type: 'string' },
  root: { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  deep: { type: 'boolean' },
  pubkey: { type: 'string' },
  cloudcore: { type: 'string' },
  token: { type: 'string' },
  'node-name': { type: 'string' },
  join: { type: 'boolean' },
} as const

export const USAGE = `Usage: install [COMMAND] [options]

Prepares this node for KubeEdge from the bundle the executable sits in.

Commands:
  install          (default) verify the bundle, check the node, carry out the steps of plan.json,
                   check the runtime over CRI
  rollback         undo the last install run (what it wrote, what it replaced is put back)
  uninstall        undo every install run: the node as it was before the first
  status           show the install runs recorded on this node
  verify           verify the bundle against SHA256SUMS (and its signature), and the members of its
                   archives as archives.json lists them; with --deep, as the archives themselves hold

Options:
  --dry-run        list what would change; change nothing
  --json           print one JSON event per line
  --deep           (verify) decompress every archive and check its members
  --bundle DIR     use the bundle in DIR (default: the folder holding this executable)
  --root DIR       take node paths relative to DIR (a mounted root filesystem); start no service
  --pubkey FILE    SHA256SUMS.sig must verify with this ed25519 public key (PEM)
                   (default: /etc/edgebundle/trusted.pub when the node has one)
  --cloudcore HOST:PORT --token TOKEN [--node-name NAME]
                   after installing, print the keadm join command for this bundle (the token is not
                   printed); with --join, run it. The token is never written to disk or output.
                   TOKEN may be given as KUBEEDGE_TOKEN in the environment instead (kept out of
                   every command line; --token wins when both are given).
  -V, --version    print the installer, Node.js and bundle versions
  -h, --help       print this help

Exit codes: 0 done, 1 a step failed (its changes rolled back), 2 bad usage or input,
3 integrity failure, 4 preflight failure.
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

const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):([0-9]{1,5})$/
const NODE_NAME = /^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$/

function joinArgs(values: { cloudcore?: string; token?: string; 'node-name'?: string; join?: boolean }, env: Record<string, string | undefined>): JoinArgs | null {
  const token = values.token ?? env.KUBEEDGE_TOKEN
  if (values.cloudcore === undefined) {
    for (const flag of ['token', 'node-name', 'join'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} needs --cloudcore HOST:PORT`, { hint: 'Give the CloudCore address, e.g. --cloudcore 10.0.0.1:10000.' })
    }
    return null
  }
  const port = HOST_PORT.exec(values.cloudcore)?.[1]
  if (port === undefined || Number(port) < 1 || Number(port) > 65535) {
    throw new UsageError(`--cloudcore ${JSON.stringify(values.cloudcore)} is not HOST:PORT`, {
      hint: 'Give CloudCore\'s address and port, e.g. --cloudcore 10.0.0.1:10000 or --cloudcore [fd00::1]:10000.',
    })
  }
  if (token === undefined || token === '') {
    throw new UsageError('--cloudcore needs a token: --token TOKEN or KUBEEDGE_TOKEN in the environment', {
      hint: 'Get one on the cloud side with: keadm gettoken',
    })
  }
  // The token goes to keadm as one argv element: anything printable will do, but not a line break.
  if (!/^[\x21-\x7e]+$/.test(token)) throw new UsageError('the token holds spaces, line breaks or non-ASCII characters', { hint: 'Paste the token keadm gettoken printed, nothing around it.' })
  const nodeName = values['node-name']
  if (nodeName !== undefined && !NODE_NAME.test(nodeName)) {
    throw new UsageError(`--node-name ${JSON.stringify(nodeName)} is not a valid node name`, {
      hint: 'Use lowercase letters, digits, "-" and "." (a DNS subdomain), up to 253 characters.',
    })
  }
  return { cloudcore: values.cloudcore, token, nodeName, run: values.join === true }
}

export function parseInstallerArgs(argv: string[], env: Record<string, string | undefined> = {}): InstallerArgs {
  let values: { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean }
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: true }))
  } catch (error) {
    throw new UsageError(usageMessage(error), { hint: 'Run with --help for usage.' })
  }
  for (const name of ['bundle', 'root', 'pubkey'] as const) {
    const value = values[name]
    // `--bundle=` or a value that is really the next flag: both mean the user forgot the value.
    if (value !== undefined && (value === '' || value.startsWith('-'))) {
      throw new UsageError(`--${name} needs a ${name === 'pubkey' ? 'file' : 'folder'}, got ${JSON.stringify(value)}`, { hint: 'Run with --help for usage.' })
    }
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${positionals[1]}`, { hint: 'Give one command at most. Run with --help for usage.' })
  const command = positionals[0] ?? 'install'
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new UsageError(`unknown command ${JSON.stringify(command)}`, { hint: `Commands: ${COMMANDS.join(', ')}. Run with --help for usage.` })
  }
  const join = joinArgs(values, env)
  if (join !== null && command !== 'install') throw new UsageError(`--cloudcore goes with install, not ${command}`)
  if (values.deep === true && command !== 'verify') throw new UsageError(`--deep goes with verify, not ${command}`, { hint: 'An install always reads every archive itself.' })
  if (join?.run === true && values.root !== undefined) {
    throw new UsageError('--join does not go with --root: joining is for the running node, and keadm would join this machine, not the image at --root', {
      hint: 'Install into the image with --root; run `install --cloudcore HOST:PORT --join` on the node once it runs from that image.',
    })
  }
  const mode: InstallerMode = values.help ? 'help' : values.version ? 'version' : 'command'
  return {
    mode,
    command: command as InstallerCommand,
    bundle: values.bundle,
    root: values.root,
    dryRun: values['dry-run'] === true,
    json: values.json === true,
    pubkey: values.pubkey,
    deep: values.deep === true,
    join,
  }
}
