/**
 * A small but real bundle folder for the pack, sign and inspect tests: an executable, an install script,
 * a config file, plan.json, a 20 MB artifact (to prove streaming), manifest.json, SHA256SUMS and, when a
 * key is given, SHA256SUMS.sig, written as the build writes them. The plan and manifest are handmade so
 * these tests do not depend on the catalog or the renderers.
 */
import { createCipheriv } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { chmodSync, createWriteStream, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { once } from 'node:events'
import type { BundleManifest } from '../../src/model/manifest.js'
import { formatSha256Sums } from '../../src/archive/sha256sums.js'
import { signChecksums } from '../../src/sign/keys.js'
import { fileDigest } from '../fixtures/files.js'

export const BUNDLE_NAME = 'edgebundle-1.23-ubuntu-amd64-containerd'
export const BIG_FILE = 'artifacts/containerd-2.0.5-linux-amd64.tar.gz'
export const BIG_SIZE = 20 * 1024 * 1024

/**
 * Deterministic incompressible bytes, so two fixtures hold identical content: AES-128-CTR under a fixed key
 * over zeros (a keystream at memory speed; a SHA-256 per 32 bytes cost seconds of CPU per 20 MB).
 */
export async function writePseudoRandom(path: string, size: number): Promise<void> {
  const keystream = createCipheriv('aes-128-ctr', Buffer.alloc(16, 0x42), Buffer.alloc(16))
  const zeros = Buffer.alloc(1024 * 1024)
  const out = createWriteStream(path)
  for (let written = 0; written < size; ) {
    const part = keystream.update(zeros.subarray(0, Math.min(zeros.length, size - written)))
    written += part.length
    if (!out.write(part)) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}

export function sha256Of(path: string): string {
  return fileDigest(path)
}

/** Every file under `root`, relative, `/`-separated. */
export function listFiles(root: string, relative = ''): string[] {
  return readdirSync(join(root, relative), { withFileTypes: true }).flatMap((entry) => {
    const path = relative === '' ? entry.name : `${relative}/${entry.name}`
    return entry.isDirectory() ? listFiles(root, path) : [path]
  })
}

const PLAN = {
  schemaVersion: 1,
  name: BUNDLE_NAME,
  target: { os: 'ubuntu', arch: 'amd64', runtime: 'containerd', kubeedge: '1.23' },
  runtime: { name: 'containerd', version: '2.0.5', source: 'release', endpoint: 'unix:///run/containerd/containerd.sock' },
  kubeedge: { version: '1.23.0', release: '1.23.1', images: ['kubeedge/installation-package:v1.23.1'], keadmJoinArgs: [], edged: {} },
  steps: [
    { id: 'preflight', kind: 'preflight', description: 'Check the node before changing anything', checks: [] },
    { id: 'containerd', kind: 'install-archive', description: 'Install containerd 2.0.5 into /usr/local', component: 'containerd', file: BIG_FILE, format: 'tar.gz', dest: '/usr/local', strip: 0 },
    { id: 'containerd-config', kind: 'write-file', description: 'Write /etc/containerd/config.toml', source: 'config/etc/containerd/config.toml', dest: '/etc/containerd/config.toml', mode: '0644' },
    { id: 'containerd-service', kind: 'enable-service', description: 'Enable and start containerd', service: 'containerd', restartWhenChanged: ['/etc/containerd'] },
  ],
}

/** Writes the bundle's content files (no manifest, sums or signature yet) under `parent/<name>/`. */
export async function writeBundleContent(parent: string, name = BUNDLE_NAME): Promise<string> {
  const root = join(parent, name)
  const file = (path: string, content: string | Buffer, mode = 0o644) => {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
    chmodSync(join(root, path), mode)
  }
  file('install', Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(4000, 0x90)]), 0o755)
  file('install.sh', '#!/bin/sh\nset -eu\necho installing\n', 0o755)
  file('README.md', `# ${name}\n\nRun ./install --cloudcore-ipport=IP:PORT --token=TOKEN\n`)
  file('plan.json', `${JSON.stringify({ ...PLAN, name }, null, 2)}\n`)
  file('config/etc/containerd/config.toml', 'version = 3\n[plugins]\n')
  file('sbom.cdx.json', '{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}\n')
  mkdirSync(join(root, 'artifacts'), { recursive: true })
  await writePseudoRandom(join(root, BIG_FILE), BIG_SIZE)
  return root
}

/** Writes manifest.json, SHA256SUMS and (with a key) SHA256SUMS.sig for the folder as it is now. */
export function sealBundle(root: string, options: { privateKeyPem?: string; name?: string } = {}): void {
  const name = options.name ?? BUNDLE_NAME
  const excluded = new Set(['manifest.json', 'SHA256SUMS', 'SHA256SUMS.sig'])
  const files = listFiles(root)
    .filter((path) => !excluded.has(path))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map((path) => {
      const stats = statSync(join(root, path))
      return { path, size: stats.size, mode: (stats.mode & 0o100 ? '0755' : '0644') as '0755' | '0644', sha256: sha256Of(join(root, path)) }
    })
  const manifest: BundleManifest = {
    schemaVersion: 1,
    name,
    target: { os: 'ubuntu', arch: 'amd64', runtime: 'containerd', kubeedge: '1.23' },
    options: { cgroupDriver: 'systemd', pauseImage: 'registry.k8s.io/pause:3.10', cniSubnet: '10.88.0.0/16', registryMirrors: [], packages: [] },
    components: [{ id: 'containerd', version: '2.0.5', url: 'https://github.com/containerd/containerd/releases/download/v2.0.5/containerd-2.0.5-linux-amd64.tar.gz', sha256: sha256Of(join(root, BIG_FILE)), file: BIG_FILE }],
    files,
    edgebundleVersion: '0.1.0',
    sourceDateEpoch: 1_700_000_000,
  }
  writeFileSync(join(root, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  const sums = formatSha256Sums(listFiles(root).filter((path) => path !== 'SHA256SUMS' && path !== 'SHA256SUMS.sig').map((path) => ({ path, sha256: sha256Of(join(root, path)) })))
  writeFileSync(join(root, 'SHA256SUMS'), sums)
  if (options.privateKeyPem !== undefined) writeFileSync(join(root, 'SHA256SUMS.sig'), signChecksums(sums, options.privateKeyPem))
}

/** A sealed bundle folder under `parent`. */
export async function makeBundle(parent: string, options: { privateKeyPem?: string } = {}): Promise<string> {
  const root = await writeBundleContent(parent)
  sealBundle(root, options)
  return root
}

/** `cp -a` (keeps modes), then sets every file's mtime to `mtime` so copies differ in metadata only. */
export function copyBundle(root: string, to: string, mtime?: Date): string {
  mkdirSync(to, { recursive: true })
  execFileSync('cp', ['-a', root, to])
  const copy = join(to, root.split('/').pop()!)
  if (mtime !== undefined) execFileSync('touch', ['-d', mtime.toISOString(), ...listFiles(copy).map((path) => join(copy, path))])
  return copy
}
