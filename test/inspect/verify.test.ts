/**
 * edgebundle verify and inspect on real archives: good bundles in both formats (ours, and GNU tar's),
 * every kind of tampering named with exit 3, hostile archives refused, usage errors exit 2.
 */
import { execFileSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { inspectBundle } from '../../src/inspect/inspect.js'
import { generateSigningKey } from '../../src/sign/keys.js'
import { tarBytes, tarGz } from '../fixtures/tar.js'
import { BIG_FILE, BUNDLE_NAME, copyBundle, listFiles, makeBundle, sealBundle } from '../pack/fixtures.js'
import { cli, pack, zipBytes } from './fixtures.js'

const work = mkdtempSync(join(tmpdir(), 'edgebundle-verify-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
const key = generateSigningKey()
const otherKey = generateSigningKey()
const pubkey = join(work, 'key.pub')
const otherPubkey = join(work, 'other.pub')
writeFileSync(pubkey, key.publicKeyPem)
writeFileSync(otherPubkey, otherKey.publicKeyPem)

let counter = 0
const fresh = (label: string) => join(work, `${label}-${++counter}`)

let unsignedRoot: string
let signedRoot: string
t.before(async () => {
  unsignedRoot = await makeBundle(join(work, 'unsigned'))
  signedRoot = copyBundle(unsignedRoot, join(work, 'signed'))
  sealBundle(signedRoot, { privateKeyPem: key.privateKeyPem })
})

/** A copy of a bundle folder, changed by `edit`, packed. */
async function tampered(from: string, edit: (root: string) => void, format: 'tar.gz' | 'zip' = 'tar.gz'): Promise<string> {
  const dir = fresh('tampered')
  const root = copyBundle(from, dir)
  edit(root)
  return pack(root, join(dir, `${BUNDLE_NAME}.${format}`), format)
}

function flipByte(path: string, at?: number): void {
  const bytes = readFileSync(path)
  const i = at ?? Math.floor(bytes.length / 2)
  bytes[i] = bytes[i]! ^ 0x01
  writeFileSync(path, bytes)
}

const sha256 = (path: string) => execFileSync('sha256sum', [path], { encoding: 'utf8' }).slice(0, 64)

t.test('good bundles verify: tar.gz and zip, unsigned and signed', async (t) => {
  const unsigned = await pack(unsignedRoot, join(fresh('good'), `${BUNDLE_NAME}.tar.gz`))
  const ok = await cli('verify', unsigned)
  t.equal(ok.code, 0, ok.stdout + ok.stderr)
  t.match(ok.stdout, new RegExp(`^${BUNDLE_NAME}: OK\n  9 files, 20\\.0 MiB: every file matches SHA256SUMS and manifest\\.json\n  signature: not signed\n$`))

  const json = JSON.parse((await cli('verify', unsigned, '--json')).stdout)
  t.match(json, { ok: true, name: BUNDLE_NAME, target: { os: 'ubuntu', arch: 'amd64', runtime: 'containerd', kubeedge: '1.23' }, fileCount: 9, signature: { status: 'unsigned' }, problems: [] })

  const signed = await pack(signedRoot, join(fresh('good'), `${BUNDLE_NAME}.tar.gz`))
  const verified = await cli('verify', signed, '--pubkey', pubkey, '--require-signature')
  t.equal(verified.code, 0, verified.stdout + verified.stderr)
  t.match(verified.stdout, /signature: signed, verified \(key SHA256:[A-Za-z0-9+/]{43}\)/)

  const noKey = await cli('verify', signed)
  t.equal(noKey.code, 0, 'a signature without a key to check it is not an error')
  t.match(noKey.stdout, /signature: signed, not verified \(no public key given\)/)
  t.match(noKey.stdout, /note: SHA256SUMS\.sig is present but was not verified/)

  const zip = await pack(signedRoot, join(fresh('good'), `${BUNDLE_NAME}.zip`), 'zip')
  const zipOk = await cli('verify', zip, '--pubkey', pubkey)
  t.equal(zipOk.code, 0, zipOk.stdout + zipOk.stderr)
  t.match(zipOk.stdout, /note: a ubuntu bundle is normally a \.tar\.gz; this one is a \.zip/)
})

t.test('archives made by GNU tar, and gzip in several members, verify too', async (t) => {
  const dir = fresh('gnu')
  const gnu = join(dir, 'gnu.tar.gz')
  execFileSync('mkdir', ['-p', dir])
  execFileSync('tar', ['--format=gnu', '-czf', gnu, '-C', join(unsignedRoot, '..'), BUNDLE_NAME])
  const result = await cli('verify', gnu)
  t.equal(result.code, 0, result.stdout)
  // With a "./" prefix on every name, as `tar -C dir .` writes: the same paths.
  const dotted = join(dir, 'dotted.tar.gz')
  execFileSync('tar', ['--format=posix', '-czf', dotted, '-C', join(unsignedRoot, '..'), `./${BUNDLE_NAME}`])
  t.equal((await cli('verify', dotted)).code, 0)

  const tar = execFileSync('tar', ['-cf', '-', '-C', join(unsignedRoot, '..'), BUNDLE_NAME], { maxBuffer: 64 * 1024 * 1024 })
  const members = join(dir, 'members.tar.gz')
  const cut = 1024 * 1024
  writeFileSync(members, Buffer.concat([gzipSync(tar.subarray(0, cut)), gzipSync(tar.subarray(cut, 3 * cut)), gzipSync(tar.subarray(3 * cut))]))
  t.equal((await cli('verify', members)).code, 0, 'concatenated gzip members read as one stream')
})

t.test('inspect shows name, target, versions, components, plan steps, files and signature', async (t) => {
  const signed = await pack(signedRoot, join(fresh('inspect'), `${BUNDLE_NAME}.tar.gz`))
  const shown = await cli('inspect', signed)
  t.equal(shown.code, 0, shown.stderr)
  const out = shown.stdout
  t.match(out, new RegExp(`^bundle      ${BUNDLE_NAME}  \\(tar\\.gz, 20\\.\\d MiB\\)$`, 'm'))
  t.match(out, /^target      ubuntu\/amd64, runtime containerd, KubeEdge 1\.23$/m)
  t.match(out, /^runtime     containerd 2\.0\.5 \(release\)$/m)
  t.match(out, /^kubeedge    1\.23\.0$/m)
  t.match(out, /^built by    edgebundle 0\.1\.0, SOURCE_DATE_EPOCH 1700000000 \(2023-11-14T22:13:20\.000Z\)$/m)
  t.match(out, /^components  1\n  containerd  2\.0\.5  artifacts\/containerd-2\.0\.5-linux-amd64\.tar\.gz$/m)
  t.match(out, /^plan        schemaVersion 1, 4 steps\n  1\.  preflight +Check the node before changing anything\n  2\.  install-archive +Install containerd 2\.0\.5 into \/usr\/local\n  3\.  write-file +Write \/etc\/containerd\/config\.toml\n  4\.  enable-service +Enable and start containerd$/m)
  t.match(out, /^files       10, 20\.0 MiB \(\d+ bytes\)$/m)
  t.match(out, /^checksums   SHA256SUMS lists 8 files$/m)
  t.match(out, /^signature   signed, not verified \(no public key given\)$/m)
  t.match(out, /^integrity   OK$/m)

  const json = JSON.parse((await cli('inspect', signed, '--json')).stdout)
  t.equal(json.ok, true)
  t.equal(json.plan.steps.length, 4)
  t.same(json.plan.steps.map((s: { kind: string }) => s.kind), ['preflight', 'install-archive', 'write-file', 'enable-service'])
  t.equal(json.manifest.components[0].id, 'containerd')
  t.match(json.files.find((f: { path: string }) => f.path === 'install'), { size: 4004, mode: '0755', sha256: sha256(join(signedRoot, 'install')) })
  t.match(json.files.find((f: { path: string }) => f.path === 'README.md'), { mode: '0644' })
  t.equal(json.totalSize, json.files.reduce((sum: number, f: { size: number }) => sum + f.size, 0))
  t.equal(json.signature.status, 'unverified')

  const zip = await pack(signedRoot, join(fresh('inspect'), `${BUNDLE_NAME}.zip`), 'zip')
  const zipShown = await cli('inspect', zip)
  t.equal(zipShown.code, 0)
  t.match(zipShown.stdout, /\(zip, 20\.\d MiB\)/)
  t.match(zipShown.stdout, /^files       10, 20\.0 MiB/m)

  const broken = await tampered(unsignedRoot, (root) => flipByte(join(root, 'install.sh')))
  const damaged = await cli('inspect', broken)
  t.equal(damaged.code, 3, 'inspect of a damaged bundle shows it, then fails')
  t.match(damaged.stdout, /^plan        schemaVersion 1, 4 steps/m)
  t.match(damaged.stdout, /^integrity   FAILED, 2 problems:\n  - install\.sh: changed: /m)
  t.match(damaged.stderr, /is damaged: 2 problems/)
})

t.test('a changed byte in any file is named (exit 3)', async (t) => {
  const files = listFiles(unsignedRoot).filter((path) => path !== 'SHA256SUMS')
  t.equal(files.length, 8)
  for (const path of files) {
    const archive = await tampered(unsignedRoot, (root) => flipByte(join(root, path), path === 'manifest.json' ? 3 : undefined))
    const result = await cli('verify', archive)
    t.equal(result.code, 3, path)
    t.match(result.stdout, new RegExp(`^  - ${path.replace(/\./g, '\\.')}: changed: its sha256 is [0-9a-f]{12}…, SHA256SUMS says [0-9a-f]{12}…$`, 'm'), path)
    t.match(result.stderr, /failed verification: \d+ problems?/)
    if (path !== 'manifest.json') t.match(result.stdout, new RegExp(`manifest\\.json: ${path.replace(/\./g, '\\.')} disagrees with the archive: sha256 `), `${path}: the manifest disagrees too`)
  }
  // In a zip too.
  const zip = await tampered(unsignedRoot, (root) => flipByte(join(root, BIG_FILE)), 'zip')
  const result = await cli('verify', zip)
  t.equal(result.code, 3)
  t.match(result.stdout, new RegExp(`${BIG_FILE.replace(/\./g, '\\.')}: changed`))
  t.match(result.stdout, /component containerd 2\.0\.5: artifacts\/.* has sha256 [0-9a-f]{12}…, the component's is/)
})

t.test('added and removed files are named (exit 3)', async (t) => {
  const added = await cli('verify', await tampered(unsignedRoot, (root) => writeFileSync(join(root, 'config', 'extra.conf'), 'surprise\n')))
  t.equal(added.code, 3)
  t.match(added.stdout, /^  - config\/extra\.conf: in the archive but not listed in SHA256SUMS \(added\)$/m)
  t.match(added.stdout, /manifest\.json: does not list config\/extra\.conf/)

  const removed = await cli('verify', await tampered(unsignedRoot, (root) => unlinkSync(join(root, 'config/etc/containerd/config.toml'))))
  t.equal(removed.code, 3)
  t.match(removed.stdout, /^  - config\/etc\/containerd\/config\.toml: listed in SHA256SUMS but not in the archive \(removed\)$/m)
  t.match(removed.stdout, /manifest\.json: lists config\/etc\/containerd\/config\.toml, which the archive does not hold/)

  const json = JSON.parse((await cli('verify', await tampered(unsignedRoot, (root) => unlinkSync(join(root, 'README.md'))), '--json')).stdout)
  t.equal(json.ok, false)
  t.match(json.problems, [{ kind: 'removed', path: 'README.md' }, { kind: 'manifest', path: 'README.md' }])

  const noSums = await cli('verify', await tampered(unsignedRoot, (root) => unlinkSync(join(root, 'SHA256SUMS'))))
  t.equal(noSums.code, 3)
  t.match(noSums.stdout, /SHA256SUMS: missing, so no file of the bundle can be verified/)
})

t.test('an edited SHA256SUMS: caught by the files, the manifest, and the signature', async (t) => {
  // A digest changed: the file no longer matches its line.
  const edited = await cli('verify', await tampered(unsignedRoot, (root) => flipByte(join(root, 'SHA256SUMS'), 0)))
  t.equal(edited.code, 3)
  t.match(edited.stdout, /^  - README\.md: changed: /m)

  // A line that is not "<sha256>  <path>".
  const garbled = await cli('verify', await tampered(unsignedRoot, (root) => appendFileSync(join(root, 'SHA256SUMS'), 'garbage\n')))
  t.equal(garbled.code, 3)
  t.match(garbled.stdout, /SHA256SUMS: line 9 is not "<sha256 in lowercase hex>  <path>": "garbage"/)

  // A file replaced and its SHA256SUMS line updated to match: the manifest still knows the old file.
  const replaceConfig = (root: string) => {
    const config = join(root, 'config/etc/containerd/config.toml')
    writeFileSync(config, 'version = 3\n[plugins."io.containerd.evil"]\n')
    const sums = readFileSync(join(root, 'SHA256SUMS'), 'utf8').replace(/^[0-9a-f]{64}(?=  config\/etc\/containerd\/config\.toml$)/m, sha256(config))
    writeFileSync(join(root, 'SHA256SUMS'), sums)
  }
  const consistent = await cli('verify', await tampered(unsignedRoot, replaceConfig))
  t.equal(consistent.code, 3)
  t.notMatch(consistent.stdout, /changed:/)
  t.match(consistent.stdout, /manifest\.json: config\/etc\/containerd\/config\.toml disagrees with the archive: size 43, manifest says 22; sha256/)

  // Same on a signed bundle: the signature fails as well.
  const signed = await tampered(signedRoot, replaceConfig)
  const withKey = await cli('verify', signed, '--pubkey', pubkey)
  t.equal(withKey.code, 3)
  t.match(withKey.stdout, /SHA256SUMS\.sig: does not verify with key SHA256:\S+: SHA256SUMS was altered, or the bundle was signed with another key/)
  t.match(withKey.stdout, /signature: signed, DOES NOT VERIFY/)

  // Manifest and SHA256SUMS both rewritten to match: only the signature can tell, and it does.
  const rewrite = (root: string) => {
    writeFileSync(join(root, 'config/etc/containerd/config.toml'), 'version = 3\n[plugins."io.containerd.evil"]\n')
    const sig = readFileSync(join(root, 'SHA256SUMS.sig'))
    sealBundle(root) // what an attacker without the key can do: re-seal, keep the old signature
    writeFileSync(join(root, 'SHA256SUMS.sig'), sig)
  }
  const resealed = await tampered(signedRoot, rewrite)
  const caught = await cli('verify', resealed, '--pubkey', pubkey)
  t.equal(caught.code, 3)
  t.match(caught.stdout, /FAILED, 1 problem:\n  - SHA256SUMS\.sig: does not verify/)
  const unchecked = await cli('verify', resealed)
  t.equal(unchecked.code, 0, 'without a key, a consistent re-seal passes: that is what --pubkey is for')
  t.match(unchecked.stdout, /not verified/)
})

t.test('signature policy: wrong key, missing, unverifiable, malformed', async (t) => {
  const signed = await pack(signedRoot, join(fresh('sig'), `${BUNDLE_NAME}.tar.gz`))
  const unsigned = await pack(unsignedRoot, join(fresh('sig'), `${BUNDLE_NAME}.tar.gz`))

  const wrong = await cli('verify', signed, '--pubkey', otherPubkey)
  t.equal(wrong.code, 3)
  t.match(wrong.stdout, /SHA256SUMS\.sig: does not verify with key SHA256:/)

  const missing = await cli('verify', unsigned, '--pubkey', pubkey)
  t.equal(missing.code, 3)
  t.match(missing.stdout, /SHA256SUMS\.sig: missing; the bundle is not signed, and --pubkey requires a signature/)

  const required = await cli('verify', unsigned, '--require-signature')
  t.equal(required.code, 3)
  t.match(required.stdout, /SHA256SUMS\.sig: missing; the bundle is not signed, and a signature is required/)

  const unverifiable = await cli('verify', signed, '--require-signature')
  t.equal(unverifiable.code, 3)
  t.match(unverifiable.stdout, /SHA256SUMS\.sig: present but not verified \(no public key given\), and a verified signature is required/)

  const malformed = await tampered(signedRoot, (root) => writeFileSync(join(root, 'SHA256SUMS.sig'), `${readFileSync(join(root, 'SHA256SUMS.sig')).toString('base64')}\n`))
  const bad = await cli('verify', malformed, '--pubkey', pubkey)
  t.equal(bad.code, 3)
  t.match(bad.stdout, /SHA256SUMS\.sig: not an ed25519 signature \(89 bytes, expected 64\)/)
})

t.test('hostile archives are refused with the entry named, and nothing is written', async (t) => {
  const dir = fresh('hostile')
  execFileSync('mkdir', ['-p', dir])
  const cases: { name: string; entries: Parameters<typeof tarGz>[0]; pattern: RegExp }[] = [
    { name: 'dotdot', entries: [{ name: `${BUNDLE_NAME}/`, type: 'dir' }, { name: `${BUNDLE_NAME}/../../evil.sh`, type: 'file', content: 'x' }], pattern: /"edgebundle-1\.23-ubuntu-amd64-containerd\/\.\.\/\.\.\/evil\.sh": a file that has a "\.\." segment/ },
    { name: 'absolute', entries: [{ name: '/etc/cron.d/evil', type: 'file', content: 'x' }], pattern: /"\/etc\/cron\.d\/evil": a file that has an absolute path/ },
    { name: 'symlink-out', entries: [{ name: `${BUNDLE_NAME}/install`, type: 'symlink', linkname: '/etc/passwd' }], pattern: /install: a symbolic link to "\/etc\/passwd", which points outside the bundle/ },
    { name: 'symlink-up', entries: [{ name: `${BUNDLE_NAME}/x`, type: 'symlink', linkname: '../../root/.ssh' }], pattern: /x: a symbolic link to "\.\.\/\.\.\/root\/\.ssh", which points outside the bundle/ },
    { name: 'symlink-in', entries: [{ name: `${BUNDLE_NAME}/README`, type: 'symlink', linkname: 'README.md' }], pattern: /README: a symbolic link to "README\.md"; bundles hold only files and folders/ },
    { name: 'hardlink', entries: [{ name: `${BUNDLE_NAME}/h`, type: 'hardlink', linkname: 'etc/shadow' }], pattern: /h: a hard link to "etc\/shadow", which points outside the bundle/ },
    { name: 'device', entries: [{ name: `${BUNDLE_NAME}/null`, type: 'chardev' }], pattern: /null: a character device; bundles hold only files and folders/ },
    { name: 'fifo', entries: [{ name: `${BUNDLE_NAME}/pipe`, type: 'fifo' }], pattern: /pipe: a FIFO; bundles hold only files and folders/ },
    { name: 'twice', entries: [{ name: `${BUNDLE_NAME}/a`, type: 'file', content: '1' }, { name: `${BUNDLE_NAME}/a`, type: 'file', content: '2' }], pattern: /a: in the archive twice/ },
  ]
  for (const { name, entries, pattern } of cases) {
    const file = join(dir, `${name}.tar.gz`)
    writeFileSync(file, tarGz(entries))
    const result = await cli('verify', file)
    t.equal(result.code, 3, name)
    t.match(result.stdout, pattern, name)
  }
  t.notOk(existsSync('/etc/cron.d/evil'))
  t.notOk(existsSync(join(dir, '..', 'evil.sh')))

  const zip = join(dir, 'dotdot.zip')
  writeFileSync(zip, zipBytes([{ name: `${BUNDLE_NAME}/` }, { name: `${BUNDLE_NAME}/../../evil.sh`, content: 'x' }, { name: `${BUNDLE_NAME}/l`, unixMode: 0o120777, content: '/etc/passwd' }, { name: 'C:\\evil.bat', content: 'x' }]))
  const zipResult = await cli('verify', zip)
  t.equal(zipResult.code, 3)
  t.match(zipResult.stdout, /"edgebundle-1\.23-ubuntu-amd64-containerd\/\.\.\/\.\.\/evil\.sh": a file that has a "\.\." segment/)
  t.match(zipResult.stdout, /l: a symbolic link to "\/etc\/passwd", which points outside the bundle/)
  t.match(zipResult.stdout, /"C:\\\\evil\.bat": a file that has a backslash/)
})

t.test('layout: one correctly named folder, nothing beside it', async (t) => {
  const dir = fresh('layout')
  const wrongName = copyBundle(unsignedRoot, join(dir, 'renamed'))
  const archive = join(dir, 'wrong.tar.gz')
  await pack(wrongName, archive, 'tar.gz', 'my-bundle')
  const result = await cli('verify', archive)
  t.equal(result.code, 3)
  t.match(result.stdout, /my-bundle: not a bundle folder name \(edgebundle-<kubeedge>-<os>-<arch>-<runtime>/)
  t.match(result.stdout, /manifest\.json: names the bundle edgebundle-1\.23-ubuntu-amd64-containerd, but its folder is my-bundle/)
  t.match(result.stdout, /plan\.json: names the bundle edgebundle-1\.23-ubuntu-amd64-containerd, but its folder is my-bundle/)

  const beside = join(dir, 'beside.tar.gz')
  writeFileSync(beside, tarGz([{ name: `${BUNDLE_NAME}/`, type: 'dir' }, { name: 'stray.txt', type: 'file', content: 'x' }, { name: 'other/', type: 'dir' }]))
  const besideResult = await cli('verify', beside)
  t.equal(besideResult.code, 3)
  t.match(besideResult.stdout, /stray\.txt: a file beside the bundle folder/)
  t.match(besideResult.stdout, /the archive holds 2 top-level folders \(edgebundle-1\.23-ubuntu-amd64-containerd, other\); a bundle has exactly one/)
})

t.test('a damaged archive is reported as corrupt (exit 3), not as a cascade of missing files', async (t) => {
  const good = await pack(unsignedRoot, join(fresh('corrupt'), `${BUNDLE_NAME}.tar.gz`))
  const bytes = readFileSync(good)
  const truncated = `${good}.truncated.tar.gz`
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)))
  const cut = await cli('verify', truncated)
  t.equal(cut.code, 3)
  t.match(cut.stdout, /FAILED, 1 problem:\n  - .* is corrupt: gzip data unexpected end of file/)

  const flipped = `${good}.flipped.tar.gz`
  const copy = Buffer.from(bytes)
  const middle = Math.floor(copy.length / 2)
  copy[middle] = copy[middle]! ^ 0xff
  writeFileSync(flipped, copy)
  const flip = await cli('verify', flipped)
  t.equal(flip.code, 3)
  t.match(flip.stdout, /is corrupt/)

  const zip = await pack(unsignedRoot, join(fresh('corrupt'), `${BUNDLE_NAME}.zip`), 'zip')
  const zipBytesRead = readFileSync(zip)
  const zipMiddle = Math.floor(zipBytesRead.length / 2)
  zipBytesRead[zipMiddle] = zipBytesRead[zipMiddle]! ^ 0xff
  writeFileSync(zip, zipBytesRead)
  const zipFlip = await cli('verify', zip)
  t.equal(zipFlip.code, 3)
  t.match(zipFlip.stdout, /is corrupt: .*(CRC-32|does not inflate|inflates to)/)

  // Entries hidden after the end-of-archive marker: plain tar stops there, `tar -i` would read them.
  const hidden = join(fresh('corrupt'), 'hidden.tar.gz')
  execFileSync('mkdir', ['-p', join(hidden, '..')])
  const tar = tarBytes([{ name: `${BUNDLE_NAME}/a`, type: 'file', content: 'a' }])
  writeFileSync(hidden, gzipSync(Buffer.concat([tar, tarBytes([{ name: `${BUNDLE_NAME}/evil`, type: 'file', content: 'x' }])])))
  const after = await cli('verify', hidden)
  t.equal(after.code, 3)
  t.match(after.stdout, /has data after tar's end-of-archive marker/)
})

t.test('usage errors exit 2: no such file, a folder, not an archive, a bad key', async (t) => {
  const dir = fresh('usage')
  execFileSync('mkdir', ['-p', dir])
  const good = await pack(signedRoot, join(dir, `${BUNDLE_NAME}.tar.gz`))
  const cases: [string[], RegExp][] = [
    [['verify', join(dir, 'nope.tar.gz')], /cannot read .*nope\.tar\.gz: ENOENT/],
    [['verify', dir], /is not a file/],
    [['verify', pubkey], /neither a \.tar\.gz nor a \.zip archive/],
    [['verify', good, '--pubkey', join(dir, 'missing.pub')], /cannot read --pubkey .*missing\.pub: ENOENT/],
    [['verify', good, '--pubkey', good], /not a key file|is not a PEM key/],
    [['inspect', join(dir, 'nope.zip')], /ENOENT/],
  ]
  const rsa = join(dir, 'rsa.pub')
  execFileSync('openssl', ['genpkey', '-algorithm', 'rsa', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(dir, 'rsa.key')], { stdio: 'ignore' })
  execFileSync('openssl', ['pkey', '-in', join(dir, 'rsa.key'), '-pubout', '-out', rsa])
  cases.push([['verify', good, '--pubkey', rsa], /--pubkey .*rsa\.pub is an RSA key, not an ed25519 key/])
  const privateKey = join(dir, 'private.key')
  writeFileSync(privateKey, key.privateKeyPem)
  cases.push([['verify', good, '--pubkey', privateKey], /is a private key; verification needs only the public key/])
  const notTar = join(dir, 'text.gz')
  writeFileSync(notTar, gzipSync(Buffer.from('just some text, long enough to fill a block? no.\n'.repeat(20))))
  cases.push([['verify', notTar], /is not a tar archive/])
  for (const [argv, pattern] of cases) {
    const result = await cli(...argv)
    t.equal(result.code, 2, argv.join(' '))
    t.match(result.stderr, pattern, argv.join(' '))
  }
  t.equal((await cli('verify')).code, 2, 'BUNDLE is required')
})

t.test('inspectBundle reads the archive once without extracting anything', async (t) => {
  const archive = await pack(unsignedRoot, join(fresh('api'), `${BUNDLE_NAME}.tar.gz`))
  const report = await inspectBundle(archive)
  t.equal(report.ok, true)
  t.same(report.files.map((f) => f.path), listFiles(unsignedRoot).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
  t.equal(report.files.find((f) => f.path === BIG_FILE)?.sha256, sha256(join(unsignedRoot, BIG_FILE)))
  t.same(listFiles(join(archive, '..')), [`${BUNDLE_NAME}.tar.gz`], 'nothing unpacked next to it')
})
