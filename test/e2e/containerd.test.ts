/**
 * Issue 7, end to end on real parts: ubuntu/amd64/containerd bundles built by `edgebundle build` from the
 * loopback mirror with the pause image archive, in four variants (default; custom CNI subnet; custom pause
 * image reference; systemd cgroup driver). Each is unpacked with GNU tar, verified and installed by its own
 * executable into a staging root; Debian's containerd (the copy the bundle installed) then serves inside
 * that root, the installer's second run imports the pause image and checks the runtime over CRI, a pod
 * sandbox runs on the bundled CNI bridge, a third run changes nothing, and rollback leaves the root as it
 * was. Every process, link, mount, cgroup, netfilter rule and host folder the runtime made is taken away
 * and checked gone.
 *
 * The systemd variant stops at config checks and the runtime's own report of them: a pod with systemd
 * cgroups needs systemd as PID 1, which these machines lack.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import t, { type Test } from 'tap'
import { parse as parseYaml } from 'yaml'
import { readPlan } from '../../src/installer/bundle.js'
import type { Plan } from '../../src/model/plan.js'
import { CHANNEL_OPTIONS, checkRuntimeOverCri, loadGrpc, unary } from '../../src/installer/cri/client.js'
import { SANDBOX_STATE, type StatusRequest, type StatusResponse, decodeStatusResponse, encodeStatusRequest } from '../../src/installer/cri/codec.js'
import { PodSandboxClient } from '../../src/installer/cri/pod-sandbox.js'
import { artifactRelativePath } from '../../src/fetch/sources.js'
import { which } from '../../src/sea/host.js'
import { untarArgs } from '../fixtures/gunzip.js'
import { prepareRoot, snapshot } from '../installer/node-fixtures.js'
import { buildTestImages } from '../oci/fixtures.js'
import { installerFor, need } from '../sea/fixtures.js'
import {
  HostTrace,
  succeeded,
  bridgeState,
  buildBundle,
  doneEvent,
  exec,
  hostRoutes,
  inSubnet,
  installer,
  ipv4ToNumber,
  holdingHostRuntime,
  loopbackInputs,
  needDebianParts,
  listeningSockets,
  messages,
  overlaps,
  processesUnder,
  startContainerd,
  testContainerdConfig,
} from './fixtures.js'

const SUITE_TIMEOUT_MS = 10 * 60_000
t.setTimeout(SUITE_TIMEOUT_MS)

interface Variant {
  name: string
  flags: string[]
  subnet: string
  pauseImage: string
  cgroupDriver: 'cgroupfs' | 'systemd'
  /** Run a pod sandbox (not with systemd cgroups: no systemd here). */
  pod: boolean
}

const DEFAULT_PAUSE = 'kubeedge/pause:3.6'
// A loopback registry name: should anything ever try to pull it, the attempt stays on this machine.
const CUSTOM_PAUSE = '127.0.0.1:5000/edge/pause:3.9'

const VARIANTS: Variant[] = [
  { name: 'default', flags: [], subnet: '10.88.0.0/16', pauseImage: DEFAULT_PAUSE, cgroupDriver: 'cgroupfs', pod: true },
  { name: 'custom CNI subnet', flags: ['--cni-subnet', '10.123.45.0/24'], subnet: '10.123.45.0/24', pauseImage: DEFAULT_PAUSE, cgroupDriver: 'cgroupfs', pod: true },
  { name: 'custom pause image', flags: ['--pause-image', CUSTOM_PAUSE], subnet: '10.88.0.0/16', pauseImage: CUSTOM_PAUSE, cgroupDriver: 'cgroupfs', pod: true },
  { name: 'cgroup driver systemd', flags: ['--cgroup-driver', 'systemd'], subnet: '10.88.0.0/16', pauseImage: DEFAULT_PAUSE, cgroupDriver: 'systemd', pod: false },
]

const BUNDLE_NAME = 'edgebundle-1.23-ubuntu-amd64-containerd'
const CRI_OPTIONS = { timeoutMs: 10_000, attempts: 20, delayMs: 250 }

/** Fully qualified, as containerd names images it imported (and as plan.json's import step does). */
const qualified = (image: string) => (/^[^/]+[.:][^/]*\//.test(image) ? image : `docker.io/${image.includes('/') ? image : `library/${image}`}`)

function gatewayOf(subnet: string): string {
  const n = ipv4ToNumber(subnet.split('/')[0]!) + 1
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.')
}

/** Status(verbose) as the kubelet asks it: containerd 1.x puts its CRI config as JSON into info["config"]. */
async function runtimeConfig(socket: string): Promise<Record<string, any>> {
  const grpc = await loadGrpc()
  const client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS)
  try {
    const status = await unary<StatusRequest, StatusResponse>(client, '/runtime.v1.RuntimeService/Status', encodeStatusRequest, decodeStatusResponse, { verbose: true }, 10_000)
    return JSON.parse(status.info.get('config') ?? '{}') as Record<string, any>
  } finally {
    client.close()
  }
}

t.test('ubuntu/amd64/containerd bundles from the loopback mirror: install, runtime, pod sandbox, idempotence, rollback', { timeout: SUITE_TIMEOUT_MS }, (t) =>
  holdingHostRuntime(async () => {
    const suiteStarted = performance.now()
    if (!need(t, process.getuid?.() === 0, 'root (containerd, the CNI bridge and pod sandboxes need it)', 'run the suite as root, as CI does')) return
    if (!needDebianParts(t)) return
    if (!need(t, which('ip') !== null && which('iptables-save') !== null, 'ip and iptables-save', 'apt-get install -y iproute2 iptables')) return
    if (!(await installerFor(t, 'linux/amd64'))) return
    const routes = hostRoutes()
    for (const variant of VARIANTS) {
      const clash = routes.find((route) => overlaps(route, variant.subnet))
      if (clash) return void t.fail(`the pod subnet ${variant.subnet} overlaps this host's route ${clash}: pick another subnet for this machine`)
    }

    const work = t.testdir()
    const { artifacts, catalog, mirror, cache } = await loopbackInputs(t, work)

    // The pause image, made with umoci around busybox-static, as an OCI archive under each name a variant uses.
    const layout = await buildTestImages(join(work, 'images'))
    const archives = new Map<string, string>()
    for (const image of new Set(VARIANTS.map((v) => v.pauseImage))) {
      const file = join(work, `pause-${archives.size}.oci.tar`)
      const copied = await exec('skopeo', ['copy', '--quiet', `oci:${layout}:amd64`, `oci-archive:${file}:${qualified(image)}`])
      succeeded(t, copied, `skopeo copy ${image}`)
      archives.set(image, file)
    }

    // Two builds at a time (gzip is one core each); each variant is tried as soon as its bundle is there.
    const build = (variant: Variant, index: number) =>
      buildBundle([
        '--catalog', catalog, '--os', 'ubuntu', '--arch', 'amd64', '--runtime', 'containerd', '--runtime-version', artifacts.versions.containerd,
        '--mirror', mirror.url, '--no-upstream', '--cache-dir', cache, '--pause-image-archive', archives.get(variant.pauseImage)!,
        ...variant.flags, '--out', join(work, `out-${index}`),
      ]).catch((error: Error) => ({ code: 1, stdout: '', stderr: error.stack ?? error.message, ms: 0 }))
    const builds: Promise<Awaited<ReturnType<typeof buildBundle>>>[] = []
    const lanes = [Promise.resolve(), Promise.resolve()]
    VARIANTS.forEach((variant, index) => {
      const lane = index % lanes.length
      const next = lanes[lane]!.then(() => build(variant, index))
      builds.push(next)
      lanes[lane] = next.then(() => undefined)
    })

    const podStartMs: Record<string, number> = {}
    const timings: string[] = []
    for (const [index, variant] of VARIANTS.entries()) {
      await t.test(variant.name, async (t) => {
        const built = await builds[index]!
        succeeded(t, built, 'build')
        if (built.code !== 0) return
        timings.push(`build ${variant.name}: ${(built.ms / 1000).toFixed(1)} s`)
        const out = join(work, `out-${index}`)
        t.same(readdirSync(out), [`${BUNDLE_NAME}.tar.gz`])
        const ms = await exerciseBundle(t, variant, join(out, `${BUNDLE_NAME}.tar.gz`), join(work, `x-${index}`))
        if (ms !== null) podStartMs[variant.name] = ms
      })
    }

    // Every artifact came from the mirror (into an empty cache), and nothing else was asked for.
    const linux = artifacts.files.filter((f) => f.platform === 'linux/amd64').map((f) => artifactRelativePath(f))
    for (const path of linux) t.ok(mirror.requestsFor(path).length >= 1, `${path} was downloaded from the loopback mirror`)
    t.same(mirror.requests.filter((r) => !linux.includes(r.path)), [], 'no other request reached the mirror')

    for (const [name, ms] of Object.entries(podStartMs)) t.comment(`pod sandbox start (RunPodSandbox) ${name}: ${ms.toFixed(0)} ms`)
    for (const line of timings) t.comment(line)
    t.comment(`containerd end-to-end suite: ${((performance.now() - suiteStarted) / 1000).toFixed(1)} s`)
  }),
)

/** Items 2–6 of the issue for one built bundle; returns the pod sandbox start time (ms), or null without a pod. */
async function exerciseBundle(t: Test, variant: Variant, archive: string, unpackTo: string): Promise<number | null> {
  // 2. GNU tar unpacks it; the executable verifies it.
  mkdirSync(unpackTo, { recursive: true })
  const untar = await exec('tar', untarArgs(archive, unpackTo))
  if (!succeeded(t, untar, 'tar -x')) return null
  const bundle = join(unpackTo, BUNDLE_NAME)
  const verified = await installer(bundle, ['verify'])
  if (!succeeded(t, verified, 'install verify')) return null
  t.ok(verified.events.some((e) => e.event === 'verified'), 'verified against SHA256SUMS')
  const plan = readPlan(bundle)
  const importStep = plan.steps.find((s) => s.kind === 'import-image')
  t.match(importStep, { tool: 'ctr', image: qualified(variant.pauseImage) }, 'the bundle carries the pause image and imports it with ctr')

  // A staging root with what a node has in the bundle's way. Short path: unix sockets live under it.
  const stage = mkdtempSync(join(tmpdir(), 'eb-e2e-'))
  try {
    return await exerciseInRoot(t, variant, bundle, plan, stage)
  } finally {
    rmSync(stage, { recursive: true, force: true })
  }
}

async function exerciseInRoot(t: Test, variant: Variant, bundle: string, plan: Plan, stage: string): Promise<number | null> {
  const importStep = plan.steps.find((s) => s.kind === 'import-image')
  const root = join(stage, 'root')
  prepareRoot(root, { dir: bundle, plan })
  if (variant.cgroupDriver === 'systemd') {
    // An image with systemd installed (preflight refuses the systemd driver without it); it does not run here.
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true })
    writeFileSync(join(root, 'usr/lib/systemd/systemd'), '#!/bin/sh\n', { mode: 0o755 })
  }
  const before = snapshot(root)

  const first = await installer(bundle, ['--root', root])
  if (!succeeded(t, first, 'install --root')) return null
  t.ok((doneEvent(first.events)?.changed ?? 0) > 0, 'the first run changes the root')
  if (variant.cgroupDriver === 'systemd') {
    t.match(first.events.filter((e) => e.event === 'check' && (e.kind === 'init-system' || e.kind === 'cgroup')), [{ outcome: 'ok' }, { outcome: /ok|skipped/ }], 'preflight accepts the systemd driver for an image with systemd')
  }
  t.ok(messages(first.events, 'info').some((m) => /skipped under --root: .*is loaded when the runtime runs/.test(m)), 'no runtime yet: the import waits')

  // Config checks: what each variant asked for is in every file that names it.
  const config = parseToml(readFileSync(join(root, 'etc/containerd/config.toml'), 'utf8')) as Record<string, any>
  const cri = config['plugins']['io.containerd.grpc.v1.cri']
  t.equal(cri.sandbox_image, variant.pauseImage, 'containerd names the pause image')
  t.equal(cri.containerd.runtimes.runc.options.SystemdCgroup, variant.cgroupDriver === 'systemd', `runc cgroup driver ${variant.cgroupDriver}`)
  const conflist = JSON.parse(readFileSync(join(root, 'etc/cni/net.d/10-containerd-net.conflist'), 'utf8'))
  const bridgePlugin = conflist.plugins.find((p: { type: string }) => p.type === 'bridge')
  t.same(bridgePlugin.ipam.ranges, [[{ subnet: variant.subnet }]], `CNI bridge subnet ${variant.subnet}`)
  const edged = parseYaml(readFileSync(join(root, 'etc/edgebundle/edgecore-edged.yaml'), 'utf8'))
  t.match(edged, { modules: { edged: { podSandboxImage: variant.pauseImage, tailoredKubeletConfig: { cgroupDriver: variant.cgroupDriver } } } }, 'edgecore agrees')
  t.ok(plan.kubeedge.keadmJoinArgs.includes(`--set=Modules.Edged.PodSandboxImage=${variant.pauseImage}`), 'keadm join agrees')

  // 3. Debian's containerd, as installed under the root, on a copy of the installed config.
  const runtimeConfigFile = join(stage, 'containerd.toml')
  testContainerdConfig(root, runtimeConfigFile)
  const dump = await exec(join(root, 'usr/local/bin/containerd'), ['--config', runtimeConfigFile, 'config', 'dump'])
  if (!succeeded(t, dump, 'containerd config dump accepts it')) return null
  const trace = HostTrace.capture(root)
  if (trace.bridgeWasThere) {
    t.fail("cni0 already exists on this host (another runtime's bridge): the pod test would share it; remove it first")
    return null
  }
  const path = `${root}/usr/local/bin:${root}/usr/local/sbin:${process.env.PATH}`
  let podMs: number | null = null
  let runtime: Awaited<ReturnType<typeof startContainerd>> | undefined
  try {
    runtime = await startContainerd(root, runtimeConfigFile, join(stage, 'containerd.log'))
    const daemon = processesUnder(root).find((p) => p.command.startsWith(`${root}/usr/local/bin/containerd `))
    t.ok(daemon, 'the containerd the bundle installed is serving')
    if (daemon) {
      const sockets = listeningSockets(daemon.pid)
      t.same(sockets.filter((s) => !s.startsWith('127.0.0.1:')), [], `containerd listens on loopback only (${sockets.join(', ') || 'no TCP'})`)
    }
    // 4. The installer finds the runtime inside the root: it imports the pause image and asks over CRI.
    const second = await installer(bundle, ['--root', root], { PATH: path })
    succeeded(t, second, 'install with the runtime up')
    t.match(second.events.filter((e) => e.event === 'change'), [{ step: importStep!.id, action: `loaded ${qualified(variant.pauseImage)} with ctr` }], 'one change: the image import')
    t.equal(doneEvent(second.events)?.changed, 1)
    const infos = messages(second.events, 'info')
    t.ok(infos.some((m) => /^the runtime answers at unix:\/\/\/run\/containerd\/containerd\.sock: containerd 1\./.test(m)), 'check-runtime reached containerd')
    t.ok(infos.includes(`it uses the pause image ${variant.pauseImage}`), 'check-runtime saw the configured sandbox image')
    t.same(messages(second.events, 'warning').filter((m) => /runtime/.test(m) && !/services not started/.test(m)), [], 'no runtime warnings')

    const report = await checkRuntimeOverCri(`unix://${runtime.socket}`, variant.pauseImage, CRI_OPTIONS)
    t.match(report, { kind: 'checked', sandboxImage: { configured: variant.pauseImage, reported: variant.pauseImage, matches: true }, imagePresent: true })
    if (report.kind === 'checked') {
      const ready = Object.fromEntries(report.conditions.map((c) => [c.type, c.status]))
      t.match(ready, { RuntimeReady: true, NetworkReady: true }, 'RuntimeReady and NetworkReady')
    }
    const reported = await runtimeConfig(runtime.socket)
    t.match(
      reported,
      { sandboxImage: variant.pauseImage, cni: { binDir: `${root}/opt/cni/bin`, confDir: `${root}/etc/cni/net.d` }, containerd: { runtimes: { runc: { options: { SystemdCgroup: variant.cgroupDriver === 'systemd' } } } } },
      'the runtime reports the installed settings',
    )

    // 5. A pod sandbox with the pause image on the bundled bridge.
    if (variant.pod) podMs = await podSandbox(t, variant, root, runtime.socket)

    // 6. A third run: nothing left to do.
    const third = await installer(bundle, ['--root', root], { PATH: path })
    succeeded(t, third, 'install again')
    t.equal(doneEvent(third.events)?.changed, 0, 'zero changes')
    t.same(third.events.filter((e) => e.event === 'change'), [])
    t.ok(messages(third.events, 'info').includes(`unchanged: the runtime already holds ${qualified(variant.pauseImage)}`))
    // What CRI's own teardown and a stopped runtime leave: never a process, mount, veth or nat rule; the
    // bridge, host-local's lease folder, the shim socket folder and empty cgroups are known to stay.
    await runtime.stop()
    const residue = trace.leftovers()
    t.same(residue.filter((r) => /^(process|mount|nat rule) /.test(r) || (r.startsWith('link ') && !r.startsWith('link cni0'))), [], 'no process, mount, veth or nat rule outlives the pod and the runtime')
    if (residue.length > 0) t.comment(`left by the runtime and the CNI plugins, removed now: ${summarize(residue)}`)
  } finally {
    await runtime?.stop()
    await trace.cleanup()
  }
  t.same(trace.leftovers(), [], 'nothing left: no process, mount, link, cgroup, nat rule or host folder')

  // The runtime's own state is not the installer's to undo: it goes with the runtime.
  for (const dir of ['var/lib/containerd', 'run', 'opt/containerd']) rmSync(join(root, dir), { recursive: true, force: true })
  const rollback = await installer(bundle, ['rollback', '--root', root])
  succeeded(t, rollback, 'rollback')
  t.equal(rollback.events.filter((e) => e.event === 'rolled-back').length, 1, 'one run to undo: the import changed no file')
  const status = await installer(bundle, ['status', '--root', root])
  t.match(status.events.find((e) => e.event === 'status'), { runs: [] }, 'nothing installed any more')
  t.same(snapshot(root), before, 'the staging root is back to its prior state, byte for byte')
  return podMs
}

/** "cgroup /sys/fs/cgroup/cpu/k8s.io" ×10 → "10 cgroups under k8s.io"; host folders by their top. */
function summarize(residue: string[]): string {
  const tops = new Map<string, number>()
  for (const entry of residue) {
    const [kind, path = ''] = entry.split(' ', 2)
    const key = kind === 'path' ? `${HostTrace.PATHS.find((top) => path === top || path.startsWith(`${top}/`)) ?? path}/…` : kind === 'cgroup' ? 'k8s.io cgroups' : entry
    tops.set(key, (tops.get(key) ?? 0) + 1)
  }
  return [...tops].map(([key, count]) => (count > 1 ? `${key} (${count})` : key)).join(', ')
}

async function podSandbox(t: Test, variant: Variant, root: string, socket: string): Promise<number> {
  const client = await PodSandboxClient.connect(`unix://${socket}`, 60_000)
  try {
    const uid = `e2e-${process.pid}-${Date.now()}`
    const started = performance.now()
    const id = await client.run({
      config: { metadata: { name: 'edgebundle-e2e', uid, namespace: 'default', attempt: 0 }, hostname: 'edgebundle-e2e', logDirectory: join(root, '..', 'pod-logs'), labels: new Map([['app', 'edgebundle-e2e']]) },
      runtimeHandler: '',
    })
    const ms = performance.now() - started
    t.match(id, /^[0-9a-f]{64}$/, 'RunPodSandbox returned an id')

    const { status } = await client.status(id)
    t.equal(status?.state, SANDBOX_STATE.ready, 'READY')
    t.match(status?.metadata, { name: 'edgebundle-e2e', uid, namespace: 'default' })
    const address = status?.network?.ip ?? ''
    t.ok(inSubnet(address, variant.subnet), `pod IP ${address} is inside ${variant.subnet}`)
    const bridge = bridgeState('cni0')
    t.ok(bridge.exists, 'the bridge plugin made cni0')
    t.ok(bridge.addresses.includes(`${gatewayOf(variant.subnet)}/${variant.subnet.split('/')[1]}`), `cni0 is the gateway ${gatewayOf(variant.subnet)} (${bridge.addresses.join(', ')})`)
    t.equal(bridge.ports.length, 1, "the pod's veth is on cni0")
    const shims = processesUnder(root).filter((p) => p.command.startsWith(`${root}/usr/local/bin/containerd-shim-runc-v2 `))
    t.equal(shims.length, 1, 'the shim the bundle installed runs the pod')
    const ran = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    t.notMatch(ran.stdout, /cni-/, 'its network namespace is under the state folder, not /var/run/netns')

    await client.stop(id)
    t.equal((await client.status(id)).status?.state, SANDBOX_STATE.notReady, 'NOTREADY after StopPodSandbox')
    t.same(bridgeState('cni0').ports, [], 'CNI DEL took the veth away')
    const nat = spawnSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).stdout
    t.notOk(nat.includes(id), 'and its masquerade rules')
    await client.remove(id)
    await t.rejects(client.status(id), /NOT_FOUND/, 'gone after RemovePodSandbox')
    return ms
  } finally {
    client.close()
  }
}
