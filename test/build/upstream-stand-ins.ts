/**
 * Offline inputs for every supported combination: stand-ins for each upstream artifact the catalog
 * names, under upstream's file name and in upstream's archive layout (the members each install rule of
 * bundles/components.yaml expects once its `strip` is applied), a catalog override pinning their SHA-256,
 * per-platform pause image archives, and OS packages (.deb) for `--runtime-source packages`.
 *
 * The real upstream files cannot be downloaded here, and only the layout matters to a build: the builder
 * copies artifacts byte for byte and never looks inside. The stand-in executables are small scripts that
 * name what they stand in for; Windows ones start with "MZ".
 *
 * docker-static's upstream name carries no architecture (`docker-27.5.1.tgz` for x86_64 and aarch64
 * alike), so one `--artifacts-dir` cannot hold both: the stand-ins are laid out one folder per platform.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseDocument } from 'yaml'
import { defaultBundlesDir } from '../../src/catalog/load.js'
import type { Catalog } from '../../src/catalog/schema.js'
import type { ResolvedComponent } from '../../src/resolve/resolve.js'
import { buildTestImages, sh } from '../oci/fixtures.js'
import { fileDigest } from '../fixtures/files.js'

type Family = 'linux' | 'windows'

interface Member {
  /** Path inside the archive, as upstream writes it (with its leading `./` where upstream has one). */
  path: string
  executable: boolean
  content: string
}

/** A Linux stand-in: a script that says what it is. A Windows one: "MZ" and the same text. */
function stub(name: string, component: ResolvedComponent, family: Family): string {
  const text = `${name} ${component.version} (edgebundle test stand-in for ${component.id}, ${component.platform})`
  return family === 'windows' ? `MZ ${text}\r\n` : `#!/bin/sh\necho '${text}'\n`
}

const exe = (family: Family, name: string) => (family === 'windows' ? `${name}.exe` : name)

/**
 * The members of each component's upstream archive. A component the catalog gains without a recipe
 * here fails the test: its layout must be written down, not guessed.
 */
const RECIPES: Record<string, (c: ResolvedComponent, family: Family) => Member[]> = {
  // dest /usr/local (Linux), strip 1 into C:\Program Files\containerd (Windows): bin/ is the top folder.
  containerd: (c, family) =>
    (family === 'windows' ? ['containerd', 'ctr', 'containerd-shim-runhcs-v1'] : ['containerd', 'containerd-shim-runc-v2', 'containerd-stress', 'ctr']).map((name) => ({
      path: `bin/${exe(family, name)}`,
      executable: true,
      content: stub(name, c, family),
    })),
  // Flat, with ./ (upstream's tar of the build folder).
  'cni-plugins': (c, family) =>
    (family === 'windows' ? ['host-local', 'win-bridge', 'win-overlay'] : ['bandwidth', 'bridge', 'firewall', 'host-local', 'loopback', 'portmap']).map((name) => ({
      path: `./${exe(family, name)}`,
      executable: true,
      content: stub(name, c, family),
    })),
  crictl: (c, family) => [{ path: exe(family, 'crictl'), executable: true, content: stub('crictl', c, family) }],
  // The static bundle unpacks to cri-o/ and is installed by its own `install` script.
  'cri-o': (c) => [
    { path: 'cri-o/install', executable: true, content: '#!/usr/bin/env bash\n# edgebundle test stand-in for the CRI-O bundle installer\nset -euo pipefail\ncd "$(dirname "$0")"\ninstall -D -m 755 -t "${DESTDIR:-}/usr/local/bin" bin/*\n' },
    ...['conmon', 'crio', 'crun', 'pinns', 'runc', 'crictl'].map((name) => ({ path: `cri-o/bin/${name}`, executable: true, content: stub(name, c, 'linux') })),
    { path: 'cri-o/contrib/crio.service', executable: false, content: '[Unit]\nDescription=CRI-O (edgebundle test stand-in)\n[Service]\nExecStart=/usr/local/bin/crio\n' },
  ],
  // strip 1 into /usr/local/bin.
  'cri-dockerd': (c) => [{ path: 'cri-dockerd/cri-dockerd', executable: true, content: stub('cri-dockerd', c, 'linux') }],
  'docker-static': (c) =>
    ['containerd', 'containerd-shim-runc-v2', 'ctr', 'docker', 'docker-init', 'docker-proxy', 'dockerd', 'runc'].map((name) => ({
      path: `docker/${name}`,
      executable: true,
      content: stub(name, c, 'linux'),
    })),
  // dest /: the archive's paths are ./opt/kata/...
  'kata-static': (c) => [
    ...['containerd-shim-kata-v2', 'kata-runtime'].map((name) => ({ path: `./opt/kata/bin/${name}`, executable: true, content: stub(name, c, 'linux') })),
    { path: './opt/kata/share/defaults/kata-containers/configuration.toml', executable: false, content: '# edgebundle test stand-in\n[hypervisor.qemu]\n' },
  ],
  // A single binary, not an archive.
  runc: (c) => [{ path: '', executable: true, content: stub('runc', c, 'linux') }],
  // keadm-v<v>-windows-amd64/keadm/keadm.exe and .../version (build_keadm_release, hack/make-rules/release.sh @
  // kubeedge v1.23.1); strip 2 into C:\usr\local\bin.
  'keadm-windows': (c) => [
    { path: `keadm-v${c.version}-windows-amd64/keadm/keadm.exe`, executable: true, content: stub('keadm', c, 'windows') },
    { path: `keadm-v${c.version}-windows-amd64/version`, executable: false, content: `v${c.version}\n` },
  ],
  // kubeedge-v<v>-windows-amd64/edge/edgecore.exe and .../version (build_kubeedge_release, same file): copied as
  // is (format binary) for keadm to unpack.
  'kubeedge-windows': (c) => [
    { path: `kubeedge-v${c.version}-windows-amd64/edge/edgecore.exe`, executable: true, content: stub('edgecore', c, 'windows') },
    { path: `kubeedge-v${c.version}-windows-amd64/version`, executable: false, content: `v${c.version}\n` },
  ],
}

/** GNU tar, reproducibly (sorted, mtime 0, root-owned), compressed as upstream does. */
function tarArchive(out: string, stage: string, members: string[], format: 'tar.gz' | 'tar.zst'): void {
  const compressor = format === 'tar.gz' ? 'gzip -n -6' : 'zstd -q -3 --no-progress'
  execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=gnu', '-I', compressor, '-cf', out, '-C', stage, ...members], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
}

const sha256Of = (path: string) => fileDigest(path)

export interface StandIn {
  id: string
  version: string
  platform: string
  fileName: string
  sha256: string
}

/** `linux/amd64` → `linux-amd64`: one artifacts folder per platform. */
export const platformSlug = (platform: string) => platform.replace('/', '-')

/**
 * Writes the stand-in of every component into `<dir>/<platform slug>/<fileName>` (the flat
 * --artifacts-dir layout) and returns them with their SHA-256.
 */
export function writeStandIns(dir: string, components: ResolvedComponent[]): StandIn[] {
  const stage = join(dir, '.stage')
  const written: StandIn[] = []
  for (const c of components) {
    const recipe = RECIPES[c.id]
    if (!recipe) throw new Error(`no stand-in recipe for component ${c.id}: add its upstream layout to RECIPES`)
    const family = c.platform.split('/')[0] as Family
    const members = recipe(c, family)
    const out = join(dir, platformSlug(c.platform), c.fileName)
    mkdirSync(dirname(out), { recursive: true })
    // A release tarball the catalog carries as a file (kubeedge-windows: keadm unpacks it, not the installer).
    const tarball = c.format === 'binary' && c.fileName.endsWith('.tar.gz')
    if (c.format === 'binary' && !tarball) {
      writeFileSync(out, members[0]!.content, { mode: 0o755 })
    } else if (tarball || c.format === 'tar.gz' || c.format === 'tar.zst') {
      rmSync(stage, { recursive: true, force: true })
      for (const m of members) {
        const path = join(stage, m.path)
        mkdirSync(dirname(path), { recursive: true })
        writeFileSync(path, m.content)
        chmodSync(path, m.executable ? 0o755 : 0o644)
      }
      // Upstream tars either the build folder itself (./x) or named top-level entries (bin/, cri-o/).
      const top = [...new Set(members.map((m) => (m.path.startsWith('./') ? '.' : m.path.split('/')[0]!)))]
      tarArchive(out, stage, top, tarball ? 'tar.gz' : (c.format as 'tar.gz' | 'tar.zst'))
    } else {
      throw new Error(`no stand-in writer for ${c.format} (${c.id})`)
    }
    written.push({ id: c.id, version: c.version, platform: c.platform, fileName: c.fileName, sha256: sha256Of(out) })
  }
  rmSync(stage, { recursive: true, force: true })
  return written
}

/**
 * A copy of bundles/ in `dir` pinning every stand-in's SHA-256 for its platform (Windows included, so
 * no checksum file is needed offline). Returns the catalog folder, for --catalog.
 */
export function standInCatalog(dir: string, standIns: StandIn[]): string {
  const bundles = join(dir, 'bundles')
  cpSync(defaultBundlesDir(), bundles, { recursive: true })
  const path = join(bundles, 'components.yaml')
  const doc = parseDocument(readFileSync(path, 'utf8'))
  for (const s of standIns) doc.setIn(['components', s.id, 'versions', s.version, 'sha256', s.platform], s.sha256)
  writeFileSync(path, doc.toString())
  return bundles
}

/** The components of every target, once per (id, version, platform). */
export function distinctComponents(components: ResolvedComponent[]): ResolvedComponent[] {
  const seen = new Map<string, ResolvedComponent>()
  for (const c of components) seen.set(`${c.id} ${c.version} ${c.platform}`, c)
  return [...seen.values()]
}

/** Checks the catalog agrees with the stand-ins' names (a changed URL pattern must change RECIPES too). */
export function checkAgainstCatalog(catalog: Catalog, standIns: StandIn[]): void {
  for (const s of standIns) {
    if (!catalog.components[s.id]?.versions[s.version]?.platforms.includes(s.platform)) throw new Error(`catalog lacks ${s.id} ${s.version} ${s.platform}`)
  }
}

/** The pause image's platforms by bundle target platform: TEST_PLATFORMS tags, plus a Windows one made here. */
const IMAGE_TAGS: Record<string, string> = { 'linux/amd64': 'amd64', 'linux/arm64': 'arm64', 'linux/arm': 'armv7', 'windows/amd64': 'windows-amd64' }

/**
 * One `oci-archive` per platform holding the test pause image under `reference` (as a user would export
 * it with skopeo for one node architecture). Returns platform → archive path.
 */
export async function pauseArchives(dir: string, platforms: string[], reference: string): Promise<Record<string, string>> {
  const layout = await buildTestImages(join(dir, 'image-build'))
  // The test images are Linux ones; Windows nodes get the same layer under a windows/amd64 config.
  await sh('umoci', ['config', '--image', `${layout}:base`, '--tag', IMAGE_TAGS['windows/amd64']!, '--os', 'windows', '--architecture', 'amd64', '--no-history'])
  const archives: Record<string, string> = {}
  for (const platform of platforms) {
    const tag = IMAGE_TAGS[platform]
    if (!tag) throw new Error(`no test pause image for ${platform}`)
    const archive = join(dir, `pause-${platformSlug(platform)}.oci.tar`)
    await sh('skopeo', ['copy', '--quiet', `oci:${layout}:${tag}`, `oci-archive:${archive}:${reference}`])
    archives[platform] = archive
  }
  rmSync(join(dir, 'image-build'), { recursive: true, force: true })
  return archives
}

/**
 * Debian packages built with dpkg-deb (the runtime and a library it depends on), for
 * `--runtime-source packages` on Ubuntu. Written in reverse name order, so a build that kept the
 * folder's order instead of sorting could show it.
 */
export function writeDebs(dir: string, arch: 'amd64' | 'arm64', packages: { name: string; version: string; binary: string }[]): string[] {
  mkdirSync(dir, { recursive: true })
  const names: string[] = []
  for (const pkg of [...packages].sort((a, b) => b.name.localeCompare(a.name))) {
    const root = join(dir, `.${pkg.name}`)
    mkdirSync(join(root, 'DEBIAN'), { recursive: true })
    mkdirSync(join(root, 'usr', 'bin'), { recursive: true })
    writeFileSync(
      join(root, 'DEBIAN', 'control'),
      `Package: ${pkg.name}\nVersion: ${pkg.version}\nArchitecture: ${arch}\nMaintainer: edgebundle tests <tests@invalid>\nDescription: edgebundle test stand-in for ${pkg.name}\n`,
    )
    writeFileSync(join(root, 'usr', 'bin', pkg.binary), `#!/bin/sh\necho '${pkg.name} ${pkg.version}'\n`, { mode: 0o755 })
    const name = `${pkg.name}_${pkg.version}_${arch}.deb`
    execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, join(dir, name)], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SOURCE_DATE_EPOCH: '0' } })
    rmSync(root, { recursive: true, force: true })
    names.push(name)
  }
  return names.sort()
}
