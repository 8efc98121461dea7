/** systemd unit files, rendered from templates/units/*.service.hbs (text, so Handlebars). */
import Handlebars from 'handlebars'
import { describeHostile } from '../resolve/validate.js'

/** Reads a template by its path under templates/, e.g. "units/containerd.service.hbs". Injected: the core does no I/O. */
export type TemplateSource = (name: string) => string

/** Joins an ExecStart command line. Values were validated upstream; refuse anything systemd would split or expand. */
export function execStartLine(argv: string[]): string {
  for (const arg of argv) {
    const problem = describeHostile(arg)
    if (problem || arg.includes('%')) throw new Error(`internal: unit argument ${JSON.stringify(arg)} ${problem ?? 'contains %'}`)
  }
  return argv.join(' ')
}

export function renderUnit(templates: TemplateSource, unit: string, data: { bundle: string; execStart: string[] }): string {
  const template = Handlebars.compile(templates(`units/${unit}.service.hbs`), { noEscape: true, strict: true })
  return template({ bundle: data.bundle, execStart: execStartLine(data.execStart) })
}
