/**
 * The installer executable's preflight: the plan's node checks, with the semantics of install.sh on Linux
 * (same outcomes, same --root and --dry-run special cases, same wording), so a bundle passes or fails
 * preflight alike whichever installer runs it. On Windows the executable is the only one (install.ps1 only
 * verifies the bundle and starts it).
 *
 * Pure except through NodeProbe: tests give a fake node, hostProbe() is the real one. The evaluators are a
 * map over CheckKind and platform, so a new check kind does not compile until it is implemented here.
 */
import { Buffer } from 'node:buffer'
import { execFileSync } from 'node:child_process'
import { accessSync, constants, lstatSync, readFileSync, readdirSync, readlinkSync, statSync, statfsSync } from 'node:fs'
import { machine as osMachine } from 'node:os'
import { EXIT, EdgebundleError } from '../model/errors.js'
import type { Check, CheckKind, Severity } from '../model/plan.js'
import { LINUX_COMMAND_DIRS, findCommand } from './system.js'

// --- the node, as preflight sees it ---------------------------------------------------------------------

export type FileType = 'file' | 'dir' | 'symlink' | 'socket' | 'other'

export interface RunResult {
  /** The exit status; 127 when the program could not be started, 124 when it timed out. */
  code: number
  stdout: string
}

/** Everything preflight reads of the node. Paths are host paths (preflight maps them under --root itself). */
export interface NodeProbe {
  /** The type at path following symlinks (test -e / -f / -d), or undefined when nothing resolves there. */
  stat(path: string): FileType | undefined
  /** The type at path itself (test -L), or undefined when there is nothing. */
  lstat(path: string): FileType | undefined
  /** A symlink's target as stored. Throws when path is not a symlink. */
  readlink(path: string): string
  /** A text file's content. Throws when it cannot be read. */
  readFile(path: string): string
  /** Names in a folder, or undefined when it cannot be listed. */
  listDir(path: string): string[] | undefined
  /** test -x: path resolves and may be executed (or searched) by this process. */
  isExecutable(path: string): boolean
  /** filesystem magic of statfs(path) (stat -f), or undefined when it fails. */
  statfsType(path: string): number | undefined
  /** uname -m on Linux; the OS processor architecture (AMD64, ARM64) on Windows. */
  machine(): string
  /** The effective user id (id -u); -1 where there is none (Windows). */
  uid(): number
  /** command -v (Get-Command on Windows): the name is a program on PATH, searched as install.sh's PATH is. */
  commandExists(name: string): boolean
  /** Runs a program without a shell, with a timeout; stderr is discarded. */
  run(command: string, args: string[]): RunResult
  /** Local ports of listening TCP sockets (IPv4 and IPv6), or undefined when this node does not tell. */
  listeningTcpPorts(): ReadonlySet<number> | undefined
}

// --- results --------------------------------------------------------------------------------------------

export type PreflightOutcome = 'ok' | 'skipped' | 'failed'

export interface PreflightResult {
  check: Check
  outcome: PreflightOutcome
  /**
   * How much a failure counts: the check's own severity, except where the scripts only warn whatever the
   * plan says (a mismatch that --root cannot judge, a port that cannot be seen). A failed 'error' stops the
   * install (exit 4); a failed 'warning' is shown and the install goes on.
   */
  severity: Severity
  /** What was found, naming the value: "OS debian", "TCP port 10350 is in use (…)". */
  message: string
  /** For a failure: what the user can do about it. Absent where the message already says it. */
  whatToDo?: string
}

export interface PreflightContext {
  /** --root DIR as an absolute host path, or undefined for the real node (no --root). */
  root: string | undefined
  dryRun: boolean
  platform: 'linux' | 'windows'
}

export interface PreflightSummary {
  ok: number
  skipped: number
  /** Failed checks of severity warning. */
  warnings: number
  /** Failed checks of severity error: any of them means exit 4. */
  errors: number
}

export function summarizePreflight(results: readonly PreflightResult[]): PreflightSummary {
  const summary: PreflightSummary = { ok: 0, skipped: 0, warnings: 0, errors: 0 }
  for (const result of results) {
    if (result.outcome === 'ok') summary.ok++
    else if (result.outcome === 'skipped') summary.skipped++
    else if (result.severity === 'error') summary.errors++
    else summary.warnings++
  }
  return summary
}

/** A check kind in a plan for the other OS: the scripts stop on it as a defect of edgebundle (exit 1). */
export class PreflightDefectError extends EdgebundleError {
  constructor(message: string) {
    super(`internal error: ${message} (a defect in edgebundle, not in this node: please report it)`, EXIT.stepFailed)
  }
}

// --- evaluation -----------------------------------------------------------------------------------------

type Verdict =
  | { outcome: 'ok' | 'skipped'; message: string }
  | { outcome: 'failed'; severity: Severity; message: string; whatToDo?: string }

interface NodeState {
  probe: NodeProbe
  dryRun: boolean
  rootSet: boolean
  /** The root without trailing separators, so root + '/etc/x' is right; '' for --root / (as install.sh's ROOT). */
  root: string
  /** The root as messages name it. */
  rootShown: string
}

const ok = (message: string): Verdict => ({ outcome: 'ok', message })
const skipped = (message: string): Verdict => ({ outcome: 'skipped', message })
const failed = (severity: Severity, message: string, whatToDo: string): Verdict => ({ outcome: 'failed', severity, message, whatToDo })
/** The scripts' plain warn: a warning whatever the check's severity, its advice inside the message. */
const warning = (message: string): Verdict => ({ outcome: 'failed', severity: 'warning', message })

type CheckOf<K extends CheckKind> = Extract<Check, { kind: K }>
type Evaluate<K extends CheckKind> = (check: CheckOf<K>, node: NodeState) => Verdict

const notOn =
  (os: string) =>
  (check: Check): Verdict => {
    throw new PreflightDefectError(`the ${check.kind} check does not run on ${os}, but it is in this ${os} plan`)
  }

// Linux ----------------------------------------------------------------------------------------------------

/** statfs f_type of cgroup2 (stat -f prints it as cgroup2fs). */
export const CGROUP2_SUPER_MAGIC = 0x63677270

/** The ID= value of an os-release text: the first ID= line, one quote stripped from each end, as install.sh. */
export function osReleaseId(text: string): string {
  for (const line of text.split('\n')) {
    if (!line.startsWith('ID=')) continue
    let id = line.slice(3)
    if (id.startsWith('"') || id.startsWith("'")) id = id.slice(1)
    if (id.endsWith('"') || id.endsWith("'")) id = id.slice(0, -1)
    return id
  }
  return ''
}

/** systemd is the init system of this machine. */
export function systemdRunning(probe: NodeProbe): boolean {
  return probe.stat('/run/systemd/system') === 'dir'
}

/** systemd is init here, or (with --root) installed in the image; a dangling link in the image counts. */
function hasSystemd(node: NodeState): boolean {
  if (!node.rootSet) return systemdRunning(node.probe)
  return ['/lib/systemd/systemd', '/usr/lib/systemd/systemd'].some((path) => node.probe.lstat(node.root + path) !== undefined)
}

/** Loaded or built in: /sys/module/NAME (dashes as underscores) or a line of /proc/modules. */
export function moduleLoaded(probe: NodeProbe, module: string): boolean {
  const name = module.replace(/-/g, '_')
  if (probe.stat(`/sys/module/${name}`) === 'dir') return true
  const firstWords = (file: string) => readOrEmpty(probe, file).split('\n').map((line) => line.trim().split(/\s+/)[0])
  if (firstWords('/proc/modules').includes(name)) return true
  // Built into the kernel: modprobe has nothing to load, and a built-in module without parameters has no
  // /sys/module entry. modules.builtin lists it as kernel/<dir>/<module>.ko.
  const release = readOrEmpty(probe, '/proc/sys/kernel/osrelease').trim()
  if (release === '' || release.includes('/')) return false
  return firstWords(`/lib/modules/${release}/modules.builtin`).some((path) => path !== undefined && path.split('/').at(-1)?.replace(/\.ko$/, '').replace(/-/g, '_') === name)
}

function readOrEmpty(probe: NodeProbe, file: string): string {
  try {
    return probe.readFile(file)
  } catch {
    return ''
  }
}

const linux: { [K in CheckKind]: Evaluate<K> } = {
  'os-release': (check, node) => {
    const wanted = check.ids.join(' ')
    let file: string
    if (node.rootSet) {
      file = `${node.root}/etc/os-release`
      if (node.probe.lstat(file) === 'symlink') {
        // An absolute link means a path in the image, not on this machine.
        const link = node.probe.readlink(file)
        if (link.startsWith('/')) file = node.root + link
      }
      if (node.probe.stat(file) !== 'file') return warning(`the OS of the root at ${node.rootShown} is unknown: it has no /etc/os-release (expected one of: ${wanted})`)
    } else {
      file = '/etc/os-release'
      if (node.probe.stat(file) !== 'file') file = '/usr/lib/os-release'
      if (node.probe.stat(file) !== 'file') return failed(check.severity, 'the OS is unknown: there is no /etc/os-release', `run on one of: ${wanted}`)
    }
    let text: string
    try {
      text = node.probe.readFile(file)
    } catch (error) {
      // install.sh would stop with a bare shell error here; a named failure is more use.
      return failed(check.severity, `the OS is unknown: ${file} cannot be read (${(error as Error).message})`, `make ${file} readable, or run on one of: ${wanted}`)
    }
    const id = osReleaseId(text)
    if (check.ids.includes(id)) return ok(`OS ${id}`)
    return failed(check.severity, `the OS is ${id || 'unknown'}, but this bundle is for: ${wanted}`, `use the bundle built for ${id || 'this OS'}`)
  },

  arch: (check, node) => {
    const machine = node.probe.machine()
    if (check.machines.includes(machine)) return ok(`CPU architecture ${machine}`)
    // With --root the image may be for another machine than this one.
    if (node.rootSet) return warning(`this machine is ${machine}; make sure the root at ${node.rootShown} is for one of: ${check.machines.join(' ')}`)
    return failed(check.severity, `the CPU architecture is ${machine}, but this bundle is for: ${check.machines.join(' ')}`, `use the bundle built for ${machine}`)
  },

  root: (check, node) => {
    if (node.dryRun) return skipped('root (a dry run changes nothing)')
    const uid = node.probe.uid()
    if (uid === 0) return ok('running as root')
    return failed(check.severity, `the installer runs as uid ${uid}, not as root`, 'run it with sudo')
  },

  'init-system': (check, node) => {
    if (check.expect !== 'systemd') throw new PreflightDefectError(`unknown init system ${String(check.expect)}`)
    if (hasSystemd(node)) return ok('init system systemd')
    if (node.rootSet) return failed(check.severity, `the root at ${node.rootShown} has no systemd`, "install systemd in the image; this bundle's services are systemd units")
    return failed(check.severity, 'systemd is not the init system', 'boot the node with systemd; without it the services must be started by hand')
  },

  cgroup: (check, node) => {
    if (check.driver === 'systemd' && !hasSystemd(node)) {
      return failed(check.severity, 'the cgroup driver systemd needs systemd as the init system', 'boot with systemd, or build the bundle with --cgroup-driver cgroupfs')
    }
    if (node.rootSet) return skipped('cgroup version (decided by the kernel that boots the root)')
    const probe = node.probe
    if (probe.statfsType('/sys/fs/cgroup') === CGROUP2_SUPER_MAGIC || probe.stat('/sys/fs/cgroup/cgroup.controllers') === 'file') {
      return ok(`cgroup v2, driver ${check.driver}`)
    }
    if (['memory', 'cpu', 'systemd'].some((controller) => probe.stat(`/sys/fs/cgroup/${controller}`) === 'dir')) {
      return ok(`cgroup v1, driver ${check.driver}`)
    }
    return failed(check.severity, 'no cgroup filesystem is mounted at /sys/fs/cgroup', 'mount cgroup v1 or v2 there (systemd does it when it boots the node)')
  },

  'kernel-module': (check, node) => {
    if (node.rootSet) return skipped(`kernel module ${check.module} (the image's kernel is not running)`)
    if (moduleLoaded(node.probe, check.module)) return ok(`kernel module ${check.module}`)
    if (node.probe.commandExists('modinfo') && node.probe.run('modinfo', ['--', check.module]).code === 0) {
      return ok(`kernel module ${check.module} (loadable)`)
    }
    return failed(
      check.severity,
      `the kernel module ${check.module} is neither loaded nor available`,
      // $(uname -r) is for the user's shell, as install.sh prints it.
      "install the kernel's extra modules (for Ubuntu: linux-modules-extra-$(uname -r))",
    )
  },

  'port-free': (check, node) => {
    if (node.rootSet) return warning(`port ${check.port} not checked under --root: make sure nothing listens on it when the node runs (${check.reason})`)
    const ports = node.probe.listeningTcpPorts()
    if (ports === undefined) return warning(`cannot see listening ports (no /proc/net/tcp); make sure port ${check.port} is free (${check.reason})`)
    if (ports.has(check.port)) return failed(check.severity, `TCP port ${check.port} is in use (${check.reason})`, 'stop what listens on it; ss -ltnp shows which program')
    return ok(`TCP port ${check.port} is free`)
  },

  command: (check, node) => {
    if (node.probe.commandExists(check.command)) return ok(`command ${check.command}`)
    if (node.rootSet && LINUX_COMMAND_DIRS.some((dir) => node.probe.isExecutable(`${node.root}${dir}/${check.command}`))) {
      return ok(`command ${check.command} (in the root)`)
    }
    return failed(check.severity, `the command ${check.command} is missing (${check.reason})`, `install ${check.command}`)
  },

  'service-inactive': (check, node) => {
    if (node.rootSet) return skipped(`service ${check.service} (nothing runs in the root)`)
    if (!systemdRunning(node.probe)) return skipped(`service ${check.service} (systemd is not running)`)
    if (node.probe.run('systemctl', ['is-active', '--quiet', '--', check.service]).code === 0) {
      return failed(check.severity, `the service ${check.service} is running (${check.reason})`, `stop and disable it: systemctl disable --now ${check.service}`)
    }
    return ok(`service ${check.service} is not running`)
  },

  'runtime-absent': (check, node) => {
    if (node.rootSet) return skipped(`${check.runtime} (nothing runs in the root)`)
    const socket = check.socket.replace(/^unix:\/\//, '')
    // Anything there counts, not only a socket: a runtime that is stopped leaves its socket file behind.
    if (node.probe.stat(socket) !== undefined) {
      return failed(
        check.severity,
        `${check.runtime} is already here: its socket ${socket} exists (${check.reason})`,
        `remove ${check.runtime} from this node, or use the bundle built for ${check.runtime}`,
      )
    }
    return ok(`no ${check.runtime} socket at ${socket}`)
  },

  'windows-feature': notOn('Linux'),
}

// Windows --------------------------------------------------------------------------------------------------

/** The names a plan may use for each Windows processor architecture, as Windows reports them (PROCESSOR_ARCHITECTURE). */
const WINDOWS_MACHINE_ALIASES: Record<string, readonly string[]> = {
  AMD64: ['amd64', 'x86_64', 'x64'],
  ARM64: ['arm64', 'aarch64'],
}

/** A PowerShell verbatim string; the typographic single quotes are quotes to PowerShell too. */
function psString(value: string): string {
  return `'${value.replace(/['\u2018\u2019\u201a\u201b]/g, (quote) => quote + quote)}'`
}

/**
 * Runs a PowerShell script, returning its trimmed output, or undefined when PowerShell did not run or failed.
 * -EncodedCommand: no quoting of the script through the Windows command line.
 */
export function runPowerShell(probe: NodeProbe, script: string): string | undefined {
  const encoded = Buffer.from(script, 'utf16le').toString('base64')
  const result = probe.run('powershell.exe', ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand', encoded])
  return result.code === 0 ? result.stdout.trim() : undefined
}

export const PS_IS_ADMINISTRATOR =
  '([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)'

/** Prints the feature's state (Enabled, Disabled, …), or nothing when neither cmdlet tells. */
export function psFeatureState(feature: string): string {
  const name = psString(feature)
  return [
    "$ErrorActionPreference = 'Stop'",
    '$state = $null',
    'try {',
    "    if (Get-Command -Name 'Get-WindowsOptionalFeature' -ErrorAction SilentlyContinue) {",
    `        $found = Get-WindowsOptionalFeature -Online -FeatureName ${name} -ErrorAction SilentlyContinue`,
    '        if ($null -ne $found) { $state = [string]$found.State }',
    '    }',
    "    if ($null -eq $state -and (Get-Command -Name 'Get-WindowsFeature' -ErrorAction SilentlyContinue)) {",
    `        $found = Get-WindowsFeature -Name ${name} -ErrorAction SilentlyContinue`,
    "        if ($null -ne $found) { if ($found.Installed) { $state = 'Enabled' } else { $state = 'Disabled' } }",
    '    }',
    '} catch {',
    '    $state = $null',
    '}',
    'if ($null -ne $state) { Write-Output $state }',
  ].join('\n')
}

/** Prints the service's status (Running, Stopped, …), or nothing when there is no such service. */
export function psServiceStatus(service: string): string {
  return [`$svc = Get-Service -Name ${psString(service)} -ErrorAction SilentlyContinue`, 'if ($null -ne $svc) { Write-Output ([string]$svc.Status) }'].join('\n')
}

const sameText = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()

const windows: { [K in CheckKind]: Evaluate<K> } = {
  // A Windows node's OS id is "windows".
  'os-release': (check) => {
    if (check.ids.some((id) => sameText(id, 'windows'))) return ok('OS windows')
    return failed(check.severity, `this is Windows, but the bundle is for: ${check.ids.join(', ')}`, 'use the bundle built for Windows')
  },

  arch: (check, node) => {
    const machine = node.probe.machine() || 'unknown'
    const names = [machine, ...(WINDOWS_MACHINE_ALIASES[machine] ?? [])]
    // Case-insensitive, as Windows names are.
    if (names.some((name) => check.machines.some((wanted) => sameText(wanted, name)))) return ok(`CPU architecture ${machine}`)
    if (node.rootSet) return warning(`this machine is ${machine}; make sure the image at ${node.rootShown} is for one of: ${check.machines.join(', ')}`)
    return failed(check.severity, `the CPU architecture is ${machine}, but this bundle is for: ${check.machines.join(', ')}`, `use the bundle built for ${machine}`)
  },

  root: (check, node) => {
    if (node.dryRun) return skipped('Administrator (a dry run changes nothing)')
    const answer = runPowerShell(node.probe, PS_IS_ADMINISTRATOR)
    if (answer !== undefined && sameText(answer, 'True')) return ok('running as Administrator')
    if (answer !== undefined && sameText(answer, 'False')) {
      return failed(check.severity, 'the installer does not run as Administrator', 'start it from a PowerShell or command prompt opened with Run as administrator')
    }
    // Node cannot ask Windows for the token's role itself: PowerShell does, and the answer must not be assumed either way.
    return failed(
      check.severity,
      'cannot tell whether the installer runs as Administrator (PowerShell did not answer)',
      'start it from a PowerShell or command prompt opened with Run as administrator, with powershell.exe on PATH',
    )
  },

  'init-system': notOn('Windows'),
  cgroup: notOn('Windows'),
  'kernel-module': notOn('Windows'),

  'port-free': (check, node) => {
    if (node.rootSet) return warning(`port ${check.port} not checked under --root: make sure nothing listens on it when the node runs (${check.reason})`)
    const ports = node.probe.listeningTcpPorts()
    if (ports === undefined) return warning(`cannot see listening ports (netstat did not answer); make sure port ${check.port} is free (${check.reason})`)
    if (ports.has(check.port)) {
      return failed(check.severity, `TCP port ${check.port} is in use (${check.reason})`, 'stop what listens on it; Get-NetTCPConnection -LocalPort shows its process')
    }
    return ok(`TCP port ${check.port} is free`)
  },

  command: (check, node) => {
    if (node.probe.commandExists(check.command)) return ok(`command ${check.command}`)
    if (node.rootSet && node.probe.stat(`${node.root}\\Windows\\System32\\${check.command}`) === 'file') return ok(`command ${check.command} (in the image)`)
    return failed(check.severity, `the command ${check.command} is missing (${check.reason})`, `install ${check.command}`)
  },

  'service-inactive': (check, node) => {
    if (node.rootSet) return skipped(`service ${check.service} (nothing runs in the image)`)
    const status = runPowerShell(node.probe, psServiceStatus(check.service))
    if (status === undefined) {
      return warning(`cannot tell whether the service ${check.service} is running (PowerShell did not answer); make sure it is stopped (${check.reason})`)
    }
    if (sameText(status, 'Running')) {
      return failed(check.severity, `the service ${check.service} is running (${check.reason})`, `Stop-Service ${check.service}; Set-Service ${check.service} -StartupType Disabled`)
    }
    return ok(`service ${check.service} is not running`)
  },

  // SOCKET is npipe:////./pipe/NAME or a file path.
  'runtime-absent': (check, node) => {
    if (node.rootSet) return skipped(`${check.runtime} (nothing runs in the image)`)
    const pipe = /^npipe:\/+\.\/pipe\/(.+)$/.exec(check.socket)
    let shown: string
    let present: boolean
    if (pipe) {
      const name = pipe[1]!
      shown = `\\\\.\\pipe\\${name}`
      // Case-insensitive, as Windows names are.
      present = (node.probe.listDir('\\\\.\\pipe\\') ?? []).some((entry) => sameText(entry, name))
    } else {
      shown = check.socket.replace(/^unix:\/\//, '')
      present = node.probe.stat(shown) === 'file'
    }
    if (present) {
      return failed(check.severity, `${check.runtime} is already here: ${shown} exists (${check.reason})`, `remove ${check.runtime} from this node, or use the bundle built for it`)
    }
    return ok(`no ${check.runtime} at ${shown}`)
  },

  'windows-feature': (check, node) => {
    if (node.rootSet) return warning(`the Windows feature ${check.feature} is not checked under --root; enable it in the image`)
    const state = runPowerShell(node.probe, psFeatureState(check.feature)) || undefined
    if (state === undefined) return warning(`cannot tell whether the Windows feature ${check.feature} is enabled`)
    if (sameText(state, 'Enabled')) return ok(`Windows feature ${check.feature}`)
    return failed(check.severity, `the Windows feature ${check.feature} is ${state}`, `Enable-WindowsOptionalFeature -Online -FeatureName ${check.feature} -All, then restart`)
  },
}

const EVALUATORS = { linux, windows }

/** Runs every check in order; one result each. Throws PreflightDefectError for a check of the other OS. */
export function runPreflight(checks: readonly Check[], context: PreflightContext, probe: NodeProbe): PreflightResult[] {
  const rootSet = context.root !== undefined
  // As install.sh's ROOT: no trailing separator, so --root / is ''.
  const root = context.root === undefined ? '' : context.root.replace(context.platform === 'windows' ? /[\\/]+$/ : /\/+$/, '')
  const node: NodeState = { probe, dryRun: context.dryRun, rootSet, root, rootShown: root || '/' }
  const evaluators = EVALUATORS[context.platform]
  return checks.map((check): PreflightResult => {
    const verdict = (evaluators[check.kind] as Evaluate<CheckKind>)(check, node)
    if (verdict.outcome !== 'failed') return { check, outcome: verdict.outcome, severity: check.severity, message: verdict.message }
    return {
      check,
      outcome: 'failed',
      severity: verdict.severity,
      message: verdict.message,
      ...(verdict.whatToDo === undefined ? {} : { whatToDo: verdict.whatToDo }),
    }
  })
}

// --- the real node --------------------------------------------------------------------------------------

/** Long enough for PowerShell's first start and Get-WindowsOptionalFeature; a hung systemctl does not hang us. */
const RUN_TIMEOUT_MS = 60_000

/** Listening ports in /proc/net/tcp or tcp6 text: column 2 is HEXIP:HEXPORT, column 4 the state (0A = LISTEN). */
export function parseProcNetTcp(text: string): Set<number> {
  const ports = new Set<number>()
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields[3] !== '0A') continue
    const port = /:([0-9A-Fa-f]{4})$/.exec(fields[1] ?? '')
    if (port) ports.add(Number.parseInt(port[1]!, 16))
  }
  return ports
}

/** Listening ports in `netstat -an` output: a TCP line whose remote port is 0 (state words are translated). */
export function parseNetstat(text: string): Set<number> {
  const ports = new Set<number>()
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*TCP\s+\S+:(\d+)\s+\S+:0\s/i.exec(line)
    if (match) ports.add(Number(match[1]))
  }
  return ports
}

function fileType(stats: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean; isSocket(): boolean }): FileType {
  if (stats.isFile()) return 'file'
  if (stats.isDirectory()) return 'dir'
  if (stats.isSymbolicLink()) return 'symlink'
  if (stats.isSocket()) return 'socket'
  return 'other'
}

/** The probe of the machine this process runs on. Long by design: one object of short closures over one platform, each a NodeProbe member. */
export function hostProbe(platform: NodeJS.Platform = process.platform): NodeProbe {
  const isWindows = platform === 'win32'
  // Like the shell's test: any error (missing, no permission, a link loop) is "not there".
  const stat = (path: string): FileType | undefined => {
    try {
      return fileType(statSync(path))
    } catch {
      return undefined
    }
  }
  const isExecutable = (path: string): boolean => {
    try {
      accessSync(path, constants.X_OK)
      return true
    } catch {
      return false
    }
  }
  const run = (command: string, args: string[]): RunResult => {
    try {
      const stdout = execFileSync(command, args, { encoding: 'utf8', timeout: RUN_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'ignore'], windowsHide: true })
      return { code: 0, stdout }
    } catch (error) {
      const failure = error as NodeJS.ErrnoException & { status?: number | null; stdout?: string }
      const stdout = typeof failure.stdout === 'string' ? failure.stdout : ''
      if (failure.code === 'ETIMEDOUT') return { code: 124, stdout }
      if (typeof failure.status === 'number') return { code: failure.status, stdout }
      // Not started (ENOENT, EACCES) or killed by a signal: the shell's 127 for "no such command" is near enough.
      return { code: 127, stdout }
    }
  }
  const listeningTcpPorts = (): ReadonlySet<number> | undefined => {
    if (isWindows) {
      const netstat = run('netstat.exe', ['-an'])
      return netstat.code === 0 ? parseNetstat(netstat.stdout) : undefined
    }
    let text: string
    try {
      text = readFileSync('/proc/net/tcp', 'utf8')
    } catch {
      return undefined
    }
    try {
      // tcp6 is missing on a kernel without IPv6: then there is nothing listening on it.
      text += `\n${readFileSync('/proc/net/tcp6', 'utf8')}`
    } catch {}
    return parseProcNetTcp(text)
  }
  return {
    stat,
    lstat: (path) => {
      try {
        return fileType(lstatSync(path))
      } catch {
        return undefined
      }
    },
    readlink: (path) => readlinkSync(path),
    readFile: (path) => readFileSync(path, 'utf8'),
    listDir: (path) => {
      try {
        return readdirSync(path)
      } catch {
        return undefined
      }
    },
    isExecutable,
    statfsType: (path) => {
      try {
        return statfsSync(path).type
      } catch {
        return undefined
      }
    },
    // The OS's architecture, from these, not that of the (possibly 32-bit) process.
    machine: () => (isWindows ? process.env.PROCESSOR_ARCHITEW6432 || process.env.PROCESSOR_ARCHITECTURE || 'unknown' : osMachine()),
    uid: () => (typeof process.geteuid === 'function' ? process.geteuid() : -1),
    commandExists: (name) => findCommand(name) !== null,
    run,
    listeningTcpPorts,
  }
}
