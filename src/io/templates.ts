/**
 * Reads Handlebars templates from templates/ (the I/O half of the renderers' TemplateSource). In the
 * builder's single executable the templates embedded at build time stand in for the folder.
 */
import { readFileSync } from 'node:fs'
import { join, normalize, sep } from 'node:path'
import { packageRoot } from './package-root.js'
import type { TemplateSource } from '../model/templates.js'
import { embeddedFiles } from './embedded.js'

export function fileTemplates(dir?: string): TemplateSource {
  if (dir === undefined) {
    const embedded = embeddedFiles('templates')
    if (embedded !== null) {
      return (name) => {
        const text = Object.hasOwn(embedded, name) ? embedded[name] : undefined
        if (text === undefined) throw new Error(`template ${name} is not embedded in this executable`)
        return text
      }
    }
    dir = join(packageRoot(), 'templates')
  }
  const root = dir
  const cache = new Map<string, string>()
  return (name) => {
    const path = normalize(join(root, name))
    if (!path.startsWith(root + sep)) throw new Error(`template name escapes templates/: ${name}`)
    let text = cache.get(path)
    if (text === undefined) {
      text = readFileSync(path, 'utf8')
      cache.set(path, text)
    }
    return text
  }
}
