/**
 * Reading the JSON documents of a bundle being inspected: manifest.json (validated against the
 * BundleManifest contract) and plan.json (only what inspect shows: the installer checks the full plan).
 * Unknown extra keys are allowed in both, so a newer edgebundle's additions do not break an older verify.
 */
import { z } from 'zod'
import { type BundleManifest, MANIFEST_SCHEMA_VERSION } from '../model/manifest.js'
import { ARCHES, OSES, RUNTIMES } from '../model/target.js'

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits')

const manifestSchema = z.object({
  schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
  name: z.string().min(1),
  target: z.object({ os: z.enum(OSES), arch: z.enum(ARCHES), runtime: z.enum(RUNTIMES), kubeedge: z.string().min(1) }),
  options: z.record(z.string(), z.unknown()),
  components: z.array(z.object({ id: z.string(), version: z.string(), url: z.string(), sha256, file: z.string().min(1) })),
  // Required by the type; a reader accepts its absence (nothing to cross-check then) so that an
  // inspection of an odd bundle still shows everything else.
  files: z.array(z.object({ path: z.string().min(1), size: z.number().int().nonnegative(), mode: z.enum(['0644', '0755']), sha256 })).optional(),
  edgebundleVersion: z.string(),
  sourceDateEpoch: z.number().int().nonnegative(),
})

export type ReadManifest = Omit<BundleManifest, 'files'> & { files?: BundleManifest['files'] }

function describeIssues(error: z.ZodError): string {
  const issues = error.issues.slice(0, 5).map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(top)'}: ${issue.message}`)
  return issues.join('; ') + (error.issues.length > 5 ? `; and ${error.issues.length - 5} more` : '')
}

function parseJson(bytes: Buffer): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(bytes.toString('utf8')) as unknown }
  } catch (error) {
    return { error: `not valid JSON (${(error as Error).message})` }
  }
}

export function readManifest(bytes: Buffer): { manifest: ReadManifest } | { error: string } {
  const json = parseJson(bytes)
  if ('error' in json) return json
  const schemaVersion = (json.value as { schemaVersion?: unknown } | null)?.schemaVersion
  if (schemaVersion !== MANIFEST_SCHEMA_VERSION) {
    return { error: `schemaVersion ${JSON.stringify(schemaVersion)} is not ${MANIFEST_SCHEMA_VERSION}, the version this edgebundle reads` }
  }
  const parsed = manifestSchema.safeParse(json.value)
  if (!parsed.success) return { error: `not a valid manifest: ${describeIssues(parsed.error)}` }
  // `options` is checked to be an object only: inspect shows it, nothing acts on it (plan.json drives the install).
  return { manifest: parsed.data as unknown as ReadManifest }
}

const planSchema = z.object({
  schemaVersion: z.number().int(),
  name: z.string(),
  runtime: z.object({ name: z.string(), version: z.string(), source: z.string() }),
  kubeedge: z.object({ version: z.string() }),
  steps: z.array(z.object({ id: z.string(), kind: z.string(), description: z.string() })),
})

/** What inspect shows of plan.json. */
export interface PlanSummary {
  schemaVersion: number
  name: string
  runtime: { name: string; version: string; source: string }
  kubeedge: { version: string }
  steps: { id: string; kind: string; description: string }[]
}

export function readPlanSummary(bytes: Buffer): { plan: PlanSummary } | { error: string } {
  const json = parseJson(bytes)
  if ('error' in json) return json
  const parsed = planSchema.safeParse(json.value)
  if (!parsed.success) return { error: `not a plan: ${describeIssues(parsed.error)}` }
  const plan = parsed.data
  return {
    plan: {
      schemaVersion: plan.schemaVersion,
      name: plan.name,
      runtime: { name: plan.runtime.name, version: plan.runtime.version, source: plan.runtime.source },
      kubeedge: { version: plan.kubeedge.version },
      steps: plan.steps.map((step) => ({ id: step.id, kind: step.kind, description: step.description })),
    },
  }
}
