/**
 * The test runner's bundles (test/runner/bundle.mjs): remade when any file they were made from changes,
 * and the bundled code sees its source file's import.meta, as it would under tsx.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { ROOT, bundleEntries, bundlePath, freshBundle } from './bundle.mjs'

// Inside the repository (bundles are keyed by their path in it), in a folder of this process's own.
const dir = join(ROOT, 'test', 'runner', `.scratch-${process.pid}`)
mkdirSync(dir, { recursive: true })
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const entry = join(dir, 'entry.ts')
const helper = join(dir, 'helper.ts')
writeFileSync(helper, `export const where = { url: import.meta.url, dirname: import.meta.dirname, filename: import.meta.filename }\nexport const quoted = 'import.meta.url'\n`)
writeFileSync(entry, `import { where, quoted } from './helper.js'\nconst own: number = 1\nconsole.log(JSON.stringify({ where, quoted, own, self: import.meta.url }))\n`)

t.test('a bundle is made once, used while its inputs are unchanged, remade when one changes', async (t) => {
  t.equal(freshBundle(entry), null, 'nothing made yet')
  await bundleEntries([entry])
  t.equal(freshBundle(entry), bundlePath(entry))
  t.ok(relative(ROOT, bundlePath(entry)).startsWith(join('node_modules', '.cache')), 'kept under node_modules/.cache')
  writeFileSync(helper, `export const where = { url: 'changed', dirname: '', filename: '' }\nexport const quoted = ''\n`)
  t.equal(freshBundle(entry), null, 'an imported file changed: stale')
  await bundleEntries([entry])
  t.equal(freshBundle(entry), bundlePath(entry), 'made again')
  rmSync(helper)
  t.equal(freshBundle(entry), null, 'an input that is gone: stale')
})

t.test('run through register.mjs: import.meta is the source file\'s, strings are left alone', async (t) => {
  writeFileSync(helper, `export const where = { url: import.meta.url, dirname: import.meta.dirname, filename: import.meta.filename }\nexport const quoted = 'import.meta.url'\n`)
  const register = pathToFileURL(join(ROOT, 'test', 'runner', 'register.mjs')).href
  const run = spawnSync(process.execPath, ['--import', register, entry], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } })
  t.equal(run.status, 0, run.stderr)
  const shown = JSON.parse(run.stdout) as { where: Record<string, string>; quoted: string; own: number; self: string }
  t.same(shown.where, { url: pathToFileURL(helper).href, dirname: dir, filename: helper }, "the helper's own location, not the bundle's")
  t.equal(shown.self, pathToFileURL(entry).href)
  t.equal(shown.quoted, 'import.meta.url', 'a string that names import.meta.url is not replaced')
  t.equal(shown.own, 1, 'TypeScript is compiled')
  t.equal(freshBundle(entry), bundlePath(entry), 'the hook made the bundle it ran')
})
