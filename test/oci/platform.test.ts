/** Choosing a manifest from an index for a target platform, containerd's way. */
import t from 'tap'
import { UsageError } from '../../src/model/errors.js'
import { normalizePlatform, selectManifest, type TargetPlatform } from '../../src/oci/platform.js'
import type { Descriptor } from '../../src/oci/types.js'

let n = 0
function entry(os: string, architecture: string, variant?: string, osVersion?: string): Descriptor {
  n++
  return {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${n.toString(16).padStart(64, '0')}`,
    size: 100,
    platform: { os, architecture, ...(variant ? { variant } : {}), ...(osVersion ? { 'os.version': osVersion } : {}) },
  }
}

const pick = (entries: Descriptor[], target: TargetPlatform) => selectManifest(entries, target, 'example/pause:1')
const failure = (entries: Descriptor[], target: TargetPlatform): UsageError => {
  try {
    pick(entries, target)
  } catch (error) {
    if (error instanceof UsageError) return error
    throw error
  }
  throw new Error('expected a UsageError')
}

t.test('arm: v7 preferred, then variant-less, then older; never newer', async (t) => {
  const v5 = entry('linux', 'arm', 'v5')
  const v6 = entry('linux', 'arm', 'v6')
  const v7 = entry('linux', 'arm', 'v7')
  const v8 = entry('linux', 'arm', 'v8')
  const bare = entry('linux', 'arm')
  t.equal(pick([v5, v6, v7, bare], { os: 'linux', arch: 'arm' }), v7)
  t.equal(pick([v5, v6, bare], { os: 'linux', arch: 'arm' }), bare)
  t.equal(pick([v5, v6], { os: 'linux', arch: 'arm' }), v6)
  t.equal(pick([v5, v6, v7], { os: 'linux', arch: 'arm', variant: 'v6' }), v6)
  t.match(failure([v7, v8], { os: 'linux', arch: 'arm', variant: 'v6' }).message, /has no linux\/arm\/v6 manifest; it has: linux\/arm\/v7, linux\/arm\/v8/)
  t.equal(pick([entry('linux', 'armhf')], { os: 'linux', arch: 'arm' }).platform?.architecture, 'armhf', 'armhf is arm/v7')
})

t.test('arm64 and amd64: the baseline, and spellings', async (t) => {
  const a = entry('linux', 'arm64', 'v8')
  t.equal(pick([entry('linux', 'amd64'), a], { os: 'linux', arch: 'arm64' }), a, 'arm64/v8 is arm64')
  t.equal(pick([entry('linux', 'aarch64')], { os: 'linux', arch: 'arm64' }).platform?.architecture, 'aarch64')
  const v3 = entry('linux', 'amd64', 'v3')
  const base = entry('linux', 'amd64')
  t.equal(pick([v3, base], { os: 'linux', arch: 'amd64' }), base, 'an x86-64-v3 image is not taken for a plain amd64 target')
  t.match(failure([v3], { os: 'linux', arch: 'amd64' }).message, /has no linux\/amd64 manifest; it has: linux\/amd64\/v3/)
  t.equal(pick([v3, base], { os: 'linux', arch: 'amd64', variant: 'v3' }), v3)
  const first = entry('linux', 'amd64')
  t.equal(pick([first, entry('linux', 'amd64')], { os: 'linux', arch: 'amd64' }), first, 'among equals the first wins')
  t.same(normalizePlatform({ os: 'Linux', architecture: 'x86_64' }), { os: 'linux', architecture: 'amd64' })
})

t.test('the error lists real platforms only (no attestation entries)', async (t) => {
  const attestation: Descriptor = { ...entry('unknown', 'unknown'), annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } }
  const noPlatform: Descriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'f'.repeat(64)}`, size: 1 }
  const error = failure([entry('linux', 'amd64'), attestation, noPlatform, entry('linux', 'arm', 'v7')], { os: 'linux', arch: 'arm64' })
  t.equal(error.message, 'the image example/pause:1 has no linux/arm64 manifest; it has: linux/amd64, linux/arm/v7')
  t.match(error.hint, /--pause-image-archive/)
  t.equal(failure([], { os: 'linux', arch: 'arm64' }).message, 'the image example/pause:1 has no linux/arm64 manifest; it has: (no platform-specific manifests)')
})

t.test('windows: several OS builds need osVersion', async (t) => {
  const ltsc2019 = entry('windows', 'amd64', undefined, '10.0.17763.5458')
  const ltsc2022 = entry('windows', 'amd64', undefined, '10.0.20348.2322')
  const linux = entry('linux', 'amd64')
  t.match(failure([linux, ltsc2019, ltsc2022], { os: 'windows', arch: 'amd64' }).message, /has several windows\/amd64 builds: 10\.0\.17763\.5458, 10\.0\.20348\.2322/)
  t.equal(pick([linux, ltsc2019, ltsc2022], { os: 'windows', arch: 'amd64', osVersion: '10.0.20348' }), ltsc2022)
  t.equal(pick([linux, ltsc2019], { os: 'windows', arch: 'amd64' }), ltsc2019, 'one build needs no osVersion')
  t.match(failure([ltsc2019], { os: 'windows', arch: 'amd64', osVersion: '10.0.2034' }).message, /has no windows\/amd64 10\.0\.2034 manifest/, 'a prefix must end at a dot')
})
