/**
 * Member names and symlink targets, resolved the one way every archive reader of edgebundle resolves them
 * (the installer's rules, image archives): as GNU tar strips and normalizes a name, and as a relative
 * link is followed from its own folder. Pure; Node built-ins only.
 */

/**
 * The path tar --strip-components=N gives: empty segments do not count, '.' segments do (GNU tar counts
 * them), and what is left loses its '.' segments. '' when nothing is left (strip 0: the name normalized).
 */
export function strippedName(name: string, strip: number): string {
  return name
    .split('/')
    .filter((part) => part !== '')
    .slice(strip)
    .filter((part) => part !== '.')
    .join('/')
}

/**
 * Where a relative symlink at `linkName` (a normalized member path) points, as a member path ('' for the
 * top of the tree), following its `..` from the link's own folder; null when it climbs above the top.
 * An absolute target is the caller's to refuse first.
 */
export function resolveLinkTarget(linkName: string, target: string): string | null {
  const parts = linkName.split('/').slice(0, -1)
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (parts.length === 0) return null
      parts.pop()
    } else parts.push(part)
  }
  return parts.join('/')
}

/** Whether a relative symlink target, followed from the link's folder, climbs above the top of the tree. */
export function climbsOut(linkName: string, target: string): boolean {
  return resolveLinkTarget(linkName, target) === null
}

/** What makes a name unsafe to use as a path under a folder, on Linux or Windows. */
export type PathHazard = 'nul' | 'backslash' | 'absolute' | 'drive-letter' | 'dot-dot'

/**
 * The first hazard of a member or listed name, in this order, or null: a NUL byte (C truncates there), a
 * backslash (a separator on Windows), an absolute path, a drive letter, a ".." segment. Every reader
 * refuses these; each words the refusal its own way and adds what its format needs besides.
 */
export function pathHazard(name: string): PathHazard | null {
  if (name.includes('\0')) return 'nul'
  if (name.includes('\\')) return 'backslash'
  if (name.startsWith('/')) return 'absolute'
  // "./C:/x" is C:/x once normalized.
  if (/^[A-Za-z]:/.test(strippedName(name, 0))) return 'drive-letter'
  if (name.split('/').includes('..')) return 'dot-dot'
  return null
}
