/**
 * The installer, run as its own process with the real node, killed with SIGKILL at a chosen moment:
 * EDGEBUNDLE_TEST_CRASH=step:K (as step K starts) or write:N (halfway through the N-th file write, after
 * half its bytes reached the temporary file). Only the crash tests run this; the installer itself has no
 * such switch.
 */
import type { NodeFs } from '../../src/installer/node-fs.js'
import { hostNode } from '../../src/installer/host.js'
import { runInstaller } from '../../src/installer/run.js'
import { hostInstallerIo } from './host-io.js'
import { readFileSync } from 'node:fs'
import { open } from 'node:fs/promises'

const [kind, at] = (process.env['EDGEBUNDLE_TEST_CRASH'] ?? 'none:0').split(':') as [string, string]
const target = Number(at)
const die = () => process.kill(process.pid, 'SIGKILL')

const node = hostNode()
let writes = 0
const crashingFs: NodeFs = {
  ...node.fs,
  async writeFile(path, data, mode) {
    writes++
    if (kind === 'write' && writes === target) {
      const bytes = Buffer.isBuffer(data) ? data : readFileSync(data.file)
      const handle = await open(path, 'w', mode)
      await handle.write(bytes.subarray(0, Math.floor(bytes.length / 2)))
      await handle.close()
      die()
    }
    return node.fs.writeFile(path, data, mode)
  },
}

const code = await runInstaller(
  process.argv.slice(2),
  hostInstallerIo({
    stdout(text) {
      process.stdout.write(text)
      if (kind !== 'step') return
      for (const line of text.split('\n')) {
        if (line.startsWith('{') && (JSON.parse(line) as { event: string; index?: number }).event === 'step' && JSON.parse(line).index === target) die()
      }
    },
    env: process.env,
    node: { ...node, fs: crashingFs },
  }),
)
// Reports how many writes a whole run made, so the test knows the crash points.
process.stderr.write(`writes=${writes}\n`)
process.exitCode = code
