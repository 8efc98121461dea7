/**
 * One file out of a carried image, as the image's own filesystem holds it: keadm from
 * kubeedge/installation-package (/usr/local/bin/keadm, build/docker/installation-package/
 * installation-package.dockerfile at every tag v1.12.0 … v1.23.1). Taking it from the image the bundle
 * carries ties keadm to the image's digest: the archive was verified blob by blob (src/oci/archive.ts), and
 * keadm and edgecore come from one release build.
 *
 * Layers are read from the top down; the first one that holds the path or deletes it (an OCI whiteout,
 * `.wh.<name>` or an opaque `.wh..wh..opq` in a parent) decides. Nothing is extracted but that one file.
 * The result is cached by the archive's SHA-256, so a warm build reads no layer.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { createGunzip } from 'node:zlib'
import { writeFileAtomically } from '../archive/publish.js'
import { UsageError } from '../model/errors.js'
import { findArchiveImage, readImageArchive, type TargetPlatform } from '../oci/index.js'
import { listTar } from '../oci/tar.js'
import { readTar } from '../inspect/tar-read.js'

export interface ImageFile {
  path: string
  sha256: string
  size: number
}

/** Binaries in an image are tens of MB; more than this is not the file we look for. */
const MAX_FILE_BYTES = 512 * 1024 * 1024

const clean = (name: string) => name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '')

/**
 * `wanted` (an absolute path in the image, e.g. /usr/local/bin/keadm) from the image for `platform` in
 * `archive` (whose SHA-256 is `archiveSha256`), cached under `cacheDir`. Throws a UsageError naming the
 * image when it does not hold the file as a regular file.
 */
export async function imageFile(archive: string, archiveSha256: string, platform: TargetPlatform, wanted: string, cacheDir: string, imageName: string): Promise<ImageFile> {
  const key = createHash('sha256').update(`${archiveSha256}\n${platform.os}/${platform.arch}/${platform.variant ?? ''}\n${wanted}`).digest('hex')
  const cached = join(cacheDir, 'image-files', `${key}-${wanted.split('/').at(-1)}`)
  const known = await stat(cached).catch(() => null)
  if (known?.isFile()) {
    return { path: cached, sha256: await sha256Of(cached), size: known.size }
  }
  const bytes = await readImageFile(archive, platform, wanted, imageName)
  await writeFileAtomically(cached, bytes, { mode: 0o755 })
  return { path: cached, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length }
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

async function readImageFile(archive: string, platform: TargetPlatform, wanted: string, imageName: string): Promise<Buffer> {
  const target = clean(wanted)
  const base = target.split('/').at(-1)!
  const parent = target.split('/').slice(0, -1).join('/')
  const parents = target.split('/').slice(0, -1).map((_, i, all) => all.slice(0, i + 1).join('/'))
  const image = findArchiveImage(await readImageArchive(archive), platform)
  const members = new Map((await listTar(archive)).map((entry) => [entry.path, entry]))
  for (const member of [...image.layerMembers].reverse()) {
    const entry = members.get(member)
    if (!entry || entry.size === 0) continue
    const label = `${imageName} layer ${member}`
    const raw = createReadStream(archive, { start: entry.offset, end: entry.offset + entry.size - 1 })
    const magic = await firstBytes(archive, entry.offset)
    if (magic === 'zstd') {
      raw.destroy()
      throw new UsageError(`${label} is zstd-compressed, which edgebundle does not read yet`, { hint: 'Give an archive whose layers are gzip-compressed or plain tar (skopeo copy --dest-compress-format gzip).' })
    }
    const stream = magic === 'gzip' ? raw.pipe(createGunzip()) : raw
    let deleted = false
    try {
      for await (const item of readTar(stream as AsyncIterable<Buffer>, label)) {
        const name = clean(item.name)
        if (name === target) {
          if (item.type !== 'file') throw new UsageError(`${imageName} holds ${wanted} as ${item.what}, not a file`, { hint: 'Carry the installation-package image KubeEdge publishes, or one built the same way.' })
          if (item.size > MAX_FILE_BYTES) throw new UsageError(`${imageName}: ${wanted} is ${item.size} bytes, over the ${MAX_FILE_BYTES} allowed`)
          const chunks: Buffer[] = []
          for await (const chunk of item.content()) chunks.push(chunk)
          return Buffer.concat(chunks)
        }
        if (name === `${parent === '' ? '' : `${parent}/`}.wh.${base}` || parents.some((dir) => name === `${dir}/.wh..wh..opq` || name === `${dir.split('/').slice(0, -1).concat(`.wh.${dir.split('/').at(-1)}`).join('/')}`)) {
          deleted = true
        }
      }
    } finally {
      raw.destroy()
    }
    if (deleted) break
  }
  throw new UsageError(`${imageName} has no ${wanted}`, {
    hint: 'The installation-package image holds keadm at /usr/local/bin/keadm (build/docker/installation-package/installation-package.dockerfile); give that image.',
  })
}

async function firstBytes(file: string, offset: number): Promise<'gzip' | 'zstd' | 'plain'> {
  const handle = await open(file, 'r')
  try {
    const magic = Buffer.alloc(4)
    const { bytesRead } = await handle.read(magic, 0, 4, offset)
    if (bytesRead >= 2 && magic[0] === 0x1f && magic[1] === 0x8b) return 'gzip'
    if (bytesRead === 4 && magic.readUInt32LE(0) === 0xfd2fb528) return 'zstd'
    return 'plain'
  } finally {
    await handle.close()
  }
}
