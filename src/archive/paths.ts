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
