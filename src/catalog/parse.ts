/** Turns the text of bundles/*.yaml into a validated, cross-checked Catalog. Pure: the caller reads the files. */
import semver from 'semver'
import { parse as parseYaml } from 'yaml'
import type { z } from 'zod'
import { CatalogError } from '../model/errors.js'
import { RUNTIMES, type RuntimeName } from '../model/target.js'
import {
  type Catalog,
  type RuntimeEntry,
  componentsSchema,
  kubeedgeSchema,
  matrixSchema,
  platformsSchema,
  runtimeSchema,
} from './schema.js'

/** File names relative to bundles/, e.g. "platforms.yaml", "runtimes/containerd.yaml". */
export type CatalogFiles = Record<string, string>

export const CATALOG_FILES = {
  platforms: 'platforms.yaml',
  kubeedge: 'kubeedge.yaml',
  components: 'components.yaml',
  matrix: 'matrix.yaml',
  runtime: (name: RuntimeName) => `runtimes/${name}.yaml`,
} as const

export function parseCatalog(files: CatalogFiles): Catalog {
  const problems: string[] = []

  function read<S extends z.ZodType>(file: string, schema: S): z.infer<S> | undefined {
    const text = files[file]
    if (text === undefined) {
      problems.push(`${file}: missing`)
      return undefined
    }
    let data: unknown
    try {
      data = parseYaml(text, { prettyErrors: true, uniqueKeys: true })
    } catch (error) {
      problems.push(`${file}: not valid YAML: ${(error as Error).message.split('\n')[0]}`)
      return undefined
    }
    const result = schema.safeParse(data)
    if (!result.success) {
      for (const issue of result.error.issues) problems.push(`${file}: ${issue.path.join('.') || '(top)'}: ${issue.message}`)
      return undefined
    }
    return result.data
  }

  const platforms = read(CATALOG_FILES.platforms, platformsSchema)
  const kubeedge = read(CATALOG_FILES.kubeedge, kubeedgeSchema)
  const components = read(CATALOG_FILES.components, componentsSchema)?.components
  const matrix = read(CATALOG_FILES.matrix, matrixSchema)
  const runtimes: Partial<Record<RuntimeName, RuntimeEntry>> = {}
  for (const name of RUNTIMES) {
    const file = CATALOG_FILES.runtime(name)
    const entry = read(file, runtimeSchema)
    if (entry === undefined) continue
    if (entry.name !== name) problems.push(`${file}: name is "${entry.name}", expected "${name}"`)
    runtimes[name] = entry
  }

  if (problems.length > 0 || !platforms || !kubeedge || !components || !matrix) {
    throw new CatalogError('the catalog in bundles/ is invalid', problems)
  }
  const catalog: Catalog = { platforms, kubeedge, components, matrix, runtimes: runtimes as Record<RuntimeName, RuntimeEntry> }
  const crossProblems = crossCheck(catalog)
  if (crossProblems.length > 0) throw new CatalogError('the catalog in bundles/ is inconsistent', crossProblems)
  return catalog
}

/** References between files: every component and version named exists, defaults point at declared versions. */
function crossCheck(catalog: Catalog): string[] {
  const problems: string[] = []
  for (const name of RUNTIMES) {
    const runtime = catalog.runtimes[name]
    const file = CATALOG_FILES.runtime(name)
    const refs = [...runtime.components, ...Object.values(runtime.versions).flatMap((v) => v.components)]
    for (const ref of refs) {
      const component = catalog.components[ref.id]
      if (!component) {
        problems.push(`${file}: component "${ref.id}" is not declared in components.yaml`)
        continue
      }
      if (!component.versions[ref.version]) problems.push(`${file}: component ${ref.id} has no version ${ref.version} in components.yaml`)
      const families = ref.family ? [ref.family] : name === 'kata' || runtime.endpoints.windows ? ['linux', 'windows'] : ['linux']
      for (const family of families) {
        if (!component.install[family as 'linux' | 'windows'] && (family === 'linux' || runtime.endpoints.windows)) {
          problems.push(`${file}: component ${ref.id} has no install rule for ${family}`)
        }
      }
    }
    if (runtime.sources.allowed.includes('release') && Object.keys(runtime.versions).length === 0) {
      problems.push(`${file}: source "release" is allowed but no versions are declared`)
    }
    for (const rule of runtime.defaultVersion) {
      if (runtime.sources.default === 'release' && !runtime.versions[rule.version]) {
        problems.push(`${file}: defaultVersion ${rule.version} is not among versions`)
      }
    }
    for (const version of catalog.kubeedge.versions) {
      if (!runtime.defaultVersion.some((rule) => semver.satisfies(`${version}.0`, rule.kubeedge))) {
        problems.push(`${file}: no defaultVersion covers KubeEdge ${version}`)
      }
    }
    if (runtime.base && !catalog.runtimes[runtime.base]) problems.push(`${file}: base runtime ${runtime.base} is unknown`)
  }
  for (const [id, component] of Object.entries(catalog.components)) {
    for (const [version, entry] of Object.entries(component.versions)) {
      for (const key of Object.keys(entry.sha256)) {
        if (!entry.platforms.includes(key)) problems.push(`components.yaml: ${id} ${version}: sha256 for ${key}, which is not in platforms`)
      }
    }
  }
  return problems
}
