import t from 'tap'
import { deepMerge, mergeConfig } from '../../src/installer/merge.js'

t.test('deepMerge: tables merge key by key, the bundle wins on scalars and arrays', async (t) => {
  t.same(deepMerge({ a: 1, t: { x: 1, y: [1] }, keep: true }, { a: 2, t: { y: [2], z: 3 } }), { a: 2, t: { x: 1, y: [2], z: 3 }, keep: true })
  t.same(deepMerge({ t: 'scalar' }, { t: { x: 1 } }), { t: { x: 1 } }, 'a table replaces a scalar')
})

t.test('mergeConfig: JSON and TOML, with reasons for what cannot be merged', async (t) => {
  const json = mergeConfig('json', '{"log-level":"debug","exec-opts":["native.cgroupdriver=cgroupfs"]}', '{"exec-opts":["native.cgroupdriver=systemd"]}\n', '')
  t.same(json.merged && JSON.parse(json.content), { 'log-level': 'debug', 'exec-opts': ['native.cgroupdriver=systemd'] })
  t.match(mergeConfig('json', '{ not json', '{}', ''), { merged: false, reason: /not valid JSON/ })
  t.match(mergeConfig('json', '[1]', '{}', ''), { merged: false, reason: /not a JSON object/ })
  const toml = mergeConfig('toml', 'version = 2\n[a]\nx = 1\n', 'version = 2\n[a]\ny = 2\n', '# header\n')
  t.ok(toml.merged)
  t.match(toml.content, /^# header\n/)
  t.match(toml.content, /x = 1/)
  t.match(toml.content, /y = 2/)
  t.match(mergeConfig('toml', 'version = 2\n', 'version = 3\n', ''), { merged: false, reason: /version 2 config and the bundle's is version 3/ })
  t.match(mergeConfig('toml', '[[broken', 'version = 3\n', ''), { merged: false, reason: /not valid TOML/ })
})
