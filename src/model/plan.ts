/**
 * plan.json: the ordered install steps for one bundle, the single source of truth that the installer
 * executable and install.sh carry out (install.ps1 only verifies a Windows bundle and starts the executable).
 * Plain JSON data; bump PLAN_SCHEMA_VERSION on any incompatible change.
 *
 * The shape is written once, as the zod schema below: the types are inferred from it, the installer
 * executable checks plan.json with it (zod/mini, so the executable stays small) and rendering checks the
 * plan with it before writing install.sh (src/render/script/posix.ts adds only what is about sh quoting).
 *
 * Paths: `dest`/`path` fields are absolute node paths (POSIX for Linux bundles, C:\… for Windows);
 * `file`/`source` fields are relative to the bundle root (artifacts/…, config/…, packages/…).
 * Under `--root DIR` every node path is taken relative to DIR.
 */
import * as z from 'zod/mini'
import { ARCHES, CGROUP_DRIVERS, OSES, RUNTIME_SOURCES, RUNTIMES } from './target.js'

export const PLAN_SCHEMA_VERSION = 1

const SEVERITIES = ['error', 'warning'] as const
export type Severity = (typeof SEVERITIES)[number]

const text = z.string()
const texts = z.array(z.string())
const severity = z.enum(SEVERITIES)
// The values a script takes as one word or number; the planner never makes others (render tests each).
const mode = z.string().check(z.regex(/^[0-7]{3,4}$/, 'an octal file mode such as 0644'))
const strip = z.number().check(z.int(), z.minimum(0), z.maximum(16))
const port = z.number().check(z.int(), z.minimum(1), z.maximum(65535))

// Control characters (and the Unicode line breaks) never belong in a path or a name.
const CONTROL = /[\u0000-\u001f\u007f\u0085\u2028\u2029]/

/** A path relative to the bundle (or to an archive's top): forward slashes, no `.`/`..` parts, no leading `/` or `-`. */
export function isBundlePath(value: string): boolean {
  const parts = value.split('/')
  return !(
    value === '' ||
    CONTROL.test(value) ||
    value.includes('\\') ||
    value.startsWith('/') ||
    value.startsWith('-') ||
    parts.some((part) => part === '' || part === '.' || part === '..')
  )
}

// params.rule: the issue describes the value (see issueText).
const bundlePath = z.string().check(z.refine(isBundlePath, { error: 'a plain path inside the bundle (relative, / between parts, no . or .. part)', params: { rule: true } }))

const check = <K extends string, S extends z.core.$ZodLooseShape>(kind: K, shape: S) => z.object({ kind: z.literal(kind), severity, ...shape })

/** Node checks made before anything changes. Each kind is implemented by every plan consumer. */
export const checkSchema = z.discriminatedUnion('kind', [
  check('os-release', { ids: texts }),
  check('arch', { machines: texts }),
  check('root', {}),
  check('init-system', { expect: z.literal('systemd') }),
  check('cgroup', { driver: z.enum(CGROUP_DRIVERS) }),
  check('kernel-module', { module: text }),
  check('port-free', { port, reason: text }),
  check('command', { command: text, reason: text }),
  check('service-inactive', { service: text, reason: text }),
  check('runtime-absent', { runtime: text, socket: text, reason: text }),
  check('windows-feature', { feature: text }),
])

export type Check = z.output<typeof checkSchema>
export type CheckKind = Check['kind']
export const CHECK_KINDS: readonly CheckKind[] = checkSchema.def.options.map((option) => option.def.shape.kind.def.values[0]!)

/**
 * `id` is unique within the plan and stable across builds: the journal and logs refer to it.
 */
const step = <K extends string, S extends z.core.$ZodLooseShape>(kind: K, shape: S) =>
  z.object({ kind: z.literal(kind), id: z.string().check(z.minLength(1)), description: text, ...shape })

export const stepSchema = z.discriminatedUnion('kind', [
  step('preflight', { checks: z.array(checkSchema) }),
  step('install-archive', { component: text, file: bundlePath, format: z.enum(['tar.gz', 'tar.zst', 'zip']), dest: text, strip }),
  step('install-binary', { component: text, file: bundlePath, dest: text }),
  step('run-upstream-installer', {
    component: text,
    file: bundlePath,
    format: z.literal('tar.gz'),
    subdir: bundlePath,
    script: bundlePath,
    interpreter: z.enum(['bash', 'sh']),
  }),
  step('install-packages', { manager: z.enum(['dpkg', 'rpm']), files: z.array(bundlePath).check(z.minLength(1)) }),
  /**
   * merge: the node's existing file is merged with this one rather than replaced (where the installer can:
   * the executable does; install.sh replaces it, keeping the backup).
   */
  step('write-file', { source: bundlePath, dest: text, mode, merge: z.optional(z.enum(['json', 'toml'])) }),
  step('symlink', { path: text, target: text }),
  step('load-kernel-modules', { modules: texts }),
  step('apply-sysctl', { file: text }),
  /** restartWhenChanged: node paths (files or folders); a change at or under any of them restarts the service. */
  step('enable-service', { service: text, restartWhenChanged: texts }),
  step('register-windows-service', { service: text, binary: text, args: texts, restartWhenChanged: texts }),
  step('run-container', {
    engine: z.literal('docker'),
    name: text,
    image: text,
    /** false: run to completion first (node preparation); true: keep running, restarted by the engine. */
    detach: z.boolean(),
    privileged: z.boolean(),
    hostNamespaces: z.boolean(),
    mounts: z.array(z.object({ source: text, target: text, readOnly: z.boolean(), propagation: z.optional(z.literal('rshared')) })),
    env: z.record(z.string(), z.string()),
    command: texts,
    createDirs: texts,
  }),
  /**
   * Loads a bundled image into the runtime's own store, so the node never pulls it. `image` is the name every
   * config uses; `tool` is the runtime's loader; `address` is the runtime's socket or pipe for that tool.
   */
  step('import-image', { file: bundlePath, image: text, tool: z.enum(['ctr', 'docker', 'isula', 'podman']), address: text }),
  step('check-runtime', { endpoint: text, sandboxImage: text, crictl: z.boolean() }),
])

export type Step = z.output<typeof stepSchema>
export type StepKind = Step['kind']
export type StepOf<K extends StepKind> = Extract<Step, { kind: K }>
export const STEP_KINDS: readonly StepKind[] = stepSchema.def.options.map((option) => option.def.shape.kind.def.values[0]!)

const runtimeName = z.enum(RUNTIMES)

export const planSchema = z
  .object({
    schemaVersion: z.literal(PLAN_SCHEMA_VERSION),
    name: text,
    target: z.object({ os: z.enum(OSES), arch: z.enum(ARCHES), runtime: runtimeName, kubeedge: text }),
    // TargetOptions (target.ts); a compile-time check below keeps the two the same.
    options: z.object({
      cgroupDriver: z.enum(CGROUP_DRIVERS),
      pauseImage: text,
      cniSubnet: text,
      runtimeVersion: z.optional(text),
      runtimeSource: z.optional(z.enum(RUNTIME_SOURCES)),
      registryMirrors: z.array(z.object({ registry: text, endpoint: text })),
      packages: texts,
      imageRepository: z.optional(text),
      vmRuntimeImage: z.optional(text),
    }),
    runtime: z.object({
      name: runtimeName,
      version: text,
      source: z.enum(RUNTIME_SOURCES),
      endpoint: text,
      base: z.optional(z.object({ name: runtimeName, version: text })),
    }),
    kubeedge: z.object({
      version: text,
      /** The released patch (e.g. "1.23.1") keadm join is pinned to with --kubeedge-version=v<release>. */
      release: text,
      /** The images keadm join asks the runtime for, as keadm names them (before docker.io/ normalization). */
      images: texts,
      /** The keadm join flags this bundle needs, without --cloudcore-ipport and --token (given at install time). */
      keadmJoinArgs: texts,
      /** The modules.edged fragment of edgecore.yaml for binary installs. */
      edged: z.record(z.string(), z.unknown()),
      /**
       * Keys keadm join cannot set at this version (the sandbox image before keadm has --set): after a
       * successful join the installer writes each value at its key path into the edgecore.yaml keadm wrote
       * (the rest of the file kept), then restarts edgecore. null (or absent, in older plans): nothing to write.
       */
      edgecoreConfig: z.optional(z.nullable(z.object({ path: text, set: z.array(z.object({ key: texts, value: text })) }))),
      /** Node path of the keadm the bundle installs, run by that path (keadm.exe on Windows, not on PATH). Absent: keadm from PATH. */
      keadm: z.optional(text),
      /**
       * Release files keadm join reads instead of downloading them (Windows: the edgecore tarball and its
       * checksum file in C:\etc\kubeedge\): node paths, and the digest keadm compares the checksum file with.
       */
      joinFiles: z.optional(z.array(z.object({ path: text, checksumPath: text, algorithm: z.literal('sha512') }))),
    }),
    components: z.array(z.object({ id: text, version: text, file: text, url: text, sha256: z.nullable(text) })),
    /** source: bundle-relative (config/etc/containerd/config.toml); dest: the node path (/etc/containerd/config.toml). */
    files: z.array(z.object({ source: text, dest: text, mode })),
    warnings: texts,
    steps: z.array(stepSchema),
  })
  .check(
    z.superRefine((plan, context) => {
      const seen = new Set<string>()
      plan.steps.forEach((step, index) => {
        if (seen.has(step.id)) context.addIssue({ code: 'custom', path: ['steps', index, 'id'], message: `id ${step.id} is used twice`, input: step.id })
        seen.add(step.id)
        // Neither install.sh nor the Linux executable can register a Windows service: refused before any step.
        if (step.kind === 'register-windows-service' && plan.target.os !== 'windows') {
          context.addIssue({ code: 'custom', path: ['steps', index, 'kind'], message: `register-windows-service runs on Windows only; this plan is for ${plan.target.os}`, input: step.kind })
        }
      })
    }),
  )

export type Plan = z.output<typeof planSchema>
export type PlanComponent = Plan['components'][number]
export type PlanFile = Plan['files'][number]

// --------------------------------------------------------------------------- what is wrong with a plan

/** One way a value differs from the schema: where (steps[3] (write-file)), and what is wrong there. */
export interface PlanIssue {
  /** The step's index when the issue is inside a step. */
  step?: number
  where: string
  text: string
}

const show = (value: unknown): string => (typeof value === 'string' ? JSON.stringify(value) : value === undefined ? 'nothing' : JSON.stringify(value) ?? String(value))

const ARTICLE: Record<string, string> = { string: 'a string', number: 'a number', boolean: 'true or false', array: 'a list', object: 'an object', int: 'an integer', record: 'an object' }

/** The value at `path` in `data`, for naming the kind of the step or check an issue is in. */
function at(data: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>((value, key) => (value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined), data)
}

/** Words for one zod issue: the field it names and what the field allows. */
function issueText(issue: z.core.$ZodIssue, field: string): string {
  const input = (issue as { input?: unknown }).input
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return `${field} is missing (it must be ${ARTICLE[issue.expected] ?? issue.expected})`
      return `${field} is not ${ARTICLE[issue.expected] ?? issue.expected} (it is ${show(input)})`
    case 'invalid_value':
      return `${field} is ${show(input)}; allowed: ${issue.values.map((value) => show(value)).join(', ')}`
    case 'too_small':
      if (issue.origin === 'string') return `${field} is empty`
      if (issue.origin === 'array') return `${field} is an empty list; it needs at least ${issue.minimum}`
      return `${field} is ${show(input)}; the least allowed is ${issue.minimum}`
    case 'too_big':
      return `${field} is ${show(input)}; the most allowed is ${issue.maximum}`
    case 'invalid_format':
      return `${field} ${show(input)} is not ${issue.message === 'Invalid input' ? `in the form ${issue.format}` : issue.message}`
    case 'custom':
      return (issue as { params?: { rule?: boolean } }).params?.rule === true ? `${field} ${show(input)} is not ${issue.message}` : issue.message
    default:
      return `${field}: ${issue.message}`
  }
}

/**
 * Everything `data` does wrong against the plan schema, in words naming the field and what it allows
 * (zod/mini carries no messages of its own: they are made here). Empty when `data` is a plan.
 */
export function planIssues(data: unknown): PlanIssue[] {
  const result = z.safeParse(planSchema, data, { reportInput: true })
  if (result.success) return []
  return result.error.issues.map((issue) => {
    const path = issue.path
    const discriminator = issue.code === 'invalid_union' && (issue as { discriminator?: string }).discriminator !== undefined
    // The object the issue is in, and the field (a failed discriminator's path ends in `kind` too).
    const inside = path.slice(0, -1)
    const field = String(path.at(-1) ?? '(the plan)')
    const named = inside.map((key, index) => (typeof key === 'number' ? `[${key}]` : index === 0 ? String(key) : `.${String(key)}`)).join('')
    let where = named === '' ? 'plan.json' : named
    const kind = at(data, [...inside, 'kind'])
    const inStep = inside[0] === 'steps' && typeof inside[1] === 'number'
    if (discriminator) {
      const options = (issue as { options?: unknown[] }).options ?? []
      const what = inside.includes('checks') ? 'check' : 'kind'
      return { ...(inStep ? { step: inside[1] as number } : {}), where, text: `unknown ${what} ${show(kind)}; allowed: ${options.join(', ')}` }
    }
    if (typeof kind === 'string' && inside.length > 0) where = `${where} (${kind})`
    return { ...(inStep ? { step: inside[1] as number } : {}), where, text: issueText(issue, field) }
  })
}

export const formatPlanIssue = (issue: PlanIssue): string => `${issue.where}: ${issue.text}`

// The options schema and TargetOptions (what the planner builds from the user's flags) stay one shape.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const optionsAreTargetOptions: Same<Plan['options'], import('./target.js').TargetOptions> & Same<Plan['target'], import('./target.js').Target> = true
void optionsAreTargetOptions
