/**
 * Where the renderers get their template text: a TemplateSource (name under templates/ → text), injected so
 * the pure renderers do no I/O. A type only, so the reader (src/io/templates.ts) and the renderers
 * (src/render) share it without either importing the other.
 */

/** Reads a template by its path under templates/, e.g. "install.sh.hbs". */
export type TemplateSource = (name: string) => string
