/**
 * readImageArchive on archives made by real tools: skopeo's oci-archive (a multi-platform index) and
 * docker-archive (the `docker save` format), our own pulls, and damaged or hostile variants of them
 * rebuilt with GNU tar.
 */
import { execFileSync } from 'node:child_process'
import { openSync, readFileSync, readdirSync, rmSync, writeFileSync, closeSync, writeSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { EXIT, UsageError } from '../../src/model/errors.js'
import { findArchiveImage, readImageArchive } from '../../src/oci/archive.js'
import { IntegrityError } from '../../src/oci/errors.js'
import { pullImage } from '../../src/oci/pull.js'
import { listTar } from '../../src/oci/tar.js'
import { buildTestImages, loopbackOnly, pushMultiPlatform, sh, skipUnlessTools, startRegistry } from './fixtures.js'

const skip = skipUnlessTools()

function retar(dir: string, out: string): void {
  execFileSync('tar', ['-cf', out, '-C', dir, '.'])
}

t.test('readImageArchive on real archives', { skip }, async (t) => {
  const root = t.testdir()
  const registry = await startRegistry(join(root, 'registry'))
  t.teardown(() => registry.stop())
  const layout = await buildTestImages(join(root, 'images'))
  const pushed = await pushMultiPlatform(registry, layout, 'edge/pause', '3.9', 'oci')
  const ref = `${registry.host}/edge/pause:3.9`

  // skopeo's multi-platform OCI archive: index.json → the image index → four manifests.
  const multi = join(root, 'multi.tar')
  await sh('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${ref}`, `oci-archive:${multi}:3.9`])

  t.test('a multi-platform OCI archive from skopeo', async (t) => {
    const info = await readImageArchive(multi)
    t.equal(info.format, 'oci-layout')
    t.same(info.platforms, ['linux/amd64', 'linux/arm64', 'linux/arm/v6', 'linux/arm/v7'], 'variants come from the index entries')
    t.same(info.names, ['3.9'])
    t.same(info.absent, [])
    t.equal(findArchiveImage(info, { os: 'linux', arch: 'arm' }).manifestDigest, pushed.manifests['armv7']!.digest, 'arm → v7')
    t.equal(findArchiveImage(info, { os: 'linux', arch: 'arm64' }).manifestDigest, pushed.manifests['arm64']!.digest)
    const error = (() => {
      try {
        findArchiveImage(info, { os: 'windows', arch: 'amd64' })
      } catch (e) {
        return e
      }
    })()
    t.type(error, UsageError)
    t.equal((error as Error).message, `the image archive ${multi} has no windows/amd64 image; it has: linux/amd64, linux/arm64, linux/arm/v6, linux/arm/v7`)
  })

  t.test('a partial export: index children that are absent are reported, not failed', async (t) => {
    const work = t.testdir()
    const dir = join(work, 'x')
    mkdirSync(dir)
    execFileSync('tar', ['-xf', multi, '-C', dir])
    rmSync(join(dir, 'blobs', 'sha256', pushed.manifests['armv6']!.digest.slice(7)))
    const out = join(work, 'partial.tar')
    retar(dir, out) // GNU tar writes "./"-prefixed names: they must be accepted.
    const info = await readImageArchive(out)
    t.same(info.platforms, ['linux/amd64', 'linux/arm64', 'linux/arm/v7'])
    t.same(info.absent, ['linux/arm/v6'])
  })

  t.test('the docker save format (skopeo docker-archive, with its layer symlinks)', async (t) => {
    const file = join(t.testdir(), 'docker.tar')
    await sh('skopeo', ['--override-arch', 'arm64', 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `docker-archive:${file}:edge/pause:3.9`])
    const listing = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' })
    t.match(listing, /^l.* -> \.\.\/[a-f0-9]{64}\.tar$/m, 'skopeo wrote a legacy symlink')
    const info = await readImageArchive(file)
    t.equal(info.format, 'docker-save')
    t.same(info.platforms, ['linux/arm64'])
    t.same(info.names, ['docker.io/edge/pause:3.9'])
    t.equal(info.images[0]!.layers, 1)
  })

  t.test('our own pull, then damage: a flipped byte, a missing blob, a wrong index size', async (t) => {
    const dir = t.testdir()
    const pulled = join(dir, 'pause.tar')
    const result = await pullImage(ref, { os: 'linux', arch: 'amd64' }, { output: pulled, http: loopbackOnly() })
    const info = await readImageArchive(pulled)
    t.same(info.images.map((i) => i.manifestDigest), [result.manifest.digest])
    t.equal(info.images[0]!.size, result.manifest.size + result.config.size + result.layers[0]!.size)

    // Flip one byte inside the layer, in place: the tar stays well-formed, only the hash can tell.
    const flipped = join(dir, 'flipped.tar')
    writeFileSync(flipped, readFileSync(pulled))
    const layer = (await listTar(flipped)).find((e) => e.path === `blobs/sha256/${result.layers[0]!.digest.slice(7)}`)!
    const fd = openSync(flipped, 'r+')
    const byte = readFileSync(flipped).subarray(layer.offset + 1000, layer.offset + 1001)
    writeSync(fd, Buffer.from([byte[0]! ^ 0xff]), 0, 1, layer.offset + 1000)
    closeSync(fd)
    const flippedError = await readImageArchive(flipped).catch((e: unknown) => e)
    t.type(flippedError, IntegrityError)
    t.equal((flippedError as IntegrityError).exitCode, EXIT.integrity)
    t.match((flippedError as Error).message, /layer 0 blobs\/sha256\/[a-f0-9]{64} has sha256:[a-f0-9]{64}, not the/)

    const extracted = join(dir, 'extracted')
    mkdirSync(extracted)
    execFileSync('tar', ['-xf', pulled, '-C', extracted])
    rmSync(join(extracted, 'blobs', 'sha256', result.config.digest.slice(7)))
    const missing = join(dir, 'missing.tar')
    retar(extracted, missing)
    const missingError = await readImageArchive(missing).catch((e: unknown) => e)
    t.type(missingError, IntegrityError)
    t.match((missingError as Error).message, /config sha256:[a-f0-9]{64} is missing/)

    execFileSync('tar', ['-xf', pulled, '-C', extracted])
    const indexPath = join(extracted, 'index.json')
    const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { manifests: { size: number }[] }
    index.manifests[0]!.size += 1
    writeFileSync(indexPath, JSON.stringify(index))
    const sized = join(dir, 'sized.tar')
    retar(extracted, sized)
    const sizeError = await readImageArchive(sized).catch((e: unknown) => e)
    t.type(sizeError, IntegrityError)
    t.match((sizeError as Error).message, /the descriptor says/)
    t.same(readdirSync(dir).sort(), ['extracted', 'flipped.tar', 'missing.tar', 'pause.tar', 'sized.tar'])
  })
})
