/**
 * The one Handlebars instance that renders text templates (scripts, units, README). Strict: a missing field is
 * an error, not an empty string. No HTML escaping (the output is not HTML); instead every value that lands in a
 * script goes through a quoting helper, and templates use only the helpers registered here.
 */
import Handlebars from 'handlebars'
import { commentText, psQuote, shQuote } from './quote.js'

const instance = Handlebars.create()

function text(helper: string, value: unknown): string {
  // Numbers and booleans must be made strings by the caller on purpose: a helper never guesses a format.
  if (typeof value !== 'string') throw new Error(`handlebars helper ${helper}: expected a string, got ${typeof value}`)
  return value
}

const HELPERS = {
  /** {{sh value}}: a single-quoted POSIX sh word. */
  sh: (value: unknown) => shQuote(text('sh', value)),
  /** {{ps value}}: a single-quoted PowerShell string literal. */
  ps: (value: unknown) => psQuote(text('ps', value)),
  /** {{comment value}}: one line of text safe inside a # comment (sh and PowerShell). */
  comment: (value: unknown) => commentText(text('comment', value)),
} as const

for (const [name, helper] of Object.entries(HELPERS)) instance.registerHelper(name, helper)

const knownHelpers = Object.fromEntries(Object.keys(HELPERS).map((name) => [name, true]))

export type Render<T> = (data: T) => string

const cache = new Map<string, Render<never>>()

/** Compiles template text once (cached by text); the result throws on any field the data lacks. */
export function compileTemplate<T>(source: string): Render<T> {
  let render = cache.get(source) as Render<T> | undefined
  if (!render) {
    // knownHelpersOnly: a mistyped helper or an unregistered one fails at compile time instead of rendering.
    const delegate = instance.compile<T>(source, { strict: true, noEscape: true, knownHelpers, knownHelpersOnly: true })
    render = (data: T) => delegate(data)
    cache.set(source, render as Render<never>)
  }
  return render
}
