/**
 * The executable build's corner of the shared cache root (beside the fetcher's blobs/ and checksums/):
 *
 *   sea/node/…          extracted Node binaries (node-runtime.ts)
 *   sea/exe/<key>/      finished executables with build.json (build-exe.ts)
 *   sea/work/<pid>-<r>/ a build in progress: scratch space, removed when it ends
 *   sea/locks/<key>     one builder per executable at a time; others wait and then reuse its result
 *
 * Like the fetcher's cache it needs no coordination beyond atomic renames, plus the locks, which only
 * save duplicate work (two builders of one key would produce equivalent results).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pidAlive } from '../io/process.js'

export interface SeaDirs {
  root: string
  node: string
  exe: string
  work: string
  locks: string
}

export function seaDirs(cacheDir: string): SeaDirs {
  const root = join(cacheDir, 'sea')
  return { root, node: join(root, 'node'), exe: join(root, 'exe'), work: join(root, 'work'), locks: join(root, 'locks') }
}

export async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true })
}

const isCode = (error: unknown, ...codes: string[]) => codes.includes((error as NodeJS.ErrnoException)?.code ?? '')

/** A dead builder's folder this old is removed; a live pid's is left alone whatever its age. */
const STALE_MS = 60_000

/** A fresh scratch folder for one build; sweeps folders of builders that died. */
export async function createWorkDir(dirs: SeaDirs): Promise<string> {
  await ensureDir(dirs.work)
  for (const name of await readdir(dirs.work)) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1])
    if (!Number.isInteger(pid) || pid === process.pid || pidAlive(pid)) continue
    const path = join(dirs.work, name)
    const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => -1)
    if (age > STALE_MS) await rm(path, { recursive: true, force: true })
  }
  const dir = join(dirs.work, `${process.pid}-${randomBytes(6).toString('hex')}`)
  await mkdir(dir)
  return dir
}

/** How long a lock may be held before it is presumed abandoned (a builder on another host sharing the cache). */
const LOCK_MAX_MS = 2 * 60 * 60 * 1000

/**
 * Runs fn while holding the lock `name`. A lock held by a live process is waited for (polling); one
 * left by a dead process, or older than any build takes, is broken.
 */
export async function withLock<T>(dirs: SeaDirs, name: string, fn: () => Promise<T>, onWait?: (holder: number) => void): Promise<T> {
  await ensureDir(dirs.locks)
  const path = join(dirs.locks, `${name}.lock`)
  let waited = false
  for (;;) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx' })
      break
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim())
    const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => 0)
    if ((Number.isInteger(holder) && holder > 0 && !pidAlive(holder) && age > 1000) || age > LOCK_MAX_MS) {
      // Break it by renaming first: of several breakers exactly one rename succeeds.
      const broken = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.broken`
      await rename(path, broken).then(() => unlink(broken), () => {})
      continue
    }
    if (!waited) onWait?.(holder)
    waited = true
    await sleep(250)
  }
  try {
    return await fn()
  } finally {
    await unlink(path).catch(() => {})
  }
}
