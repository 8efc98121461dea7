/**
 * The keadm join line and the KubeEdge version rules against upstream source: every flag must exist in keadm
 * join at the pinned release for that OS, every --set path must resolve by set.go's rules over that tag's
 * edgecore field table, and each rule in bundles/kubeedge.yaml must agree with the source on both sides of
 * its boundary (the release tag and the minor's .0 tag). The facts come from
 * bundles/upstream/kubeedge-facts.json (scripts/extract-kubeedge-facts.ts).
 */
import t, { type Test } from 'tap'
import { parse as parseYaml } from 'yaml'
import type { FeatureName } from '../../src/catalog/schema.js'
import type { Plan } from '../../src/model/plan.js'
import { PAUSE_IMAGE_KEY } from '../../src/plan/edgecore.js'
import type { RawRequest } from '../../src/resolve/request.js'
import { keadmImageReference, unsupportedReason } from '../../src/resolve/resolve.js'
import { satisfies } from '../../src/resolve/versions.js'
import { catalog, render } from '../helpers.js'
import { joinFlag, jsonField, loadFacts, resolveSet, tagFacts } from './keadm-facts.js'

const facts = loadFacts()
const versions = catalog.kubeedge.versions
const releaseTag = (version: string) => `v${catalog.kubeedge.releases[version]}`

t.test('the facts file covers exactly the pinned releases, and the .0 tag of each minor', (t) => {
  t.same(facts.releaseTags, versions.map(releaseTag), 'releaseTags = bundles/kubeedge.yaml releases')
  for (const version of versions) {
    t.ok(facts.tags[releaseTag(version)], `${releaseTag(version)} read`)
    t.ok(facts.tags[`v${version}.0`], `v${version}.0 read`)
  }
  t.end()
})

interface Case {
  label: string
  raw: RawRequest
  os: 'linux' | 'windows'
}

function cases(): Case[] {
  const out: Case[] = []
  for (const version of versions) {
    const add = (label: string, raw: RawRequest, os: 'linux' | 'windows') => {
      const target = { os: raw.os as never, arch: 'amd64' as const, runtime: raw.runtime as never, kubeedge: version }
      if (unsupportedReason(catalog, target) === null) out.push({ label: `${version} ${label}`, raw: { ...raw, 'kubeedge-version': version }, os })
    }
    add('ubuntu containerd cgroupfs', { os: 'ubuntu', runtime: 'containerd' }, 'linux')
    add('centos cri-o systemd', { os: 'centos', runtime: 'cri-o', 'cgroup-driver': 'systemd' }, 'linux')
    add('ubuntu docker systemd, mirrored images', { os: 'ubuntu', runtime: 'docker', 'cgroup-driver': 'systemd', 'image-repository': 'registry.local:5000/kubeedge' }, 'linux')
    add('openeuler isulad, custom pause', { os: 'openeuler', runtime: 'isulad', 'pause-image': 'registry.local:5000/edge/pause:3.9' }, 'linux')
    add('windows containerd, mirrored images', { os: 'windows', runtime: 'containerd', 'image-repository': 'registry.local:5000/kubeedge' }, 'windows')
  }
  return out
}

t.test('join line: every flag exists in keadm join at the pinned tag, every --set resolves there', (t) => {
  const all = cases()
  t.ok(all.filter((c) => c.os === 'windows').length >= 8, 'Windows is covered where supported')
  for (const { label, raw, os } of all) {
    const plan = render(raw).plan
    const tag = releaseTag(plan.kubeedge.version)
    const args = plan.kubeedge.keadmJoinArgs
    t.equal(args[0], `--kubeedge-version=${tag}`, `${label}: pinned version first`)
    t.equal(args.filter((a) => a.startsWith('--kubeedge-version')).length, 1, `${label}: one version`)
    for (const arg of args) {
      const flag = joinFlag(facts, tag, os, arg)
      t.ok(flag, `${label}: keadm join (${os}) has ${arg.split('=')[0]} at ${tag}`)
      if (flag?.deprecated) t.fail(`${label}: ${flag.name} is deprecated at ${tag}`)
    }
    t.equal(args.includes(`--remote-runtime-endpoint=${plan.runtime.endpoint}`), true, `${label}: runtime endpoint`)
    t.equal(args.includes('--cgroupdriver=systemd'), os === 'linux' && plan.options.cgroupDriver === 'systemd', `${label}: cgroup driver`)
    const repo = args.find((a) => a.startsWith('--image-repository='))
    t.equal(repo, os === 'linux' && plan.options.imageRepository ? `--image-repository=${plan.options.imageRepository}` : undefined, `${label}: image repository`)
    const sets = args.filter((a) => a.startsWith('--set='))
    const hasSet = tagFacts(facts, tag).set.exists
    if (!hasSet) t.same(sets, [], `${label}: no --set before keadm has it`)
    for (const set of sets) {
      const resolved = resolveSet(facts, tag, set.slice('--set='.length))
      t.ok(resolved.ok, `${label}: ${set} resolves at ${tag}${resolved.ok ? '' : `: ${resolved.reason}`}`)
    }
    checkSandboxImage(t, label, plan, tag, sets)
  }
  t.end()
})

/** The sandbox image reaches edged on every version: by --set where it resolves, else by the post-join edit. */
function checkSandboxImage(t: Test, label: string, plan: Plan, tag: string, sets: string[]): void {
  const pause = plan.options.pauseImage
  const bySet = sets.some((s) => {
    const r = resolveSet(facts, tag, s.slice('--set='.length))
    return r.ok && r.field.json?.split(',')[0] === 'podSandboxImage' && s.endsWith(`=${pause}`)
  })
  const edit = plan.kubeedge.edgecoreConfig ?? null
  if (bySet) {
    t.equal(edit, null, `${label}: --set carries the sandbox image, nothing to write after the join`)
    return
  }
  t.ok(edit, `${label}: the sandbox image is written after the join`)
  if (!edit) return
  t.equal(edit.path, plan.target.os === 'windows' ? 'C:\\etc\\kubeedge\\config\\edgecore.yaml' : '/etc/kubeedge/config/edgecore.yaml')
  const entry = edit.set.find((s) => s.value === pause)
  t.ok(entry, `${label}: the edit names the sandbox image`)
  const field = entry && jsonField(facts, tag, entry.key)
  t.equal(field?.name, 'PodSandboxImage', `${label}: ${entry?.key.join('.')} is where encoding/json reads PodSandboxImage at ${tag}`)
  t.equal(field?.type, 'string')
}

t.test('boundaries: --set from 1.18 (none at any 1.17 tag), the post-join edit before', (t) => {
  const plan = (version: string) => render({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': version, 'pause-image': 'registry.local/pause:3.9' }).plan
  const p17 = plan('1.17')
  const p18 = plan('1.18')
  t.notOk(tagFacts(facts, 'v1.17.0').set.exists)
  t.notOk(tagFacts(facts, 'v1.17.5').set.exists)
  t.ok(tagFacts(facts, 'v1.18.0').set.exists)
  t.notOk(p17.kubeedge.keadmJoinArgs.some((a) => a.startsWith('--set')), '1.17: no --set')
  t.same(p17.kubeedge.edgecoreConfig, { path: '/etc/kubeedge/config/edgecore.yaml', set: [{ key: [...PAUSE_IMAGE_KEY], value: 'registry.local/pause:3.9' }] })
  t.ok(p18.kubeedge.keadmJoinArgs.includes('--set=Modules.Edged.PodSandboxImage=registry.local/pause:3.9'), '1.18: --set with Go field names')
  t.equal(p18.kubeedge.edgecoreConfig, null)
  // The lower-case path the old line used fails at every tag that has --set.
  for (const tag of Object.keys(facts.tags).filter((tag) => tagFacts(facts, tag).set.exists)) {
    const r = resolveSet(facts, tag, 'modules.edged.podSandboxImage=kubeedge/pause:3.6')
    t.notOk(r.ok, `${tag}: modules.edged.podSandboxImage does not resolve (embedded untagged struct)`)
  }
  t.end()
})

t.test('boundaries: --runtimetype through 1.15, dockershim through 1.13', (t) => {
  const args = (version: string, runtime: string) => render({ os: 'ubuntu', runtime, 'kubeedge-version': version }).plan.kubeedge.keadmJoinArgs
  t.ok(args('1.15', 'containerd').includes('--runtimetype=remote'))
  t.notOk(args('1.16', 'containerd').some((a) => a.startsWith('--runtimetype')))
  t.ok(args('1.13', 'docker').includes('--runtimetype=docker'))
  t.ok(args('1.13', 'docker').includes('--remote-runtime-endpoint=unix:///var/run/dockershim.sock'))
  t.ok(args('1.14', 'docker').includes('--runtimetype=remote'))
  t.ok(args('1.14', 'docker').includes('--remote-runtime-endpoint=unix:///var/run/cri-dockerd.sock'))
  t.end()
})

/** What each version rule in bundles/kubeedge.yaml claims, read off the facts of one tag. */
const SOURCE_TRUTH: Partial<Record<FeatureName, (tag: string) => boolean>> = {
  keadmSetFlag: (tag) => tagFacts(facts, tag).set.exists,
  keadmRuntimeTypeFlag: (tag) => joinFlag(facts, tag, 'linux', '--runtimetype') !== null,
  dockershim: (tag) => jsonField(facts, tag, ['modules', 'edged', 'dockerEndpoint']) !== null,
  edgedTailoredEndpoints: (tag) => jsonField(facts, tag, ['modules', 'edged', 'tailoredKubeletConfig', 'containerRuntimeEndpoint']) !== null,
  windowsEdgeNodes: (tag) => tagFacts(facts, tag).join.windows !== undefined,
}

t.test('every KubeEdge version rule agrees with the source at the release tag and the minor\'s .0 tag', (t) => {
  for (const [name, truth] of Object.entries(SOURCE_TRUTH) as [FeatureName, (tag: string) => boolean][]) {
    for (const version of versions) {
      const claimed = satisfies(version, catalog.kubeedge.features[name].range)
      for (const tag of [`v${version}.0`, releaseTag(version)]) t.equal(truth(tag), claimed, `${name} at ${tag}`)
    }
  }
  // edgedRemoteRuntimeFields is a choice within what exists: the fields must be there wherever it is on.
  for (const version of versions.filter((v) => satisfies(v, catalog.kubeedge.features.edgedRemoteRuntimeFields.range))) {
    for (const key of ['containerRuntime', 'remoteRuntimeEndpoint', 'remoteImageEndpoint']) {
      t.ok(jsonField(facts, releaseTag(version), ['modules', 'edged', key]), `modules.edged.${key} at ${releaseTag(version)}`)
    }
  }
  // The matrix refuses Windows exactly where keadm has no Windows join.
  for (const version of versions) {
    const refused = unsupportedReason(catalog, { os: 'windows', arch: 'amd64', runtime: 'containerd', kubeedge: version }) !== null
    t.equal(refused, !satisfies(version, catalog.kubeedge.features.windowsEdgeNodes.range), `windows ${version}`)
  }
  t.end()
})

t.test('every key of the edged fragment is where encoding/json reads it at the pinned tag', (t) => {
  for (const version of versions) {
    for (const runtime of ['containerd', 'docker']) {
      const target = { os: 'ubuntu' as const, arch: 'amd64' as const, runtime: runtime as 'docker', kubeedge: version }
      if (unsupportedReason(catalog, target) !== null) continue
      const r = render({ os: 'ubuntu', runtime, 'kubeedge-version': version })
      const edged = (parseYaml(r.file('/etc/edgebundle/edgecore-edged.yaml')) as { modules: { edged: Record<string, unknown> } }).modules.edged
      const keys = (obj: Record<string, unknown>, prefix: string[]): string[][] =>
        Object.entries(obj).flatMap(([k, v]) => (v !== null && typeof v === 'object' ? keys(v as Record<string, unknown>, [...prefix, k]) : [[...prefix, k]]))
      for (const key of keys(edged, ['modules', 'edged'])) t.ok(jsonField(facts, releaseTag(version), key), `${version} ${runtime}: ${key.join('.')}`)
    }
  }
  t.end()
})

t.test('joinImages: exactly the images keadm join pulls at each release, named as keadm names them', (t) => {
  for (const version of versions) {
    const tag = releaseTag(version)
    for (const [os, family] of [['ubuntu', 'linux'], ['windows', 'windows']] as const) {
      if (unsupportedReason(catalog, { os, arch: 'amd64', runtime: 'containerd', kubeedge: version }) !== null) continue
      for (const repository of [undefined, 'registry.local:5000/edge']) {
        const plan = render({ os, runtime: 'containerd', 'kubeedge-version': version, ...(repository ? { 'image-repository': repository } : {}) }).plan
        const pulls = tagFacts(facts, tag).images[family]!.pulls
        const withMqtt = (() => {
          const given = plan.kubeedge.keadmJoinArgs.find((a) => a.startsWith('--with-mqtt'))
          if (given) return given !== '--with-mqtt=false'
          return joinFlag(facts, tag, family, '--with-mqtt')?.default === true
        })()
        const expected = pulls
          .filter((p) => p.when === 'always' || withMqtt)
          .map((p) => keadmImageReference(p.image, catalog.kubeedge.releases[version]!, repository))
        t.same([...plan.kubeedge.images].sort(), expected.sort(), `${tag} ${family}${repository ? ' mirrored' : ''}`)
      }
    }
  }
  t.end()
})
