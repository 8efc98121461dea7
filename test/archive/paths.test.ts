/** Member names and links, resolved one way for every reader (src/archive/paths.ts). */
import t from 'tap'
import { climbsOut, pathHazard, resolveLinkTarget, strippedName } from '../../src/archive/paths.js'

t.test('strip and normalise as GNU tar does', async (t) => {
  t.equal(strippedName('./pkg//bin/./node', 0), 'pkg/bin/node')
  t.equal(strippedName('./pkg/bin/node', 1), 'pkg/bin/node', 'a "." segment counts as a component')
  t.equal(strippedName('pkg/bin/node', 1), 'bin/node')
  t.equal(strippedName('pkg/', 1), '', 'nothing left')
})

t.test('a relative link is followed from its own folder', async (t) => {
  t.equal(resolveLinkTarget('a/b/link', '../c'), 'a/c')
  t.equal(resolveLinkTarget('a/link', './x/../y'), 'a/y')
  t.equal(resolveLinkTarget('a/link', '..'), '')
  t.equal(resolveLinkTarget('a/link', '../../x'), null)
  t.equal(climbsOut('link', '../x'), true)
  t.equal(climbsOut('a/b/link', '../../x'), false)
})

t.test('hazards, first one first', async (t) => {
  const cases: [string, ReturnType<typeof pathHazard>][] = [
    ['ok/name.txt', null],
    ['a\0b', 'nul'],
    ['a\\b', 'backslash'],
    ['/etc/passwd', 'absolute'],
    ['C:/x', 'drive-letter'],
    ['./C:/x', 'drive-letter'],
    ['a/../../x', 'dot-dot'],
    ['..', 'dot-dot'],
    ['/a\\b', 'backslash'],
  ]
  for (const [name, hazard] of cases) t.equal(pathHazard(name), hazard, JSON.stringify(name))
})
