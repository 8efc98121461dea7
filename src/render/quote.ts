/**
 * Quoting for values that reach a generated script. Every plan value that the sh or ps1 renderers emit goes
 * through one of these: the planner validates values, and quoting makes even a value that slipped through
 * inert (no expansion, no command substitution, no word splitting).
 */

function refuseNul(value: string, what: string): void {
  // NUL cannot be part of a POSIX argument and truncates PowerShell strings handed to native commands.
  if (value.includes('\u0000')) throw new Error(`${what}: value contains a NUL character: ${JSON.stringify(value)}`)
}

/**
 * A POSIX sh word for `value`: single-quoted, each `'` closed, given as `"'"` and reopened, so `it's` becomes
 * `'it'"'"'s'`. Nothing inside single quotes is special to sh, newlines included.
 */
export function shQuote(value: string): string {
  refuseNul(value, 'shQuote')
  return `'${value.replace(/'/g, `'"'"'`)}'`
}

/** Like shQuote, but leaves words made only of harmless characters bare: for commands shown to people. */
export function shWord(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : shQuote(value)
}

/**
 * A PowerShell single-quoted (verbatim) string literal. PowerShell treats the typographic quotes U+2018..U+201B
 * as single quotes too, so each of them is doubled along with `'`, as its own
 * CodeGeneration.EscapeSingleQuotedStringContent does. Nothing else is special inside single quotes.
 */
export function psQuote(value: string): string {
  refuseNul(value, 'psQuote')
  return `'${value.replace(/['\u2018\u2019\u201a\u201b]/g, (quote) => quote + quote)}'`
}

/**
 * Text safe to place after `#` in a sh or PowerShell comment: line breaks (including the Unicode ones some
 * parsers honour) and other control characters become spaces, so a value can never end the comment.
 */
export function commentText(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, ' ')
}
