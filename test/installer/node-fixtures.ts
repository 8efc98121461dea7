/**
 * Installable bundles and node trees for the installer tests: a real rendered bundle whose artifact
 * placeholders are replaced by small real archives and binaries in the upstream layouts (made with GNU
 * tar), a prepared root filesystem with files the bundle will replace, re-mode and link over, and a
 * snapshot of a tree (type, mode, content hash, link target) to compare trees byte for byte.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { type ArchiveIndex, archivesOfPlan, formatArchiveIndex, indexArchive } from '../../src/installer/archive/index.js'
import { runInstaller } from '../../src/installer/run.js'
import type { Plan } from '../../src/model/plan.js'
import type { RawRequest } from '../../src/resolve/request.js'
import { makeBundle, writeChecksums } from './fixtures.js'
import { hostInstallerIo } from './host-io.js'
import { fileDigest } from '../fixtures/files.js'

/** A small archive in the layout its step expects: `strip` leading folders, a few files, a symlink. */
function writeArchive(bundle: string, file: string, component: string, strip: number, work: string): void {
  const tree = join(work, `tree-${component}`)
  rmSync(tree, { recursive: true, force: true })
  const top = strip > 0 ? join(tree, ...Array.from({ length: strip }, (_, i) => `top${i}`)) : tree
  mkdirSync(join(top, 'bin'), { recursive: true })
  writeFileSync(join(top, 'bin', `${component}-tool`), `#!/bin/sh\necho ${component}\n`)
  chmodSync(join(top, 'bin', `${component}-tool`), 0o755)
  writeFileSync(join(top, 'bin', `${component}.conf`), `${component} settings\n`)
  chmodSync(join(top, 'bin', `${component}.conf`), 0o640)
  symlinkSync(`${component}-tool`, join(top, 'bin', `${component}-alias`))
  const format = file.endsWith('.tar.zst') ? ['--zstd'] : ['-z']
  execFileSync('tar', ['-c', ...format, '-f', join(bundle, ...file.split('/')), '--owner=0', '--group=0', '--sort=name', '-C', tree, '.'])
}

/** An upstream release archive whose own script installs into $DESTDIR, as CRI-O's `install` does. */
function writeUpstreamInstaller(bundle: string, file: string, subdir: string, script: string, work: string): void {
  const tree = join(work, `upstream-${subdir}`)
  rmSync(tree, { recursive: true, force: true })
  mkdirSync(join(tree, subdir, 'bin'), { recursive: true })
  writeFileSync(join(tree, subdir, 'bin', 'runtimed'), '#!/bin/sh\necho runtimed\n')
  chmodSync(join(tree, subdir, 'bin', 'runtimed'), 0o755)
  writeFileSync(
    join(tree, subdir, script),
    [
      '#!/usr/bin/env bash',
      'set -euo pipefail',
      'install -D -m 755 bin/runtimed "$DESTDIR/usr/local/bin/runtimed"',
      'install -d -m 700 "$DESTDIR/etc/runtimed/secret.d"',
      'printf "setting = 1\\n" > "$DESTDIR/etc/runtimed/runtimed.conf"',
      'ln -sf runtimed "$DESTDIR/usr/local/bin/runtimed-alias"',
      '',
    ].join('\n'),
  )
  chmodSync(join(tree, subdir, script), 0o755)
  execFileSync('tar', ['-czf', join(bundle, ...file.split('/')), '--owner=0', '--group=0', '--sort=name', '-C', tree, subdir])
}

export interface InstallableBundle {
  dir: string
  plan: Plan
}

/** A real bundle for `request` that the installers can carry out under --root. */
export function makeInstallableBundle(dir: string, request: RawRequest, work: string): InstallableBundle {
  const made = makeBundle(dir, request)
  for (const step of made.plan.steps) {
    if (step.kind === 'install-archive' && step.format !== 'zip') writeArchive(dir, step.file, step.component, step.strip, work)
    if (step.kind === 'run-upstream-installer') writeUpstreamInstaller(dir, step.file, step.subdir, step.script, work)
    if (step.kind === 'install-binary') {
      const path = join(dir, ...step.file.split('/'))
      writeFileSync(path, `#!/bin/sh\necho ${step.component}\n`)
      chmodSync(path, 0o755)
    }
  }
  writeChecksums(dir)
  return { dir, plan: made.plan }
}

/**
 * archives.json for a bundle, as the builder writes it (the same functions), with SHA256SUMS redone.
 * `edit` may change the index before it is written.
 */
export async function addArchiveIndex(bundle: InstallableBundle, edit: (index: ArchiveIndex) => void = () => {}): Promise<ArchiveIndex> {
  const index: ArchiveIndex = { format: 1, archives: {} }
  for (const archive of archivesOfPlan(bundle.plan)) {
    const file = join(bundle.dir, ...archive.file.split('/'))
    const sha256 = fileDigest(file)
    index.archives[archive.file] = { sha256, format: archive.format, strip: archive.strip, members: await indexArchive(file, archive.format, archive.strip) }
  }
  edit(index)
  writeArchiveIndex(bundle, index)
  return index
}

/** `index` as the bundle's archives.json, with SHA256SUMS redone. */
export function writeArchiveIndex(bundle: InstallableBundle, index: ArchiveIndex): void {
  writeFileSync(join(bundle.dir, 'archives.json'), formatArchiveIndex(index))
  writeChecksums(bundle.dir)
}

/**
 * A node root with things in the bundle's way: a config to replace (backup), a file with the bundle's
 * content but another mode, a symlink where the bundle writes a file, and a populated /usr/local/bin.
 */
export function prepareRoot(root: string, bundle: InstallableBundle): void {
  mkdirSync(root, { recursive: true })
  const put = (path: string, content: string, mode = 0o644) => {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
    chmodSync(join(root, path), mode)
  }
  put('etc/os-release', 'ID=ubuntu\nVERSION_ID="22.04"\n')
  put('usr/local/bin/already-here', 'a tool of the node\n', 0o755)
  put('etc/crictl.yaml', 'runtime-endpoint: unix:///run/other.sock\n', 0o600)
  const modules = bundle.plan.files.find((file) => file.dest === '/etc/modules-load.d/edgebundle.conf')
  if (modules) put(modules.dest.slice(1), readFileSync(join(bundle.dir, ...modules.source.split('/')), 'utf8'), 0o600)
  mkdirSync(join(root, 'etc', 'cni', 'net.d'), { recursive: true })
  const conflist = bundle.plan.files.find((file) => file.dest.startsWith('/etc/cni/net.d/'))
  if (conflist) symlinkSync('/etc/old-network.conflist', join(root, conflist.dest.slice(1)))
}

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'other'
  mode: string
  /** sha256 of a file's content, a symlink's target. */
  content?: string
}

/** Every path below `root` (relative, sorted) with type, mode and content: two equal snapshots are equal trees. */
export function snapshot(root: string): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {}
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name)
      const relative = prefix === '' ? name : `${prefix}/${name}`
      const stat = lstatSync(path)
      const mode = (stat.mode & 0o7777).toString(8)
      if (stat.isSymbolicLink()) out[relative] = { type: 'symlink', mode: '-', content: readlinkSync(path) }
      else if (stat.isDirectory()) {
        out[relative] = { type: 'dir', mode }
        walk(path, relative)
      } else if (stat.isFile()) out[relative] = { type: 'file', mode, content: fileDigest(path) }
      else out[relative] = { type: 'other', mode }
    }
  }
  walk(root, '')
  return out
}

/** The files below `root` as text (journal, backups), for messages when snapshots differ. */
export function readText(root: string, relative: string): string {
  try {
    return readFileSync(join(root, relative), 'utf8')
  } catch {
    return '(missing)'
  }
}

/** Runs the installer in-process on the real node, collecting its output. */
export async function runInstallerHere(argv: string[], env: Record<string, string> = {}) {
  let stdout = ''
  let stderr = ''
  const code = await runInstaller(argv, hostInstallerIo({ stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), env }))
  return { code, stdout, stderr }
}
