/**
 * The schema of bundles/*.yaml. Loading validates against it; scripts/gen-schema.ts turns it into
 * JSON Schema files under bundles/schema/ for editors.
 */
import semver from 'semver'
import { z } from 'zod'
import { ARCHES, OSES, OS_FAMILIES, RUNTIMES, RUNTIME_SOURCES } from '../model/target.js'

const versionRange = z
  .string()
  .refine((value) => semver.validRange(value) !== null, { message: 'not a version range (e.g. ">=1.15", "<2.0.0", "*")' })
  .describe('A version range in node-semver syntax; "1.15" means 1.15.0.')

const exactVersion = z
  .string()
  .regex(/^\d+\.\d+(\.\d+)?$/, 'expected a version like 1.23 or 2.3.4')

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits')
const platformKey = z.string().regex(/^(linux|windows)\/(amd64|arm64|arm)$/, 'expected <os-family>/<arch>, e.g. linux/arm64')
const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)])

export const osEntrySchema = z.strictObject({
  displayName: z.string(),
  family: z.enum(OS_FAMILIES),
  osReleaseIds: z.array(z.string().regex(/^[A-Za-z0-9._-]+$/)),
  packageFormat: z.enum(['deb', 'rpm', 'none']),
})

export const platformsSchema = z.strictObject({
  oses: z.strictObject(Object.fromEntries(OSES.map((os) => [os, osEntrySchema])) as Record<(typeof OSES)[number], typeof osEntrySchema>),
  arches: z.strictObject(
    Object.fromEntries(
      ARCHES.map((arch) => [
        arch,
        z.strictObject({ displayName: z.string(), unameMachine: z.array(z.string()).min(1), windowsArch: z.string() }),
      ]),
    ) as Record<(typeof ARCHES)[number], z.ZodObject<{ displayName: z.ZodString; unameMachine: z.ZodArray<z.ZodString>; windowsArch: z.ZodString }>>,
  ),
})

export const FEATURE_NAMES = [
  'dockershim',
  'edgedRemoteRuntimeFields',
  'edgedTailoredEndpoints',
  'keadmRuntimeTypeFlag',
  'keadmSetFlag',
  'criV1Only',
  'windowsEdgeNodes',
] as const
export type FeatureName = (typeof FEATURE_NAMES)[number]

const rangedValue = <T extends z.ZodType>(value: T) => z.strictObject({ range: versionRange, value })

export const kubeedgeSchema = z
  .strictObject({
    versions: z.array(exactVersion).min(1),
    default: exactVersion,
    /** minor → the released patch it is pinned to ("1.23" → "1.23.1"). */
    releases: z.record(exactVersion, z.string().regex(/^\d+\.\d+\.\d+$/, 'expected a released patch like 1.23.1')),
    components: z
      .array(
        z.strictObject({
          id: z.string().regex(/^[a-z0-9-]+$/),
          family: z.enum(OS_FAMILIES).optional().describe('Only on this OS family.'),
          range: versionRange,
          why: z.string().min(1),
        }),
      )
      .default([])
      .describe('KubeEdge release assets a bundle carries, at the pinned release (bundles/components.yaml).'),
    joinImages: z
      .array(
        z.strictObject({
          image: z.string().regex(/^[a-z0-9][a-z0-9._/-]*(:[\w][\w.-]*)?$/, 'expected repository[:tag]'),
          range: versionRange,
          family: z.enum(OS_FAMILIES).optional().describe('Only on this OS family (keadm join on Windows pulls no image).'),
          why: z.string().min(1),
        }),
      )
      .min(1)
      .describe('Images keadm join asks the runtime for; an image without a tag gets v<release>.'),
    features: z.strictObject(
      Object.fromEntries(FEATURE_NAMES.map((name) => [name, z.strictObject({ range: versionRange, why: z.string().min(1) })])) as Record<
        FeatureName,
        z.ZodObject<{ range: typeof versionRange; why: z.ZodString }>
      >,
    ),
    defaults: z.strictObject({ podSandboxImage: z.array(rangedValue(z.string())).min(1) }),
  })
  .refine((k) => k.versions.includes(k.default), { message: 'default must be one of versions', path: ['default'] })
  .refine((k) => k.versions.every((minor) => k.releases[minor]?.startsWith(`${minor}.`)), {
    message: 'every version needs a release of that minor (e.g. "1.23": "1.23.1")',
    path: ['releases'],
  })

const installSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('archive'),
    dest: z.string().min(1),
    strip: z.number().int().min(0).max(3).default(0),
    watch: z.string().min(1).optional().describe('Where the archive lands when dest is wide (e.g. / for opt/kata/...): changes there restart services.'),
  }),
  z.strictObject({
    kind: z.literal('binary'),
    dest: z.string().min(1).describe('{file} is the asset file name.'),
    withChecksumFile: z
      .boolean()
      .optional()
      .describe("Also place upstream's checksum file (as published) beside dest, where a tool reads it (keadm on Windows)."),
  }),
  z.strictObject({
    kind: z.literal('upstream-installer'),
    subdir: z.string().regex(/^[A-Za-z0-9._-]+$/),
    script: z.string().regex(/^[A-Za-z0-9._-]+$/),
    interpreter: z.enum(['bash', 'sh']),
  }),
])
export type ComponentInstall = z.infer<typeof installSchema>

export const componentSchema = z.strictObject({
  description: z.string(),
  homepage: z.url(),
  license: z.string(),
  url: z.string().startsWith('https://').describe('Download URL pattern with {version}, {os}, {arch}.'),
  checksumUrl: z.string().optional().describe('Where upstream publishes the checksum when none is pinned; {url} is the asset URL.'),
  checksumAlgorithm: z
    .enum(['sha256', 'sha512'])
    .default('sha256')
    .describe('What the checksumUrl file holds (KubeEdge publishes SHA-512); the bundle itself is always SHA-256 (SHA256SUMS).'),
  format: z.enum(['tar.gz', 'tar.zst', 'zip', 'binary']),
  archNames: z.partialRecord(z.enum(ARCHES), z.string()).optional(),
  install: z.strictObject({ linux: installSchema.optional(), windows: installSchema.optional() }),
  versions: z.record(
    exactVersion,
    z.strictObject({
      sha256: z.partialRecord(platformKey, sha256),
      platforms: z.array(platformKey).min(1),
    }),
  ),
})
export const componentsSchema = z.strictObject({ components: z.record(z.string().regex(/^[a-z0-9-]+$/), componentSchema) })

const componentRef = z.strictObject({
  id: z.string(),
  version: exactVersion,
  family: z.enum(OS_FAMILIES).optional().describe('Only for this OS family.'),
  kubeedge: versionRange.optional().describe('Only for these KubeEdge versions.'),
  optional: z.boolean().optional().describe('Skipped with a warning when the target platform has no build.'),
})
export type ComponentRef = z.infer<typeof componentRef>

export const runtimeSchema = z
  .strictObject({
    name: z.enum(RUNTIMES),
    displayName: z.string(),
    homepage: z.url(),
    base: z.enum(RUNTIMES).optional().describe('Another runtime this one runs on (kata on containerd).'),
    endpoints: z.strictObject({
      linux: z.string().startsWith('unix:///'),
      'linux-dockershim': z.string().startsWith('unix:///').optional(),
      windows: z.string().startsWith('npipe://').optional(),
    }),
    sources: z.strictObject({ default: z.enum(RUNTIME_SOURCES), allowed: z.array(z.enum(RUNTIME_SOURCES)).min(1) }),
    services: z.strictObject({ linux: z.array(z.string()), windows: z.array(z.string()).optional() }),
    versions: z.record(exactVersion, z.strictObject({ components: z.array(componentRef) })),
    components: z.array(componentRef),
    defaultVersion: z.array(z.strictObject({ kubeedge: versionRange, version: exactVersion })).min(1),
    constraints: z.array(z.strictObject({ kubeedge: versionRange.optional(), requires: versionRange, reason: z.string().min(1) })),
    choices: z.record(
      z.string(),
      z.array(z.strictObject({ range: versionRange, value: z.union([z.string(), z.number(), z.boolean()]), of: z.enum(RUNTIMES).optional() })),
    ),
  })
  .refine((r) => r.sources.allowed.includes(r.sources.default), { message: 'sources.default must be in sources.allowed', path: ['sources'] })
export type RuntimeEntry = z.infer<typeof runtimeSchema>

export const matrixSchema = z.strictObject({
  unsupported: z.array(
    z.strictObject({
      when: z
        .strictObject({
          os: oneOrMany(z.enum(OSES)).optional(),
          arch: oneOrMany(z.enum(ARCHES)).optional(),
          runtime: oneOrMany(z.enum(RUNTIMES)).optional(),
          kubeedge: versionRange.optional(),
          source: oneOrMany(z.enum(RUNTIME_SOURCES)).optional(),
        })
        .refine((w) => Object.keys(w).length > 0, { message: 'a rule must name at least one field' }),
      reason: z.string().min(1).max(200),
    }),
  ),
})

export type Platforms = z.infer<typeof platformsSchema>
export type KubeEdgeCatalog = z.infer<typeof kubeedgeSchema>
export type ComponentEntry = z.infer<typeof componentSchema>
export type Matrix = z.infer<typeof matrixSchema>
export type UnsupportedRule = Matrix['unsupported'][number]

/** The whole of bundles/, validated and cross-checked. */
export interface Catalog {
  platforms: Platforms
  kubeedge: KubeEdgeCatalog
  components: Record<string, ComponentEntry>
  runtimes: Record<(typeof RUNTIMES)[number], RuntimeEntry>
  matrix: Matrix
}
