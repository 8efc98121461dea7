/**
 * The builder's archives.json: each archive read once per machine (the cache answers the next build,
 * even without the file), and an archive the installer would refuse fails the build, naming the member.
 */
import { createHash } from 'node:crypto'
import { readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { buildArchiveIndex } from '../../src/build/archive-index.js'
import { UnsafeArchiveError } from '../../src/installer/archive/index.js'
import type { Plan } from '../../src/model/plan.js'
import { tarGz } from '../fixtures/tar.js'

const planUnpacking = (file: string) =>
  ({ steps: [{ kind: 'install-archive', id: 'install-x', file, format: 'tar.gz', strip: 1, dest: '/usr/local', component: 'x' }] }) as unknown as Plan

t.test('indexed once per machine; the cache answers later builds', async (t) => {
  const dir = t.testdir()
  const archive = join(dir, 'x.tar.gz')
  const bytes = tarGz([{ name: 'x-1/bin/', type: 'dir' }, { name: 'x-1/bin/x', type: 'file', content: 'tool\n', mode: 0o755 }])
  writeFileSync(archive, bytes)
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  const files = [{ path: 'artifacts/x.tar.gz', file: archive, sha256 }]
  const notes: string[] = []
  const first = await buildArchiveIndex(planUnpacking('artifacts/x.tar.gz'), files, join(dir, 'cache'), (n) => notes.push(n))
  t.same(first.archives['artifacts/x.tar.gz'], {
    sha256,
    format: 'tar.gz',
    strip: 1,
    members: [
      { name: 'bin', type: 'dir', mode: 0o755, size: 0 },
      { name: 'bin/x', type: 'file', mode: 0o755, size: 5, sha256: createHash('sha256').update('tool\n').digest('hex') },
    ],
  })
  t.same(readdirSync(join(dir, 'cache', 'archive-index')), [`${sha256}-tar.gz-1.json`])
  rmSync(archive)
  const second = await buildArchiveIndex(planUnpacking('artifacts/x.tar.gz'), files, join(dir, 'cache'), (n) => notes.push(n))
  t.same(second, first, 'from the cache: the archive is not read again')
  t.same(notes, [])
})

t.test('an archive the installer would refuse fails the build', async (t) => {
  const dir = t.testdir()
  const archive = join(dir, 'evil.tar.gz')
  const bytes = tarGz([{ name: 'x-1/bin/x', type: 'file', content: 'x' }, { name: 'x-1/../../etc/evil', type: 'file', content: 'x' }])
  writeFileSync(archive, bytes)
  const files = [{ path: 'artifacts/evil.tar.gz', file: archive, sha256: createHash('sha256').update(bytes).digest('hex') }]
  const error = await buildArchiveIndex(planUnpacking('artifacts/evil.tar.gz'), files, join(dir, 'cache'), () => {}).catch((e: unknown) => e)
  t.type(error, UnsafeArchiveError)
  t.match((error as Error).message, /contains \.\./)
})
