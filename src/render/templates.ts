/** Reads the Handlebars templates from templates/ (the I/O half; renderers take the text as an argument). */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../catalog/load.js'

/** The template texts the script renderers need. */
export interface Templates {
  installSh: string
  installPs1: string
}

export const TEMPLATE_FILES: Record<keyof Templates, string> = {
  installSh: 'install.sh.hbs',
  installPs1: 'install.ps1.hbs',
}

export function loadTemplates(dir: string = join(packageRoot(), 'templates')): Templates {
  const read = (name: string) => readFileSync(join(dir, name), 'utf8')
  return { installSh: read(TEMPLATE_FILES.installSh), installPs1: read(TEMPLATE_FILES.installPs1) }
}
