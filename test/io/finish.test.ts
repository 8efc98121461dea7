/** The process ends with the work's code; a throw or a stall (nothing left to wait for) is exit 1, said, never a silent 0. */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { TYPESCRIPT_ARGS } from '../fixtures/node-script.js'

const child = fileURLToPath(new URL('./finish-child.ts', import.meta.url))
const run = (mode: string) => spawnSync(process.execPath, [...TYPESCRIPT_ARGS, child, mode], { encoding: 'utf8' })

t.test('the code the work settles on', async (t) => {
  const result = run('code')
  t.equal(result.status, 3)
  t.equal(result.stderr, '')
})

t.test('a throw: exit 1 with the error', async (t) => {
  const result = run('throws')
  t.equal(result.status, 1)
  t.match(result.stderr, /prog: internal error: Error: boom/)
})

t.test('work that never settles: exit 1, not a silent 0', async (t) => {
  const result = run('stalls')
  t.equal(result.status, 1)
  t.match(result.stderr, /prog: internal error: the command stopped before it finished, with nothing left to wait for \(unfinished: ubuntu\/arm64\/kata: archive index\)/)
})
