/**
 * The templates the renderers read through a TemplateSource (src/model/templates.ts);
 * src/io/templates.ts reads the package's templates/ folder.
 */

/** The templates the install scripts are rendered from, by name under templates/. */
export const SCRIPT_TEMPLATES = {
  installSh: 'install.sh.hbs',
  installPs1: 'install.ps1.hbs',
} as const
