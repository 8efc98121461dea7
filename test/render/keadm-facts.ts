/**
 * Reads bundles/upstream/kubeedge-facts.json (written by scripts/extract-kubeedge-facts.ts from the
 * kubeedge source) and answers what the tests ask of it: does keadm join have this flag at this tag, does
 * this --set path resolve the way keadm's set.go resolves it, is this key where encoding/json puts it.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { stringify } from 'yaml'
import type { JoinFlag, StructField, TagFacts } from '../../scripts/extract-kubeedge-facts.js'

export interface KubeedgeFacts {
  releaseTags: string[]
  tags: Record<string, TagFacts>
  structs: Record<string, { package: string; name: string; file: string; fields: StructField[] }>
}

export const FACTS_FILE = resolve(import.meta.dirname, '../../bundles/upstream/kubeedge-facts.json')

export function loadFacts(): KubeedgeFacts {
  return JSON.parse(readFileSync(FACTS_FILE, 'utf8')) as KubeedgeFacts
}

export function tagFacts(facts: KubeedgeFacts, tag: string): TagFacts {
  const found = facts.tags[tag]
  if (!found) throw new Error(`kubeedge-facts.json has no ${tag}`)
  return found
}

/** `--name=value` or `--name` → the keadm join flag it names at this tag and OS, or null when keadm has none. */
export function joinFlag(facts: KubeedgeFacts, tag: string, os: 'linux' | 'windows', arg: string): JoinFlag | null {
  const m = /^--([a-zA-Z][\w-]*)(?:=|$)/.exec(arg)
  if (!m) throw new Error(`not a long flag: ${arg}`)
  return tagFacts(facts, tag).join[os]?.flags.find((flag) => flag.name === m[1]) ?? null
}

function struct(facts: KubeedgeFacts, id: string) {
  const found = facts.structs[id]
  if (!found) throw new Error(`kubeedge-facts.json has no struct ${id}`)
  return found
}

/**
 * reflect.Value.FieldByName: the shallowest field of that name, looking through embedded structs level by
 * level; two at the same depth cancel out (no field).
 */
export function fieldByName(facts: KubeedgeFacts, structId: string, name: string): StructField | null {
  let level = [structId]
  const seen = new Set<string>()
  while (level.length > 0) {
    const matches: StructField[] = []
    const next: string[] = []
    for (const id of level) {
      if (seen.has(id)) continue
      seen.add(id)
      for (const field of struct(facts, id).fields) {
        if (field.name === name) matches.push(field)
        else if (field.embedded && field.ref !== null) next.push(field.ref)
      }
    }
    if (matches.length === 1) return matches[0]!
    if (matches.length > 1) return null
    level = next
  }
  return null
}

export type SetResolution = { ok: true; goPath: string; field: StructField } | { ok: false; reason: string }

const isUpper = (s: string) => s !== '' && s[0] === s[0]!.toUpperCase() && s[0] !== s[0]!.toLowerCase()

/**
 * What keadm join --set NAME=VALUE does at this tag, by set.go's rules as the facts record them:
 * parseSetByComma/parseSetByEqual split the text, parseTag maps a lower-case path segment by segment to Go
 * names by json tag among direct fields only (findFieldByTag; an unmatched segment stays ""), a path
 * starting upper-case is kept as it is; setCommonValue then walks the Go names with FieldByName and the
 * parsed value's type must fit the field (exact match up to 1.20, convertTargetValue from 1.21).
 */
export function resolveSet(facts: KubeedgeFacts, tag: string, assignment: string): SetResolution {
  const tf = tagFacts(facts, tag)
  if (!tf.set.exists) return { ok: false, reason: `keadm join has no --set at ${tag}` }
  // parseSetByComma splits at commas and drops whitespace outside quotes and braces: one assignment must stay one.
  if (/[,\s{}"]/.test(assignment)) return { ok: false, reason: `${assignment}: commas, spaces, braces and quotes change how keadm splits it` }
  const parts = assignment.split('=')
  if (parts.length !== 2) return { ok: false, reason: `${assignment}: keadm skips an item without exactly one "="` }
  const [name, raw] = parts as [string, string]
  if (/[[\]]/.test(name)) return { ok: false, reason: `${name}: indexed paths are not checked here` }
  // parseValue: int, then float, then bool, else string.
  const valueType = /^[+-]?\d+$/.test(raw) ? 'int' : /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(Inf|NaN)$/i.test(raw) ? 'float64' : /^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(raw) ? 'bool' : 'string'
  const segments = name.split('.')
  let goNames: string[]
  if (isUpper(segments[0]!)) goNames = segments
  else {
    goNames = segments.map(() => '')
    let current: string | null = tf.edgecore.root
    for (let k = 0; k < segments.length && current !== null; k++) {
      const here: string = current
      current = null
      if (isUpper(segments[k]!)) {
        goNames[k] = segments[k]!
        current = fieldByName(facts, here, segments[k]!)?.ref ?? null
        continue
      }
      for (const field of struct(facts, here).fields) {
        if ((field.json ?? '').split(',')[0] === segments[k]) {
          goNames[k] = field.name
          current = field.ref
        }
      }
    }
  }
  let current: string | null = tf.edgecore.root
  let field: StructField | null = null
  for (const [index, goName] of goNames.entries()) {
    if (current === null) return { ok: false, reason: `${name}: ${goNames.slice(0, index).join('.')} is not a struct` }
    field = goName === '' ? null : fieldByName(facts, current, goName)
    if (field === null) return { ok: false, reason: `${name}: No such field: ${goName} in Config (Go path ${goNames.join('.')})` }
    current = field.ref
  }
  if (field === null) return { ok: false, reason: `${name}: empty path` }
  const fits = field.type === valueType || (tf.set.valueRule === 'convert' && field.type === `*${valueType}`)
  if (!fits) return { ok: false, reason: `${name}: a ${valueType} value does not fit the field's type ${field.type}` }
  return { ok: true, goPath: goNames.join('.'), field }
}

/**
 * The field encoding/json reads for a key path: an embedded struct without a json name is inlined; at each
 * key the shallowest field wins, a tagged one over untagged ones at the same depth, else none.
 */
export function jsonField(facts: KubeedgeFacts, tag: string, key: readonly string[]): StructField | null {
  let current: string | null = tagFacts(facts, tag).edgecore.root
  let found: StructField | null = null
  for (const segment of key) {
    if (current === null) return null
    found = jsonFieldOf(facts, current, segment)
    if (found === null) return null
    current = found.ref
  }
  return found
}

function jsonFieldOf(facts: KubeedgeFacts, structId: string, key: string): StructField | null {
  let level = [structId]
  const seen = new Set<string>()
  while (level.length > 0) {
    const matches: { field: StructField; tagged: boolean }[] = []
    const next: string[] = []
    for (const id of level) {
      if (seen.has(id)) continue
      seen.add(id)
      for (const field of struct(facts, id).fields) {
        const tagName = field.json === null ? '' : field.json.split(',')[0]!
        if (field.json === '-') continue
        if (field.embedded && tagName === '' && field.ref !== null) {
          next.push(field.ref)
          continue
        }
        if ((tagName === '' ? field.name : tagName) === key) matches.push({ field, tagged: tagName !== '' })
      }
    }
    if (matches.length === 1) return matches[0]!.field
    const tagged = matches.filter((m) => m.tagged)
    if (matches.length > 1) return tagged.length === 1 ? tagged[0]!.field : null
    level = next
  }
  return null
}

/** Every key encoding/json writes for a struct (embedded untagged structs inlined), with a value of the field's type. */
export function keadmShaped(facts: KubeedgeFacts, structId: string, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const field of facts.structs[structId]!.fields) {
    const name = field.json === null ? '' : field.json.split(',')[0]!
    if (field.json === '-') continue
    if (field.embedded && name === '' && field.ref !== null) {
      Object.assign(out, keadmShaped(facts, field.ref, depth))
      continue
    }
    const key = name === '' ? field.name : name
    if (field.ref !== null && depth < 6) out[key] = keadmShaped(facts, field.ref, depth + 1)
    else if (field.type.includes('map[')) out[key] = { 'node-role.kubernetes.io/edge': '' }
    else if (field.type.startsWith('[]')) out[key] = field.type === '[]string' ? ['a', 'b'] : [{ key: 'k', effect: 'NoSchedule' }]
    else if (/bool/.test(field.type)) out[key] = false
    else if (/int|float/.test(field.type)) out[key] = 10
    else out[key] = field.name === 'PodSandboxImage' ? 'kubeedge/pause:3.6' : `${key} value`
  }
  return out
}

/** sigs.k8s.io/yaml (go-yaml v2): keys sorted, sequences at their key's indentation, no folding. */
export const goYaml = (value: unknown) => stringify(value, { sortMapEntries: true, indentSeq: false, lineWidth: 0 })

