/** The installer script's dependency rule: only INSTALLER_PACKAGES get in, and @grpc/grpc-js is evaluated only on the CRI path. */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { INSTALLER_EXTERNAL, INSTALLER_PACKAGES, bundleInstallerScript, packageOfInput } from '../../src/sea/build-exe.js'

t.test('node_modules inputs map to their package, scoped or not, nested or not', async (t) => {
  t.equal(packageOfInput('node_modules/@grpc/grpc-js/build/src/index.js'), '@grpc/grpc-js')
  t.equal(packageOfInput('node_modules/@js-sdsl/ordered-map/dist/cjs/index.js'), '@js-sdsl/ordered-map')
  t.equal(packageOfInput('node_modules/zod/v4/index.js'), 'zod')
  t.equal(packageOfInput('node_modules/@grpc/proto-loader/node_modules/yargs/index.cjs'), 'yargs', 'the innermost package counts')
})

t.test('the installer script holds grpc-js but does not evaluate it for --version', async (t) => {
  const script = await bundleInstallerScript()
  t.match(script.code, /grpc-node-js/, '@grpc/grpc-js is bundled (its user agent)')
  for (const name of INSTALLER_EXTERNAL) t.match(script.code, `require("${name}")`, `${name} is left as a require on a path never taken`)
  t.notOk(Object.hasOwn(INSTALLER_PACKAGES, '@grpc/proto-loader'))

  // grpc-js requires node:http2 as it loads, and nothing else in the installer does: if --version
  // loaded http2, grpc-js was evaluated eagerly.
  const dir = mkdtempSync(join(tmpdir(), 'edgebundle-installer-script-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'install.cjs'), script.code)
  writeFileSync(join(dir, 'probe.cjs'), "process.on('exit', () => process.stderr.write(`http2 loaded: ${process.moduleLoadList.includes('NativeModule http2')}\\n`))\n")
  const run = spawnSync(process.execPath, ['--require', join(dir, 'probe.cjs'), join(dir, 'install.cjs'), '--version'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  })
  t.equal(run.status, 0, run.stderr)
  t.match(run.stdout, /edgebundle installer/)
  t.match(run.stderr, 'http2 loaded: false', 'grpc-js stayed unevaluated')
})
