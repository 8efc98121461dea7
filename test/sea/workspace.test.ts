/** The executable cache's scratch folders and locks: one builder per key, dead holders' leftovers recovered. */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { createWorkDir, seaDirs, withLock } from '../../src/sea/workspace.js'

const root = mkdtempSync(join(tmpdir(), 'edgebundle-workspace-'))
t.teardown(() => rmSync(root, { recursive: true, force: true }))
const dirs = seaDirs(root)

/** A pid that is certainly not running: above the kernel's pid_max default range. */
const DEAD_PID = 2 ** 22 + 12345

t.test('a lock serializes holders of one key; other keys run alongside', async (t) => {
  const order: string[] = []
  let entered!: () => void
  const a1In = new Promise<void>((resolve) => (entered = resolve))
  const a1 = withLock(dirs, 'a', async () => {
    order.push('a1+')
    entered()
    await sleep(300)
    order.push('a1-')
  })
  await a1In
  const a2 = withLock(dirs, 'a', async () => void order.push('a2+', 'a2-'))
  const b1 = withLock(dirs, 'b', async () => void order.push('b1+', 'b1-'))
  await Promise.all([a1, a2, b1])
  t.same(order, ['a1+', 'b1+', 'b1-', 'a1-', 'a2+', 'a2-'])
  t.same(readdirSync(dirs.locks), [], 'locks are released')
})

t.test('a lock left by a dead process is broken; scratch folders of dead builders are swept', async (t) => {
  mkdirSync(dirs.locks, { recursive: true })
  const stale = join(dirs.locks, 'c.lock')
  writeFileSync(stale, `${DEAD_PID}\n`)
  const old = new Date(Date.now() - 10_000)
  utimesSync(stale, old, old)
  t.equal(await withLock(dirs, 'c', async () => 'ran'), 'ran')

  mkdirSync(dirs.work, { recursive: true })
  const dead = join(dirs.work, `${DEAD_PID}-abcdef`)
  mkdirSync(dead)
  const ancient = new Date(Date.now() - 10 * 60_000)
  utimesSync(dead, ancient, ancient)
  const mine = await createWorkDir(dirs)
  t.notOk(existsSync(dead), "a dead builder's folder is removed")
  t.ok(existsSync(mine))
  const live = await createWorkDir(dirs)
  t.ok(existsSync(mine) && existsSync(live), "this process's own folders stay")
})
