/**
 * Reads kubeedge/kubeedge at every release bundles/kubeedge.yaml pins (plus the .0 tag of each minor, so
 * every boundary has source on both sides) and writes bundles/upstream/kubeedge-facts.json: per tag the
 * keadm join flags (per OS), a field table of edgecore's v1alpha2 config types, the images keadm join
 * pulls, and what keadm's --set resolution (set.go) does. Tests check the join line against this file.
 *
 *   npx tsx scripts/extract-kubeedge-facts.ts /path/to/kubeedge.git [--out FILE]
 *
 * No Go toolchain: Go source is read with a small comment/string-aware scanner. Anything the scanner
 * does not understand stops the script, so the data file never holds a guess.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, posix, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = resolve(here, '..')

type Os = 'linux' | 'windows'

export interface JoinFlag {
  name: string
  shorthand: string | null
  /** The pflag method: StringVar, BoolVar, StringArrayVar, … */
  kind: string
  /** The default as written, resolved to a literal where it is one (constant or newOption() assignment). */
  default: string | boolean | null
  deprecated: boolean
}

export interface StructField {
  /** Go field name; for an embedded field, the type's name. */
  name: string
  /** The json struct tag as written (e.g. "podSandboxImage,omitempty"), or null without one. */
  json: string | null
  embedded: boolean
  /** The Go type as written in the source. */
  type: string
  /** The struct this field holds directly or through one pointer (key into structs), when resolved. */
  ref: string | null
  pointer: boolean
}

export interface TagFacts {
  commit: string
  join: Partial<Record<Os, { file: string; flags: JoinFlag[] }>>
  edgecore: { package: string; file: string; root: string; structs: Record<string, string> }
  images: Partial<Record<Os, { files: string[]; pulls: { image: string; when: 'always' | 'with-mqtt' }[] } | { files: string[]; pulls: [] }>>
  set: {
    /** keadm join has --set and applies it with util.ParseSet. */
    exists: boolean
    file: string | null
    /** A path whose first segment starts upper-case is used verbatim (parseTag). */
    upperCasePathVerbatim: boolean
    /** Lower-case segments map to Go names by json tag among a struct's direct fields only (findFieldByTag). */
    lowerCaseByDirectJsonTag: boolean
    /** Each Go-name segment is looked up with reflect.Value.FieldByName (promoted fields included). */
    fieldByName: boolean
    /** "exact": the parsed value's type must equal the field's; "convert": convertTargetValue (1.21+). */
    valueRule: 'exact' | 'convert' | null
  }
}

// ---------------------------------------------------------------- git

class Repo {
  private cache = new Map<string, string | null>()
  constructor(private gitDir: string) {}
  git(args: string[]): string {
    return execFileSync('git', ['--git-dir', this.gitDir, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] })
  }
  commit(tag: string): string {
    return this.git(['rev-list', '-n', '1', tag]).trim()
  }
  /** One file's text at a tag, following symlinks on the way; null when absent. */
  show(tag: string, path: string): string | null {
    const key = `${tag}:${path}`
    if (this.cache.has(key)) return this.cache.get(key)!
    const real = this.realPath(tag, path)
    let text: string | null = null
    if (real !== null) {
      try {
        text = execFileSync('git', ['--git-dir', this.gitDir, 'show', `${tag}:${real}`], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] })
      } catch {
        text = null
      }
    }
    this.cache.set(key, text)
    return text
  }
  /** The .go files (not tests) directly in a directory at a tag, symlinks on the way followed. */
  goFiles(tag: string, dir: string): string[] {
    const real = this.realPath(tag, dir)
    if (real === null) return []
    let out: string
    try {
      out = this.git(['ls-tree', '--name-only', `${tag}:${real}`])
    } catch {
      return []
    }
    return out
      .split('\n')
      .filter((name) => name.endsWith('.go') && !name.endsWith('_test.go'))
      .map((name) => `${real}/${name}`)
  }
  /** Resolves symlinked path components (vendor/github.com/kubeedge/api → staging/…). */
  private real = new Map<string, string | null>()
  realPath(tag: string, path: string): string | null {
    const key = `${tag}:${path}`
    if (!this.real.has(key)) this.real.set(key, this.walk(tag, path))
    return this.real.get(key)!
  }
  private walk(tag: string, path: string): string | null {
    const slash = path.lastIndexOf('/')
    const parent = slash === -1 ? '' : this.realPath(tag, path.slice(0, slash))
    if (parent === null) return null
    const next = parent === '' ? path : `${parent}/${path.slice(slash + 1)}`
    let entry: string
    try {
      entry = this.git(['ls-tree', tag, '--', next]).trim()
    } catch {
      return null
    }
    if (entry === '') return null
    const [mode, , hash] = entry.split(/\s+/)
    if (mode !== '120000') return next
    const target = this.git(['cat-file', 'blob', hash!]).trim()
    return this.realPath(tag, posix.normalize(posix.join(posix.dirname(next), target)).replace(/\/+$/, ''))
  }
}

// ---------------------------------------------------------------- Go scanning

/** Go source with comments blanked out (strings and raw strings kept), so offsets still line up. */
export function stripComments(src: string): string {
  let out = ''
  let i = 0
  while (i < src.length) {
    const c = src[i]!
    const n = src[i + 1]
    if (c === '/' && n === '/') {
      while (i < src.length && src[i] !== '\n') {
        out += ' '
        i++
      }
    } else if (c === '/' && n === '*') {
      while (i < src.length && !(src[i] === '*' && src[i + 1] === '/')) {
        out += src[i] === '\n' ? '\n' : ' '
        i++
      }
      out += '  '
      i += 2
    } else if (c === '"' || c === "'" || c === '`') {
      const start = i
      i++
      while (i < src.length && src[i] !== c) {
        if (c !== '`' && src[i] === '\\') i++
        i++
      }
      i++
      out += src.slice(start, i)
    } else {
      out += c
      i++
    }
  }
  return out
}

/** The index just past the bracket that closes the one at `open`, skipping strings. */
function matchBracket(src: string, open: number): number {
  const pairs: Record<string, string> = { '(': ')', '{': '}', '[': ']' }
  const stack: string[] = []
  for (let i = open; i < src.length; i++) {
    const c = src[i]!
    if (c === '"' || c === "'" || c === '`') {
      i++
      while (i < src.length && src[i] !== c) {
        if (c !== '`' && src[i] === '\\') i++
        i++
      }
    } else if (pairs[c]) stack.push(pairs[c])
    else if (c === ')' || c === '}' || c === ']') {
      if (stack.pop() !== c) throw new Error(`unbalanced ${c} at ${i}`)
      if (stack.length === 0) return i + 1
    }
  }
  throw new Error('unterminated bracket')
}

/** Splits a call's argument text at top-level commas. */
export function splitArgs(text: string): string[] {
  const args: string[] = []
  let depth = 0
  let current = ''
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1
      while (j < text.length && text[j] !== c) {
        if (c !== '`' && text[j] === '\\') j++
        j++
      }
      current += text.slice(i, j + 1)
      i = j
      continue
    }
    if ('({['.includes(c)) depth++
    if (')}]'.includes(c)) depth--
    if (c === ',' && depth === 0) {
      args.push(current.trim())
      current = ''
    } else current += c
  }
  if (current.trim() !== '') args.push(current.trim())
  return args
}

function goString(literal: string): string | null {
  const m = /^"((?:[^"\\]|\\.)*)"$/.exec(literal) ?? /^`([^`]*)`$/.exec(literal)
  return m ? m[1]!.replace(/\\(.)/g, '$1') : null
}

/** import alias → import path for one file. */
function imports(src: string): Map<string, string> {
  const map = new Map<string, string>()
  const add = (line: string) => {
    const m = /^\s*(?:([\w.]+)\s+)?"([^"]+)"\s*$/.exec(line)
    if (!m) return
    const path = m[2]!
    const alias = m[1] ?? path.slice(path.lastIndexOf('/') + 1)
    map.set(alias, path)
  }
  const block = /\bimport\s*\(([^)]*)\)/.exec(src)
  if (block) for (const line of block[1]!.split('\n')) add(line)
  for (const m of src.matchAll(/^import\s+((?:[\w.]+\s+)?"[^"]+")/gm)) add(m[1]!)
  return map
}

const MODULE = 'github.com/kubeedge/kubeedge/'

/** Where an import path's package lives in the tree at a tag, or null for the standard library. */
function packageDir(importPath: string): string | null {
  if (!importPath.split('/')[0]!.includes('.')) return null
  if (importPath.startsWith(MODULE)) return importPath.slice(MODULE.length)
  return `vendor/${importPath}`
}

/** Files of a package as one OS build sees them (file-name suffixes only; no build-tag evaluation needed here). */
function osFiles(files: string[], os: Os): string[] {
  const other = os === 'linux' ? /_windows\.go$/ : /_(others|linux|unix)\.go$/
  return files.filter((f) => !other.test(f))
}

const packageCache = new Map<string, Package>()
function packageAt(repo: Repo, tag: string, dir: string, os: Os): Package {
  const key = `${tag}|${dir}|${os}`
  if (!packageCache.has(key)) packageCache.set(key, new Package(repo, tag, dir, os))
  return packageCache.get(key)!
}

class Package {
  private sources: { file: string; src: string; imports: Map<string, string> }[]
  constructor(
    readonly repo: Repo,
    readonly tag: string,
    readonly dir: string,
    readonly os: Os,
  ) {
    const files = osFiles(repo.goFiles(tag, dir), os)
    this.sources = files.map((file) => {
      const src = stripComments(repo.show(tag, file) ?? '')
      return { file, src, imports: imports(src) }
    })
  }
  get files(): string[] {
    return this.sources.map((s) => s.file)
  }
  /** A constant's string or bool value (const X = "…", or inside a const block). */
  constant(name: string): { value: string | boolean; file: string } | null {
    for (const { file, src, imports: imp } of this.sources) {
      const re = new RegExp(`(?:^|\\n)\\s*(?:const\\s+)?${name}\\s+(?:[\\w.]+\\s+)?=\\s*([^\\n;]+)`)
      const m = re.exec(src)
      if (!m) continue
      const value = this.evaluate(m[1]!.trim(), imp)
      if (value !== null) return { value: value.value, file: value.file ?? file }
    }
    return null
  }
  /** A literal, a constant of this package, or pkg.Constant through this file's imports. */
  evaluate(expr: string, imp: Map<string, string>): { value: string | boolean; file?: string } | null {
    const literal = goString(expr)
    if (literal !== null) return { value: literal }
    if (expr === 'true' || expr === 'false') return { value: expr === 'true' }
    const qualified = /^(\w+)\.(\w+)$/.exec(expr)
    if (qualified) {
      const dir = imp.get(qualified[1]!) ? packageDir(imp.get(qualified[1]!)!) : null
      if (dir === null) return null
      return packageAt(this.repo, this.tag, dir, this.os).constant(qualified[2]!)
    }
    if (/^\w+$/.test(expr)) return this.constant(expr)
    return null
  }
  /** The body (between braces) of a top-level func, with its file and imports. */
  func(name: string): { file: string; body: string; imports: Map<string, string> } | null {
    for (const { file, src, imports: imp } of this.sources) {
      const m = new RegExp(`\\nfunc (?:\\([^)]*\\)\\s*)?${name}\\(`).exec(src)
      if (!m) continue
      const paramsEnd = matchBracket(src, m.index + m[0].length - 1)
      const brace = src.indexOf('{', paramsEnd)
      return { file, body: src.slice(brace + 1, matchBracket(src, brace) - 1), imports: imp }
    }
    return null
  }
  /** A `var name = Set{…}` / struct literal body. */
  varBody(name: string): { file: string; body: string; imports: Map<string, string> } | null {
    for (const { file, src, imports: imp } of this.sources) {
      const m = new RegExp(`\\bvar\\s+${name}\\s*=\\s*\\w+\\{`).exec(src)
      if (!m) continue
      const brace = m.index + m[0].length - 1
      return { file, body: src.slice(brace + 1, matchBracket(src, brace) - 1), imports: imp }
    }
    return null
  }
  /** `type Name struct {…}` or `type Name = Other` / `type Name Other` (also inside `type (…)`), with the declaring file. */
  typeDecl(name: string): { file: string; kind: 'struct'; body: string; imports: Map<string, string> } | { file: string; kind: 'named'; type: string; imports: Map<string, string> } | null {
    const read = (src: string, offset: number, m: RegExpExecArray, file: string, imp: Map<string, string>) => {
      if (m[2]!.startsWith('struct')) {
        const brace = offset + m.index + m[0].length - 1
        return { file, kind: 'struct' as const, body: src.slice(brace + 1, matchBracket(src, brace) - 1), imports: imp }
      }
      return { file, kind: 'named' as const, type: `${m[1] ?? ''}${m[2]!.trim()}`, imports: imp }
    }
    for (const { file, src, imports: imp } of this.sources) {
      const top = new RegExp(`\\ntype\\s+${name}\\s+(=\\s*)?(struct\\s*\\{|[^\\n]+)`).exec(src)
      if (top) return read(src, 0, top, file, imp)
      for (const block of src.matchAll(/\ntype\s*\(/g)) {
        const open = block.index + block[0].length - 1
        const body = src.slice(open, matchBracket(src, open))
        const inner = new RegExp(`\\n\\s*${name}\\s+(=\\s*)?(struct\\s*\\{|[^\\n]+)`).exec(body)
        if (inner) return read(src, open, inner, file, imp)
      }
    }
    return null
  }
}

// ---------------------------------------------------------------- struct field table

interface StructTable {
  structs: Map<string, { package: string; name: string; file: string; fields: StructField[] }>
}

export function parseFieldLines(body: string): { names: string[]; type: string; tag: string | null }[] {
  const out: { names: string[]; type: string; tag: string | null }[] = []
  // Statements end at newlines or semicolons outside brackets.
  let depth = 0
  let current = ''
  const flush = () => {
    const line = current.trim()
    current = ''
    if (line === '') return
    const tagMatch = /\s*(`[^`]*`|"(?:[^"\\]|\\.)*")\s*$/.exec(line)
    const tag = tagMatch ? goString(tagMatch[1]!) : null
    const decl = tagMatch ? line.slice(0, tagMatch.index).trim() : line
    const named = /^([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s+(\S.*)$/.exec(decl)
    if (named && !/^\*?[\w]+\.\w+$/.test(decl)) out.push({ names: named[1]!.split(',').map((s) => s.trim()), type: named[2]!.trim(), tag })
    else if (/^\*?(?:\w+\.)?\w+$/.test(decl)) out.push({ names: [], type: decl, tag })
    else throw new Error(`cannot read struct field: ${line}`)
  }
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!
    if (c === '"' || c === '`' || c === "'") {
      let j = i + 1
      while (j < body.length && body[j] !== c) {
        if (c !== '`' && body[j] === '\\') j++
        j++
      }
      current += body.slice(i, j + 1)
      i = j
      continue
    }
    if ('({['.includes(c)) depth++
    if (')}]'.includes(c)) depth--
    if ((c === '\n' || c === ';') && depth === 0) flush()
    else current += c
  }
  flush()
  return out
}

export function jsonTag(tag: string | null): string | null {
  if (tag === null) return null
  const m = /(?:^|\s)json:"([^"]*)"/.exec(tag)
  return m ? m[1]! : null
}

/** Every struct reachable from root through direct or pointer fields (the paths --set and YAML keys walk). */
function structTable(repo: Repo, tag: string, dir: string, root: string, os: Os): StructTable {
  const table: StructTable = { structs: new Map() }
  const packages = new Map<string, Package>()
  const pkg = (d: string) => {
    if (!packages.has(d)) packages.set(d, packageAt(repo, tag, d, os))
    return packages.get(d)!
  }
  const visit = (given: string, name: string): string | null => {
    const d = repo.realPath(tag, given) ?? given
    const key = `${d}.${name}`
    if (table.structs.has(key)) return key
    const decl = pkg(d).typeDecl(name)
    if (decl === null) throw new Error(`${tag}: type ${name} not found in ${d}`)
    if (decl.kind === 'named') {
      const target = resolveTypeRef(decl.type.replace(/^=\s*/, ''), d, decl.imports)
      return target && !target.pointer ? visit(target.dir, target.name) : null
    }
    const entry = { package: d, name, file: decl.file, fields: [] as StructField[] }
    table.structs.set(key, entry)
    for (const line of parseFieldLines(decl.body)) {
      const embedded = line.names.length === 0
      const target = resolveTypeRef(line.type, d, decl.imports)
      let ref: string | null = null
      if (target) {
        const targetDecl = pkg(target.dir).typeDecl(target.name)
        if (targetDecl && (targetDecl.kind === 'struct' || /^=/.test(targetDecl.type) || /^(?:\*?\w+\.)?\w+$/.test(targetDecl.type))) ref = visit(target.dir, target.name)
      }
      const baseName = line.type.replace(/^\*/, '').replace(/^\w+\./, '')
      for (const name of embedded ? [baseName] : line.names) {
        entry.fields.push({ name, json: jsonTag(line.tag), embedded, type: line.type, ref, pointer: line.type.startsWith('*') })
      }
    }
    return key
  }
  visit(dir, root)
  return table
}

const BUILTIN = new Set(['string', 'bool', 'int', 'int8', 'int16', 'int32', 'int64', 'uint', 'uint8', 'uint16', 'uint32', 'uint64', 'float32', 'float64', 'byte', 'rune', 'error', 'any', 'uintptr'])

/** T, *T, pkg.T, *pkg.T → the package dir and name (null for builtins, stdlib, slices, maps, funcs). */
function resolveTypeRef(type: string, dir: string, imp: Map<string, string>): { dir: string; name: string; pointer: boolean } | null {
  const m = /^(\*?)(?:(\w+)\.)?(\w+)$/.exec(type.trim())
  if (!m) return null
  const [, star, alias, name] = m
  if (!alias) return BUILTIN.has(name!) ? null : { dir, name: name!, pointer: star === '*' }
  const path = imp.get(alias)
  if (path === undefined) throw new Error(`unknown import ${alias} for ${type} in ${dir}`)
  const target = packageDir(path)
  return target === null ? null : { dir: target, name: name!, pointer: star === '*' }
}

// ---------------------------------------------------------------- keadm join

const EDGE_DIR = 'keadm/cmd/keadm/app/cmd/edge'

function joinFlags(repo: Repo, tag: string, os: Os): { file: string; flags: JoinFlag[]; pkg: Package } | null {
  const pkg = packageAt(repo, tag, EDGE_DIR, os)
  const fn = pkg.func('AddJoinOtherFlags')
  if (fn === null) return null
  // keadm had no Windows build of join before join_windows.go existed; a Linux-only join.go does not count.
  if (os === 'windows' && !fn.file.endsWith('_windows.go')) return null
  const defaults = newOptionDefaults(pkg)
  const flags: JoinFlag[] = []
  const body = fn.body
  for (const m of body.matchAll(/\b(?:cmd\.Flags\(\)|flags)\.(\w+Var)(P?)\(/g)) {
    const open = m.index + m[0].length - 1
    const args = splitArgs(body.slice(open + 1, matchBracket(body, open) - 1))
    const nameValue = pkg.evaluate(args[1]!, fn.imports)
    if (nameValue === null || typeof nameValue.value !== 'string') throw new Error(`${tag}: flag name ${args[1]} not resolved`)
    const name = nameValue.value
    const shorthand = m[2] === 'P' ? goString(args[2]!) : null
    const defaultExpr = args[m[2] === 'P' ? 3 : 2]!
    let def: string | boolean | null = null
    const field = /^joinOptions\.(\w+)$/.exec(defaultExpr)
    if (field) def = defaults.get(field[1]!) ?? null
    else def = pkg.evaluate(defaultExpr, fn.imports)?.value ?? null
    const deprecated = new RegExp(`MarkDeprecated\\(\\s*"${name}"`).test(body)
    flags.push({ name, shorthand, kind: `${m[1]}${m[2]}`, default: def, deprecated })
  }
  if (flags.length === 0) throw new Error(`${tag}: no flags found in ${fn.file}`)
  return { file: fn.file, flags, pkg }
}

/** joinOptions.X = value assignments in newOption(), resolved to literals where they are constants. */
function newOptionDefaults(pkg: Package): Map<string, string | boolean> {
  const fn = pkg.func('newOption')
  const map = new Map<string, string | boolean>()
  if (fn === null) return map
  for (const m of fn.body.matchAll(/joinOptions\.(\w+)\s*=\s*([^\n]+)/g)) {
    const value = pkg.evaluate(m[2]!.trim(), fn.imports)
    if (value !== null) map.set(m[1]!, value.value)
  }
  return map
}

// ---------------------------------------------------------------- images

function joinImages(repo: Repo, tag: string, os: Os, joinFile: string): TagFacts['images'][Os] {
  const joinSrc = stripComments(repo.show(tag, joinFile) ?? '')
  const edgeFiles = packageAt(repo, tag, EDGE_DIR, os).files
  const callers = edgeFiles.filter((f) => /\bEdgeSet\(/.test(stripComments(repo.show(tag, f) ?? '')))
  if (os === 'windows' && !/\bEdgeSet\(/.test(joinSrc)) return { files: [joinFile], pulls: [] }
  if (callers.length === 0) throw new Error(`${tag}: keadm join (${os}) calls no EdgeSet`)
  // EdgeSet lives in pkg/image (≤1.20) or keadm's util (1.21+): find the package the caller imports it from.
  const callerSrc = stripComments(repo.show(tag, callers[0]!)!)
  const qualifier = /\b(\w+)\.EdgeSet\(/.exec(callerSrc)![1]!
  const dir = packageDir(imports(callerSrc).get(qualifier)!)!
  const pkg = packageAt(repo, tag, dir, os)
  const edgeSet = pkg.func('EdgeSet')
  if (edgeSet === null) throw new Error(`${tag}: EdgeSet not found in ${dir}`)
  const pulls: { image: string; when: 'always' | 'with-mqtt' }[] = []
  const readSet = (name: string, versioned: boolean) => {
    const set = pkg.varBody(name)
    if (set === null) throw new Error(`${tag}: ${name} not found in ${dir}`)
    for (const entry of splitArgs(set.body)) {
      const m = /^(\w+)\s*:\s*(.+)$/s.exec(entry.trim())
      if (!m) continue
      const value = pkg.evaluate(m[2]!.trim(), set.imports)
      if (value === null || typeof value.value !== 'string') throw new Error(`${tag}: image ${m[2]} not resolved`)
      const key = pkg.constant(m[1]!)?.value
      const removedWithoutMqtt = key === 'mqtt' && /if\s+!opt\.WithMQTT\s*\{\s*thirdSet\.Remove\(EdgeMQTT\)/.test(edgeSet.body)
      // Set.Current gives component images the join's version as tag; third-party images keep theirs.
      pulls.push({ image: versioned ? value.value.replace(/:.*$/, '') : value.value, when: removedWithoutMqtt ? 'with-mqtt' : 'always' })
    }
  }
  if (!/edgeComponentSet\.Current\(\s*\w+(?:\.ImageRepository)?\s*,\s*\w+(?:\.KubeEdgeVersion)?\s*\)/.test(edgeSet.body)) throw new Error(`${tag}: EdgeSet does not version edgeComponentSet as expected`)
  readSet('edgeComponentSet', true)
  readSet('edgeThirdPartySet', false)
  return { files: [...callers, edgeSet.file], pulls }
}

// ---------------------------------------------------------------- --set

function setFacts(repo: Repo, tag: string, flags: JoinFlag[], joinFile: string): TagFacts['set'] {
  const file = 'keadm/cmd/keadm/app/cmd/util/set.go'
  const raw = repo.show(tag, file)
  const hasFlag = flags.some((f) => f.name === 'set')
  const applied = /\butil\.ParseSet\(\s*edgeCoreConfig\s*,/.test(stripComments(repo.show(tag, joinFile) ?? ''))
  if (!hasFlag || raw === null || !applied) {
    if (hasFlag !== (raw !== null && applied)) throw new Error(`${tag}: --set flag and ParseSet disagree`)
    return { exists: false, file: null, upperCasePathVerbatim: false, lowerCaseByDirectJsonTag: false, fieldByName: false, valueRule: null }
  }
  const src = stripComments(raw)
  const upperCasePathVerbatim = /if\s+isFirstLetterUpper\(names\[0\]\)\s*\{\s*parseName\s*=\s*name\s*\}/.test(src)
  const find = /func findFieldByTag\([^)]*\)\s*\{([\s\S]*?)\n\}/.exec(src)?.[1] ?? ''
  // The loop looks at t.Field(i) only and never descends into an embedded field without a matching tag.
  const lowerCaseByDirectJsonTag =
    /for\s+i\s*:=\s*0;\s*i\s*<\s*t\.NumField\(\);\s*i\+\+/.test(find) &&
    /field\.Tag\.Get\("json"\)/.test(find) &&
    /if\s+tagVals\[0\]\s*==\s*tagName\[k\]/.test(find) &&
    !/field\.Anonymous/.test(find)
  const getField = /func getFieldValue\([^)]*\)[^{]*\{([\s\S]*?)\n\}/.exec(src)?.[1] ?? ''
  const fieldByName = /v\.FieldByName\(fieldName\)/.test(getField)
  const valueRule = /func convertTargetValue\(/.test(src) ? 'convert' : /fieldVal\.Type\(\)\s*!=\s*val\.Type\(\)/.test(src) ? 'exact' : null
  if (!upperCasePathVerbatim || !lowerCaseByDirectJsonTag || !fieldByName || valueRule === null) {
    throw new Error(`${tag}: set.go no longer reads as this script expects (${JSON.stringify({ upperCasePathVerbatim, lowerCaseByDirectJsonTag, fieldByName, valueRule })}); read it again`)
  }
  return { exists: true, file, upperCasePathVerbatim, lowerCaseByDirectJsonTag, fieldByName, valueRule }
}

// ---------------------------------------------------------------- main

function extractTag(repo: Repo, tag: string, structs: Map<string, unknown>): TagFacts {
  const join: TagFacts['join'] = {}
  const images: TagFacts['images'] = {}
  let linux: ReturnType<typeof joinFlags> = null
  for (const os of ['linux', 'windows'] as const) {
    const found = joinFlags(repo, tag, os)
    if (found === null) continue
    if (os === 'linux') linux = found
    join[os] = { file: found.file, flags: found.flags }
    images[os] = joinImages(repo, tag, os, found.file)
  }
  if (linux === null) throw new Error(`${tag}: no Linux keadm join`)
  // The edgecore config package keadm join fills (pkg/apis/… up to 1.18, the staged kubeedge/api after).
  const src = stripComments(repo.show(tag, linux.file)!)
  const configImport = [...imports(src).values()].find((p) => p.endsWith('/componentconfig/edgecore/v1alpha2'))
  if (!configImport) throw new Error(`${tag}: keadm join imports no edgecore v1alpha2`)
  const dir = repo.realPath(tag, packageDir(configImport)!)!
  const table = structTable(repo, tag, dir, 'EdgeCoreConfig', 'linux')
  // Each struct is stored once under name@hash of its content, refs included as ids: equal ids mean equal
  // types all the way down, so tags share entries.
  const structKeys: Record<string, string> = {}
  const idOf = (key: string, seen: string[]): string => {
    if (structKeys[key]) return structKeys[key]!
    if (seen.includes(key)) throw new Error(`${tag}: recursive config type ${[...seen, key].join(' → ')}`)
    const entry = table.structs.get(key)!
    const fields = entry.fields.map((f) => ({ ...f, ref: f.ref === null ? null : idOf(f.ref, [...seen, key]) }))
    const value = { package: entry.package, name: entry.name, file: entry.file, fields }
    const id = `${entry.name}@${shortHash(JSON.stringify(value))}`
    structs.set(id, value)
    structKeys[key] = id
    return id
  }
  for (const key of table.structs.keys()) idOf(key, [])
  return {
    commit: repo.commit(tag),
    join,
    edgecore: { package: dir, file: table.structs.get(`${dir}.EdgeCoreConfig`)!.file, root: structKeys[`${dir}.EdgeCoreConfig`]!, structs: structKeys },
    images,
    set: setFacts(repo, tag, linux.flags, linux.file),
  }
}

function shortHash(text: string): string {
  return execFileSync('git', ['hash-object', '--stdin'], { input: text, encoding: 'utf8' }).trim().slice(0, 12)
}

function main(): void {
  const argv = process.argv.slice(2)
  const gitDir = argv[0]
  if (!gitDir) {
    process.stderr.write('usage: tsx scripts/extract-kubeedge-facts.ts KUBEEDGE_GIT_DIR [--out FILE]\n')
    process.exit(2)
  }
  const outIndex = argv.indexOf('--out')
  const out = outIndex === -1 ? resolve(repoRoot, 'bundles/upstream/kubeedge-facts.json') : resolve(argv[outIndex + 1]!)
  const catalog = parseYaml(readFileSync(resolve(repoRoot, 'bundles/kubeedge.yaml'), 'utf8')) as { releases: Record<string, string> }
  const releases = Object.values(catalog.releases).map((r) => `v${r}`)
  const boundaries = Object.keys(catalog.releases).map((minor) => `v${minor}.0`)
  const tags = [...new Set([...releases, ...boundaries])].sort((a, b) => compareTags(a, b))
  const repo = new Repo(gitDir)
  const structs = new Map<string, unknown>()
  const facts: Record<string, TagFacts> = {}
  for (const tag of tags) {
    process.stderr.write(`${tag}\n`)
    facts[tag] = extractTag(repo, tag, structs)
  }
  const data = {
    description:
      'Facts read from kubeedge/kubeedge source by scripts/extract-kubeedge-facts.ts; do not edit by hand. Per tag: keadm join flags per OS, the images keadm join pulls, what keadm --set resolves (set.go), and the field table of edgecore v1alpha2 config types (structs by id).',
    repository: 'https://github.com/kubeedge/kubeedge',
    releaseTags: releases,
    tags: facts,
    structs: Object.fromEntries([...structs.entries()].sort(([a], [b]) => a.localeCompare(b))),
  }
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, `${JSON.stringify(data, null, 1)}\n`)
  process.stderr.write(`wrote ${out}\n`)
}

function compareTags(a: string, b: string): number {
  const pa = a.slice(1).split('.').map(Number)
  const pb = b.slice(1).split('.').map(Number)
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!
  return 0
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main()
