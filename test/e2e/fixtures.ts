/**
 * Real parts for the end-to-end suite: bundles built by `edgebundle build` from the loopback mirror,
 * the bundle's own installer run as a child process, Debian's containerd started on the config the
 * installer placed in a staging root, and a trace of everything that runtime touches outside that root
 * (network links, netfilter rules, cgroups, /run/containerd, /var/lib/cni) so the suite can prove it
 * took all of it away again.
 */
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { parse, stringify } from 'smol-toml'
import { run as cliRun } from '../../src/cli/main.js'
import { debianArtifacts, debianPartsInstalled, testCatalog } from '../fetch/artifacts.js'
import { loopbackHttp, startMirror } from '../fetch/mirror.js'
import { jsonEvents } from '../installer/fixtures.js'
import { type Daemon, missingTools, spawnWatched, waitUntil } from '../oci/fixtures.js'
import { SEA_TEST_CACHE, need } from '../sea/fixtures.js'
import { seaDirs, withLock } from '../../src/sea/workspace.js'

export type Events = ReturnType<typeof jsonEvents>

export interface ProcessResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a program without blocking the event loop (a build may be packing meanwhile); never throws on exit status. */
export function exec(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: { ...process.env, NODE_OPTIONS: '', ...options.env }, timeout: options.timeoutMs ?? 180_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stderr}`))
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr })
      },
    )
  })
}

/** The installer inside an unpacked bundle, with --json: its exit code and parsed events. */
export async function installer(bundleDir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ProcessResult & { events: Events }> {
  const result = await exec(join(bundleDir, 'install'), [...args, '--json'], { cwd: bundleDir, env })
  let events: Events = []
  try {
    events = jsonEvents(result.stdout)
  } catch {
    // not JSON: the assertions on `code` show stdout and stderr
  }
  return { ...result, events }
}

export const doneEvent = (events: Events) => events.find((e) => e.event === 'done') as (Events[number] & { changed?: number; unchanged?: number }) | undefined
export const messages = (events: Events, kind: 'info' | 'warning') => events.filter((e) => e.event === kind).map((e) => String(e.message))

/**
 * Runs `suite` while no other test file on this machine does: suites that start containerd share the
 * host's runtime state (/run/containerd, /var/lib/cni, the cni0 bridge, netfilter), which HostTrace
 * captures before and takes back after. tap runs files side by side; this keeps those suites apart.
 */
export function holdingHostRuntime<T>(suite: () => Promise<T>): Promise<T> {
  return withLock(seaDirs(join(tmpdir(), 'edgebundle-test-host')), 'host-runtime', suite)
}

/** Debian's containerd, runc and CNI plugins, and the image tools: false (the test skipped, saying what to install) when one is missing. */
export function needDebianParts(t: Test): boolean {
  if (!need(t, debianPartsInstalled(), "Debian's containerd, runc and containernetworking-plugins", 'apt-get install -y containerd runc containernetworking-plugins')) return false
  const missing = missingTools().filter((tool) => tool !== 'docker-registry')
  return need(t, missing.length === 0, missing.join(', '), 'apt-get install -y umoci skopeo busybox-static')
}

/** Debian's artifacts served from a loopback mirror (closed when the test ends), a catalog naming them, and an empty cache. */
export async function loopbackInputs(t: Test, work: string): Promise<{ artifacts: ReturnType<typeof debianArtifacts>; catalog: ReturnType<typeof testCatalog>; mirror: Awaited<ReturnType<typeof startMirror>>; cache: string }> {
  const artifacts = debianArtifacts()
  const catalog = testCatalog(work, artifacts)
  const mirror = await startMirror()
  t.teardown(() => mirror.close())
  mirror.serveFixtures(artifacts.files)
  return { artifacts, catalog, mirror, cache: freshArtifactCache(join(work, 'cache')) }
}

/**
 * An artifact cache for one suite: empty, so artifacts really come from the mirror, but sharing two
 * folders of the test cache: the executables (.ci/run warms it; building Node SEAs again would take
 * minutes) and the compressed gzip members (src/pack/member-cache.ts), so the ~100 MB executable is
 * compressed once per run rather than once per suite (suites packing at once wait for each other, as
 * concurrent builds on one cache do).
 */
export function freshArtifactCache(dir: string): string {
  mkdirSync(dir, { recursive: true })
  for (const shared of ['sea', 'gzip-members']) {
    mkdirSync(join(SEA_TEST_CACHE, shared), { recursive: true })
    symlinkSync(join(SEA_TEST_CACHE, shared), join(dir, shared))
  }
  return dir
}

/** `edgebundle build` in-process with a client that refuses every address outside 127.0.0.0/8. */
export async function buildBundle(argv: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  let stdout = ''
  let stderr = ''
  const http = loopbackHttp()
  const started = performance.now()
  try {
    const code = await cliRun(['build', ...argv], { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), http })
    return { code, stdout, stderr, ms: performance.now() - started }
  } finally {
    await http.close()
  }
}

// ------------------------------------------------------------------------------------------- containerd

/**
 * The installed containerd config, copied outside the root with every host path it names moved under
 * the root (so the runtime serves where the installer looks: <root>/run/containerd/containerd.sock), plus
 * what only a test needs:
 *  - restrict_oom_score_adj: in a nested sandbox runc cannot raise the OOM score of the pause process
 *    ("can't get final child's PID from pipe"); a real node does not need it;
 *  - network namespaces under the state folder, runc's state under the root, the "opt" plugin's folder
 *    under the root: nothing of this runtime lands in the host's /var/run/netns, /run/containerd/runc or
 *    /opt/containerd;
 *  - the streaming server on 127.0.0.1 (its default, stated so it stays true).
 */
export function testContainerdConfig(root: string, out: string): Record<string, unknown> {
  const config = parse(readFileSync(join(root, 'etc', 'containerd', 'config.toml'), 'utf8')) as Record<string, any>
  const under = (path: string) => `${root}${path}`
  config['root'] = under(config['root'])
  config['state'] = under(config['state'])
  config['grpc'].address = under(config['grpc'].address)
  const cri = config['plugins']['io.containerd.grpc.v1.cri']
  cri.restrict_oom_score_adj = true
  cri.netns_mounts_under_state_dir = true
  cri.stream_server_address = '127.0.0.1'
  cri.cni.bin_dir = under(cri.cni.bin_dir)
  cri.cni.conf_dir = under(cri.cni.conf_dir)
  if (cri.registry?.config_path) cri.registry.config_path = under(cri.registry.config_path)
  cri.containerd.runtimes.runc.options.Root = under('/run/containerd/runc')
  config['plugins']['io.containerd.internal.v1.opt'] = { path: under('/opt/containerd') }
  writeFileSync(out, stringify(config))
  return config
}

export interface RunningContainerd {
  daemon: Daemon
  socket: string
  log: string
  stop(): Promise<void>
}

/**
 * The containerd the bundle installed under `root` (its shim and runc found first on PATH), on `config`.
 * `offline`: in a network namespace of its own with only loopback, so no registry is reachable from it.
 */
export async function startContainerd(root: string, config: string, log: string, options: { offline?: boolean } = {}): Promise<RunningContainerd> {
  const socket = join(root, 'run', 'containerd', 'containerd.sock')
  const path = `${root}/usr/local/bin:${root}/usr/local/sbin:${process.env.PATH ?? '/usr/bin:/bin'}`
  // env(1) execs containerd in place, so the watchdog's SIGTERM reaches containerd itself.
  // A unix socket path holds at most 107 bytes; the ttrpc socket beside it is the longest containerd makes.
  if (`${socket}.ttrpc`.length > 107) throw new Error(`${socket}.ttrpc is too long for a unix socket: use a shorter TMPDIR`)
  const command = ['env', `PATH=${path}`, join(root, 'usr', 'local', 'bin', 'containerd'), '--config', config]
  // unshare and sh exec in place too; loopback comes up so the CRI streaming server can bind 127.0.0.1.
  const daemon = options.offline
    ? spawnWatched('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', ...command], log)
    : spawnWatched(command[0]!, command.slice(1), log)
  try {
    await waitUntil('containerd', daemon, async () => lstatSync(socket, { throwIfNoEntry: false })?.isSocket() === true, 30_000)
  } catch (error) {
    await daemon.stop()
    throw new Error(`${(error as Error).message}\n${readFileSync(log, 'utf8').slice(-3000)}`)
  }
  return { daemon, socket, log, stop: daemon.stop }
}

// ----------------------------------------------------------------------------------- what it leaves behind

/** Processes whose command line or executable names a path under `dir`. */
export function processesUnder(dir: string): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    try {
      const command = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim()
      let exe = ''
      try {
        exe = readlinkSync(`/proc/${name}/exe`)
      } catch {
        // a kernel thread or gone
      }
      if (command.includes(`${dir}/`) || exe.startsWith(`${dir}/`)) found.push({ pid: Number(name), command })
    } catch {
      // exited while listed
    }
  }
  return found
}

/** Mount points at or below `dir`, deepest first (the order to unmount them in). */
export function mountsUnder(dir: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)))
    // mountinfo escapes spaces and the like as \040; the paths here have none.
    .map((point) => point.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))))
  return [...new Set(points)].sort((a, b) => b.length - a.length)
}

const CGROUP_ROOT = '/sys/fs/cgroup'
/** containerd's CRI plugin names its cgroups after its namespace, /k8s.io/<id>, when the pod gives no parent. */
const CRI_CGROUP = 'k8s.io'

function cgroupHierarchies(): string[] {
  if (!existsSync(CGROUP_ROOT)) return []
  if (existsSync(join(CGROUP_ROOT, 'cgroup.controllers'))) return [CGROUP_ROOT] // unified (v2) only
  return readdirSync(CGROUP_ROOT)
    .map((name) => join(CGROUP_ROOT, name))
    .filter((path) => lstatSync(path).isDirectory())
}

function cgroupDirs(dir: string): string[] {
  if (!existsSync(dir)) return []
  const children = readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isDirectory())
  return [...children.flatMap((entry) => cgroupDirs(join(dir, entry.name))), dir]
}

function listRecursive(path: string): string[] {
  const stat = lstatSync(path, { throwIfNoEntry: false })
  if (!stat) return []
  if (!stat.isDirectory()) return [path]
  return [path, ...readdirSync(path).flatMap((name) => listRecursive(join(path, name)))]
}

const ip = (...args: string[]) => spawnSync('ip', args, { encoding: 'utf8' })

function links(): { name: string; master: string | null }[] {
  const result = ip('-j', 'link', 'show')
  if (result.status !== 0) return []
  return (JSON.parse(result.stdout) as { ifname: string; master?: string }[]).map((link) => ({ name: link.ifname, master: link.master ?? null }))
}

function natTable(): string {
  const result = spawnSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' })
  return result.status === 0 ? result.stdout : ''
}

/** Chains and rules of the nat table, without the packet counters (which move on their own). */
function natRules(table = natTable()): string[] {
  return table
    .split('\n')
    .filter((line) => line.startsWith('-') || line.startsWith(':'))
    .map((line) => line.replace(/ \[\d+:\d+\]$/, ''))
}

/**
 * The host state a CRI runtime and the CNI plugins change outside the staging root, captured before the
 * runtime starts. `cleanup()` takes back everything that was not there (it is also the failure path: it
 * kills leftover shims and pods and unmounts what they left); `leftovers()` lists what is still different.
 */
export class HostTrace {
  /** Folders the runtime or the plugins write to on the host whatever the config says. */
  static readonly PATHS = ['/run/containerd', '/var/lib/cni', '/var/run/netns', '/run/netns', '/opt/containerd']

  private constructor(
    private readonly root: string,
    private readonly bridge: string,
    /** The PATHS that did not exist when captured. */
    private readonly absent: Set<string>,
    private readonly linkNames: Set<string>,
    /** <hierarchy>/k8s.io folders that did not exist when captured: the pods' cgroups go there. */
    private readonly cgroupTops: string[],
    /** The nat table as iptables-save wrote it, to restore when a pod's rules were left behind. */
    private readonly nat: string,
  ) {}

  static capture(root: string, bridge = 'cni0'): HostTrace {
    // Only folders that are not there yet are watched: inside an existing one (a node's own containerd
    // under /run/containerd) nothing is this suite's to judge or delete.
    const absent = new Set(HostTrace.PATHS.filter((top) => !existsSync(top)))
    const cgroupTops = cgroupHierarchies()
      .map((h) => join(h, CRI_CGROUP))
      .filter((dir) => !existsSync(dir))
    return new HostTrace(root, bridge, absent, new Set(links().map((l) => l.name)), cgroupTops, natTable())
  }

  /** True when the bridge was already there (another runtime's): then it is not ours to delete. */
  get bridgeWasThere(): boolean {
    return this.linkNames.has(this.bridge)
  }

  leftovers(): string[] {
    const out: string[] = []
    for (const p of processesUnder(this.root)) out.push(`process ${p.pid}: ${p.command}`)
    for (const m of mountsUnder(this.root)) out.push(`mount ${m}`)
    for (const l of links()) if (!this.linkNames.has(l.name)) out.push(`link ${l.name}${l.master ? ` (on ${l.master})` : ''}`)
    for (const path of [...this.absent].flatMap(listRecursive)) out.push(`path ${path}`)
    for (const dir of this.cgroupTops.flatMap(cgroupDirs)) out.push(`cgroup ${dir}`)
    const before = new Set(natRules(this.nat))
    for (const rule of natRules()) if (!before.has(rule)) out.push(`nat rule ${rule}`)
    return out
  }

  async cleanup(): Promise<void> {
    // Pods first (they hold the mounts and network namespaces), found by the cgroups that are new.
    const newCgroups = this.cgroupTops.flatMap(cgroupDirs)
    for (const dir of newCgroups) {
      const procs = existsSync(join(dir, 'cgroup.procs')) ? readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean) : []
      for (const pid of procs) kill(Number(pid), 'SIGKILL')
    }
    for (const p of processesUnder(this.root)) kill(p.pid, 'SIGTERM')
    await waitFor(() => processesUnder(this.root).length === 0, 5000)
    for (const p of processesUnder(this.root)) kill(p.pid, 'SIGKILL')
    await waitFor(() => processesUnder(this.root).length === 0, 5000)

    for (const point of mountsUnder(this.root)) {
      if (spawnSync('umount', [point]).status !== 0) spawnSync('umount', ['-l', point])
    }
    // Veths of pods whose namespaces went without a CNI DEL, then the bridge itself.
    for (const l of links()) if (!this.linkNames.has(l.name) && l.master === this.bridge) ip('link', 'del', l.name)
    if (!this.bridgeWasThere && links().some((l) => l.name === this.bridge)) ip('link', 'del', this.bridge)
    for (const dir of newCgroups) spawnSync('rmdir', [dir]) // deepest first; only empty cgroups go
    for (const top of this.absent) rmSync(top, { recursive: true, force: true })
    // NAT rules the bridge plugin made (ipMasq) for a pod that was never torn down: the table as it was.
    const before = new Set(natRules(this.nat))
    if (this.nat !== '' && natRules().some((rule) => !before.has(rule) && rule.includes('CNI-'))) spawnSync('iptables-restore', ['-T', 'nat'], { input: this.nat })
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition() && Date.now() < deadline) await new Promise((done) => setTimeout(done, 100))
}

/** The IPv4 routes of this host, to make sure a pod subnet cannot shadow the host's own network. */
export function hostRoutes(): string[] {
  const result = ip('-j', '-4', 'route', 'show')
  if (result.status !== 0) return []
  return (JSON.parse(result.stdout) as { dst: string }[]).map((route) => route.dst).filter((dst) => dst !== 'default')
}

export function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0)
}

/** Whether `address` lies in `cidr` (a.b.c.d/n). */
export function inSubnet(address: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/') as [string, string]
  const size = 2 ** (32 - Number(bits))
  const start = ipv4ToNumber(base) - (ipv4ToNumber(base) % size)
  const n = ipv4ToNumber(address)
  return /^\d+\.\d+\.\d+\.\d+$/.test(address) && n >= start && n < start + size
}

/** Two CIDRs (a bare address counts as /32) overlap. */
export function overlaps(a: string, b: string): boolean {
  const range = (cidr: string) => {
    const [base, bits = '32'] = cidr.split('/') as [string, string?]
    const size = 2 ** (32 - Number(bits))
    const start = ipv4ToNumber(base) - (ipv4ToNumber(base) % size)
    return [start, start + size] as const
  }
  const [a0, a1] = range(a)
  const [b0, b1] = range(b)
  return a0 < b1 && b0 < a1
}

/** The links enslaved to `bridge` and its IPv4 addresses, as `ip` reports them. */
export function bridgeState(bridge: string): { exists: boolean; ports: string[]; addresses: string[] } {
  const all = links()
  const addr = ip('-j', '-4', 'addr', 'show', 'dev', bridge)
  const addresses =
    addr.status === 0 ? (JSON.parse(addr.stdout) as { addr_info: { local: string; prefixlen: number }[] }[]).flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`)) : []
  return { exists: all.some((l) => l.name === bridge), ports: all.filter((l) => l.master === bridge).map((l) => l.name), addresses }
}

/** Asserts exit 0; on failure the output's tail goes with the assertion (on success it would only be noise). */
export function succeeded(t: Test, result: { code: number | null; stdout: string; stderr: string }, what: string, extra: { todo?: string } = {}): boolean {
  const ok = result.code === 0
  t.ok(ok, `${what}: exit 0`, { ...extra, ...(ok ? {} : { exitCode: result.code, stdout: result.stdout.slice(-4000), stderr: result.stderr.slice(-4000) }) })
  return ok
}

/** "a.b.c.d:port" (IPv4) or "[hex]:port" (IPv6) of every TCP socket `pid` listens on, from /proc/net/tcp{,6}. */
export function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`)
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1]
      if (inode) inodes.add(inode)
    } catch {
      // closed while listed
    }
  }
  const found: string[] = []
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields[3] !== '0A' || !inodes.has(fields[9] ?? '')) continue // 0A: LISTEN
      const [hexAddress = '', hexPort = '0'] = (fields[1] ?? '').split(':')
      const port = Number.parseInt(hexPort, 16)
      // IPv4 addresses are stored as one little-endian word.
      const address = hexAddress.length === 8 ? (hexAddress.match(/../g) ?? []).reverse().map((byte) => Number.parseInt(byte, 16)).join('.') : `[${hexAddress}]`
      found.push(`${address}:${port}`)
    }
  }
  return found
}
