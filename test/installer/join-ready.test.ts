/**
 * Join readiness (src/installer/join-ready.ts) with the real command runner and a stand-in keadm on PATH
 * (no keadm runs here: it needs a Go toolchain newer than this machine has), the runtime's answer given
 * through the Node's cri (src/installer/node.ts) (the real CRI call is exercised in test/e2e/kubeedge-join.test.ts), and
 * install.sh's side of the same rules: --join refused under --root, bad join values refused (exit 2).
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { keadmGitVersion, joinReadiness } from '../../src/installer/join-ready.js'
import { hostFs } from '../../src/installer/node-fs.js'
import { hostSystem } from '../../src/installer/system.js'
import type { Plan } from '../../src/model/plan.js'
import { renderBundle } from '../../src/render/bundle.js'
import { validateRequest } from '../../src/resolve/request.js'
import { catalog, templates as defaultTemplates } from '../helpers.js'

function plan(imports: boolean, os: 'ubuntu' | 'windows' = 'ubuntu'): Plan {
  const request = validateRequest(catalog, { os, arch: 'amd64', runtime: 'containerd' })
  const rendered = renderBundle(catalog, request, defaultTemplates, {
    images: imports ? [{ file: 'images/installation-package.oci.tar', image: 'docker.io/kubeedge/installation-package:v1.23.1' }] : [],
  })
  return rendered.plan
}

/** `keadm version` of keadm v1.12.7 … v1.23.1 prints "version: %#v" of version.Info (keadm/cmd/keadm/app/cmd/version.go). */
const versionLine = (v: string) =>
  `version: version.Info{Major:"1", Minor:"23", GitVersion:"${v}", GitCommit:"abc", GitTreeState:"clean", BuildDate:"2025-01-01T00:00:00Z", GoVersion:"go1.23.4", Compiler:"gc", Platform:"linux/amd64"}\n`

t.test('keadmGitVersion reads what keadm version prints', async (t) => {
  t.equal(keadmGitVersion(versionLine('v1.23.1')), 'v1.23.1')
  t.equal(keadmGitVersion(versionLine('v1.12.7-dirty')), 'v1.12.7-dirty')
  t.equal(keadmGitVersion('keadm: command not found'), null)
  t.equal(keadmGitVersion('GitVersion:"v1.2.3$(reboot)"'), null, 'nothing but a version is taken')
})

t.test('joinReadiness: keadm version and the images, as the node would answer', async (t) => {
  const dir = t.testdir()
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  const saved = process.env['PATH']
  t.teardown(() => {
    process.env['PATH'] = saved
  })
  process.env['PATH'] = bin
  const system = hostSystem()
  const keadm = (version: string) => writeFileSync(join(bin, 'keadm'), `#!/bin/sh\n[ "$1" = version ] && printf '%s' '${versionLine(version)}'\n`, { mode: 0o755 })
  const answers = (present: boolean[] | null | Error) => ({
    imagesPresent: async (endpoint: string, images: readonly string[]) => {
      t.equal(endpoint, 'unix:///run/containerd/containerd.sock')
      t.same(images, ['kubeedge/installation-package:v1.23.1'], 'asked as keadm names it')
      if (present instanceof Error) throw present
      return present
    },
  })

  const noKeadm = await joinReadiness(plan(true), { system, cri: answers([true]), fs: hostFs() })
  t.equal(noKeadm.ready, false)
  t.match(noKeadm.problems, [{ message: 'keadm is not installed', hint: /--pull-kubeedge-images/ }])

  keadm('v1.23.1')
  const ready = await joinReadiness(plan(true), { system, cri: answers([true]), fs: hostFs() })
  t.match(ready, { ready: true, keadmVersion: 'v1.23.1', images: [{ image: 'kubeedge/installation-package:v1.23.1', carried: true, present: true }], problems: [], warnings: [] })

  const missing = await joinReadiness(plan(true), { system, cri: answers([false]), fs: hostFs() })
  t.equal(missing.ready, false, 'a carried image missing from the runtime: not ready')
  t.match(missing.problems, [{ message: /does not hold kubeedge\/installation-package:v1\.23\.1, so keadm would pull it/ }])

  const notCarried = await joinReadiness(plan(false), { system, cri: answers([false]), fs: hostFs() })
  t.equal(notCarried.ready, true, 'an image the bundle does not carry: keadm may pull it, with a warning')
  t.match(notCarried.warnings, [/does not carry it: keadm join will pull it/])

  const down = await joinReadiness(plan(true), { system, cri: answers(new Error('the socket does not exist')), fs: hostFs() })
  t.equal(down.ready, false)
  t.match(down.problems, [{ message: /the runtime does not answer at unix:\/\/\/run\/containerd\/containerd\.sock: the socket does not exist/ }])

  keadm('v1.22.0')
  const other = await joinReadiness(plan(true), { system, cri: answers([true]), fs: hostFs() })
  t.match(other, { ready: false, keadmVersion: 'v1.22.0', problems: [{ message: 'keadm is v1.22.0, not the v1.23.1 this bundle is for' }] })

  writeFileSync(join(bin, 'keadm'), '#!/bin/sh\nexit 3\n', { mode: 0o755 })
  t.match((await joinReadiness(plan(true), { system, cri: answers([true]), fs: hostFs() })).problems, [{ message: 'keadm version did not report a version (exit 3)' }])
})

t.test('joinReadiness on Windows: the bundle\'s keadm.exe by its path, the edgecore tarball and its SHA-512 checksum file', async (t) => {
  const dir = t.testdir()
  const windows = plan(false, 'windows')
  t.equal(windows.kubeedge.keadm, 'C:\\usr\\local\\bin\\keadm.exe', 'keadm.exe where keadm puts edgecore.exe')
  t.same(windows.kubeedge.joinFiles, [
    {
      path: 'C:\\etc\\kubeedge\\kubeedge-v1.23.1-windows-amd64.tar.gz',
      checksumPath: 'C:\\etc\\kubeedge\\checksum_kubeedge-v1.23.1-windows-amd64.tar.gz.txt',
      algorithm: 'sha512',
    },
  ])
  // The same checks on this machine's paths: a stand-in keadm.exe (a script run by its path) and the two files.
  const keadmPath = join(dir, 'keadm.exe')
  const tarball = join(dir, 'kubeedge-v1.23.1-windows-amd64.tar.gz')
  const checksum = join(dir, 'checksum_kubeedge-v1.23.1-windows-amd64.tar.gz.txt')
  const local: Plan = { ...windows, kubeedge: { ...windows.kubeedge, keadm: keadmPath, joinFiles: [{ path: tarball, checksumPath: checksum, algorithm: 'sha512' }] } }
  const system = hostSystem()
  const noImages = { imagesPresent: async () => t.fail('keadm join on Windows pulls no image') as never }
  const check = () => joinReadiness(local, { system, cri: noImages, fs: hostFs() })

  const nothing = await check()
  t.equal(nothing.ready, false)
  t.match(nothing.problems, [{ message: `keadm is not installed at ${keadmPath}` }, { message: `${tarball} is missing, so keadm join would download it` }])

  writeFileSync(keadmPath, `#!/bin/sh\n[ "$1" = version ] && printf '%s' '${versionLine('v1.23.1')}'\n`, { mode: 0o755 })
  const bytes = Buffer.from('a stand-in edgecore tarball')
  const digest = createHash('sha512').update(bytes).digest('hex')
  writeFileSync(tarball, bytes)
  t.match((await check()).problems, [{ message: `${checksum} is missing, so keadm join would download it` }])

  writeFileSync(checksum, `${digest}\n`)
  const ready = await check()
  t.match(ready, { ready: true, keadmVersion: 'v1.23.1', images: [], files: [{ path: tarball, checksumPath: checksum, ready: true }], problems: [] })

  writeFileSync(checksum, `${digest}\r\n`)
  t.match((await check()).problems, [{ message: /does not match .*so keadm join would stop and ask/ }], 'keadm drops only newlines: a CRLF file fails its comparison')
  writeFileSync(checksum, `${digest.toUpperCase()}\n`)
  t.equal((await check()).ready, false, 'keadm compares lower-case hex')
  writeFileSync(checksum, `${digest}\n`)
  writeFileSync(tarball, Buffer.from('another tarball'))
  t.match((await check()).files, [{ ready: false }], 'a tarball that is not the one the checksum file names')

  rmSync(tarball)
  writeFileSync(tarball, bytes)
  writeFileSync(keadmPath, `#!/bin/sh\nprintf '%s' '${versionLine('v1.22.2')}'\n`, { mode: 0o755 })
  t.match((await check()).problems, [{ message: 'keadm is v1.22.2, not the v1.23.1 this bundle is for' }])
})

t.test('install.sh: --join with --root and bad join values exit 2 before anything is read', async (t) => {
  const dir = t.testdir()
  const rendered = renderBundle(catalog, validateRequest(catalog, { os: 'ubuntu', arch: 'amd64', runtime: 'containerd' }), defaultTemplates)
  const script = rendered.files.find((f) => f.path === 'install.sh')!
  writeFileSync(join(dir, 'install.sh'), script.content)
  mkdirSync(join(dir, 'root'))
  const run = (args: string[], env: Record<string, string> = {}) => spawnSync('sh', [join(dir, 'install.sh'), ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'], ...env } })
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--root', join(dir, 'root'), '--cloudcore', '10.0.0.1:10000', '--token', 't0k', '--join'], {}, /--join does not go with --root: joining is for the running node/],
    [['--cloudcore', '10.0.0.1:10000', '--join'], {}, /--cloudcore needs a token/],
    [['--cloudcore', '10.0.0.1:10000', '--join'], { KUBEEDGE_TOKEN: 'a b' }, /the token holds spaces/],
    [['--cloudcore', '10.0.0.1', '--token', 'x'], {}, /is not HOST:PORT/],
    [['--cloudcore', '10.0.0.1:1;reboot', '--token', 'x'], {}, /is not HOST:PORT/],
    [['--join'], {}, /need --cloudcore/],
    [['status', '--cloudcore', '10.0.0.1:10000', '--token', 'x'], {}, /--cloudcore goes with install, not status/],
    [['--cloudcore', '10.0.0.1:10000', '--token', 'x', '--node-name', 'Edge_1'], {}, /is not a valid node name/],
  ]
  for (const [args, env, message] of cases) {
    const result = run(args, env)
    t.equal(result.status, 2, args.join(' '))
    t.match(result.stderr, message)
    t.notMatch(result.stdout + result.stderr, /t0k/, 'the token is not echoed')
  }
})
