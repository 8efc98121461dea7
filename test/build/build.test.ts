/**
 * edgebundle build end to end, offline: Debian's containerd, runc and CNI plugins in upstream layouts (from
 * --artifacts-dir), a pause image archive made with umoci/skopeo, the real installer executable. The archive
 * passes GNU tar + sha256sum -c, carries the layout contract, and two builds are byte-identical.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { run } from '../../src/cli/main.js'
import { type ArchiveIndex, archivesOfPlan } from '../../src/installer/archive/index.js'
import { debianArtifacts, debianPartsInstalled, testCatalog } from '../fetch/artifacts.js'
import { buildTestImages, skipUnlessTools } from '../oci/fixtures.js'
import { SEA_TEST_CACHE, installerFor } from '../sea/fixtures.js'
import { fileDigest, sameBytes } from '../fixtures/files.js'

const skip = skipUnlessTools() || (!debianPartsInstalled() && !process.env['CI'] && "Debian's containerd, runc and containernetworking-plugins are not installed")

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = ''
  let stderr = ''
  const saved = process.env['SOURCE_DATE_EPOCH']
  if (env['SOURCE_DATE_EPOCH'] !== undefined) process.env['SOURCE_DATE_EPOCH'] = env['SOURCE_DATE_EPOCH']
  try {
    const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
    return { code, stdout, stderr }
  } finally {
    if (saved === undefined) delete process.env['SOURCE_DATE_EPOCH']
    else process.env['SOURCE_DATE_EPOCH'] = saved
  }
}

t.test('build: an offline bundle that real tools accept, byte-identical when rebuilt', { skip, timeout: 15 * 60_000 }, async (t) => {
  const installer = await installerFor(t, 'linux/amd64')
  if (!installer) return
  const work = t.testdir()
  const artifacts = debianArtifacts()
  const catalog = testCatalog(work, artifacts)
  const layout = await buildTestImages(join(work, 'images'))
  const archive = join(work, 'pause.oci.tar')
  execFileSync('skopeo', ['copy', '--quiet', `oci:${layout}:amd64`, `oci-archive:${archive}:docker.io/kubeedge/pause:3.6`])

  const args = (out: string) => [
    'build', '--catalog', catalog, '--os', 'ubuntu', '--runtime', 'containerd', '--runtime-version', artifacts.versions.containerd,
    '--artifacts-dir', artifacts.dir, '--offline', '--cache-dir', SEA_TEST_CACHE, '--pause-image-archive', archive, '--cni-subnet', '10.77.0.0/16', '--out', out,
  ]
  const out1 = join(work, 'out1')
  const first = await cli(args(out1))
  t.equal(first.code, 0, first.stderr)
  const name = 'edgebundle-1.23-ubuntu-amd64-containerd'
  t.same(readdirSync(out1), [`${name}.tar.gz`], 'only the archive: no temp files')

  // GNU tar and sha256sum agree with the bundle.
  const x = join(work, 'x')
  mkdirSync(x)
  execFileSync('tar', ['-xzf', join(out1, `${name}.tar.gz`), '-C', x])
  t.same(readdirSync(x), [name], 'one top-level folder')
  const root = join(x, name)
  const check = spawnSync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: root, encoding: 'utf8' })
  t.equal(check.status, 0, check.stdout + check.stderr)
  for (const path of ['install', 'install.sh', 'plan.json', 'manifest.json', 'SHA256SUMS', 'README.md', 'sbom.cdx.json', 'config/etc/containerd/config.toml']) {
    t.ok(existsSync(join(root, path)), path)
  }
  t.equal(statSync(join(root, 'install')).mode & 0o777, 0o755)
  t.equal(statSync(join(root, 'install.sh')).mode & 0o777, 0o755)
  t.ok(readdirSync(join(root, 'artifacts')).includes(`containerd-${artifacts.versions.containerd}-linux-amd64.tar.gz`))
  t.same(readdirSync(join(root, 'images')), ['pause-3.6-linux-amd64.oci.tar'])

  // Every file the SHA256SUMS lists is in manifest.json with size, mode and digest, and nothing else is.
  const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8'))
  const sums = readFileSync(join(root, 'SHA256SUMS'), 'utf8').trim().split('\n').map((line) => line.split('  ')[1])
  t.same(manifest.files.map((f: { path: string }) => f.path).sort(), sums.filter((p) => p !== 'manifest.json').sort())
  t.match(manifest, { schemaVersion: 1, name, target: { os: 'ubuntu', arch: 'amd64', runtime: 'containerd', kubeedge: '1.23' }, options: { cniSubnet: '10.77.0.0/16' } })
  const plan = JSON.parse(readFileSync(join(root, 'plan.json'), 'utf8'))
  t.match(plan.steps.find((s: { kind: string }) => s.kind === 'import-image'), { tool: 'ctr', image: 'docker.io/kubeedge/pause:3.6', file: 'images/pause-3.6-linux-amd64.oci.tar' })
  // archives.json: what GNU tar finds in each archive the plan unpacks, each file with its digest.
  const index = JSON.parse(readFileSync(join(root, 'archives.json'), 'utf8')) as ArchiveIndex
  const sumOf = new Map(readFileSync(join(root, 'SHA256SUMS'), 'utf8').trim().split('\n').map((line) => [line.slice(66), line.slice(0, 64)]))
  t.same(Object.keys(index.archives).sort(), archivesOfPlan(plan).map((a) => a.file).sort(), 'every archive the plan unpacks')
  for (const [path, entry] of Object.entries(index.archives)) {
    t.equal(entry.sha256, sumOf.get(path), `${path}: the digest SHA256SUMS has`)
    const stripped = execFileSync('tar', ['-tzf', join(root, path)], { encoding: 'utf8' }).trim().split('\n')
      .map((name) => name.split('/').filter((part) => part !== '').slice(entry.strip).filter((part) => part !== '.').join('/'))
      .filter((name) => name !== '')
    t.same(entry.members.map((m) => m.name), stripped, `${path}: the members GNU tar lists, in order`)
    const unpacked = join(work, 'unpacked', path)
    mkdirSync(unpacked, { recursive: true })
    execFileSync('tar', ['-xzf', join(root, path), '-C', unpacked, `--strip-components=${entry.strip}`])
    for (const member of entry.members.filter((m) => m.type === 'file')) {
      t.equal(member.sha256, fileDigest(join(unpacked, member.name)), `${path}: ${member.name}`)
    }
  }
  const sbom = JSON.parse(readFileSync(join(root, 'sbom.cdx.json'), 'utf8'))
  t.match(sbom, { bomFormat: 'CycloneDX', specVersion: '1.5' })
  t.ok(sbom.components.some((c: { name: string }) => c.name === 'containerd'))
  t.match(readFileSync(join(root, 'README.md'), 'utf8'), /keadm join --cloudcore-ipport=<CLOUDCORE_IP:PORT> --token=<TOKEN> --kubeedge-version=v\d+\.\d+\.\d+ --remote-runtime-endpoint=unix:\/\/\/run\/containerd\/containerd\.sock/)
  const version = spawnSync(join(root, 'install'), ['--version'], { encoding: 'utf8' })
  t.equal(version.status, 0, version.stderr)
  t.match(version.stdout, /linux/)

  // Entries: sorted, uid/gid 0, the fixed timestamp (2020-01-01 without SOURCE_DATE_EPOCH).
  const listing = execFileSync('tar', ['--numeric-owner', '-tvzf', join(out1, `${name}.tar.gz`)], { encoding: 'utf8' }).trim().split('\n')
  t.ok(listing.every((line) => / 0\/0 /.test(line)), 'uid/gid 0')
  t.ok(listing.every((line) => line.includes('2020-01-01')), 'fixed mtime')
  const paths = listing.map((line) => line.split(/\s+/).at(-1)!)
  t.same(paths, [...paths].sort(), 'sorted entries')

  // A second build elsewhere, later, is byte-identical; SOURCE_DATE_EPOCH moves the timestamps.
  await new Promise((done) => setTimeout(done, 1100))
  const out2 = join(work, 'out2')
  t.equal((await cli(args(out2))).code, 0)
  t.ok(sameBytes(join(out1, `${name}.tar.gz`), join(out2, `${name}.tar.gz`)), 'byte-identical')
  const out3 = join(work, 'out3')
  t.equal((await cli(args(out3), { SOURCE_DATE_EPOCH: '1700000000' })).code, 0)
  t.notOk(sameBytes(join(out1, `${name}.tar.gz`), join(out3, `${name}.tar.gz`)))
  t.match(execFileSync('tar', ['-tvzf', join(out3, `${name}.tar.gz`)], { encoding: 'utf8' }), /2023-11-14/)

  // A failing build leaves nothing in --out.
  const out4 = join(work, 'out4')
  mkdirSync(out4)
  const bad = await cli([...args(out4).filter((a) => a !== '--offline'), '--offline', '--pause-image', 'kubeedge/pause:9.9'])
  t.equal(bad.code, 2)
  t.same(readdirSync(out4), [], 'nothing half-written')
})

t.test('build for Windows: a zip that unzip -t accepts, and verify agrees with both archives', { skip, timeout: 15 * 60_000 }, async (t) => {
  const installer = await installerFor(t, 'windows/amd64')
  if (!installer) return
  const work = t.testdir()
  const artifacts = debianArtifacts()
  const catalog = testCatalog(work, artifacts)
  const out = join(work, 'out')
  const built = await cli([
    'build', '--catalog', catalog, '--os', 'windows', '--runtime', 'containerd', '--runtime-version', artifacts.versions.containerd,
    '--artifacts-dir', artifacts.dir, '--offline', '--cache-dir', SEA_TEST_CACHE, '--out', out,
  ])
  t.equal(built.code, 0, built.stderr)
  const zip = join(out, 'edgebundle-1.23-windows-amd64-containerd.zip')
  const test = spawnSync('unzip', ['-t', zip], { encoding: 'utf8' })
  t.equal(test.status, 0, test.stdout)
  t.match(test.stdout, /No errors detected/)
  const names = execFileSync('unzip', ['-Z1', zip], { encoding: 'utf8' })
  for (const path of ['install.exe', 'install.ps1', 'plan.json', 'SHA256SUMS', 'config/C/Program Files/containerd/config.toml', `artifacts/containerd-${artifacts.versions.containerd}-windows-amd64.tar.gz`]) {
    t.match(names, `edgebundle-1.23-windows-amd64-containerd/${path}`)
  }
  const verified = await cli(['verify', zip])
  t.equal(verified.code, 0, verified.stdout + verified.stderr)
})

t.test('build a matrix: supported targets in parallel, unsupported ones listed with their reason', { skip, timeout: 15 * 60_000 }, async (t) => {
  if (!(await installerFor(t, 'linux/amd64')) || !(await installerFor(t, 'windows/amd64'))) return
  const work = t.testdir()
  const artifacts = debianArtifacts()
  const catalog = testCatalog(work, artifacts)
  const out = join(work, 'out')
  const result = await cli([
    'build', '--catalog', catalog, '--os', 'ubuntu', '--os', 'windows', '--runtime', 'containerd', '--runtime', 'cri-o', '--runtime-source', 'preinstalled',
    '--artifacts-dir', artifacts.dir, '--offline', '--cache-dir', SEA_TEST_CACHE, '--out', out,
  ])
  t.equal(result.code, 0, result.stderr + result.stdout)
  t.match(result.stdout, /^ubuntu\/amd64\/containerd\s+built/m)
  t.match(result.stdout, /^ubuntu\/amd64\/cri-o\s+built/m)
  t.match(result.stdout, /^windows\/amd64\/containerd\s+built/m)
  t.match(result.stdout, /^windows\/amd64\/cri-o\s+skipped\s+CRI-O runs on Linux only/m)
  t.match(result.stdout, /3 built, 1 skipped, 0 failed/)
  t.same(readdirSync(out).sort(), [
    'edgebundle-1.23-ubuntu-amd64-containerd.tar.gz',
    'edgebundle-1.23-ubuntu-amd64-cri-o.tar.gz',
    'edgebundle-1.23-windows-amd64-containerd.zip',
  ])
  // A matrix build makes the same bytes as building each target alone.
  const alone = join(work, 'alone')
  const single = await cli(['build', '--catalog', catalog, '--os', 'ubuntu', '--runtime', 'cri-o', '--runtime-source', 'preinstalled', '--artifacts-dir', artifacts.dir, '--offline', '--cache-dir', SEA_TEST_CACHE, '--out', alone])
  t.equal(single.code, 0, single.stderr)
  t.ok(sameBytes(join(out, 'edgebundle-1.23-ubuntu-amd64-cri-o.tar.gz'), join(alone, 'edgebundle-1.23-ubuntu-amd64-cri-o.tar.gz')))
})
