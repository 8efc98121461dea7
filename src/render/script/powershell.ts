/**
 * Plan → install.ps1, the launcher of Windows bundles (Windows PowerShell 5.1 and PowerShell 7): it checks
 * every file against SHA256SUMS with Get-FileHash, then starts install.exe with the same arguments and
 * passes its exit code through. Every step is install.exe's (src/installer): Node 22 runs on every
 * Windows version KubeEdge supports, so Windows needs no second executor. Pure given its TemplateSource.
 */
import { PLAN_SCHEMA_VERSION, type Plan } from '../../model/plan.js'
import { compileTemplate } from '../handlebars.js'
import type { TemplateSource } from '../../model/templates.js'
import { SCRIPT_TEMPLATES } from '../templates.js'
import { assertPlanShape, headerFacts } from './common.js'

export interface PowerShellView {
  name: string
  kubeedgeVersion: string
  facts: { label: string; value: string }[]
}

export function renderInstallPs1(plan: Plan, templates: TemplateSource): string {
  if (plan.schemaVersion !== PLAN_SCHEMA_VERSION) throw new Error(`install.ps1 renders plan schema ${PLAN_SCHEMA_VERSION}, not ${plan.schemaVersion}`)
  if (plan.target.os !== 'windows') throw new Error(`${plan.name} is a Linux bundle: it gets install.sh, not install.ps1`)
  // install.exe refuses a plan of another shape; so does the build, before it ships one.
  assertPlanShape(plan)
  const view: PowerShellView = {
    name: plan.name,
    kubeedgeVersion: plan.kubeedge.version,
    facts: headerFacts(plan).map((fact) => ({ label: fact.label.padEnd(14), value: fact.value })),
  }
  // A byte order mark makes Windows PowerShell 5.1 read the file as UTF-8. Without it, it reads the system ANSI
  // code page, where a byte of a UTF-8 sequence can decode to U+2019, a quote that ends a literal early.
  return UTF8_BOM + compileTemplate<PowerShellView>(templates(SCRIPT_TEMPLATES.installPs1))(view)
}

export const UTF8_BOM = '\uFEFF'
