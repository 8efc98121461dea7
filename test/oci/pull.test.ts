/**
 * pullImage against Debian's real docker-registry on 127.0.0.1, holding a pause-like multi-platform image
 * built with umoci and pushed with skopeo. The archives it writes are checked by skopeo and umoci, by our
 * own reader, and byte for byte between two pulls. Tampering and auth go through small proxies on 127.0.0.1.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { EXIT } from '../../src/model/errors.js'
import { readImageArchive } from '../../src/oci/archive.js'
import { IntegrityError, RegistryError } from '../../src/oci/errors.js'
import { pullImage, type PullProgress } from '../../src/oci/pull.js'
import { UsageError } from '../../src/model/errors.js'
import {
  PLATFORM_LABEL,
  buildTestImages,
  loopbackOnly,
  pushMultiPlatform,
  sh,
  skipUnlessTools,
  startProxy,
  startRegistry,
  startTokenServer,
  type Registry,
} from './fixtures.js'
import { fileDigest, sameBytes } from '../fixtures/files.js'

const skip = skipUnlessTools()

interface World {
  registry: Registry
  oci: Awaited<ReturnType<typeof pushMultiPlatform>>
  docker: Awaited<ReturnType<typeof pushMultiPlatform>>
}

/** skopeo's view of an archive's config: architecture and our platform label. */
function inspectConfig(archive: string): { architecture: string; os: string; label: string | undefined } {
  const config = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci-archive:${archive}`], { encoding: 'utf8' })) as {
    architecture: string
    os: string
    config?: { Labels?: Record<string, string> }
  }
  return { architecture: config.architecture, os: config.os, label: config.config?.Labels?.[PLATFORM_LABEL] }
}

function sha256File(path: string): string {
  return fileDigest(path)
}

/** Nothing but the expected files: no partial archive or staging folder left behind. */
function leftovers(dir: string, expected: string[] = []): string[] {
  return readdirSync(dir).filter((name) => !expected.includes(name))
}

t.test('pullImage against a real registry', { skip }, async (t) => {
  const root = t.testdir()
  const registry = await startRegistry(join(root, 'registry'))
  t.teardown(() => registry.stop())
  const layout = await buildTestImages(join(root, 'images'))
  const world: World = {
    registry,
    oci: await pushMultiPlatform(registry, layout, 'edge/pause', '3.9', 'oci'),
    docker: await pushMultiPlatform(registry, layout, 'edge/pause-docker', '3.9', 'v2s2'),
  }
  const ref = `${registry.host}/edge/pause:3.9`

  t.test('chooses the target platform from an OCI index and writes a valid, deterministic OCI archive', async (t) => {
    const work = t.testdir()
    for (const arch of ['amd64', 'arm64'] as const) {
      const out = join(work, arch)
      mkdirSync(out)
      const seen: string[] = []
      const events: PullProgress[] = []
      const first = join(out, 'pause.tar')
      const result = await pullImage(ref, { os: 'linux', arch }, { output: first, http: loopbackOnly(seen), onProgress: (e) => events.push(e) })

      t.equal(result.platform.architecture, arch, `${arch}: the config says ${arch}`)
      t.equal(result.manifest.digest, world.oci.manifests[arch]!.digest, `${arch}: the index entry for linux/${arch} was chosen`)
      t.equal(result.indexDigest, world.oci.indexDigest, 'the index digest is reported')
      t.equal(result.imageName, ref, 'containerd name is the full reference')
      t.equal(result.sha256, sha256File(first), 'reported sha256 is the file\'s')
      t.equal(result.size, readFileSync(first).length)
      t.ok(seen.length > 0 && seen.every((url) => url.startsWith(`http://${registry.host}/v2/edge/pause/`)), 'only the loopback registry was asked')
      const done = events.filter((e) => e.kind === 'blob-done').map((e) => (e as { role: string }).role)
      t.same(done.sort(), ['config', 'layer'], 'config and layer were each downloaded and verified')
      t.ok(events.some((e) => e.kind === 'archive'), 'archive event')

      // skopeo reads it as an OCI archive and sees the right config.
      const config = inspectConfig(first)
      t.equal(config.architecture, arch, `skopeo: architecture ${arch}`)
      t.equal(config.os, 'linux')
      t.equal(config.label, `linux/${arch}`, 'skopeo: the labelled per-platform config')

      // umoci opens the extracted layout by the ref.name tag and finds the image.
      const extracted = join(out, 'layout')
      mkdirSync(extracted)
      execFileSync('tar', ['-xf', first, '-C', extracted])
      const index = JSON.parse(readFileSync(join(extracted, 'index.json'), 'utf8')) as { manifests: { annotations: Record<string, string>; platform: { architecture: string } }[] }
      t.same(index.manifests[0]!.annotations, { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': '3.9' }, 'index.json names the image')
      t.equal(index.manifests[0]!.platform.architecture, arch)
      t.same(JSON.parse(readFileSync(join(extracted, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' })
      const stat = await sh('umoci', ['stat', '--image', `${extracted}:3.9`, '--json'])
      t.ok((JSON.parse(stat) as { history?: unknown }).history !== undefined, 'umoci stat reads the layout')

      // Our own reader agrees and re-verifies every blob.
      const info = await readImageArchive(first)
      t.equal(info.format, 'oci-layout')
      t.same(info.platforms, [`linux/${arch}`])
      t.same(info.names, [ref, '3.9'])

      // Deterministic: sorted entries, uid/gid 0, mtime 0, 0644 files; and a second pull is byte-identical.
      const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', first], { encoding: 'utf8' }).trim().split('\n')
      const names = listing.map((line) => line.split(/\s+/).at(-1)!)
      t.same(names, [...names].sort(), 'entries are sorted')
      t.same(names.slice(0, 2), ['blobs/', 'blobs/sha256/'])
      t.same(names.slice(-2), ['index.json', 'oci-layout'])
      t.equal(names.filter((n) => n.startsWith('blobs/sha256/') && n.length > 14).length, 3, 'manifest, config and one layer')
      for (const line of listing) {
        t.match(line, /^(-rw-r--r--|drwxr-xr-x) 0\/0 +\d+ 1970-01-01 00:00:00 /, `fixed metadata: ${line.split(/\s+/).at(-1)}`)
      }
      const second = join(out, 'again.tar')
      await pullImage(ref, { os: 'linux', arch }, { output: second, http: loopbackOnly() })
      t.ok(sameBytes(first, second), `${arch}: two pulls give byte-identical archives`)
      t.same(leftovers(out, ['pause.tar', 'again.tar', 'layout']), [], 'no staging files left')
    }
  })

  t.test('SOURCE_DATE_EPOCH sets the mtime', async (t) => {
    const out = join(t.testdir(), 'p.tar')
    await pullImage(ref, { os: 'linux', arch: 'amd64' }, { output: out, http: loopbackOnly(), sourceDateEpoch: 1_700_000_000 })
    const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', out], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } })
    t.match(listing, /2023-11-14 22:13:20 index\.json/)
  })

  t.test('arm picks variant v7 when listed, even after v6; an explicit v6 gets v6', async (t) => {
    const dir = t.testdir()
    const v7 = await pullImage(ref, { os: 'linux', arch: 'arm' }, { output: join(dir, 'v7.tar'), http: loopbackOnly() })
    t.equal(v7.manifest.digest, world.oci.manifests['armv7']!.digest)
    t.equal(inspectConfig(join(dir, 'v7.tar')).label, 'linux/arm/v7')
    const v6 = await pullImage(ref, { os: 'linux', arch: 'arm', variant: 'v6' }, { output: join(dir, 'v6.tar'), http: loopbackOnly() })
    t.equal(v6.manifest.digest, world.oci.manifests['armv6']!.digest)
    t.equal(inspectConfig(join(dir, 'v6.tar')).label, 'linux/arm/v6')
    const index = JSON.parse(execFileSync('tar', ['-xOf', join(dir, 'v7.tar'), 'index.json'], { encoding: 'utf8' })) as { manifests: { platform: unknown }[] }
    t.same(index.manifests[0]!.platform, { architecture: 'arm', os: 'linux', variant: 'v7' }, 'index.json: the config\'s platform, variant from the index entry')
    t.same(v7.platform, { os: 'linux', architecture: 'arm', variant: 'v7' })
  })

  t.test('a Docker manifest list with schema 2 manifests', async (t) => {
    const dir = t.testdir()
    const result = await pullImage(`${registry.host}/edge/pause-docker:3.9`, { os: 'linux', arch: 'arm64' }, { output: join(dir, 'd.tar'), http: loopbackOnly() })
    t.equal(result.manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json')
    t.equal(result.manifest.digest, world.docker.manifests['arm64']!.digest)
    t.equal(inspectConfig(join(dir, 'd.tar')).label, 'linux/arm64')
    t.same((await readImageArchive(join(dir, 'd.tar'))).platforms, ['linux/arm64'])
  })

  t.test('pulls by digest: the index digest is verified and names the image', async (t) => {
    const dir = t.testdir()
    const byDigest = `${registry.host}/edge/pause@${world.oci.indexDigest}`
    const result = await pullImage(byDigest, { os: 'linux', arch: 'amd64' }, { output: join(dir, 'x.tar'), http: loopbackOnly() })
    t.equal(result.imageName, byDigest)
    t.equal(result.manifest.digest, world.oci.manifests['amd64']!.digest)
    const info = await readImageArchive(join(dir, 'x.tar'))
    t.same(info.names, [byDigest], 'no ref.name without a tag')
    // tag and digest: the digest wins, and containerd's name drops the tag as its ParseDockerRef does.
    const both = await pullImage(`${registry.host}/edge/pause:nonexistent@${world.oci.indexDigest}`, { os: 'linux', arch: 'amd64' }, { output: join(dir, 'y.tar'), http: loopbackOnly() })
    t.equal(both.imageName, byDigest)
    t.same((await readImageArchive(join(dir, 'y.tar'))).names, [byDigest, 'nonexistent'])
  })

  t.test('a platform the image lacks is a usage error that lists what it has', async (t) => {
    const dir = t.testdir()
    const out = join(dir, 'w.tar')
    const error = await pullImage(ref, { os: 'windows', arch: 'amd64' }, { output: out, http: loopbackOnly() }).catch((e: unknown) => e)
    t.type(error, UsageError)
    t.equal((error as UsageError).exitCode, EXIT.usage)
    t.equal((error as Error).message, `the image ${ref} has no windows/amd64 manifest; it has: linux/amd64, linux/arm64, linux/arm/v6, linux/arm/v7`)
    t.notOk(existsSync(out))
    const single = await pullImage(`${registry.host}/edge/pause:amd64`, { os: 'linux', arch: 'arm64' }, { output: out, http: loopbackOnly() }).catch((e: unknown) => e)
    t.type(single, UsageError)
    t.match((single as Error).message, /is linux\/amd64 only; it has no linux\/arm64 manifest/)
    t.same(leftovers(dir), [], 'nothing written')
  })

  t.test('an unknown tag or repository is a usage error', async (t) => {
    const error = await pullImage(`${registry.host}/edge/pause:9.9.9`, { os: 'linux', arch: 'amd64' }, { output: join(t.testdir(), 'n.tar'), http: loopbackOnly() }).catch((e: unknown) => e)
    t.type(error, UsageError)
    t.match((error as Error).message, /was not found at 127\.0\.0\.1:\d+ \(MANIFEST_UNKNOWN/)
  })

  t.test('a blob altered in transit is an integrity error and leaves no output', async (t) => {
    const dir = t.testdir()
    const out = join(dir, 'pause.tar')
    writeFileSync(out, 'previous archive')
    // Flips one byte in the middle of the (large) layer blob; sizes stay right, so only the hash can tell.
    const proxy = await startProxy(registry, {
      alter: (method, path) =>
        method === 'GET' && /\/blobs\/sha256:/.test(path)
          ? (body) => {
              if (body.length < 10_000) return body
              const copy = Buffer.from(body)
              const middle = copy.length >> 1
              copy[middle] = copy[middle]! ^ 0x01
              return copy
            }
          : undefined,
    })
    t.teardown(() => proxy.close())
    const error = await pullImage(`${proxy.host}/edge/pause:3.9`, { os: 'linux', arch: 'amd64' }, { output: out, http: loopbackOnly() }).catch((e: unknown) => e)
    t.type(error, IntegrityError)
    t.equal((error as IntegrityError).exitCode, EXIT.integrity)
    t.match((error as Error).message, /layer blob sha256:[a-f0-9]{64}: sha256 mismatch/)
    t.equal(readFileSync(out, 'utf8'), 'previous archive', 'an existing output file is untouched')
    t.same(leftovers(dir, ['pause.tar']), [], 'no partial archive or staging folder left')
  })

  t.test('a manifest altered in transit is an integrity error (index entry digest)', async (t) => {
    const dir = t.testdir()
    const amd64 = world.oci.manifests['amd64']!.digest
    const proxy = await startProxy(registry, {
      // Same JSON meaning, different bytes: only digest verification notices.
      alter: (method, path) => (method === 'GET' && path.endsWith(`/manifests/${amd64}`) ? (body) => Buffer.concat([body, Buffer.from(' ')]) : undefined),
    })
    t.teardown(() => proxy.close())
    const out = join(dir, 'm.tar')
    const error = await pullImage(`${proxy.host}/edge/pause:3.9`, { os: 'linux', arch: 'amd64' }, { output: out, http: loopbackOnly() }).catch((e: unknown) => e)
    t.type(error, IntegrityError)
    t.match((error as Error).message, new RegExp(`manifest ${amd64}`))
    t.notOk(existsSync(out))
    t.same(leftovers(dir), [])
  })

  t.test('an index altered in transit fails a pull by digest', async (t) => {
    const proxy = await startProxy(registry, {
      alter: (method, path) => (method === 'GET' && path.includes('/manifests/sha256:') && path.endsWith(world.oci.indexDigest) ? (body) => Buffer.concat([body, Buffer.from('\n')]) : undefined),
    })
    t.teardown(() => proxy.close())
    const error = await pullImage(`${proxy.host}/edge/pause@${world.oci.indexDigest}`, { os: 'linux', arch: 'amd64' }, { output: join(t.testdir(), 'i.tar'), http: loopbackOnly() }).catch((e: unknown) => e)
    t.type(error, IntegrityError)
    t.match((error as Error).message, /sha256 mismatch|size mismatch|the registry says/)
  })

  t.test('anonymous bearer-token auth: 401 challenge, token, retry; blobs redirected to storage', async (t) => {
    const tokens = await startTokenServer()
    t.teardown(() => tokens.close())
    // "Storage" on another origin (another port), as registries hand blobs to S3 or a CDN.
    const storage = await startProxy(registry)
    t.teardown(() => storage.close())
    const proxy = await startProxy(registry, {
      gate: (req, res) => {
        const auth = req.headers.authorization ?? ''
        const presented = auth.startsWith('Bearer ') ? auth.slice(7) : ''
        if (req.url?.startsWith('/v2/') && tokens.issued.has(presented) && /\/blobs\/sha256:/.test(req.url)) {
          res.writeHead(307, { location: `${storage.url}${req.url}?X-Signature=presigned` }).end()
          return true
        }
        if (req.url?.startsWith('/v2/') && !tokens.issued.has(presented)) {
          res.writeHead(401, {
            'content-type': 'application/json',
            'www-authenticate': `Bearer realm="${tokens.url}/token",service="edge-registry",scope="repository:edge/pause:pull"`,
          })
          res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }))
          return true
        }
        return false
      },
    })
    t.teardown(() => proxy.close())
    const out = join(t.testdir(), 'auth.tar')
    const result = await pullImage(`${proxy.host}/edge/pause:3.9`, { os: 'linux', arch: 'arm64' }, { output: out, http: loopbackOnly() })
    t.equal(result.platform.architecture, 'arm64')
    t.equal(tokens.queries.length, 1, 'one token, reused for every later request')
    t.equal(tokens.queries[0]!.get('service'), 'edge-registry', 'service echoed from the challenge')
    t.same(tokens.queries[0]!.getAll('scope'), ['repository:edge/pause:pull'], 'scope echoed from the challenge')
    t.notOk(tokens.requests[0]!.authorization, 'no credentials sent to the token server')
    t.equal(proxy.requests[0]!.authorization, undefined, 'first request is anonymous')
    const later = proxy.requests.slice(1)
    t.ok(later.length >= 4, 'index, manifest, config and layer were fetched after the token')
    t.ok(later.every((r) => r.authorization === `Bearer ${[...tokens.issued][0]}`), 'every later request carries the token')
    t.equal(storage.requests.length, 2, 'config and layer came from storage')
    t.ok(storage.requests.every((r) => r.authorization === undefined && r.path.endsWith('?X-Signature=presigned')), 'the token is not sent to the storage origin')
    t.equal(inspectConfig(out).architecture, 'arm64')
  })

  t.test('a registry that wants credentials is a registry error with a way out', async (t) => {
    const proxy = await startProxy(registry, {
      gate: (_req, res) => {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="private"' }).end()
        return true
      },
    })
    t.teardown(() => proxy.close())
    const error = await pullImage(`${proxy.host}/edge/pause:3.9`, { os: 'linux', arch: 'amd64' }, { output: join(t.testdir(), 'b.tar'), http: loopbackOnly() }).catch((e: unknown) => e)
    t.type(error, RegistryError)
    t.equal((error as RegistryError).exitCode, EXIT.stepFailed)
    t.match((error as RegistryError).hint, /--pause-image-archive/)
  })
})
