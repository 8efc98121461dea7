/** Shared test helpers: the real catalog and templates, and one-call resolve/render for a raw request. */
import { loadCatalog } from '../src/catalog/load.js'
import type { Catalog } from '../src/catalog/schema.js'
import { fileTemplates } from '../src/io/templates.js'
import type { RenderedFile } from '../src/model/rendered-file.js'
import { renderNodeFiles } from '../src/render/files.js'
import { buildPlan } from '../src/plan/build-plan.js'
import { type RawRequest, validateRequest } from '../src/resolve/request.js'
import { type Resolved, resolveTarget } from '../src/resolve/resolve.js'
import type { Plan } from '../src/model/plan.js'

export const catalog: Catalog = loadCatalog()
export const templates = fileTemplates()

export function resolve(raw: RawRequest): Resolved {
  return resolveTarget(catalog, validateRequest(catalog, raw))
}

export interface Rendered {
  resolved: Resolved
  files: RenderedFile[]
  plan: Plan
  file: (dest: string) => string
}

export function render(raw: RawRequest): Rendered {
  const resolved = resolve(raw)
  const files = renderNodeFiles(resolved, templates)
  const plan = buildPlan(resolved, files)
  return {
    resolved,
    files,
    plan,
    file: (dest) => {
      const found = files.find((f) => f.dest === dest)
      if (!found) throw new Error(`no rendered file ${dest}; have: ${files.map((f) => f.dest).join(', ')}`)
      return found.content
    },
  }
}

export function hasFile(rendered: Rendered, dest: string): boolean {
  return rendered.files.some((f) => f.dest === dest)
}
