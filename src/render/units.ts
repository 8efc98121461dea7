/** systemd unit files, rendered from templates/units/*.service.hbs (text, so Handlebars). */
import { describeHostile } from '../resolve/validate.js'
import { compileTemplate } from './handlebars.js'
import type { TemplateSource } from '../model/templates.js'

/** Joins an ExecStart command line. Values were validated upstream; refuse anything systemd would split or expand. */
export function execStartLine(argv: string[]): string {
  for (const arg of argv) {
    const problem = describeHostile(arg)
    if (problem || arg.includes('%')) throw new Error(`internal: unit argument ${JSON.stringify(arg)} ${problem ?? 'contains %'}`)
  }
  return argv.join(' ')
}

export function renderUnit(templates: TemplateSource, unit: string, data: { bundle: string; execStart: string[] }): string {
  return compileTemplate<{ bundle: string; execStart: string }>(templates(`units/${unit}.service.hbs`))({
    bundle: data.bundle,
    execStart: execStartLine(data.execStart),
  })
}
