/**
 * One target → the rendered part of a bundle: plan.json, the install script and config/<node path>
 * files, exactly as a bundle holds them. Pure: the catalog and templates come in, file contents go out.
 */
import type { Catalog } from '../catalog/schema.js'
import { BUNDLE } from '../model/layout.js'
import type { Plan } from '../model/plan.js'
import { type BundleInputs, buildPlan } from '../plan/build-plan.js'
import type { ValidRequest } from '../resolve/request.js'
import { type Resolved, resolveTarget } from '../resolve/resolve.js'
import type { RenderedFile } from '../model/rendered-file.js'
import { renderNodeFiles } from './files.js'
import { renderInstallPs1 } from './script/powershell.js'
import { renderInstallSh } from './script/posix.js'
import type { TemplateSource } from '../model/templates.js'

export interface BundleFile {
  /** Bundle-relative path with / separators. */
  path: string
  content: string
  mode: '0644' | '0600' | '0755'
}

export interface RenderedBundle {
  resolved: Resolved
  plan: Plan
  nodeFiles: RenderedFile[]
  files: BundleFile[]
}

export function renderPlanJson(plan: Plan): string {
  return `${JSON.stringify(plan, null, 2)}\n`
}

export function renderBundle(catalog: Catalog, request: ValidRequest, templates: TemplateSource, inputs?: BundleInputs): RenderedBundle {
  return renderResolved(resolveTarget(catalog, request), templates, inputs)
}

/** renderBundle for a target already resolved (the build resolves it once, for its images too). */
export function renderResolved(resolved: Resolved, templates: TemplateSource, inputs?: BundleInputs): RenderedBundle {
  const nodeFiles = renderNodeFiles(resolved, templates)
  const plan = buildPlan(resolved, nodeFiles, inputs)
  const script: BundleFile =
    resolved.family === 'windows'
      ? { path: BUNDLE.installPs1, content: renderInstallPs1(plan, templates), mode: '0644' }
      : { path: BUNDLE.installSh, content: renderInstallSh(plan, templates), mode: '0755' }
  const files: BundleFile[] = [
    { path: BUNDLE.plan, content: renderPlanJson(plan), mode: '0644' },
    script,
    ...plan.files.map((entry, index) => ({ path: entry.source, content: nodeFiles[index]!.content, mode: entry.mode as BundleFile['mode'] })),
  ]
  return { resolved, plan, nodeFiles, files }
}
