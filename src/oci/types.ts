/**
 * The OCI / Docker image documents this code reads: media types, descriptors, indexes, manifests, configs.
 * Parsed with zod so a malformed or hostile document is refused with a precise message instead of
 * surfacing later as an undefined property. Unknown fields pass through: the specs allow extensions.
 */
import { z } from 'zod'

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const

export const INDEX_MEDIA_TYPES: readonly string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]

/** The Accept header for manifests, most specific first; schema 1 is deliberately absent (deprecated, unverifiable). */
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest].join(', ')

/** Annotation keys written into index.json so importers name the image. */
export const ANNOTATIONS = {
  /** OCI: the tag (or reference) of a manifest in a layout. */
  refName: 'org.opencontainers.image.ref.name',
  /** containerd's `ctr images import` uses this as the image name, unchanged. */
  containerdName: 'io.containerd.image.name',
} as const

/** OCI digest grammar (algorithm:encoded). Only sha256 is accepted for content: see parseDigest. */
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/

export const platformSchema = z.looseObject({
  architecture: z.string().min(1),
  os: z.string().min(1),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
})

export const descriptorSchema = z.looseObject({
  mediaType: z.string().min(1),
  digest: z.string().regex(DIGEST, 'not a digest'),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: platformSchema.optional(),
})
export type Descriptor = z.infer<typeof descriptorSchema>

export const indexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
})
export type ImageIndex = z.infer<typeof indexSchema>

export const manifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
})
export type ImageManifest = z.infer<typeof manifestSchema>

export const configSchema = z.looseObject({
  architecture: z.string().min(1),
  os: z.string().min(1),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
  rootfs: z.looseObject({ type: z.string(), diff_ids: z.array(z.string().regex(DIGEST, 'not a digest')) }),
})
export type ImageConfig = z.infer<typeof configSchema>

export const ociLayoutSchema = z.looseObject({ imageLayoutVersion: z.string() })

/** `docker save`'s manifest.json: one entry per image. */
export const dockerSaveManifestSchema = z.array(
  z.looseObject({
    Config: z.string().min(1),
    RepoTags: z.array(z.string()).nullable().optional(),
    Layers: z.array(z.string().min(1)),
  }),
)

/** A zod error as one readable line: "manifests.0.digest: not a digest". */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(document)'}: ${issue.message}`)
    .join('; ')
}
