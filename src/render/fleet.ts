/**
 * The ansible/ folder of a Linux bundle: playbooks that roll the bundle out to a fleet. The playbooks are
 * the same for every bundle (the archive's name is a variable they read), so they are carried verbatim:
 * their Jinja is Ansible's, not ours. The README and the example inventory name this bundle (Handlebars).
 * Pure: template text in, file contents out.
 */
import { BUNDLE } from '../model/layout.js'
import type { BundleFile } from './bundle.js'
import { compileTemplate } from './handlebars.js'
import type { TemplateSource } from '../model/templates.js'

/** Playbooks under templates/ansible/, copied as they are. */
export const FLEET_PLAYBOOKS = ['install.yml', 'rollback.yml', 'uninstall.yml'] as const

export interface FleetInput {
  /** The bundle's name, e.g. edgebundle-1.23-ubuntu-amd64-containerd. */
  name: string
}

export function renderFleetFiles(input: FleetInput, templates: TemplateSource): BundleFile[] {
  const file = (name: string, content: string): BundleFile => ({ path: `${BUNDLE.ansibleDir}/${name}`, content, mode: '0644' })
  const rendered = (name: string) => compileTemplate<FleetInput>(templates(`ansible/${name}.hbs`))({ name: input.name })
  return [
    ...FLEET_PLAYBOOKS.map((name) => file(name, templates(`ansible/${name}`))),
    file('inventory.example.ini', rendered('inventory.example.ini')),
    file('README.md', rendered('README.md')),
  ]
}
