/** The CLI end to end, in-process: output, exit codes, and that bad input writes nothing. */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse as parseToml } from 'smol-toml'
import { run } from '../../src/cli/main.js'

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
  return { code, stdout, stderr }
}

function tree(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? tree(join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  ).sort()
}

t.test('list: a table with reasons, and JSON with every combination', async (t) => {
  const table = await cli('list')
  t.equal(table.code, 0)
  t.match(table.stdout, /^OS\s+ARCH\s+RUNTIME\s+SOURCE\s+KUBEEDGE\s+NOTES$/m)
  t.match(table.stdout, /^ubuntu\s+amd64\s+containerd\s+release\s+1\.12-1\.23/m)
  t.match(table.stdout, /^ubuntu\s+amd64\s+virtlet\s+preinstalled\s+unsupported\s+1\.12-1\.14: keadm join copies edgecore by running an ordinary container.*\n\s+1\.15-1\.23: Virtlet serves CRI v1alpha2 only/m)
  // A refusal by runtime constraint (no pinned CRI-O serves CRI v1alpha2) is listed like a matrix rule.
  t.match(table.stdout, /^ubuntu\s+amd64\s+cri-o\s+release\s+1\.13-1\.23\s+1\.12: KubeEdge 1\.12's edged speaks CRI v1alpha2 only/m)
  t.match(table.stdout, /^windows\s+amd64\s+isulad\s+\S+\s+unsupported\s+1\.12-1\.15: keadm joins Windows edge nodes from KubeEdge 1\.16.*\n\s+1\.16-1\.23: iSulad is a Linux container engine$/m)
  const json = await cli('list', '--json')
  const parsed = JSON.parse(json.stdout)
  t.equal(parsed.combinations.length, 864)
  t.ok(parsed.combinations.every((c: { supported: boolean; reason: string | null }) => c.supported === (c.reason === null)))
})

t.test('plan: human and JSON', async (t) => {
  const human = await cli('plan', '--os', 'ubuntu', '--arch', 'arm64', '--runtime', 'isulad')
  t.equal(human.code, 0, human.stderr)
  t.match(human.stdout, /edgebundle-1\.23-ubuntu-arm64-isulad: isulad 2\.1\.6 \(preinstalled\)/)
  t.match(human.stdout, /keadm join --cloudcore-ipport=<CLOUDCORE_IP:PORT> --token=<TOKEN> --kubeedge-version=v1\.23\.1 --remote-runtime-endpoint=unix:\/\/\/var\/run\/isulad\.sock/)
  const json = await cli('plan', '--os', 'ubuntu', '--runtime', 'containerd', '--json')
  const plan = JSON.parse(json.stdout)
  t.equal(plan.schemaVersion, 1)
  t.equal(plan.steps[0].kind, 'preflight')
})

t.test('render writes plan.json, install.sh and config/<node path>, exactly the plan\'s files', async (t) => {
  const out = join(t.testdir(), 'out')
  const result = await cli('render', '--os', 'ubuntu', '--runtime', 'containerd', '--cgroup-driver', 'systemd', '--out', out)
  t.equal(result.code, 0, result.stderr)
  const plan = JSON.parse(readFileSync(join(out, 'plan.json'), 'utf8'))
  t.same(tree(out), ['install.sh', 'plan.json', ...plan.files.map((f: { source: string }) => f.source)].sort())
  t.equal(statSync(join(out, 'install.sh')).mode & 0o777, 0o755)
  const config = parseToml(readFileSync(join(out, 'config/etc/containerd/config.toml'), 'utf8')) as Record<string, any>
  t.equal(config.plugins['io.containerd.cri.v1.runtime'].containerd.runtimes.runc.options.SystemdCgroup, true)
  const again = await cli('render', '--os', 'ubuntu', '--runtime', 'containerd', '--out', out)
  t.equal(again.code, 2, 'refuses a non-empty folder')
  t.match(again.stderr, /is not empty/)
})

t.test('render for Windows writes install.ps1 and C/ paths', async (t) => {
  const out = join(t.testdir(), 'win')
  const result = await cli('render', '--os', 'windows', '--runtime', 'containerd', '--out', out)
  t.equal(result.code, 0, result.stderr)
  t.ok(existsSync(join(out, 'install.ps1')))
  t.ok(existsSync(join(out, 'config/C/Program Files/containerd/config.toml')))
})

const bad: [string, string[], RegExp][] = [
  ['unknown os', ['--os', 'solaris', '--runtime', 'containerd'], /--os solaris is not one of: ubuntu, centos, openeuler, windows/],
  ['unsupported combination', ['--os', 'windows', '--runtime', 'isulad'], /not supported: iSulad is a Linux container engine/],
  ['hostile pause image', ['--os', 'ubuntu', '--runtime', 'containerd', '--pause-image', 'x/y:1;reboot'], /contains ";"/],
  ['newline in pause image', ['--os', 'ubuntu', '--runtime', 'containerd', '--pause-image', 'x/y:1\nreboot'], /contains \\n/],
  ['bad CIDR', ['--os', 'ubuntu', '--runtime', 'containerd', '--cni-subnet', '10.88.0.0/33'], /cni-subnet/],
  ['unknown flag', ['--os', 'ubuntu', '--runtime', 'containerd', '--colour'], /unknown option '--colour'/],
  ['old containerd for new KubeEdge', ['--os', 'ubuntu', '--runtime', 'containerd', '--runtime-source', 'preinstalled', '--runtime-version', '1.5.9'], /containerd 1\.5\.9 cannot serve KubeEdge 1\.23: .*which containerd serves from 1\.6/],
  ['no pinned runtime serves the KubeEdge version', ['--os', 'ubuntu', '--runtime', 'cri-o', '--kubeedge-version', '1.12'], /not supported: KubeEdge 1\.12's edged speaks CRI v1alpha2 only/],
  ['a runtime keadm cannot join through', ['--os', 'ubuntu', '--runtime', 'virtlet', '--kubeedge-version', '1.13'], /not supported: keadm join copies edgecore/],
]
for (const [name, args, message] of bad) {
  t.test(`bad input exits 2 and writes nothing: ${name}`, async (t) => {
    const dir = t.testdir()
    const out = join(dir, 'out')
    const result = await cli('render', ...args, '--out', out)
    t.equal(result.code, 2)
    t.match(result.stderr, message)
    t.same(readdirSync(dir), [], 'nothing written, not even a temp folder')
  })
}

t.test('--config: YAML and TOML with the flag names; flags win; unknown keys refused', async (t) => {
  const dir = t.testdir({
    'edge.yaml': 'os: centos\nruntime: cri-o\ncgroup-driver: systemd\nkubeedge-version: 1.15\nregistry-mirror:\n  - https://m.example.com\n',
    'edge.toml': 'os = "openeuler"\nruntime = "isulad"\narch = "arm64"\n',
    'typo.yaml': 'os: ubuntu\nruntime: containerd\ncgroupdriver: systemd\n',
    'hostile.yaml': 'os: ubuntu\nruntime: containerd\npause-image: "a/b:1 && reboot"\n',
  })
  const yaml = JSON.parse((await cli('plan', '--config', join(dir, 'edge.yaml'), '--json')).stdout)
  t.match(yaml, { target: { os: 'centos', runtime: 'cri-o', kubeedge: '1.15' }, options: { cgroupDriver: 'systemd', registryMirrors: [{ endpoint: 'https://m.example.com' }] } })
  const flagsWin = JSON.parse((await cli('plan', '--config', join(dir, 'edge.yaml'), '--cgroup-driver', 'cgroupfs', '--json')).stdout)
  t.equal(flagsWin.options.cgroupDriver, 'cgroupfs')
  const toml = JSON.parse((await cli('plan', '--config', join(dir, 'edge.toml'), '--json')).stdout)
  t.match(toml.target, { os: 'openeuler', runtime: 'isulad', arch: 'arm64' })
  const typo = await cli('plan', '--config', join(dir, 'typo.yaml'))
  t.equal(typo.code, 2)
  t.match(typo.stderr, /unknown key "cgroupdriver"/)
  const hostile = await cli('plan', '--config', join(dir, 'hostile.yaml'))
  t.equal(hostile.code, 2)
  t.match(hostile.stderr, /contains a space|contains "&"/)
  const missing = await cli('plan', '--config', join(dir, 'nope.yaml'))
  t.equal(missing.code, 2)
  t.match(missing.stderr, /cannot be read: ENOENT/)
})

t.test('--packages-dir lists .deb/.rpm files and refuses anything else', async (t) => {
  const dir = t.testdir({ pkgs: { 'iSulad-2.1.6-1.oe2203.x86_64.rpm': 'x', 'lcr-2.1.4-1.x86_64.rpm': 'y' }, bad: { 'notes.txt': 'z' } })
  const ok = JSON.parse((await cli('plan', '--os', 'openeuler', '--runtime', 'isulad', '--runtime-source', 'packages', '--packages-dir', join(dir, 'pkgs'), '--json')).stdout)
  t.match(ok.steps.find((s: { kind: string }) => s.kind === 'install-packages'), { manager: 'rpm', files: ['packages/iSulad-2.1.6-1.oe2203.x86_64.rpm', 'packages/lcr-2.1.4-1.x86_64.rpm'] })
  const bad = await cli('plan', '--os', 'openeuler', '--runtime', 'isulad', '--runtime-source', 'packages', '--packages-dir', join(dir, 'bad'))
  t.equal(bad.code, 2)
  t.match(bad.stderr, /notes\.txt/)
})

t.test('help and version exit 0', async (t) => {
  t.equal((await cli('--help')).code, 0)
  t.equal((await cli('--version')).code, 0)
  t.equal((await cli('render', '--help')).code, 0)
})

t.test('the built CLI runs as `npx edgebundle` would (bin/edgebundle.js → dist/)', { skip: !existsSync(new URL('../../dist/edgebundle.mjs', import.meta.url)) && 'dist/ not built (npm ci builds it)' }, async (t) => {
  const { spawnSync } = await import('node:child_process')
  const bin = new URL('../../bin/edgebundle.js', import.meta.url).pathname
  const ok = spawnSync(process.execPath, [bin, 'plan', '--os', 'ubuntu', '--runtime', 'containerd'], { encoding: 'utf8' })
  t.equal(ok.status, 0, ok.stderr)
  t.match(ok.stdout, /edgebundle-1\.23-ubuntu-amd64-containerd/)
  const bad = spawnSync(process.execPath, [bin, 'plan', '--os', 'beos', '--runtime', 'containerd'], { encoding: 'utf8' })
  t.equal(bad.status, 2)
})

t.test('--config also carries the artifact settings (mirror, artifacts-dir, cache-dir, checksum, offline); flags win', async (t) => {
  const { artifactSettingsFromFlags } = await import('../../src/cli/target-options.js')
  const dir = t.testdir({
    arts: {},
    'edge.yaml': 'os: ubuntu\nruntime: containerd\nmirror:\n  - http://127.0.0.1:8081/edge\ncache-dir: /tmp/eb-cache\noffline: true\n',
  })
  const config = join(dir, 'edge.yaml')
  const fromFile = artifactSettingsFromFlags({ config }, {})
  t.same(fromFile.mirrors, ['http://127.0.0.1:8081/edge'])
  t.equal(fromFile.cacheDir, '/tmp/eb-cache')
  t.equal(fromFile.offline, true)
  const flagsWin = artifactSettingsFromFlags({ config, mirror: ['https://m2.example.com'], artifactsDir: [join(dir, 'arts')] }, {})
  t.same(flagsWin.mirrors, ['https://m2.example.com/'])
  t.same(flagsWin.artifactsDirs, [join(dir, 'arts')])
  const plan = JSON.parse((await cli('plan', '--config', config, '--json')).stdout)
  t.equal(plan.target.os, 'ubuntu', 'artifact keys do not disturb the target')
})
