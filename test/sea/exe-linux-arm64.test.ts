/** The linux-arm64 installer executable, run under qemu-aarch64-static with the arm64 cross sysroot. */
import { existsSync } from 'node:fs'
import t from 'tap'
import { which } from '../../src/sea/host.js'
import { exerciseInstaller } from './exercise.js'
import { EXE_TEST_TIMEOUT_MS, installerFor, need, runLinux } from './fixtures.js'

t.setTimeout(EXE_TEST_TIMEOUT_MS)

t.test('linux-arm64 under qemu: --version, dry run and tamper detection inside a real bundle', async (t) => {
  if (!need(t, which('qemu-aarch64-static') !== null, 'qemu-aarch64-static (qemu-user-static)')) return
  if (!need(t, existsSync('/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1'), 'the arm64 cross sysroot (libc6-arm64-cross)')) return
  const built = await installerFor(t, 'linux/arm64')
  if (!built) return
  t.equal(built.fileName, 'install')
  await exerciseInstaller(t, {
    built,
    request: { os: 'ubuntu', arch: 'arm64', runtime: 'containerd' },
    reports: 'linux-arm64',
    run: (executable, args, cwd) => runLinux('linux/arm64', executable, args, cwd),
  })
})
