/**
 * The installer executable's code carrying out real bundles under --root, in-process with the real
 * filesystem: what a dry run says and leaves, tampering and hostile archives refused before anything is
 * written (exit 3), signatures, a failing step rolled back (exit 1), status, uninstall after two runs,
 * --json, and the keadm join line that never shows the token.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { generateSigningKey, signChecksums } from '../../src/sign/index.js'
import { tarGz } from '../fixtures/tar.js'
import { jsonEvents, writeChecksums } from './fixtures.js'
import { type InstallableBundle, addArchiveIndex, makeInstallableBundle, writeArchiveIndex, prepareRoot, readText, runInstallerHere, snapshot } from './node-fixtures.js'

const work = t.testdir()
const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64'
const pristine = makeInstallableBundle(join(work, 'bundle'), { os: 'ubuntu', arch: hostArch, runtime: 'containerd' }, work)

const installer = runInstallerHere

/** The installer's scratch base (TMPDIR) for this test alone, to see it left empty. */
function scratchBase(t: Test): string {
  const dir = join(work, `scratch-${++count}`)
  mkdirSync(dir)
  const saved = process.env['TMPDIR']
  process.env['TMPDIR'] = dir
  t.teardown(() => {
    if (saved === undefined) delete process.env['TMPDIR']
    else process.env['TMPDIR'] = saved
  })
  return dir
}

let count = 0
function copyBundle(): InstallableBundle {
  const dir = join(work, `bundle-${++count}`)
  cpSync(pristine.dir, dir, { recursive: true })
  return { dir, plan: pristine.plan }
}
function freshRoot(): string {
  const root = join(work, `root-${++count}`)
  prepareRoot(root, pristine)
  return root
}

t.test('a dry run lists what would change and changes nothing', async (t) => {
  const root = freshRoot()
  const before = snapshot(root)
  const result = await installer(['--dry-run', '--bundle', pristine.dir, '--root', root])
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, /would: write \/etc\/containerd\/config\.toml/)
  t.match(result.stdout, /would: write \/etc\/crictl\.yaml/)
  t.match(result.stdout, /would: set mode 644 on \/etc\/modules-load\.d\/edgebundle\.conf/)
  t.match(result.stdout, /dry run complete: \d+ would change, 0 unchanged; nothing was changed/)
  t.same(snapshot(root), before, 'not one byte of the root changed')
})

t.test('a dry run over an installed bundle compares archive members with the files the node has', async (t) => {
  const root = freshRoot()
  t.equal((await installer(['--bundle', pristine.dir, '--root', root])).code, 0)
  const clean = await installer(['--dry-run', '--bundle', pristine.dir, '--root', root])
  t.equal(clean.code, 0, clean.stderr)
  t.match(clean.stdout, /dry run complete: 0 would change, [1-9]\d* unchanged/)

  const step = pristine.plan.steps.find((s) => s.kind === 'install-archive')
  if (step?.kind !== 'install-archive') throw new Error('the fixture plan has no install-archive step')
  const tool = `${step.dest}/bin/${step.component}-tool`
  const conf = `${step.dest}/bin/${step.component}.conf`
  const toolHost = join(root, ...tool.split('/'))
  const bytes = readFileSync(toolHost)
  bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 0x01
  writeFileSync(toolHost, bytes)
  chmodSync(join(root, ...conf.split('/')), 0o644)
  const before = snapshot(root)
  const drifted = await installer(['--dry-run', '--bundle', pristine.dir, '--root', root])
  t.equal(drifted.code, 0, drifted.stderr)
  t.match(drifted.stdout, `would: write ${tool}`, 'same size, one byte changed: found by content')
  t.match(drifted.stdout, `would: set mode 640 on ${conf}`)
  t.match(drifted.stdout, /dry run complete: 2 would change/)
  t.same(snapshot(root), before, 'and nothing changed')
})

t.test('install, status, a second run, uninstall', async (t) => {
  const root = freshRoot()
  const before = snapshot(root)
  const scratch = scratchBase(t)
  const first = await installer(['--json', '--bundle', pristine.dir, '--root', root])
  t.equal(first.code, 0, first.stdout)
  t.same(readdirSync(scratch), [], 'the run removed its scratch folders')
  const events = jsonEvents(first.stdout)
  t.same(
    events.filter((e) => e.event === 'step').map((e) => e.id),
    pristine.plan.steps.map((s) => s.id),
    'one step event per plan step, in order',
  )
  t.ok(events.some((e) => e.event === 'change' && e.action === 'wrote /etc/containerd/config.toml'))
  t.match(events.at(-1), { event: 'done', exitCode: 0, dryRun: false })
  const journal = readText(root, 'var/lib/edgebundle/journal')
  t.match(journal, /^begin 1 edgebundle-1\.23-ubuntu-\w+-containerd\n/)
  t.match(journal, /^replace 1 write-file:\/etc\/crictl\.yaml \/etc\/crictl\.yaml$/m)
  t.match(journal, /^mode 1 write-file:\/etc\/modules-load\.d\/edgebundle\.conf 600 \/etc\/modules-load\.d\/edgebundle\.conf$/m)
  t.match(journal, /^end 1\n$/m)
  t.equal(readText(root, 'var/lib/edgebundle/backup/1/etc/crictl.yaml'), 'runtime-endpoint: unix:///run/other.sock\n')

  const status = await installer(['status', '--root', root])
  t.equal(status.code, 0)
  t.match(status.stdout, /^run 1: edgebundle-1\.23-ubuntu-\w+-containerd \(finished\): .*\d+ new/m)

  // A second bundle version changes one config: a second run, with its own backup of the first's file.
  const changed = copyBundle()
  writeFileSync(join(changed.dir, 'config', 'etc', 'crictl.yaml'), 'runtime-endpoint: unix:///run/containerd/containerd.sock\ntimeout: 20\n')
  writeChecksums(changed.dir)
  const second = await installer(['--bundle', changed.dir, '--root', root])
  t.equal(second.code, 0, second.stderr)
  t.match(second.stdout, /done: 1 changed/)
  t.match(readText(root, 'var/lib/edgebundle/journal'), /^begin 2 .*\nreplace 2 write-file:\/etc\/crictl\.yaml \/etc\/crictl\.yaml\nend 2\n$/m)

  const dry = await installer(['uninstall', '--dry-run', '--root', root])
  t.equal(dry.code, 0)
  t.match(dry.stdout, /would restore \/etc\/crictl\.yaml/)
  const undo = await installer(['uninstall', '--root', root])
  t.equal(undo.code, 0, undo.stderr)
  t.match(undo.stdout, /undid run 2 .*\n(.*\n)*undid run 1/)
  t.same(snapshot(root), before, 'uninstall leaves the node as it was before the first run')
  t.match((await installer(['status', '--root', root])).stdout, /nothing installed/)
})

t.test('a step that fails rolls its run back and exits 1', async (t) => {
  const root = freshRoot()
  // A folder where the bundle writes a file: the write-file step for edgecore-edged.yaml cannot succeed.
  mkdirSync(join(root, 'etc', 'edgebundle', 'edgecore-edged.yaml'), { recursive: true })
  const before = snapshot(root)
  const result = await installer(['--bundle', pristine.dir, '--root', root])
  t.equal(result.code, 1)
  t.match(result.stderr, /edgecore-edged\.yaml is a folder; the bundle installs a file there; its run was rolled back/)
  t.match(result.stdout, /rolled back the failed run 1/)
  t.same(snapshot(root), before, 'the node is as it was')
})

t.test('tampering: every changed byte, an added or removed file, an edited SHA256SUMS: exit 3, nothing changed', async (t) => {
  const root = freshRoot()
  const before = snapshot(root)
  const scratch = scratchBase(t)
  const expectRefused = async (t: Test, bundle: string, pattern: RegExp) => {
    const result = await installer(['--bundle', bundle, '--root', root])
    t.equal(result.code, 3, result.stdout)
    t.match(result.stderr, pattern)
    t.same(snapshot(root), before, 'nothing changed')
    t.same(readdirSync(scratch), [], 'no scratch folder is left')
  }
  const listed = readFileSync(join(pristine.dir, 'SHA256SUMS'), 'utf8').trim().split('\n').map((line) => line.slice(66))
  for (const file of listed) {
    const copy = copyBundle()
    const path = join(copy.dir, ...file.split('/'))
    const bytes = readFileSync(path)
    const middle = bytes.length >> 1
    bytes[middle] = bytes[middle]! ^ 0x01
    writeFileSync(path, bytes)
    await expectRefused(t, copy.dir, new RegExp(`${file.replace(/[.+*?()[\]]/g, '\\$&')}: checksum mismatch`))
  }
  const added = copyBundle()
  writeFileSync(join(added.dir, 'config', 'etc', 'extra.conf'), 'smuggled in\n')
  await expectRefused(t, added.dir, /config\/etc\/extra\.conf: not listed in SHA256SUMS/)
  const removed = copyBundle()
  rmSync(join(removed.dir, 'config', 'etc', 'crictl.yaml'))
  await expectRefused(t, removed.dir, /config\/etc\/crictl\.yaml: missing/)
  const edited = copyBundle()
  const sums = join(edited.dir, 'SHA256SUMS')
  writeFileSync(sums, readFileSync(sums, 'utf8').replace(/^[0-9a-f]/m, (c) => (c === '0' ? '1' : '0')))
  await expectRefused(t, edited.dir, /checksum mismatch/)
})

t.test('signatures: the bundle key, --pubkey, the node trusted key; an edited SHA256SUMS with a signature exits 3', async (t) => {
  const key = generateSigningKey()
  const other = generateSigningKey()
  const sign = (dir: string) => {
    writeFileSync(join(dir, 'signer.pub'), key.publicKeyPem)
    writeChecksums(dir)
    writeFileSync(join(dir, 'SHA256SUMS.sig'), signChecksums(readFileSync(join(dir, 'SHA256SUMS')), key.privateKeyPem))
  }
  const signed = copyBundle()
  sign(signed.dir)
  const keyFile = join(work, 'signer.pub')
  writeFileSync(keyFile, key.publicKeyPem)
  const otherFile = join(work, 'other.pub')
  writeFileSync(otherFile, other.publicKeyPem)

  const bundleKey = await installer(['verify', '--bundle', signed.dir])
  t.equal(bundleKey.code, 0, bundleKey.stderr)
  t.match(bundleKey.stdout, /signature verified with the bundle's own signer\.pub/)
  t.match(bundleKey.stderr, /proves the bundle is intact, not who made it; pass --pubkey/)
  const pubkey = await installer(['verify', '--bundle', signed.dir, '--pubkey', keyFile])
  t.equal(pubkey.code, 0, pubkey.stderr)
  t.match(pubkey.stdout, /signature verified with the --pubkey key \(SHA256:/)
  const wrongKey = await installer(['verify', '--bundle', signed.dir, '--pubkey', otherFile])
  t.equal(wrongKey.code, 3)
  t.match(wrongKey.stderr, /SHA256SUMS\.sig: does not verify SHA256SUMS with --pubkey/)
  const unsignedWithKey = await installer(['verify', '--bundle', pristine.dir, '--pubkey', keyFile])
  t.equal(unsignedWithKey.code, 3)
  t.match(unsignedWithKey.stderr, /SHA256SUMS\.sig: missing, but --pubkey .* requires a signed bundle/)

  const root = freshRoot()
  mkdirSync(join(root, 'etc', 'edgebundle'), { recursive: true })
  writeFileSync(join(root, 'etc', 'edgebundle', 'trusted.pub'), other.publicKeyPem)
  const before = snapshot(root)
  const untrusted = await installer(['--bundle', signed.dir, '--root', root])
  t.equal(untrusted.code, 3, 'the node trusts another key')
  t.same(snapshot(root), before)

  // A file changed and its SHA256SUMS line updated to match: only the signature can tell.
  const forged = copyBundle()
  sign(forged.dir)
  writeFileSync(join(forged.dir, 'config', 'etc', 'crictl.yaml'), 'runtime-endpoint: unix:///run/evil.sock\n')
  const sums = readFileSync(join(forged.dir, 'SHA256SUMS.sig'))
  writeChecksums(forged.dir)
  writeFileSync(join(forged.dir, 'SHA256SUMS.sig'), sums)
  const forgedResult = await installer(['--bundle', forged.dir, '--root', freshRoot()])
  t.equal(forgedResult.code, 3)
  t.match(forgedResult.stderr, /SHA256SUMS\.sig: does not verify SHA256SUMS with the bundle's signer\.pub/)
})

t.test('hostile archives are refused before anything is written', async (t) => {
  const archiveStep = pristine.plan.steps.find((s) => s.kind === 'install-archive')!
  const hostile: Record<string, Parameters<typeof tarGz>[0]> = {
    'zip-slip': [{ name: 'bin/ok', type: 'file', content: 'x' }, { name: '../../etc/evil', type: 'file', content: 'x' }],
    'absolute path': [{ name: '/etc/evil', type: 'file', content: 'x' }],
    'symlink escape': [{ name: 'bin/up', type: 'symlink', linkname: '../../../etc' }],
    'through a symlink': [{ name: 'bin/link', type: 'symlink', linkname: '.' }, { name: 'bin/link/x', type: 'file', content: 'x' }],
    'device node': [{ name: 'bin/null', type: 'chardev' }],
    'hard link out': [{ name: 'bin/passwd', type: 'hardlink', linkname: '../etc/passwd' }],
  }
  const scratch = scratchBase(t)
  for (const [name, entries] of Object.entries(hostile)) {
    const bundle = copyBundle()
    if (archiveStep.kind !== 'install-archive') throw new Error('unreachable')
    writeFileSync(join(bundle.dir, ...archiveStep.file.split('/')), tarGz(entries))
    writeChecksums(bundle.dir)
    const root = freshRoot()
    const before = snapshot(root)
    const result = await installer(['--bundle', bundle.dir, '--root', root])
    t.equal(result.code, 3, `${name}: exit 3`)
    t.match(result.stderr, /refus|unsafe|outside/i, `${name}: ${result.stderr.split('\n')[0]}`)
    t.same(snapshot(root), before, `${name}: nothing written`)
    t.same(readdirSync(scratch), [], `${name}: what was unpacked into scratch is gone`)
  }
})

t.test('--cloudcore/--token: the keadm join line never shows the token', async (t) => {
  const root = freshRoot()
  const token = 'abc123.eyJhbGciOiJIUzI1NiJ9.secret-part'
  const result = await installer(['--bundle', pristine.dir, '--root', root, '--cloudcore', '10.0.0.1:10000', '--token', token, '--node-name', 'edge-1'])
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, /keadm join --cloudcore-ipport=10\.0\.0\.1:10000 --token=<token> --edgenode-name=edge-1 --kubeedge-version=v1\.23\.1 --remote-runtime-endpoint=unix:\/\/\/run\/containerd\/containerd\.sock/)
  t.notMatch(result.stdout + result.stderr, /secret-part/)
  const json = await installer(['--json', '--bundle', pristine.dir, '--root', root, '--cloudcore', '10.0.0.1:10000'], { KUBEEDGE_TOKEN: token })
  t.equal(json.code, 0)
  t.notMatch(json.stdout, /secret-part/)
  t.match(jsonEvents(json.stdout).find((e) => e.event === 'join'), { ran: false })
  const files = readdirSync(root, { recursive: true }).map(String)
  for (const file of files) {
    try {
      t.notMatch(readFileSync(join(root, file), 'utf8'), /secret-part/, `${file} holds no token`)
    } catch {
      // folders and links
    }
  }
  for (const argv of [['--cloudcore', 'nohost'], ['--cloudcore', '10.0.0.1:99999', '--token', 'x'], ['--cloudcore', '10.0.0.1:10000'], ['--token', 'x'], ['--cloudcore', 'h:1', '--token', 'a b']]) {
    const bad = await installer(['--bundle', pristine.dir, '--root', root, ...argv])
    t.equal(bad.code, 2, argv.join(' '))
  }
  // Joining is for the running node: with --root, --join is refused before anything is read or written.
  const untouched = freshRoot()
  const before = snapshot(untouched)
  const joinUnderRoot = await installer(['--bundle', pristine.dir, '--root', untouched, '--cloudcore', '10.0.0.1:10000', '--token', token, '--join'])
  t.equal(joinUnderRoot.code, 2, '--join with --root: exit 2')
  t.match(joinUnderRoot.stderr, /--join does not go with --root: joining is for the running node/)
  t.notMatch(joinUnderRoot.stdout + joinUnderRoot.stderr, /secret-part/)
  t.same(snapshot(untouched), before, 'nothing written')
  const status = await installer(['status', '--bundle', pristine.dir, '--root', root])
  t.equal(status.code, 0)
  t.match(status.stdout, /join: not checked under --root \(joining is for the running node\)/, 'status says why it does not check the join')
})

t.test("the runtime config is merged into the node's own, and rollback puts the node's back", async (t) => {
  const root = freshRoot()
  const config = join(root, 'etc', 'containerd', 'config.toml')
  mkdirSync(join(root, 'etc', 'containerd'), { recursive: true })
  const ours = readFileSync(join(pristine.dir, 'config', 'etc', 'containerd', 'config.toml'), 'utf8')
  const version = /^version = (\d+)/m.exec(ours)![1]
  const theirs = `version = ${version}\noom_score = -999\n\n[debug]\nlevel = "debug"\n`
  writeFileSync(config, theirs)
  const before = snapshot(root)
  const first = await installer(['--bundle', pristine.dir, '--root', root])
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, /merging into the node's own \/etc\/containerd\/config\.toml/)
  const merged = readFileSync(config, 'utf8')
  t.match(merged, /^oom_score = -999$/m, 'the node\'s own setting stays')
  t.match(merged, /^level = "debug"$/m)
  t.match(merged, /sandbox/, 'the bundle\'s settings are in')
  t.match(merged, /^# Written by edgebundle/, 'the header says who wrote it')
  const second = await installer(['--bundle', pristine.dir, '--root', root])
  t.match(second.stdout, /nothing to do/, 'merging again gives the same file')
  t.equal((await installer(['rollback', '--root', root])).code, 0)
  t.same(snapshot(root), before, 'the node\'s own config.toml is back')

  // A config of another version has other table names: replaced (kept in the backup), with a warning.
  writeFileSync(config, 'version = 1\n[plugins.cri]\nsandbox_image = "x"\n')
  const other = await installer(['--bundle', pristine.dir, '--root', root])
  t.equal(other.code, 0)
  t.match(other.stderr, /\/etc\/containerd\/config\.toml is replaced, not merged: it is a version 1 config/)
  t.equal(readFileSync(config, 'utf8'), ours)
  t.equal(readText(root, 'var/lib/edgebundle/backup/1/etc/containerd/config.toml'), 'version = 1\n[plugins.cri]\nsandbox_image = "x"\n')
})

t.test("an upstream installer runs into scratch space; what it installed is placed, journaled and undone", async (t) => {
  const crio = makeInstallableBundle(join(work, 'crio-bundle'), { os: 'ubuntu', arch: hostArch, runtime: 'cri-o' }, work)
  t.ok(crio.plan.steps.some((step) => step.kind === 'run-upstream-installer'), 'the CRI-O bundle runs its own installer')
  const root = freshRoot()
  const before = snapshot(root)
  const result = await installer(['--bundle', crio.dir, '--root', root])
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, /wrote \/usr\/local\/bin\/runtimed/)
  t.equal(readText(root, 'etc/runtimed/runtimed.conf'), 'setting = 1\n')
  const after = snapshot(root)
  t.equal(after['etc/runtimed/secret.d']?.mode, '700', 'folder modes from the installer are kept')
  t.same(after['usr/local/bin/runtimed-alias'], { type: 'symlink', mode: '-', content: 'runtimed' })
  const again = await installer(['--bundle', crio.dir, '--root', root])
  t.match(again.stdout, /nothing to do/, 'running the upstream installer again changes nothing on the node')
  t.equal((await installer(['uninstall', '--root', root])).code, 0)
  t.same(snapshot(root), before)
})

t.test('archives.json: verify and dry runs take the members from it, checked by the same rules; an install reads the archives', async (t) => {
  const step = pristine.plan.steps.find((s) => s.kind === 'install-archive')
  if (step?.kind !== 'install-archive') throw new Error('the fixture plan has no install-archive step')
  const wouldLines = (stdout: string) => stdout.split('\n').filter((line) => line.includes('would: '))

  const indexed = copyBundle()
  await addArchiveIndex(indexed)
  t.equal((await installer(['verify', '--bundle', indexed.dir])).code, 0)
  t.equal((await installer(['verify', '--deep', '--bundle', indexed.dir])).code, 0)
  const plainDry = await installer(['--dry-run', '--bundle', pristine.dir, '--root', freshRoot()])
  const indexedDry = await installer(['--dry-run', '--bundle', indexed.dir, '--root', freshRoot()])
  t.equal(indexedDry.code, 0, indexedDry.stderr)
  t.same(wouldLines(indexedDry.stdout), wouldLines(plainDry.stdout), 'the same changes as reading the archives')

  // Over an installed node, the index's digests find the one changed file.
  const root = freshRoot()
  t.equal((await installer(['--bundle', indexed.dir, '--root', root])).code, 0)
  const tool = join(root, ...`${step.dest}/bin/${step.component}-tool`.split('/'))
  writeFileSync(tool, readFileSync(tool, 'utf8').replace('echo', 'echO'))
  const drifted = await installer(['--dry-run', '--bundle', indexed.dir, '--root', root])
  t.match(drifted.stdout, `would: write ${step.dest}/bin/${step.component}-tool`)
  t.match(drifted.stdout, /dry run complete: 1 would change/)

  // A member archives.json lists is checked like a header of the archive.
  for (const [what, member] of [
    ['a name with ..', { name: '../evil', type: 'file', mode: 0o644, size: 1 }],
    ['an absolute symlink', { name: 'bin/up', type: 'symlink', mode: 0o777, size: 0, linkTarget: '/etc' }],
    ['a name that is not normalized', { name: 'bin//x', type: 'file', mode: 0o644, size: 1 }],
    ['a mode beyond 0777', { name: 'bin/x', type: 'file', mode: 0o4755, size: 1 }],
  ] as const) {
    const hostile = copyBundle()
    await addArchiveIndex(hostile, (index) => void index.archives[step.file]!.members.push(member))
    const result = await installer(['verify', '--bundle', hostile.dir])
    t.equal(result.code, 3, `${what}: exit 3`)
    t.match(result.stderr, step.file, `${what}: ${result.stderr.split('\n')[0]}`)
  }

  // The index is trusted for what the archive holds (the signature covers both); an install still reads
  // the archive and refuses it.
  const lying = copyBundle()
  const safe = await addArchiveIndex(lying)
  const evil = tarGz([{ name: '../../etc/evil', type: 'file', content: 'x' }])
  writeFileSync(join(lying.dir, ...step.file.split('/')), evil)
  safe.archives[step.file]!.sha256 = createHash('sha256').update(evil).digest('hex')
  writeArchiveIndex(lying, safe)
  t.equal((await installer(['verify', '--bundle', lying.dir])).code, 0, 'verify takes the index at its word')
  const deep = await installer(['verify', '--deep', '--bundle', lying.dir])
  t.equal(deep.code, 3, 'verify --deep reads the archive')
  t.match(deep.stderr, /contains \.\./)
  const target = freshRoot()
  const before = snapshot(target)
  t.equal((await installer(['--bundle', lying.dir, '--root', target])).code, 3, 'an install reads the archive')
  t.same(snapshot(target), before)

  // An entry for other bytes (stale) is not used: the archive is read. An unreadable index is not used either.
  const stale = copyBundle()
  await addArchiveIndex(stale, (index) => {
    index.archives[step.file]!.sha256 = '0'.repeat(64)
    index.archives[step.file]!.members.push({ name: '../evil', type: 'file', mode: 0o644, size: 1 })
  })
  t.equal((await installer(['verify', '--bundle', stale.dir])).code, 0, 'a stale entry is ignored')
  const broken = copyBundle()
  writeFileSync(join(broken.dir, 'archives.json'), '{"format": 1, "archives": ')
  writeChecksums(broken.dir)
  const brokenResult = await installer(['verify', '--bundle', broken.dir])
  t.equal(brokenResult.code, 0)
  t.match(brokenResult.stderr, /archives\.json is not used: it is not JSON/)
  t.match((await installer(['--deep', '--bundle', pristine.dir, '--root', freshRoot()])).stderr, /--deep goes with verify/)
})

t.test("scratch folders a killed run left are removed by the next run; others' are not", async (t) => {
  const scratch = scratchBase(t)
  const deadPid = spawnSync('true').pid!
  const left = join(scratch, `edgebundle.${deadPid}.AbC123`)
  mkdirSync(join(left, 'tree', 'bin'), { recursive: true })
  writeFileSync(join(left, 'tree', 'bin', 'containerd'), 'half unpacked')
  const live = join(scratch, `edgebundle.${process.ppid}.XyZ789`)
  const unrelated = join(scratch, 'edgebundle.notes')
  mkdirSync(live)
  mkdirSync(unrelated)
  const result = await installer(['--dry-run', '--bundle', pristine.dir, '--root', freshRoot()])
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, /removed 1 scratch folder that killed runs left/)
  t.same(readdirSync(scratch).sort(), [`edgebundle.${process.ppid}.XyZ789`, 'edgebundle.notes'], "a live process's folder and a foreign name stay")
})
