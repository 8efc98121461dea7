/**
 * What keadm join on Windows needs offline, end to end: a Windows bundle built from a mirror on 127.0.0.1
 * serving KubeEdge's release assets in upstream's layout with the SHA-512 checksum files KubeEdge publishes
 * (test/fetch/artifacts.ts), installed by install.exe under wine into a --root. keadm.exe must land in
 * C:\usr\local\bin, and the edgecore tarball and its checksum file in C:\etc\kubeedge\, which keadm join reads
 * before downloading (installKubeEdge and checkSum in keadm/cmd/keadm/app/cmd/util/common_windows.go, kubeedge
 * v1.16.6 … v1.23.1). A second run changes nothing; rollback removes them.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { run as cli } from '../../src/cli/main.js'
import type { Plan } from '../../src/model/plan.js'
import { KUBEEDGE_WINDOWS_RELEASE, debianArtifacts, debianPartsInstalled, testCatalog } from '../fetch/artifacts.js'
import { startMirror } from '../fetch/mirror.js'
import { jsonEvents } from '../installer/fixtures.js'
import { snapshot } from '../installer/node-fixtures.js'
import { EXE_TEST_TIMEOUT_MS, SEA_TEST_CACHE, WINE64, installerFor, need } from '../sea/fixtures.js'
import { succeeded } from './fixtures.js'
import { wineWithStandIn } from './powershell-stand-in.js'

t.setTimeout(EXE_TEST_TIMEOUT_MS)

t.test('Windows bundle from a mirror: keadm.exe, the edgecore tarball and its SHA-512 file where keadm reads them', async (t) => {
  if (!need(t, existsSync(WINE64), `${WINE64} (wine64)`)) return
  if (!need(t, debianPartsInstalled(), "Debian's containerd, runc and containernetworking-plugins")) return
  if (!need(t, spawnSync('unzip', ['-v']).status === 0, 'unzip')) return
  if (!(await installerFor(t, 'windows/amd64'))) return
  // Short paths: wine keeps Windows' 260-character limit, which tap's per-test folder names exceed.
  const work = mkdtempSync(join(tmpdir(), 'eb-e2e-winkeadm-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const artifacts = debianArtifacts()
  const catalog = testCatalog(work, artifacts)
  const mirror = await startMirror()
  t.teardown(() => mirror.close())
  mirror.serveFixtures(artifacts.files)

  // Built as a user would: the CLI, a --mirror, upstream off.
  const out = join(work, 'out')
  let stderr = ''
  const code = await cli(
    [
      'build', '--catalog', catalog, '--os', 'windows', '--runtime', 'containerd', '--runtime-version', artifacts.versions.containerd,
      '--mirror', mirror.url, '--no-upstream', '--cache-dir', SEA_TEST_CACHE, '--out', out,
    ],
    { stdout: () => {}, stderr: (s) => void (stderr += s) },
  )
  t.equal(code, 0, stderr)
  const name = 'edgebundle-1.23-windows-amd64-containerd'
  execFileSync('unzip', ['-q', join(out, `${name}.zip`), '-d', join(work, 'unzipped')])
  const bundle = join(work, 'unzipped', name)
  const plan = JSON.parse(readFileSync(join(bundle, 'plan.json'), 'utf8')) as Plan
  const v = `v${KUBEEDGE_WINDOWS_RELEASE}`
  const tarballName = `kubeedge-${v}-windows-amd64.tar.gz`
  const checksumName = `checksum_${tarballName}.txt`
  t.same(
    plan.steps.filter((s) => s.kind === 'install-archive' || s.kind === 'install-binary').filter((s) => s.id.includes('windows')).map((s) => [s.id, 'dest' in s ? s.dest : '']),
    [
      ['install-keadm-windows', 'C:\\usr\\local\\bin'],
      ['install-kubeedge-windows', `C:\\etc\\kubeedge\\${tarballName}`],
      ['install-kubeedge-windows-checksum', `C:\\etc\\kubeedge\\${checksumName}`],
    ],
  )
  t.equal(plan.kubeedge.keadm, 'C:\\usr\\local\\bin\\keadm.exe')
  t.notOk(plan.kubeedge.keadmJoinArgs.some((arg) => arg.startsWith('--tarballpath')), "keadm's default --tarballpath is where the files go")
  const published = readFileSync(artifacts.file(tarballName).checksumFile!.path)
  t.ok(readFileSync(join(bundle, 'artifacts', checksumName)).equals(published), 'the bundle carries the checksum file byte for byte as published')

  const { wine, cwd } = await wineWithStandIn(t, work)
  const install = (args: string[]) => wine.run(join(bundle, 'install.exe'), [...args, '--json'], cwd)
  const changed = (stdout: string) => (jsonEvents(stdout).find((e) => e.event === 'done') as { changed?: number } | undefined)?.changed

  const root = join(work, 'root')
  mkdirSync(root)
  const before = snapshot(root)
  succeeded(t, install(['--root', root]), 'install.exe --root')

  const keadmFixture = artifacts.file(`keadm-${v}-windows-amd64.tar.gz`).path
  const keadmExe = execFileSync('tar', ['-xzOf', keadmFixture, `keadm-${v}-windows-amd64/keadm/keadm.exe`])
  t.ok(readFileSync(join(root, 'C', 'usr', 'local', 'bin', 'keadm.exe')).equals(keadmExe), 'keadm.exe from the release tarball, in C:\\usr\\local\\bin')
  t.notOk(existsSync(join(root, 'C', 'usr', 'local', 'bin', 'version')), 'strip 2 leaves the version file out')
  const kubeedge = join(root, 'C', 'etc', 'kubeedge')
  const tarball = readFileSync(join(kubeedge, tarballName))
  t.ok(tarball.equals(readFileSync(artifacts.file(tarballName).path)), 'the edgecore tarball as released, not unpacked')
  const checksum = readFileSync(join(kubeedge, checksumName), 'utf8')
  // keadm's checkSum: the file's content without "\n" equals "%x" of the tarball's SHA-512.
  t.equal(checksum.replace(/\n/g, ''), createHash('sha512').update(tarball).digest('hex'), 'keadm would accept the pair without downloading')

  const second = install(['--root', root])
  succeeded(t, second, 'install.exe again')
  t.equal(changed(second.stdout), 0, 'a second run changes nothing')
  succeeded(t, install(['rollback', '--root', root]), 'install.exe rollback')
  t.same(snapshot(root), before, 'rolled back: keadm.exe and both files are gone')
})
