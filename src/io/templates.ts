/** Reads Handlebars templates from templates/ (the I/O half of the renderers' TemplateSource). */
import { readFileSync } from 'node:fs'
import { join, normalize, sep } from 'node:path'
import { packageRoot } from '../catalog/load.js'
import type { TemplateSource } from '../render/templates.js'

export function fileTemplates(dir: string = join(packageRoot(), 'templates')): TemplateSource {
  const cache = new Map<string, string>()
  return (name) => {
    const path = normalize(join(dir, name))
    if (!path.startsWith(dir + sep)) throw new Error(`template name escapes templates/: ${name}`)
    let text = cache.get(path)
    if (text === undefined) {
      text = readFileSync(path, 'utf8')
      cache.set(path, text)
    }
    return text
  }
}
