/**
 * Where an artifact may be found besides upstream, and the user's flags that say so. Pure.
 *
 * One layout serves --artifacts-dir folders and --mirror servers alike, `<id>/<version>/<fileName>`, so
 * a mirror can be made by copying an artifacts folder onto a web server (or the cache's list of
 * downloads, `edgebundle fetch --print-urls`, into a folder).
 */
import { join } from 'node:path'
import { UsageError } from '../model/errors.js'
import type { ResolvedComponent } from '../resolve/resolve.js'
import { normalizeSha256 } from './checksum-file.js'

type ComponentKey = Pick<ResolvedComponent, 'id' | 'version' | 'fileName'>

/** `<id>/<version>/<fileName>`: the path of a file inside an --artifacts-dir or under a --mirror. */
export function artifactRelativePath(component: ComponentKey, fileName: string = component.fileName): string {
  return `${component.id}/${component.version}/${fileName}`
}

/** The files checked in one --artifacts-dir, in order: flat first (a folder of downloads), then the layout. */
export function localCandidates(dir: string, component: ComponentKey, fileName: string = component.fileName): string[] {
  return [join(dir, fileName), join(dir, component.id, component.version, fileName)]
}

/** The URL of a file on a mirror: `<mirror>/<id>/<version>/<fileName>`, each segment URL-encoded. */
export function mirrorUrl(mirror: string, component: ComponentKey, fileName: string = component.fileName): string {
  const base = mirror.endsWith('/') ? mirror : `${mirror}/`
  return new URL([component.id, component.version, fileName].map(encodeURIComponent).join('/'), base).href
}

/** The checksum file's own name (`containerd-2.3.4-windows-amd64.tar.gz.sha256sum`). */
export function checksumFileName(checksumUrl: string): string {
  const path = new URL(checksumUrl).pathname
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1))
}

/** --mirror values: absolute http(s) URLs. */
export function parseMirrors(values: string[]): string[] {
  return values.map((value) => {
    let url: URL
    try {
      url = new URL(value)
    } catch {
      throw new UsageError(`--mirror ${value} is not a URL`, { hint: 'Give the mirror root, e.g. --mirror https://mirror.example.com/edgebundle' })
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UsageError(`--mirror ${value}: only http and https mirrors are supported`, { hint: 'For files on disk use --artifacts-dir DIR.' })
    }
    if (url.search !== '' || url.hash !== '') throw new UsageError(`--mirror ${value}: a mirror root has no query or fragment`)
    return url.href
  })
}

/** --checksum ID=SHA256 values → id → lower-case SHA-256. */
export function parseChecksumOverrides(values: string[]): Record<string, string> {
  const result: Record<string, string> = {}
  for (const value of values) {
    const at = value.indexOf('=')
    const id = at > 0 ? value.slice(0, at) : ''
    const sha256 = at > 0 ? normalizeSha256(value.slice(at + 1)) : null
    if (!/^[a-z0-9-]+$/.test(id) || sha256 === null) {
      throw new UsageError(`--checksum ${value} is not ID=SHA256`, { hint: 'e.g. --checksum docker-static=<64 hex digits>; the IDs are those of bundles/components.yaml.' })
    }
    if (result[id] !== undefined && result[id] !== sha256) throw new UsageError(`--checksum gives two different SHA-256 for ${id}`)
    result[id] = sha256
  }
  return result
}

/**
 * Checks --checksum against the components of the target: an unknown ID is a typo the user must hear
 * about, and a value that contradicts a pinned SHA-256 means the user holds a different file than
 * bundles/ pins.
 */
export function checkChecksumOverrides(overrides: Record<string, string>, components: ResolvedComponent[]): void {
  for (const [id, sha256] of Object.entries(overrides)) {
    const component = components.find((c) => c.id === id)
    if (!component) {
      throw new UsageError(`--checksum ${id}=…: ${id} is not a component of this target`, {
        hint: `The target's components: ${components.map((c) => c.id).join(', ')}.`,
      })
    }
    if (component.sha256 !== null && component.sha256 !== sha256) {
      throw new UsageError(`--checksum ${id}=${sha256} contradicts the SHA-256 bundles/ pins for ${component.fileName} (${component.sha256})`, {
        hint: 'Drop the --checksum for a pinned component, or use a --catalog that pins the file you have.',
      })
    }
  }
}
