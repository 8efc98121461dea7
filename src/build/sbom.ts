/**
 * sbom.cdx.json: a CycloneDX 1.5 list of everything the bundle carries. Deterministic: no timestamp, and the
 * serial number is derived from the content, so the same inputs give the same bytes.
 */
import { createHash } from 'node:crypto'

export interface SbomComponent {
  /** "file" for upstream archives and binaries, "container" for images, "application" for the installer. */
  type: 'file' | 'container' | 'application'
  id: string
  name: string
  version: string
  sha256: string
  file: string
  url?: string
  license?: string
  description?: string
  homepage?: string
}

export interface SbomInput {
  bundle: string
  edgebundleVersion: string
  components: SbomComponent[]
}

/** An RFC 4122 (version 5-style) UUID from a digest, so the serial number is stable for the same content. */
function uuidFrom(digest: Buffer): string {
  const bytes = Buffer.from(digest.subarray(0, 16))
  bytes[6] = (bytes[6]! & 0x0f) | 0x50
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

function purl(component: SbomComponent): string | undefined {
  const github = component.url && /^https:\/\/github\.com\/([^/]+)\/([^/]+)\//.exec(component.url)
  if (github) return `pkg:github/${github[1]!.toLowerCase()}/${github[2]!.toLowerCase()}@${component.version}`
  if (component.type === 'container') return undefined
  return `pkg:generic/${encodeURIComponent(component.id)}@${encodeURIComponent(component.version)}`
}

export function renderSbom(input: SbomInput): string {
  const components = [...input.components]
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))
    .map((c) => {
      const entry: Record<string, unknown> = {
        type: c.type,
        'bom-ref': c.file,
        name: c.name,
        version: c.version,
      }
      if (c.description) entry['description'] = c.description
      if (c.license) entry['licenses'] = [{ license: { id: c.license } }]
      const id = purl(c)
      if (id) entry['purl'] = id
      entry['hashes'] = [{ alg: 'SHA-256', content: c.sha256 }]
      const references: { type: string; url: string }[] = []
      if (c.url) references.push({ type: 'distribution', url: c.url })
      if (c.homepage) references.push({ type: 'website', url: c.homepage })
      if (references.length > 0) entry['externalReferences'] = references
      entry['properties'] = [{ name: 'edgebundle:path', value: c.file }]
      return entry
    })
  const serial = uuidFrom(createHash('sha256').update(JSON.stringify([input.bundle, input.edgebundleVersion, components])).digest())
  const bom = {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${serial}`,
    version: 1,
    metadata: {
      tools: { components: [{ type: 'application', name: 'edgebundle', version: input.edgebundleVersion }] },
      component: { type: 'application', 'bom-ref': input.bundle, name: input.bundle, version: input.edgebundleVersion },
    },
    components,
  }
  return `${JSON.stringify(bom, null, 2)}\n`
}
