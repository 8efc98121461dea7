/**
 * Issue 12, end to end on real containerd: an air-gapped node joins with what the bundle carries.
 *
 * A stand-in kubeedge/installation-package image is built here with umoci (no Go toolchain can build
 * KubeEdge here: stand-in `keadm` and `edgecore` shell scripts at /usr/local/bin, where the real image keeps
 * them), exported as an OCI archive under the name keadm asks for, and handed to `edgebundle build
 * --image-archive`. The bundle carries it and keadm (taken from the image); `install --root` puts keadm in
 * place; Debian's containerd, serving inside the root in a network namespace with nothing but loopback (every
 * registry unreachable), gets the image imported by the installer's next run, and CRI ImageStatus finds it
 * under keadm's exact reference. Then the join runs WITHOUT --root, as on the node itself: the installer runs
 * in a private mount namespace whose /etc, /usr/local, /opt, /run and /var/lib are the staging root's (so
 * nothing of this machine is touched) and its own network namespace; the keadm it runs is the stand-in the
 * bundle installed, which records its argv. The token appears in no file the installer wrote and in none of
 * its output.
 *
 * One more stand-in: `modprobe`. This VM's kernel has no module files and no modprobe; the live run's
 * load-kernel-modules step asks for br_netfilter (built in here, so /sys/module does not list it), and the
 * stand-in records that call.
 */
import { chmodSync, copyFileSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { readPlan } from '../../src/installer/bundle.js'
import { imagesPresentOverCri } from '../../src/installer/cri/client.js'
import { defaultBundlesDir } from '../../src/catalog/load.js'
import { which } from '../../src/sea/host.js'
import { untarArgs } from '../fixtures/gunzip.js'
import { jsonEvents } from '../installer/fixtures.js'
import { prepareRoot, snapshot } from '../installer/node-fixtures.js'
import { BUSYBOX, buildTestImages, sh } from '../oci/fixtures.js'
import { installerFor, need } from '../sea/fixtures.js'
import { HostTrace, buildBundle, doneEvent, exec, holdingHostRuntime, installer, loopbackInputs, needDebianParts, startContainerd, succeeded, testContainerdConfig } from './fixtures.js'

const SUITE_TIMEOUT_MS = 10 * 60_000
t.setTimeout(SUITE_TIMEOUT_MS)

const BUNDLE_NAME = 'edgebundle-1.23-ubuntu-amd64-containerd'
const TOKEN = 'e2e0token.eyJhbGciOiJIUzI1NiJ9.Zm9yLXRoZS1lMmUtb25seQ.not-a-real-signature'
const CLOUDCORE = '127.0.0.1:10000'
const NODE_NAME = 'edge-e2e-1'
const CRI_OPTIONS = { timeoutMs: 10_000, attempts: 20, delayMs: 250 }

/** The patch 1.23 is pinned to, from the catalog itself (bundles/kubeedge.yaml releases). */
function pinnedRelease(): string {
  const catalog = parseYaml(readFileSync(join(defaultBundlesDir(), 'kubeedge.yaml'), 'utf8')) as { releases: Record<string, string> }
  return catalog.releases['1.23']!
}

/**
 * keadm as the stand-in image carries it: `keadm version` prints what keadm prints
 * (keadm/cmd/keadm/app/cmd/version.go: "version: %#v" of version.Info); `keadm join` writes its argv, one
 * element a line, to $EB_E2E_KEADM_ARGV and echoes it (the installer must scrub the token from that).
 */
function standInKeadm(release: string): string {
  const [major, minor] = release.split('.')
  return `#!/bin/sh
# stand-in keadm for the edgebundle e2e suite
case "$1" in
version)
    printf 'version: version.Info{Major:"%s", Minor:"%s", GitVersion:"v%s", GitCommit:"stand-in", GitTreeState:"clean", BuildDate:"", GoVersion:"", Compiler:"gc", Platform:"linux/amd64"}\\n' '${major}' '${minor}' '${release}'
    ;;
join)
    : > "$EB_E2E_KEADM_ARGV"
    for arg in "$@"; do
        printf '%s\\n' "$arg" >> "$EB_E2E_KEADM_ARGV"
    done
    echo "stand-in keadm: join $*"
    ;;
*)
    echo "stand-in keadm: unexpected command $1" >&2
    exit 64
    ;;
esac
`
}

const STAND_IN_EDGECORE = '#!/bin/sh\n# stand-in edgecore for the edgebundle e2e suite\necho "stand-in edgecore $*"\n'

/** The stand-in installation-package image for linux/amd64, as an OCI archive naming it `name`. */
async function standInImage(dir: string, name: string, keadm: string): Promise<string> {
  const layout = join(dir, 'layout')
  const bundle = join(dir, 'bundle')
  await sh('umoci', ['init', '--layout', layout])
  await sh('umoci', ['new', '--image', `${layout}:base`])
  await sh('umoci', ['unpack', '--rootless', '--image', `${layout}:base`, bundle])
  const rootfs = join(bundle, 'rootfs')
  mkdirSync(join(rootfs, 'bin'), { recursive: true })
  mkdirSync(join(rootfs, 'usr', 'local', 'bin'), { recursive: true })
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'))
  chmodSync(join(rootfs, 'bin', 'busybox'), 0o755)
  writeFileSync(join(rootfs, 'usr', 'local', 'bin', 'keadm'), keadm, { mode: 0o755 })
  writeFileSync(join(rootfs, 'usr', 'local', 'bin', 'edgecore'), STAND_IN_EDGECORE, { mode: 0o755 })
  await sh('umoci', ['repack', '--image', `${layout}:base`, bundle])
  await sh('umoci', ['config', '--image', `${layout}:base`, '--tag', 'amd64', '--os', 'linux', '--architecture', 'amd64', '--config.cmd', '/usr/local/bin/edgecore', '--no-history'])
  const archive = join(dir, 'installation-package.oci.tar')
  await sh('skopeo', ['copy', '--quiet', `oci:${layout}:amd64`, `oci-archive:${archive}:${name}`])
  return archive
}

/** A pause image (the suite's busybox test image) under `name`, for the sandbox image every config names. */
async function pauseImage(dir: string, name: string): Promise<string> {
  const layout = await buildTestImages(dir)
  const archive = join(dir, 'pause.oci.tar')
  await sh('skopeo', ['copy', '--quiet', `oci:${layout}:amd64`, `oci-archive:${archive}:${name}`])
  return archive
}

/** Every regular file below `dir` that holds `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  const found: string[] = []
  const walk = (path: string) => {
    const stat = lstatSync(path, { throwIfNoEntry: false })
    if (!stat) return
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name))
    else if (stat.isFile() && readFileSync(path).includes(needle)) found.push(path)
  }
  walk(dir)
  return found
}

t.test('a bundle carrying the installation-package image and keadm: imported under keadm\'s reference offline, joined without --root', { timeout: SUITE_TIMEOUT_MS }, (t) =>
  holdingHostRuntime(async () => {
    if (!need(t, process.getuid?.() === 0, 'root (containerd, mount and network namespaces need it)', 'run the suite as root, as CI does')) return
    if (!needDebianParts(t)) return
    if (!need(t, which('unshare') !== null && which('ip') !== null, 'unshare and ip', 'apt-get install -y util-linux iproute2')) return
    if (!(await installerFor(t, 'linux/amd64'))) return

    const release = pinnedRelease()
    const keadmReference = `kubeedge/installation-package:v${release}`
    const runtimeName = `docker.io/${keadmReference}`
    const work = t.testdir()
    const { artifacts, catalog, mirror, cache } = await loopbackInputs(t, work)

    const keadm = standInKeadm(release)
    const imageArchive = await standInImage(join(work, 'image'), runtimeName, keadm)
    const pauseArchive = await pauseImage(join(work, 'pause'), 'docker.io/kubeedge/pause:3.6')

    const built = await buildBundle([
      '--catalog', catalog, '--os', 'ubuntu', '--arch', 'amd64', '--runtime', 'containerd', '--runtime-version', artifacts.versions.containerd,
      '--mirror', mirror.url, '--no-upstream', '--cache-dir', cache, '--pause-image-archive', pauseArchive, '--image-archive', imageArchive,
      '--out', join(work, 'out'),
    ])
    if (!succeeded(t, built, 'build with --image-archive')) return
    t.comment(`build: ${(built.ms / 1000).toFixed(1)} s`)
    const unpacked = join(work, 'x')
    mkdirSync(unpacked)
    if (!succeeded(t, await exec('tar', untarArgs(join(work, 'out', `${BUNDLE_NAME}.tar.gz`), unpacked)), 'tar -x')) return
    const bundle = join(unpacked, BUNDLE_NAME)
    const plan = readPlan(bundle)

    // What the bundle carries and what its plan does with it.
    t.same(plan.kubeedge.images, [keadmReference], 'keadm asks for the installation-package image at the pinned patch')
    const imports = plan.steps.filter((s) => s.kind === 'import-image')
    t.match(imports, [{ tool: 'ctr', image: 'docker.io/kubeedge/pause:3.6' }, { tool: 'ctr', image: runtimeName }], 'both images are imported with ctr, under the names containerd records')
    const keadmStep = plan.steps.find((s) => s.id === 'install-keadm')
    t.match(keadmStep, { kind: 'install-binary', component: 'keadm', dest: '/usr/local/bin/keadm' }, 'keadm is an install step of the plan')
    if (keadmStep?.kind !== 'install-binary') return
    t.equal(readFileSync(join(bundle, keadmStep.file), 'utf8'), keadm, "the bundle's keadm is the one in the image, byte for byte")
    const sh256 = readFileSync(join(bundle, 'SHA256SUMS'), 'utf8')
    t.match(sh256, keadmStep.file, 'keadm is covered by SHA256SUMS')
    for (const step of imports) if (step.kind === 'import-image') t.match(sh256, step.file, `${step.file} is covered by SHA256SUMS`)
    t.match(readFileSync(join(bundle, 'install.sh'), 'utf8'), /join_node '[^']+' '[^']+' '1' 'kubeedge\/installation-package:v/, 'install.sh checks the same image before a join')

    const stage = mkdtempSync(join(tmpdir(), 'eb-join-'))
    t.teardown(() => rmSync(stage, { recursive: true, force: true }))
    const root = join(stage, 'root')
    prepareRoot(root, { dir: bundle, plan })
    const outputs: string[] = []
    const keep = <R extends { stdout: string; stderr: string }>(result: R): R => {
      outputs.push(result.stdout, result.stderr)
      return result
    }

    // --root with --join is refused before anything is read or written.
    const before = snapshot(root)
    const refused = keep(await installer(bundle, ['--root', root, '--cloudcore', CLOUDCORE, '--join'], { KUBEEDGE_TOKEN: TOKEN }))
    t.equal(refused.code, 2, '--join with --root: exit 2')
    t.match(refused.events.find((e) => e.event === 'error'), { message: /joining is for the running node/ })
    t.same(snapshot(root), before, 'nothing written')

    const first = keep(await installer(bundle, ['--root', root]))
    if (!succeeded(t, first, 'install --root')) return
    t.equal(readFileSync(join(root, 'usr/local/bin/keadm'), 'utf8'), keadm, 'keadm installed at /usr/local/bin/keadm')
    t.equal(lstatSync(join(root, 'usr/local/bin/keadm')).mode & 0o777, 0o755, 'executable')

    const config = join(stage, 'containerd.toml')
    testContainerdConfig(root, config)
    const trace = HostTrace.capture(root)
    const scratch = join(stage, 'scratch')
    mkdirSync(scratch)
    let runtime: Awaited<ReturnType<typeof startContainerd>> | undefined
    try {
      runtime = await startContainerd(root, config, join(stage, 'containerd.log'), { offline: true })
      const path = `${root}/usr/local/bin:${root}/usr/local/sbin:${process.env.PATH}`
      const second = keep(await installer(bundle, ['--root', root], { PATH: path }))
      succeeded(t, second, 'install --root with the runtime up')
      t.match(
        second.events.filter((e) => e.event === 'change').map((e) => e.action),
        [`loaded docker.io/kubeedge/pause:3.6 with ctr`, `loaded ${runtimeName} with ctr`],
        'the second run imports both images, nothing else',
      )

      // ImageStatus, as keadm asks it, finds the image with no registry reachable from the runtime.
      const present = await imagesPresentOverCri(`unix://${runtime.socket}`, [keadmReference, runtimeName, `kubeedge/installation-package:v${release}-not-there`], CRI_OPTIONS)
      t.same(present, [true, true, false], "ImageStatus finds the image under keadm's exact reference (and not one it was never given)")

      // Status under --root says the join is for the running node.
      const rootStatus = keep(await installer(bundle, ['status', '--root', root]))
      t.match(rootStatus.events.find((e) => e.event === 'join-ready'), { checked: false })

      // The join, as on the node itself: no --root; the root is this namespace's /etc, /usr/local, /opt, /run, /var/lib.
      const argvFile = join(stage, 'keadm-argv')
      const standIns = join(stage, 'stand-ins')
      mkdirSync(standIns)
      const modprobeLog = join(stage, 'modprobe.log')
      writeFileSync(join(standIns, 'modprobe'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${modprobeLog}'\n`, { mode: 0o755 })
      const binds = ['etc', 'usr/local', 'opt', 'run', 'var/lib'].map((dir) => `mount --bind '${root}/${dir}' '/${dir}'`).join(' && ')
      const live = async (args: string[], env: Record<string, string> = {}) => {
        const result = keep(
          await exec('unshare', ['--mount', '--net', '--propagation', 'private', '--', 'sh', '-c', `${binds} && exec "$@"`, 'sh', join(bundle, 'install'), ...args, '--json'], {
            cwd: bundle,
            env: { PATH: `${standIns}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, TMPDIR: scratch, EB_E2E_KEADM_ARGV: argvFile, ...env },
          }),
        )
        return { ...result, events: jsonEvents(result.stdout) }
      }
      for (const dir of ['opt', 'var/lib']) mkdirSync(join(root, dir), { recursive: true })

      const status = await live(['status'])
      succeeded(t, status, 'status on the live node')
      t.match(status.events.find((e) => e.event === 'join-ready'), { checked: true, ready: true, keadm: { expected: `v${release}`, found: `v${release}` }, images: [{ image: keadmReference, carried: true, present: true }] }, 'status: ready to join')

      const joined = await live(['--cloudcore', CLOUDCORE, '--node-name', NODE_NAME, '--join'], { KUBEEDGE_TOKEN: TOKEN })
      if (succeeded(t, joined, 'install --cloudcore … --join, without --root')) {
        t.match(joined.events.find((e) => e.event === 'join-ready'), { ready: true, images: [{ image: keadmReference, present: true }] }, 'the join checked readiness first')
        t.match(joined.events.find((e) => e.event === 'join'), { ran: true, exitCode: 0 })
        t.equal(doneEvent(joined.events)?.changed ?? -1, joined.events.filter((e) => e.event === 'change').length)
      }
      const argv = readFileSync(argvFile, 'utf8').split('\n').slice(0, -1)
      const expected = ['join', `--cloudcore-ipport=${CLOUDCORE}`, `--token=${TOKEN}`, `--edgenode-name=${NODE_NAME}`, ...plan.kubeedge.keadmJoinArgs]
      t.same(argv, expected, 'keadm received exactly the expected argv')
      t.ok(argv.includes(`--kubeedge-version=v${release}`), `--kubeedge-version matches the image tag v${release}`)
      t.same(readFileSync(modprobeLog, 'utf8').split('\n').filter(Boolean).filter((line) => !/^-- (overlay|br_netfilter)$/.test(line)), [], 'the live run asked modprobe for the bundle\'s modules only')

      // A keadm of another version first on PATH: the join is refused before keadm join runs.
      writeFileSync(join(standIns, 'keadm'), keadm.replaceAll(`'${release}'`, "'1.22.0'"), { mode: 0o755 })
      rmSync(argvFile)
      const wrong = await live(['--cloudcore', CLOUDCORE, '--join'], { KUBEEDGE_TOKEN: TOKEN })
      t.equal(wrong.code, 1, 'another keadm version: the join fails')
      t.match(wrong.events.find((e) => e.event === 'join-ready'), { ready: false, keadm: { found: 'v1.22.0' } })
      t.notOk(lstatSync(argvFile, { throwIfNoEntry: false }), 'keadm join was not run')
    } finally {
      await runtime?.stop()
      await trace.cleanup()
    }

    // The token: in no file the installer wrote (the root, its journal and backups, the scratch space) and in none of its output.
    t.same(filesHolding(root, TOKEN), [], 'no file under the root holds the token')
    t.same(filesHolding(scratch, TOKEN), [], 'no scratch file holds the token')
    t.same(filesHolding(bundle, TOKEN), [], 'no bundle file holds the token')
    t.same(outputs.filter((text) => text.includes(TOKEN)), [], 'no output of any run holds the token')
    t.ok(outputs.some((text) => text.includes('stand-in keadm: join') && text.includes('--token=<token>')), "keadm's own output is passed on with the token replaced")
  }),
)
