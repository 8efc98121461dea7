import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'

/** Whether process `pid` exists on this machine (EPERM: it does, but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Removes `<name>.<pid>-<hex>.tmp` files in `dir` that a process no longer running left behind (a killed build). */
export async function sweepDeadTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(/\.(\d+)-[0-9a-f]+\.tmp$/.exec(name)?.[1])
    if (Number.isInteger(pid) && pid !== process.pid && !pidAlive(pid)) await rm(join(dir, name), { force: true })
  }
}
