/**
 * The rules a member must pass before anything is written: install.sh's check_archive, member by member,
 * plus the tree each member builds (which needs the whole archive: a member reached through a symlink
 * may come before the symlink).
 */
import { type PathHazard, climbsOut, pathHazard, strippedName } from '../../archive/paths.js'
import { UnsafeArchiveError, shown } from './errors.js'
import type { TarHeader } from '../../archive/tar.js'

export interface ArchiveMember {
  /** After strip, normalized, '/'-separated, never empty. */
  name: string
  type: 'file' | 'dir' | 'symlink' | 'hardlink'
  /** Permission bits only (mode & 0o777). */
  mode: number
  /** Data bytes (0 except for files). */
  size: number
  /** A symlink's target as written; a hard link's target normalized and stripped like a name. */
  linkTarget?: string
}

const TYPE_NAMES: Record<string, string> = {
  '3': 'character device',
  '4': 'block device',
  '6': 'fifo',
  '7': 'contiguous file',
  D: 'GNU dump directory',
  M: 'multi-volume continuation',
  N: 'GNU old long name',
  S: 'GNU sparse file',
  V: 'volume label',
}

function typeName(typeflag: string): string {
  const code = typeflag.charCodeAt(0)
  const flag = code > 0x20 && code < 0x7f ? typeflag : `\\x${code.toString(16).padStart(2, '0')}`
  return TYPE_NAMES[typeflag] ?? `special file (type ${flag})`
}

/** What no name or link target of ours holds: a backslash, control characters, non-ASCII characters. */
function characterProblem(text: string): string | null {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 0x5c) return 'has a backslash'
    if (code < 0x20 || code === 0x7f) return 'has a control character'
    if (code > 0x7f) return 'has a non-ASCII character'
  }
  return null
}

const HAZARD_PROBLEMS: Record<PathHazard, string> = {
  nul: 'has a control character',
  backslash: 'has a backslash',
  absolute: 'is absolute',
  'drive-letter': 'starts with a drive letter',
  'dot-dot': 'contains ..',
}

/** Why a name (or hard link target) is refused as written, or null: the hazards every reader refuses, then characterProblem. */
function nameProblem(name: string): string | null {
  if (name === '') return 'is empty'
  const hazard = pathHazard(name)
  return hazard === null ? characterProblem(name) : HAZARD_PROBLEMS[hazard]
}

/**
 * The member a header describes, or null when stripping leaves no name (tar skips it). Throws
 * UnsafeArchiveError for what no archive of ours may hold, whatever else is in it.
 */
export function decodeMember(file: string, header: TarHeader, strip: number): ArchiveMember | null {
  const refuse = (reason: string): never => {
    throw new UnsafeArchiveError(file, reason, header.name)
  }
  const raw = header.name
  let type: ArchiveMember['type']
  switch (header.typeflag) {
    case '0':
    case '\0':
      if (header.sparse) refuse(`member ${shown(raw)} is a sparse file, which the installer does not unpack`)
      // A trailing slash on a regular member means a folder (old tars), as GNU tar reads it.
      type = raw.endsWith('/') ? 'dir' : 'file'
      break
    case '1':
      type = 'hardlink'
      break
    case '2':
      type = 'symlink'
      break
    case '5':
      type = 'dir'
      break
    default:
      return refuse(`member ${shown(raw)} is a ${typeName(header.typeflag)}; only files, directories and links are allowed`)
  }
  const problem = nameProblem(raw)
  if (problem !== null) refuse(raw === '' ? 'a member has an empty name' : `member ${shown(raw)} ${problem}`)
  const name = strippedName(raw, strip)
  if (name === '') return null
  const member: ArchiveMember = { name, type, mode: header.mode & 0o777, size: type === 'file' ? header.size : 0 }
  const target = header.linkName
  if (type === 'symlink') {
    const arrow = `symlink ${shown(raw)} -> ${shown(target)}`
    if (target === '') refuse(`symlink ${shown(raw)} has an empty target`)
    // A relative target may climb with "..", as long as it stays inside (climbsOut, below).
    const targetProblem = characterProblem(target)
    if (targetProblem !== null) refuse(`${arrow}: the target ${targetProblem}`)
    if (target.startsWith('/')) refuse(`${arrow} points outside the archive (absolute)`)
    if (climbsOut(name, target)) refuse(`${arrow} points outside the archive`)
    member.linkTarget = target
  } else if (type === 'hardlink') {
    const arrow = `hard link ${shown(raw)} -> ${shown(target)}`
    const targetProblem = nameProblem(target)
    if (targetProblem !== null) refuse(`${arrow}: the target ${targetProblem}`)
    const stripped = strippedName(target, strip)
    if (stripped === '') refuse(`${arrow} points outside the extracted tree`)
    member.linkTarget = stripped
  }
  return member
}

type Kind = 'dir' | 'file' | 'symlink'

/**
 * The tree the members build, in archive order: what each path is when a member arrives. Refuses what
 * would make tar write through a link or fail half-way: a member under a file, a file replacing a
 * folder, a hard link to nothing earlier or to a folder.
 */
export class TreeRules {
  private readonly kinds = new Map<string, Kind>()
  /** Targets of the paths that are symlinks now (a hard link to a symlink is one too). */
  private readonly symlinkTargets = new Map<string, string>()
  /** Every path that is a symlink at some point: nothing may be reached through one, before or after. */
  private readonly everSymlink = new Set<string>()
  private readonly names: string[] = []
  private readonly hardLinks: Array<{ name: string; target: string }> = []

  constructor(private readonly file: string) {}

  add(member: ArchiveMember): void {
    const { name } = member
    const refuse = (reason: string): never => {
      throw new UnsafeArchiveError(this.file, reason, name)
    }
    const parts = name.split('/')
    let prefix = ''
    for (let i = 0; i < parts.length - 1; i++) {
      prefix = prefix === '' ? (parts[i] ?? '') : `${prefix}/${parts[i]}`
      const kind = this.kinds.get(prefix)
      if (kind === 'file') refuse(`member ${shown(name)} is under ${shown(prefix)}, which is a file of the archive`)
      if (kind === undefined) this.kinds.set(prefix, 'dir')
    }
    // finish() checks this against every symlink of the archive; checking the ones seen so far here
    // as well lets a one-pass unpack stop at the member, with the same message.
    const through = this.symlinkAbove(name)
    if (through !== null) refuse(`member ${shown(name)} is reached through the symlink ${shown(through)}`)
    const existing = this.kinds.get(name)
    if (existing === 'dir' && member.type !== 'dir') {
      refuse(`member ${shown(name)} (a ${member.type}) would replace the folder ${shown(name)}`)
    }
    this.names.push(name)
    switch (member.type) {
      case 'dir':
      case 'file':
        this.set(name, member.type, undefined)
        break
      case 'symlink':
        this.set(name, 'symlink', member.linkTarget ?? '')
        break
      case 'hardlink': {
        const target = member.linkTarget ?? ''
        this.hardLinks.push({ name, target })
        const kind = this.kinds.get(target)
        const arrow = `hard link ${shown(name)} -> ${shown(target)}`
        if (kind === undefined) refuse(`${arrow}: the target is not an earlier member of the archive`)
        if (kind === 'dir') refuse(`${arrow}: the target is a folder`)
        if (kind === 'symlink') {
          // link() makes another symlink with the same text, which must stay inside from its own folder.
          const text = this.symlinkTargets.get(target) ?? ''
          if (climbsOut(name, text)) refuse(`${arrow} is a symlink to ${shown(text)} there, which points outside the archive`)
          this.set(name, 'symlink', text)
        } else this.set(name, 'file', undefined)
        break
      }
    }
  }

  /** The checks that need every member: not empty, nothing reached through a symlink. */
  finish(): void {
    if (this.names.length === 0) throw new UnsafeArchiveError(this.file, 'the archive is empty')
    for (const name of this.names) {
      const link = this.symlinkAbove(name)
      if (link !== null) throw new UnsafeArchiveError(this.file, `member ${shown(name)} is reached through the symlink ${shown(link)}`, name)
    }
    for (const { name, target } of this.hardLinks) {
      const link = this.symlinkAbove(target)
      if (link !== null) {
        throw new UnsafeArchiveError(this.file, `hard link ${shown(name)} -> ${shown(target)}: the target is reached through the symlink ${shown(link)}`, name)
      }
    }
  }

  private set(name: string, kind: Kind, symlinkTarget: string | undefined): void {
    this.kinds.set(name, kind)
    if (symlinkTarget === undefined) this.symlinkTargets.delete(name)
    else {
      this.symlinkTargets.set(name, symlinkTarget)
      this.everSymlink.add(name)
    }
  }

  private symlinkAbove(path: string): string | null {
    let slash = path.indexOf('/')
    while (slash !== -1) {
      const prefix = path.slice(0, slash)
      if (this.everSymlink.has(prefix)) return prefix
      slash = path.indexOf('/', slash + 1)
    }
    return null
  }
}
