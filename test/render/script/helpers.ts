/** Running rendered install.sh files for real: bundles on disk, shells, a BusyBox-only PATH. */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Plan, Step } from '../../../src/model/plan.js'
import { renderInstallSh } from '../../../src/render/script/posix.js'
import { makeRoot, writeChecksums } from '../../fixtures/bundle.js'
import { linuxPlan } from '../../fixtures/plans.js'
import { templates } from '../../helpers.js'

export interface Layout {
  dir: string
  bundle: string
  root: string
}

/** A bundle for `plan` (install.sh rendered, SHA256SUMS made by sha256sum) and a fresh node root, under `dir`. */
export function layBundle(dir: string, plan: Plan, build: (bundle: string) => void = () => {}): Layout {
  const bundle = join(dir, 'bundle')
  const root = join(dir, 'root')
  mkdirSync(bundle, { recursive: true })
  build(bundle)
  writeFileSync(join(bundle, 'install.sh'), renderInstallSh(plan, templates), { mode: 0o755 })
  writeChecksums(bundle)
  makeRoot(root)
  return { dir, bundle, root }
}

export interface Shell {
  name: string
  argv: string[]
  /** PATH for the run; undefined keeps the test's own. */
  path?: string
}

/** `which NAME`, or null. */
export function which(name: string): string | null {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
  return found.status === 0 ? found.stdout.trim() : null
}

/**
 * A folder where every BusyBox applet is a link to busybox, plus the few non-BusyBox tools the fixture bundle
 * needs (zstd for the .tar.zst, bash for the CRI-O-like installer): the script then runs on BusyBox's tar,
 * sha256sum, find, awk, stat, cp, mv and ln.
 */
export function busyboxPath(dir: string): string | null {
  const busybox = which('busybox')
  if (!busybox) return null
  mkdirSync(dir, { recursive: true })
  const applets = spawnSync(busybox, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)
  for (const applet of applets) symlinkSync(busybox, join(dir, applet))
  for (const tool of ['zstd', 'bash']) {
    const path = which(tool)
    if (path) symlinkSync(path, join(dir, `${tool}`))
  }
  return dir
}

export interface Run {
  status: number | null
  out: string
}

export function runScript(layout: Layout, args: string[], options: { shell?: Shell; env?: Record<string, string> } = {}): Run {
  const shell = options.shell ?? { name: 'sh', argv: ['sh'] }
  // The caller's EDGEBUNDLE_ROOT must not leak into a run; a test sets it through options.env.
  const { EDGEBUNDLE_ROOT: _ignored, ...inherited } = process.env as Record<string, string>
  const env: Record<string, string> = { ...inherited, ...(shell.path ? { PATH: shell.path } : {}), ...options.env }
  // Run from another folder: the script must find its bundle by itself.
  const result = spawnSync(shell.argv[0]!, [...shell.argv.slice(1), join(layout.bundle, 'install.sh'), ...args], {
    cwd: layout.dir,
    env,
    encoding: 'utf8',
    timeout: 120_000,
  })
  return { status: result.status, out: `${result.stdout}${result.stderr}` }
}

/** dash and bash with the usual tools, and BusyBox ash with nothing but BusyBox (plus zstd and bash). */
export function shells(dir: string): (Shell & { skip?: string })[] {
  const list: (Shell & { skip?: string })[] = [
    { name: 'dash', argv: ['dash'] },
    { name: 'bash', argv: ['bash'] },
  ]
  const path = busyboxPath(join(dir, 'busybox-bin'))
  list.push(path ? { name: 'busybox', argv: [join(path, 'sh')], path } : { name: 'busybox', argv: ['false'], skip: 'busybox is not installed' })
  return list
}

/** The Linux fixture plan with other steps (and the same metadata). */
export const withSteps = (steps: Step[]): Plan => ({ ...linuxPlan(), steps })

/** The Linux plan without its .deb: BusyBox runs its own dpkg applet, and dpkg -r leaves bookkeeping behind. */
export const planWithoutPackages = (): Plan => withSteps(linuxPlan().steps.filter((s) => s.kind !== 'install-packages'))

/** The node's journal under `root`, or null. */
export function journalOf(root: string): string | null {
  const file = join(root, 'var/lib/edgebundle/journal')
  return existsSync(file) ? readFileSync(file, 'utf8') : null
}
