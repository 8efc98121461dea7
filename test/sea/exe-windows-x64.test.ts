/** The win-x64 installer executable (install.exe), run under wine64 in a fresh prefix. */
import { existsSync } from 'node:fs'
import t from 'tap'
import { exerciseInstaller } from './exercise.js'
import { EXE_TEST_TIMEOUT_MS, WINE64, Wine, installerFor, need } from './fixtures.js'

t.setTimeout(EXE_TEST_TIMEOUT_MS)

t.test('win-x64 under wine: --version, dry run and tamper detection inside a real bundle', async (t) => {
  if (!need(t, existsSync(WINE64), `${WINE64} (wine64)`)) return
  const built = await installerFor(t, 'windows/amd64')
  if (!built) return
  t.equal(built.fileName, 'install.exe')
  const wine = await Wine.create()
  t.teardown(() => wine.close())
  await exerciseInstaller(t, {
    built,
    request: { os: 'windows', arch: 'amd64', runtime: 'containerd' },
    reports: 'win32-x64',
    run: (executable, args, cwd) => wine.run(executable, args, cwd),
  })
})
