/**
 * The step executors: one per step kind (a Record over StepKind, so a new kind does not compile until
 * the installer carries it out), each doing what install.sh's function of the same name does, through
 * the Placer (files, journaled) and the one Node (commands, the preflight probe, the runtime over CRI;
 * node.ts). The bundle's archives come in beside it, so each can be replaced in tests.
 */
import { createHash } from 'node:crypto'
import { lstat, mkdir, mkdtemp, readFile, readdir, realpath, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pidAlive } from '../io/process.js'
import { EdgebundleError, EXIT } from '../model/errors.js'
import type { Plan, Step, StepKind, StepOf } from '../model/plan.js'
import { containerRunArgs } from '../plan/container-args.js'
import { type ArchiveFormat, checkTree } from './archive/index.js'
import type { Journal } from './journal.js'
import { mergeConfig } from './merge.js'
import type { BundleArchives } from './bundle-archives.js'
import type { Node, RuntimeCheck } from './node.js'
import { type PreflightResult, moduleLoaded, runPreflight } from './preflight.js'
import { type Placer, StepError } from './place.js'

export type CheckResult = PreflightResult

export interface StepEvents {
  info(message: string): void
  warn(message: string): void
  check(result: CheckResult): void
}

export interface StepContext {
  plan: Plan
  bundleDir: string
  root: string | undefined
  dryRun: boolean
  placer: Placer
  journal: Journal
  /** The node, whole: the steps run its commands, read its probe and ask its runtime (files go through the placer). */
  node: Node
  /** The bundle's archives, reusing what verification scanned. */
  archives: BundleArchives
  events: StepEvents
  /** A fresh scratch folder on this machine (not under --root), removed at the end of the run. */
  scratch(): Promise<string>
}

/** Preflight found problems (exit 4); nothing has been changed yet. */
export class PreflightError extends EdgebundleError {
  constructor(readonly failures: CheckResult[]) {
    super(`${failures.length} preflight check${failures.length === 1 ? '' : 's'} failed; nothing was changed`, EXIT.preflight, {
      hint: failures.map((failure) => `${failure.message}: ${failure.whatToDo ?? 'see above'}`).join('\n  '),
    })
  }
}

type Executor<K extends StepKind> = (step: StepOf<K>, context: StepContext) => Promise<void>

/** No --root: this run changes the node it runs on (services, modules, containers), not a mounted tree. */
const onRealNode = (context: StepContext) => context.root === undefined
const bundleFile = (context: StepContext, file: string) => join(context.bundleDir, ...file.split('/'))
const octal = (mode: string) => Number.parseInt(mode, 8)

async function runOrFail(context: StepContext, command: string, args: string[], what: string, options: { cwd?: string; env?: Record<string, string> } = {}) {
  const result = await context.node.system.run(command, args, options)
  if (result.code !== 0) {
    const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-10).join('\n    ')
    throw new StepError(`${what} failed (${command} exited with ${result.code})${detail ? `:\n    ${detail}` : ''}`)
  }
  return result
}

async function unpack(context: StepContext, file: string, format: ArchiveFormat, strip: number, contents = true): Promise<string> {
  const tree = join(await context.scratch(), 'tree')
  await mkdir(tree, { mode: 0o700 })
  await context.archives.extract(bundleFile(context, file), format, strip, tree, { contents })
  return tree
}

/** `key = value` lines of a sysctl.d file, as `sysctl -p` reads them. */
export function sysctlSettings(text: string): { key: string; value: string }[] {
  const out: { key: string; value: string }[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';') || !line.includes('=')) continue
    const key = line.slice(0, line.indexOf('=')).replace(/\s/g, '').replace(/^-/, '')
    const value = line.slice(line.indexOf('=') + 1).trim().replace(/\s+/g, ' ')
    out.push({ key, value })
  }
  return out
}

async function packageInstalled(context: StepContext, manager: 'dpkg' | 'rpm', file: string): Promise<{ name: string; installed: boolean; anyVersion: boolean }> {
  const root = context.root
  if (manager === 'dpkg') {
    const field = async (name: string) => (await runOrFail(context, 'dpkg-deb', ['-f', file, name], `reading ${file}`)).stdout.trim()
    const arch = await field('Architecture')
    const name = await field('Package')
    // dpkg-query needs the architecture qualifier for a multi-arch package; the journal records the bare name.
    const qualified = arch === 'all' ? name : `${name}:${arch}`
    const version = await field('Version')
    const query = await context.node.system.run('dpkg-query', [`--admindir=${root ?? ''}/var/lib/dpkg`, '-W', '-f=${Status} ${Version}', qualified])
    const have = query.code === 0 ? query.stdout : ''
    return { name, installed: have === `install ok installed ${version}`, anyVersion: have.startsWith('install ok installed ') }
  }
  const nevra = (await runOrFail(context, 'rpm', ['-qp', '--nosignature', '--qf', '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}', file], `reading ${file}`)).stdout.trim()
  const name = (await runOrFail(context, 'rpm', ['-qp', '--nosignature', '--qf', '%{NAME}', file], `reading ${file}`)).stdout.trim()
  const rootArgs = root === undefined ? [] : ['--root', root]
  const installed = (await context.node.system.run('rpm', ['-q', ...rootArgs, nevra])).code === 0
  const anyVersion = installed || (await context.node.system.run('rpm', ['-q', ...rootArgs, name])).code === 0
  return { name, installed, anyVersion }
}

const EXECUTORS: { [K in StepKind]: Executor<K> } = {
  async preflight(step, context) {
    const platform = context.plan.target.os === 'windows' ? 'windows' : 'linux'
    const results = runPreflight(step.checks, { root: context.root, dryRun: context.dryRun, platform }, context.node.probe)
    for (const result of results) context.events.check(result)
    const failures = results.filter((result) => result.outcome === 'failed' && result.severity === 'error')
    if (failures.length > 0) throw new PreflightError(failures)
  },

  async 'install-archive'(step, context) {
    const format = step.format
    if (!context.dryRun) {
      const tree = await unpack(context, step.file, format, step.strip)
      await context.placer.copyTree(tree, step.dest, { consume: true })
      return rm(tree, { recursive: true, force: true })
    }
    // A dry run lists the tree's shape (no bytes written) and decompresses the archive again only if
    // a file it holds is already on the node and must be compared.
    const tree = await unpack(context, step.file, format, step.strip, false)
    let digests: Promise<Map<string, string>> | undefined
    const digestOf = (relative: string) => {
      digests ??= context.archives.digests(bundleFile(context, step.file), format, step.strip)
      return digests.then((all) => all.get(relative) ?? '')
    }
    await context.placer.copyTree(tree, step.dest, { contentOf: (relative) => ({ sha256: () => digestOf(relative) }) })
    await rm(tree, { recursive: true, force: true })
  },

  async 'install-binary'(step, context) {
    await context.placer.placeFile({ file: bundleFile(context, step.file) }, step.dest, 0o755)
  },

  async 'run-upstream-installer'(step, context) {
    if (context.dryRun) {
      // Its output is only known by running it; a dry run runs nothing.
      context.placer.events.change(`run ${step.subdir}/${step.script} from ${step.file} and place what it installs`)
      return
    }
    if (context.node.system.which(step.interpreter) === null) throw new StepError(`the installer of ${step.component} needs ${step.interpreter}, which is not installed`)
    const tree = await unpack(context, step.file, step.format, 0)
    const script = join(tree, ...step.subdir.split('/'), ...step.script.split('/'))
    if (!(await stat(script).catch(() => null))?.isFile()) throw new StepError(`${step.file} has no ${step.subdir}/${step.script}`)
    const destdir = join(await context.scratch(), 'destdir')
    await mkdir(destdir, { mode: 0o755 })
    context.events.info(`running ${step.subdir}/${step.script} from ${step.file}`)
    await runOrFail(context, step.interpreter, [`./${step.script}`], `the installer of ${step.component} (${step.subdir}/${step.script})`, {
      cwd: join(tree, ...step.subdir.split('/')),
      env: { DESTDIR: destdir },
    })
    // What the script installed is checked like an unpacked archive before any of it reaches the node.
    try {
      await checkTree(`${step.subdir}/${step.script} of ${step.file}`, await realpath(destdir))
    } catch (error) {
      throw new StepError(`the installer of ${step.component} left an unsafe tree: ${(error as Error).message}`)
    }
    await context.placer.copyTree(destdir, '/', { consume: true })
    await rm(tree, { recursive: true, force: true })
    await rm(destdir, { recursive: true, force: true })
  },

  async 'install-packages'(step, context) {
    const tools = step.manager === 'dpkg' ? ['dpkg', 'dpkg-deb', 'dpkg-query'] : ['rpm']
    for (const tool of tools) {
      if (context.node.system.which(tool) === null) throw new StepError(`${tool} is not installed: this bundle needs a node that installs .${step.manager === 'dpkg' ? 'deb' : 'rpm'} packages`)
    }
    const files = step.files.map((file) => bundleFile(context, file))
    const pending: { name: string; anyVersion: boolean }[] = []
    for (const file of files) {
      const state = await packageInstalled(context, step.manager, file)
      if (state.installed) {
        context.placer.events.unchanged()
      } else {
        pending.push(state)
        context.placer.events.change(`install ${file.split(/[\\/]/).pop()}`)
      }
    }
    if (pending.length === 0 || context.dryRun) return
    const runId = await context.journal.open()
    // Recorded first: a package that was not there at all is removed by rollback (an upgraded one stays).
    for (const pkg of pending.filter((p) => !p.anyVersion)) {
      await context.journal.append({ op: 'package', run: runId, step: step.id, manager: step.manager, name: pkg.name })
    }
    const rootArgs = context.root === undefined ? [] : step.manager === 'dpkg' ? [`--root=${context.root}`] : ['--root', context.root]
    if (step.manager === 'dpkg') await runOrFail(context, 'dpkg', [...rootArgs, '-i', ...files], 'installing the packages')
    else await runOrFail(context, 'rpm', [...rootArgs, '-Uvh', '--replacepkgs', ...files], 'installing the packages')
  },

  async 'write-file'(step, context) {
    const source = bundleFile(context, step.source)
    if (step.merge === undefined) return context.placer.placeFile({ file: source }, step.dest, octal(step.mode))
    const base = await context.placer.originalContent(step.dest)
    if (base === null) return context.placer.placeFile({ file: source }, step.dest, octal(step.mode))
    const ours = await readFile(source, 'utf8')
    const header = ours.match(/^(#.*\n)*/)?.[0] ?? ''
    const merged = mergeConfig(step.merge, base.toString('utf8'), ours, header)
    if (merged.merged) {
      context.events.info(`merging into the node's own ${step.dest}: its settings stay, the bundle's win where both set one`)
      return context.placer.placeFile({ data: Buffer.from(merged.content) }, step.dest, octal(step.mode))
    }
    context.events.warn(`${step.dest} is replaced, not merged: ${merged.reason}; the node's version is kept in the backup`)
    await context.placer.placeFile({ file: source }, step.dest, octal(step.mode))
  },

  async symlink(step, context) {
    await context.placer.placeSymlink(step.target, step.path)
  },

  async 'load-kernel-modules'(step, context) {
    if (!onRealNode(context)) return context.events.info('skipped under --root: the node loads its modules when it boots')
    for (const module of step.modules) {
      if (moduleLoaded(context.node.probe, module)) {
        context.placer.events.unchanged()
        continue
      }
      if (!context.dryRun) await runOrFail(context, 'modprobe', ['--', module], `loading the kernel module ${module}`)
      context.placer.events.change(`load kernel module ${module}`)
    }
  },

  async 'apply-sysctl'(step, context) {
    if (!onRealNode(context)) return context.events.info('skipped under --root: the node applies /etc/sysctl.d when it boots')
    let text: string
    try {
      text = await readFile(step.file, 'utf8')
    } catch {
      // A dry run has not written the file yet: the bundle's copy says the same.
      const source = context.plan.files.find((file) => file.dest === step.file)
      if (!context.dryRun || source === undefined) throw new StepError(`cannot read ${step.file}`)
      text = await readFile(bundleFile(context, source.source), 'utf8')
    }
    let pending = false
    for (const { key, value } of sysctlSettings(text)) {
      const have = await context.node.system.run('sysctl', ['-n', key])
      if (have.code === 0 && have.stdout.trim().replace(/\s+/g, ' ') === value) {
        context.placer.events.unchanged()
      } else {
        pending = true
        context.placer.events.change(`set ${key} = ${value}`)
      }
    }
    if (pending && !context.dryRun) await runOrFail(context, 'sysctl', ['-p', step.file], `applying ${step.file}`)
  },

  async 'enable-service'(step, context) {
    if (!onRealNode(context)) {
      context.events.warn(`${step.service}: services not started under --root; enable it in the image (systemctl --root=${context.root} enable ${step.service})`)
      return
    }
    if (!context.node.system.systemdRunning()) {
      context.events.warn(`${step.service}: systemd is not running here, so services not started; start ${step.service} by hand`)
      return
    }
    if (!context.dryRun) await runOrFail(context, 'systemctl', ['daemon-reload'], 'systemctl daemon-reload')
    const enabled = (await context.node.system.run('systemctl', ['is-enabled', '--quiet', '--', step.service])).code === 0
    if (enabled) {
      context.placer.events.unchanged()
    } else {
      if (!context.dryRun) {
        const runNumber = await context.journal.open()
        await context.journal.append({ op: 'service', run: runNumber, step: step.id, name: step.service })
        await runOrFail(context, 'systemctl', ['enable', '--', step.service], `enabling ${step.service}`)
      }
      context.placer.events.change(`enable ${step.service}`)
    }
    const active = (await context.node.system.run('systemctl', ['is-active', '--quiet', '--', step.service])).code === 0
    if (!active) {
      if (!context.dryRun) await runOrFail(context, 'systemctl', ['start', '--', step.service], `starting ${step.service}`)
      context.placer.events.change(`start ${step.service}`)
      return
    }
    const changed = step.restartWhenChanged.find((path) => context.journal.changedAtOrUnder(path) || context.placer.changedInDryRun(path))
    if (changed !== undefined) {
      if (!context.dryRun) await runOrFail(context, 'systemctl', ['restart', '--', step.service], `restarting ${step.service}`)
      context.placer.events.change(`restart ${step.service} (${changed} changed)`)
      return
    }
    context.placer.events.unchanged()
  },

  async 'register-windows-service'(step, context) {
    if (!onRealNode(context)) {
      context.events.warn(`${step.service}: services are not registered under --root; run the installer on the node itself`)
      return
    }
    const query = await context.node.system.run('sc.exe', ['query', step.service])
    const registered = query.code === 0
    if (!registered) {
      if (!context.dryRun) {
        const runNumber = await context.journal.open()
        await context.journal.append({ op: 'service', run: runNumber, step: step.id, name: step.service })
        // The program registers itself (containerd.exe --register-service): containerd then records its own
        // service command line (--run-service and the other arguments) and restart-on-failure actions; see
        // cmd/containerd/command/service_windows.go of containerd. An sc.exe create with these arguments
        // would register a service that, when started, registers again and exits.
        await runOrFail(context, step.binary, step.args, `registering ${step.service} (${step.binary} ${step.args.join(' ')})`)
      }
      context.placer.events.change(`register ${step.service}`)
    }
    const running = registered && /RUNNING/.test((await context.node.system.run('sc.exe', ['query', step.service])).stdout)
    const changed = step.restartWhenChanged.find((path) => context.journal.changedAtOrUnder(path) || context.placer.changedInDryRun(path))
    if (running && changed === undefined) return context.placer.events.unchanged()
    if (!context.dryRun) {
      if (running) await stopWindowsService(context, step.service)
      await runOrFail(context, 'sc.exe', ['start', step.service], `starting ${step.service}`)
    }
    context.placer.events.change(running ? `restart ${step.service} (${changed} changed)` : `start ${step.service}`)
  },

  async 'run-container'(step, context) {
    if (!onRealNode(context)) return context.events.info(`skipped under --root: run the installer on the node itself to run the container ${step.name}`)
    if (context.node.system.which('docker') === null) throw new StepError(`docker is needed to run the container ${step.name}`)
    for (const dir of step.createDirs) await context.placer.ensureDir(dir, 0o755)
    const args = containerRunArgs(step)
    // The same hash install.sh computes (printf '%s\n' name detach args… | sha256sum): either installer sees the other's container as current.
    const sum = createHash('sha256').update([step.name, String(step.detach), ...args].map((line) => `${line}\n`).join('')).digest('hex')
    const stamp = `${context.placer.paths.stateDir}/stamps/container-${step.name}.sha256`
    const inspect = await context.node.system.run('docker', ['container', 'inspect', '-f', '{{.State.Running}} {{index .Config.Labels "edgebundle.hash"}}', step.name])
    const state = inspect.code === 0 ? inspect.stdout.trim() : 'absent'
    if (step.detach && state === `true ${sum}`) return context.placer.events.unchanged()
    if (!step.detach) {
      const previous = await readFile(context.placer.paths.host(stamp), 'utf8').catch(() => '')
      if (previous.trim() === sum) return context.placer.events.unchanged()
    }
    if ((await context.node.system.run('docker', ['image', 'inspect', step.image])).code !== 0) {
      throw new StepError(`the image ${step.image} is not in docker; load it first (docker load -i FILE): this node pulls nothing`)
    }
    if (context.dryRun) return context.placer.events.change(`run the container ${step.name} from ${step.image}`)
    if (state !== 'absent') await runOrFail(context, 'docker', ['rm', '-f', step.name], `removing the old container ${step.name}`)
    const runNumber = await context.journal.open()
    await context.journal.append({ op: 'container', run: runNumber, step: step.id, name: step.name })
    if (step.detach) {
      await runOrFail(context, 'docker', ['run', '-d', '--name', step.name, '--restart=always', '--label', `edgebundle.hash=${sum}`, ...args], `starting the container ${step.name}`)
      context.placer.events.change(`started the container ${step.name} from ${step.image}`)
    } else {
      await runOrFail(context, 'docker', ['run', '--rm', '--name', step.name, ...args], `running the container ${step.name}`)
      await context.placer.placeFile({ data: Buffer.from(`${sum}\n`) }, stamp, 0o644)
      context.placer.events.change(`ran the container ${step.name} from ${step.image} to completion`)
    }
  },

  async 'import-image'(step, context) {
    const address = await runtimeSocket(context, step.address)
    if (address === null) return context.events.info(`skipped under --root: ${step.image} is loaded when the runtime runs (re-run the installer on the node)`)
    const tool = await findTool(context, step.tool)
    if (tool === null) {
      context.events.warn(`${step.tool} is not installed: ${step.image} was not loaded, so the runtime will try to pull it`)
      return
    }
    const file = bundleFile(context, step.file)
    const probe: Record<typeof step.tool, string[]> = {
      ctr: ['--address', address, '--namespace', 'k8s.io', 'images', 'list', '--quiet', `name==${step.image}`],
      docker: ['--host', `unix://${address}`, 'image', 'inspect', step.image],
      isula: ['--host', `unix://${address}`, 'inspect', step.image],
      podman: ['image', 'exists', step.image],
    }
    const have = await context.node.system.run(tool, probe[step.tool])
    const present = have.code === 0 && (step.tool !== 'ctr' || have.stdout.trim() !== '')
    if (present) {
      context.placer.events.unchanged()
      return context.events.info(`unchanged: the runtime already holds ${step.image}`)
    }
    if (context.dryRun) return context.placer.events.change(`load ${step.image} from ${step.file} with ${step.tool}`)
    const load: Record<typeof step.tool, string[]> = {
      ctr: ['--address', address, '--namespace', 'k8s.io', 'images', 'import', file],
      docker: ['--host', `unix://${address}`, 'load', '--input', file],
      isula: ['--host', `unix://${address}`, 'load', '--input', file],
      podman: ['load', '--input', file],
    }
    await runOrFail(context, tool, load[step.tool], `loading ${step.image} with ${step.tool}`)
    context.placer.events.change(`loaded ${step.image} with ${step.tool}`)
  },

  async 'check-runtime'(step, context) {
    const socket = await runtimeSocket(context, step.endpoint.replace(/^unix:\/\//, ''))
    if (socket === null) return context.events.info('skipped under --root: the runtime is not running')
    const endpoint = step.endpoint.startsWith('unix://') ? `unix://${socket}` : socket
    if (context.dryRun) return context.events.info(`would ask the runtime at ${endpoint} over CRI whether it answers`)
    let result: RuntimeCheck | null
    try {
      result = await context.node.cri.checkRuntime(endpoint, step.sandboxImage)
    } catch (error) {
      if (context.node.system.systemdRunning()) throw new StepError(`the runtime does not answer at ${step.endpoint}: ${(error as Error).message}`, 'See its log: journalctl -u <its service>.')
      context.events.warn(`the runtime does not answer at ${step.endpoint}: without systemd it was not started, so start it and check again with crictl info`)
      return
    }
    if (result === null) {
      context.events.warn(`the runtime at ${step.endpoint} cannot be asked over CRI from here; check it with crictl info`)
      return
    }
    context.events.info(`the runtime answers at ${step.endpoint}: ${result.runtime}`)
    for (const condition of result.notReady) context.events.warn(`the runtime reports ${condition}`)
    if (result.sandboxImage === null) context.events.info(`the runtime does not report its sandbox image; the bundle configured ${step.sandboxImage}`)
    else if (result.sandboxImage === step.sandboxImage) context.events.info(`it uses the pause image ${step.sandboxImage}`)
    else context.events.warn(`the runtime reports the sandbox image ${result.sandboxImage}, not ${step.sandboxImage}: pods may try to pull it`)
  },
}

/**
 * A tool on PATH, or on a Windows node one the bundle's archives put in place: containerd's installers
 * leave C:\Program Files\containerd (ctr.exe) off PATH, and so does this plan.
 */
async function findTool(context: StepContext, tool: string): Promise<string | null> {
  const found = context.node.system.which(tool)
  if (found !== null || context.plan.target.os !== 'windows') return found
  for (const step of context.plan.steps) {
    if (step.kind !== 'install-archive') continue
    const candidate = `${step.dest}\\${tool}.exe`
    if ((await stat(context.placer.paths.host(candidate)).catch(() => null))?.isFile()) return candidate
  }
  return null
}

/** How long a Windows service may take to stop before the restart gives up (containerd drains its tasks first). */
const SERVICE_STOP_POLLS = 60
const SERVICE_STOP_POLL_MS = 1000

/** sc.exe stop only asks: the service is STOP_PENDING until it exits, and sc.exe start fails until then. */
async function stopWindowsService(context: StepContext, service: string): Promise<void> {
  await runOrFail(context, 'sc.exe', ['stop', service], `stopping ${service}`)
  for (let poll = 0; poll < SERVICE_STOP_POLLS; poll++) {
    if (/STOPPED/.test((await context.node.system.run('sc.exe', ['query', service])).stdout)) return
    await new Promise((resolve) => setTimeout(resolve, SERVICE_STOP_POLL_MS))
  }
  throw new StepError(`${service} did not stop within ${(SERVICE_STOP_POLLS * SERVICE_STOP_POLL_MS) / 1000} s`, `See its state with sc.exe query ${service}.`)
}

/**
 * The runtime socket the image import and the CRI check talk to: the plan's on the real node (no --root); under
 * --root, the one inside the root when a runtime is serving there (a chroot, a staging test), else null
 * (nothing to talk to: the steps are skipped).
 */
async function runtimeSocket(context: StepContext, address: string): Promise<string | null> {
  if (onRealNode(context)) return address
  if (!address.startsWith('/')) return null
  const inRoot = context.placer.paths.host(address)
  const stats = await stat(inRoot).catch(() => null)
  return stats?.isSocket() ? inRoot : null
}

export async function executeStep(step: Step, context: StepContext): Promise<void> {
  await (EXECUTORS[step.kind] as Executor<StepKind>)(step as never, context)
}

/** Scratch folders are named edgebundle.<pid>.<random>: a later run can tell whose they were. */
const SCRATCH_NAME = /^edgebundle\.(\d+)\.[A-Za-z0-9]{6}$/

export interface ScratchSpace {
  make(): Promise<string>
  cleanup(): Promise<void>
  /**
   * Removes scratch folders that runs killed before their cleanup left behind (an unpacked Kata is
   * gigabytes): ours by name and owner, their process gone. Returns how many.
   */
  sweep(): Promise<number>
}

/** A scratch-folder factory under ${TMPDIR:-/var/tmp} (not /tmp: often a small tmpfs), and its cleanup. */
export function scratchSpace(): ScratchSpace {
  const made: string[] = []
  const base = process.platform === 'win32' ? tmpdir() : (process.env.TMPDIR ?? '/var/tmp')
  return {
    async make() {
      const dir = await mkdtemp(join(base, `edgebundle.${process.pid}.`))
      made.push(dir)
      return dir
    },
    async cleanup() {
      for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true })
    },
    async sweep() {
      let removed = 0
      for (const name of await readdir(base).catch(() => [] as string[])) {
        const pid = Number(SCRATCH_NAME.exec(name)?.[1] ?? Number.NaN)
        if (!Number.isSafeInteger(pid) || pid === process.pid || pidAlive(pid)) continue
        const info = await lstat(join(base, name)).catch(() => null)
        // Only real folders of this user: a shared temp folder may hold anyone's.
        if (info === null || !info.isDirectory() || (process.getuid !== undefined && info.uid !== process.getuid())) continue
        await rm(join(base, name), { recursive: true, force: true })
        removed++
      }
      return removed
    },
  }
}
