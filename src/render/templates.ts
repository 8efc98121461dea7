/**
 * Where the renderers get their template text: a TemplateSource (name under templates/ → text), injected so
 * the core does no I/O. src/io/templates.ts reads the package's templates/ folder.
 */

/** Reads a template by its path under templates/, e.g. "install.sh.hbs". */
export type TemplateSource = (name: string) => string

/** The templates the install scripts are rendered from, by name under templates/. */
export const SCRIPT_TEMPLATES = {
  installSh: 'install.sh.hbs',
  installPs1: 'install.ps1.hbs',
} as const
