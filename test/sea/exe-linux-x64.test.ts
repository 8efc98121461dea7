/** The linux-x64 installer executable, run natively; built once into the shared cache and reused. */
import t from 'tap'
import { SEA_FUSE } from '../../src/sea/sea.js'
import { buildInstallerExecutable, bundleInstallerScript } from '../../src/sea/build-exe.js'
import { exerciseInstaller } from './exercise.js'
import { EXE_TEST_TIMEOUT_MS, SEA_TEST_CACHE, installerFor, runLinux } from './fixtures.js'

t.setTimeout(EXE_TEST_TIMEOUT_MS)

t.test('the bundled installer is small, free of all but the allowed packages and of the SEA fuse', async (t) => {
  const script = await bundleInstallerScript()
  // ~95 KB of src/installer plus @grpc/grpc-js (~280 KB) for the runtime check over CRI.
  t.ok(script.code.length < 512 * 1024, `${script.code.length} bytes`)
  t.notMatch(script.code, /protobufjs|yargs/, '@grpc/proto-loader and what it loads stay out (INSTALLER_EXTERNAL)')
  t.notOk(script.code.includes(SEA_FUSE), 'postject would find the sentinel twice')
  t.notMatch(script.code, /\bimport\.meta\b|\bimport\(/, 'CommonJS only: no import.meta, no dynamic import')
  t.equal((await bundleInstallerScript()).sha256, script.sha256, 'the same sources bundle to the same bytes (the cache key)')
})

t.test('linux-x64: --version, dry run and tamper detection inside a real bundle', async (t) => {
  const built = await installerFor(t, 'linux/amd64')
  if (!built) return
  t.equal(built.fileName, 'install')
  t.ok(built.smokeTested, 'the build started it once before caching it')
  const again = await buildInstallerExecutable('linux/amd64', { cacheDir: SEA_TEST_CACHE, offline: true })
  t.ok(again.cached, 'a second build for the platform is taken from the cache')
  t.equal(again.sha256, built.sha256)
  await exerciseInstaller(t, {
    built,
    request: { os: 'ubuntu', arch: 'amd64', runtime: 'containerd' },
    reports: 'linux-x64',
    run: (executable, args, cwd) => runLinux('linux/amd64', executable, args, cwd),
  })
})
