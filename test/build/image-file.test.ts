/**
 * keadm out of a carried image (src/build/image-file.ts), on images umoci builds here layer by layer: the
 * top layer that holds the file wins, a whiteout deletes it, a link is refused, the result is cached by
 * the archive's digest (a second call reads no layer).
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { imageFile } from '../../src/build/image-file.js'
import { sh, skipUnlessTools } from '../oci/fixtures.js'
import { fileDigest } from '../fixtures/files.js'

const skip = skipUnlessTools()
const amd64 = { os: 'linux', arch: 'amd64' } as const

t.test('the file as the top layer that touches it leaves it', { skip }, async (t) => {
  const dir = t.testdir()
  const layout = join(dir, 'layout')
  const bin = (bundle: string) => join(bundle, 'rootfs', 'usr', 'local', 'bin')
  await sh('umoci', ['init', '--layout', layout])
  await sh('umoci', ['new', '--image', `${layout}:base`])
  const step = async (from: string, to: string, change: (bundle: string) => void) => {
    const bundle = join(dir, `bundle-${to}`)
    await sh('umoci', ['unpack', '--rootless', '--image', `${layout}:${from}`, bundle])
    change(bundle)
    await sh('umoci', ['repack', '--image', `${layout}:${to}`, bundle])
  }
  await step('base', 'one', (b) => {
    mkdirSync(bin(b), { recursive: true })
    writeFileSync(join(bin(b), 'keadm'), 'keadm one\n', { mode: 0o755 })
    writeFileSync(join(bin(b), 'edgecore'), 'edgecore\n', { mode: 0o755 })
  })
  await step('one', 'two', (b) => writeFileSync(join(bin(b), 'keadm'), 'keadm two\n', { mode: 0o755 }))
  await step('two', 'deleted', (b) => unlinkSync(join(bin(b), 'keadm')))
  await step('two', 'dir-deleted', (b) => rmSync(bin(b), { recursive: true }))
  await step('two', 'link', (b) => {
    unlinkSync(join(bin(b), 'keadm'))
    symlinkSync('/etc/passwd', join(bin(b), 'keadm'))
  })
  await step('two', 'unrelated', (b) => writeFileSync(join(bin(b), 'other'), 'x\n'))

  const archive = async (tag: string) => {
    const file = join(dir, `${tag}.oci.tar`)
    await sh('skopeo', ['copy', '--quiet', `oci:${layout}:${tag}`, `oci-archive:${file}:docker.io/kubeedge/installation-package:v1.23.1`])
    return { file, sha256: fileDigest(file) }
  }
  const cache = join(dir, 'cache')
  const take = async (tag: string) => {
    const { file, sha256 } = await archive(tag)
    return imageFile(file, sha256, amd64, '/usr/local/bin/keadm', cache, `installation-package (${tag})`)
  }

  const one = await take('one')
  t.equal(readFileSync(one.path, 'utf8'), 'keadm one\n')
  t.equal(one.sha256, createHash('sha256').update('keadm one\n').digest('hex'))
  t.equal(one.size, 10)
  t.equal(readFileSync((await take('two')).path, 'utf8'), 'keadm two\n', 'the upper layer wins')
  t.equal(readFileSync((await take('unrelated')).path, 'utf8'), 'keadm two\n', 'found in a lower layer when the top one does not touch it')
  await t.rejects(take('deleted'), /has no \/usr\/local\/bin\/keadm/, 'a whiteout deletes it')
  await t.rejects(take('dir-deleted'), /has no \/usr\/local\/bin\/keadm/, 'a whiteout of its folder deletes it')
  await t.rejects(take('link'), /holds \/usr\/local\/bin\/keadm as a symbolic link, not a file/)

  // Cached by the archive's digest: the same answer without the archive.
  const { file, sha256 } = await archive('two')
  const first = await imageFile(file, sha256, amd64, '/usr/local/bin/keadm', cache, 'two')
  rmSync(file)
  const again = await imageFile(file, sha256, amd64, '/usr/local/bin/keadm', cache, 'two')
  t.same(again, first, 'a warm build reads no layer')
})
