/**
 * The installer script's memo: recalled only while every file it was made from has the same bytes (and
 * an absent one is still absent); edits, a damaged memo and an input edited during the build all make
 * esbuild run again. Then the real thing: the same script either way.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { bundleInstallerScript, installerScript } from '../../src/sea/build-exe.js'
import { type MadeScript, memoizedScript } from '../../src/sea/script-memo.js'

t.test('recalled while the inputs are unchanged, made again when one changes', async (t) => {
  const root = t.testdir({ src: { 'a.ts': 'export const a = 1\n', 'b.ts': 'export const b = 2\n' } })
  const memo = join(root, 'memo')
  let makes = 0
  const make = async (): Promise<MadeScript> => {
    makes++
    const code = `// build ${makes}\n`
    return { code, sha256: sha(code), inputs: { 'src/a.ts': 19, 'src/b.ts': 19, 'tsconfig.json': null } }
  }
  const first = await memoizedScript(memo, { options: 1 }, root, make)
  t.match(first, { recalled: false, code: '// build 1\n' })
  t.match(await memoizedScript(memo, { options: 1 }, root, make), { recalled: true, code: '// build 1\n', sha256: first.sha256 })
  t.equal(makes, 1)

  t.match(await memoizedScript(memo, { options: 2 }, root, make), { recalled: false }, 'other options, another memo')
  t.match(await memoizedScript(memo, { options: 1 }, root, make), { recalled: true }, 'and the first one stays')

  writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 9\n')
  t.match(await memoizedScript(memo, { options: 1 }, root, make), { recalled: false }, 'same size, other bytes')
  t.match(await memoizedScript(memo, { options: 1 }, root, make), { recalled: true })

  writeFileSync(join(root, 'tsconfig.json'), '{}\n')
  t.match(await memoizedScript(memo, { options: 1 }, root, make), { recalled: false }, 'a file that was absent appeared')

  const [script] = readdirSync(memo).filter((name) => name.endsWith('.js'))
  writeFileSync(join(memo, script!), '// tampered\n')
  t.match(await memoizedScript(memo, { options: 1 }, root, make), { recalled: false }, 'a script that is not what the memo says is not used')
  writeFileSync(join(memo, script!.replace(/\.js$/, '.json')), '{"format":1')
  t.match(await memoizedScript(memo, { options: 1 }, root, make), { recalled: false }, 'nor a damaged memo')
  t.match(await memoizedScript(memo, { options: 1 }, root, make), { recalled: true })
})

t.test('an input edited while the script was made is not vouched for', async (t) => {
  const root = t.testdir({ 'a.ts': 'one\n' })
  const memo = join(root, 'memo')
  const editedDuring = async (): Promise<MadeScript> => {
    writeFileSync(join(root, 'a.ts'), 'one, and more\n')
    return { code: 'x', sha256: sha('x'), inputs: { 'a.ts': 4 } }
  }
  t.match(await memoizedScript(memo, {}, root, editedDuring), { recalled: false })
  let made = false
  await memoizedScript(memo, {}, root, async () => {
    made = true
    return { code: 'y', sha256: sha('y'), inputs: { 'a.ts': 14 } }
  })
  t.ok(made, 'nothing was remembered, so the next build makes it again')
})

t.test('the installer script: esbuild once, then the memo, the same bytes as a fresh esbuild run', async (t) => {
  const cache = t.testdir()
  mkdirSync(join(cache, 'sea'), { recursive: true })
  const fresh = await bundleInstallerScript()
  const first = await installerScript(cache)
  const second = await installerScript(cache)
  t.equal(first.origin, 'esbuild')
  t.equal(second.origin, 'memo')
  t.equal(first.sha256, fresh.sha256)
  t.equal(second.sha256, fresh.sha256)
  t.equal(second.code, fresh.code)
})

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
