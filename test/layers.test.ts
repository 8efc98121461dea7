/**
 * Issue 14, item 2: imports between the folders of src/ point down the layers docs/architecture.md
 * draws, never up, and folders of one layer never import each other in a circle. Every src/**\/*.ts is
 * read with TypeScript's own import scanner (static, type-only, re-exports, dynamic import(), require),
 * so no form of import slips past a regular expression.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'
import ts from 'typescript'

const ROOT = resolve(import.meta.dirname, '..')
const SRC = join(ROOT, 'src')

/** Top to bottom; a folder may import its own layer's folders and any layer below. Kept in step with docs/architecture.md. */
const LAYERS: readonly (readonly string[])[] = [
  ['cli'],
  ['build', 'fleet'],
  ['fetch', 'oci', 'sea', 'pack', 'inspect', 'installer'],
  ['render'],
  ['plan'],
  ['resolve'],
  ['catalog', 'sign'],
  ['model', 'io', 'archive'],
]

/** Upward edges still allowed: none. A new one must be justified here, and this test fails once it is gone. */
const TEMPORARY_EXCEPTIONS: readonly { from: string; to: string }[] = []

export interface Edge {
  from: string
  to: string
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.isFile() && entry.name.endsWith('.ts') ? [path] : []
  })
}

/** Every relative import of every file under src/, as repo-relative paths (a `.js` specifier names its `.ts`). */
function importEdges(): Edge[] {
  const edges: Edge[] = []
  for (const file of sourceFiles(SRC)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith('.')) continue // a package or node: builtin
      const target = resolve(dirname(file), fileName).replace(/\.js$/, '.ts')
      edges.push({ from: relative(ROOT, file), to: relative(ROOT, target) })
    }
  }
  return edges
}

/** The top folder under src/ (src/render/config/x.ts → render), or null outside src/. */
function folderOf(path: string): string | null {
  const parts = path.split(/[\\/]/)
  return parts[0] === 'src' && parts.length > 2 ? parts[1]! : null
}

const rank = (folder: string) => LAYERS.findIndex((layer) => layer.includes(folder))
const isException = (edge: Edge) => TEMPORARY_EXCEPTIONS.some((e) => e.from === edge.from && e.to === edge.to)

/** What is wrong with a set of edges: upward edges, imports out of src/, folders no layer names, cycles within a layer. */
export function layerProblems(edges: readonly Edge[]): string[] {
  const problems: string[] = []
  const sideways = new Map<string, Set<string>>()
  for (const edge of edges) {
    const from = folderOf(edge.from)
    const to = folderOf(edge.to)
    if (from === null) continue
    if (to === null) {
      problems.push(`${edge.from} imports ${edge.to}, outside src/`)
      continue
    }
    if (from === to) continue
    for (const folder of [from, to]) if (rank(folder) < 0) problems.push(`src/${folder} is in no layer: add it to LAYERS and docs/architecture.md`)
    if (rank(to) < rank(from) && !isException(edge)) problems.push(`${edge.from} imports ${edge.to}: ${from} → ${to} points up`)
    if (rank(to) === rank(from)) {
      if (!sideways.has(from)) sideways.set(from, new Set())
      sideways.get(from)!.add(to)
    }
  }
  // Folders of one layer may use each other, but not both ways round (directly or through others).
  const reaches = (start: string, goal: string, seen = new Set<string>()): boolean => {
    for (const next of sideways.get(start) ?? []) {
      if (next === goal) return true
      if (!seen.has(next)) {
        seen.add(next)
        if (reaches(next, goal, seen)) return true
      }
    }
    return false
  }
  for (const [from, tos] of sideways) for (const to of tos) if (from < to && reaches(to, from)) problems.push(`src/${from} and src/${to} import each other`)
  return [...new Set(problems)]
}

t.test('every import under src/ points down the layers', (t) => {
  const edges = importEdges()
  t.ok(edges.length > 300, `read ${edges.length} relative imports`)
  t.same(layerProblems(edges), [])
  t.end()
})

t.test('each temporary exception is still needed (remove it from the list once its edge is gone)', (t) => {
  const edges = importEdges()
  for (const exception of TEMPORARY_EXCEPTIONS) {
    t.ok(
      edges.some((edge) => edge.from === exception.from && edge.to === exception.to),
      `${exception.from} → ${exception.to} still exists`,
    )
  }
  t.end()
})

t.test('every folder of src/ has its layer', (t) => {
  const folders = readdirSync(SRC, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name)
  for (const folder of folders) t.ok(rank(folder) >= 0, `src/${folder} is in a layer`)
  t.same([...LAYERS.flat()].sort(), [...folders].sort(), 'and LAYERS names no folder that is gone')
  t.end()
})

t.test('the layer check finds what it must', (t) => {
  t.same(layerProblems([{ from: 'src/render/a.ts', to: 'src/plan/b.ts' }]), [], 'down is fine')
  t.same(layerProblems([{ from: 'src/fetch/a.ts', to: 'src/oci/b.ts' }]), [], 'sideways within a layer is fine')
  t.match(layerProblems([{ from: 'src/io/a.ts', to: 'src/sea/b.ts' }]), [/io → sea points up/])
  t.match(layerProblems([{ from: 'src/catalog/a.ts', to: 'src/sea/b.ts' }]), [/catalog → sea points up/])
  t.match(layerProblems([{ from: 'src/plan/build-plan.ts', to: 'src/render/files.ts' }]), [/plan → render points up/])
  t.match(layerProblems([{ from: 'src/io/a.ts', to: 'test/helpers.ts' }]), [/outside src/])
  t.match(layerProblems([{ from: 'src/newthing/a.ts', to: 'src/model/b.ts' }]), [/src\/newthing is in no layer/])
  t.match(
    layerProblems([
      { from: 'src/fetch/a.ts', to: 'src/oci/b.ts' },
      { from: 'src/oci/b.ts', to: 'src/sea/c.ts' },
      { from: 'src/sea/c.ts', to: 'src/fetch/d.ts' },
    ]),
    [/import each other/],
    'a circle within a layer',
  )
  t.end()
})
