/**
 * Issue 14, item 5: functions short enough to read at once. A function in src/ over MAX_LINES lines
 * (first line of its signature to its closing brace, nested functions counted on their own) carries a
 * comment saying why it is long by design: on itself or on the function it sits in.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import t from 'tap'
import ts from 'typescript'

const ROOT = resolve(import.meta.dirname, '..')
const SRC = join(ROOT, 'src')
const MAX_LINES = 80
/** What the comment on a long function says, so a reader (and this test) finds the reason. */
const MARK = /long by design/i

/**
 * Long functions waiting to be split, by "file name"; empty now. The test fails once one listed is no
 * longer long, so the list only shrinks.
 */
const PENDING: readonly string[] = []

export interface LongFunction {
  where: string
  name: string
  lines: number
  explained: boolean
}

type FunctionNode = ts.FunctionLikeDeclaration & { body: ts.Node }

function isFunction(node: ts.Node): node is FunctionNode {
  return (
    (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isArrowFunction(node) || ts.isFunctionExpression(node) || ts.isConstructorDeclaration(node)) &&
    node.body !== undefined
  )
}

function nameOf(node: FunctionNode): string {
  if (node.name) return node.name.getText()
  const parent = node.parent
  if ((ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) && parent.name) return parent.name.getText()
  return '<anonymous>'
}

/** The comments before a function, or before the statement or property that holds it. */
function leadingComments(node: ts.Node, text: string): string {
  const holders: ts.Node[] = [node]
  for (let at = node.parent; at && !ts.isSourceFile(at) && !ts.isBlock(at); at = at.parent) holders.push(at)
  return holders.map((holder) => (ts.getLeadingCommentRanges(text, holder.getFullStart()) ?? []).map((range) => text.slice(range.pos, range.end)).join('\n')).join('\n')
}

export function longFunctions(file: string, maxLines = MAX_LINES): LongFunction[] {
  const text = readFileSync(file, 'utf8')
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const found: LongFunction[] = []
  const visit = (node: ts.Node, explainedAbove: boolean) => {
    let explained = explainedAbove
    if (isFunction(node)) {
      explained ||= MARK.test(leadingComments(node, text))
      const first = source.getLineAndCharacterOfPosition(node.getStart()).line
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line
      const lines = last - first + 1
      if (lines > maxLines) found.push({ where: `${relative(ROOT, file)}:${first + 1}`, name: nameOf(node), lines, explained })
    }
    ts.forEachChild(node, (child) => visit(child, explained))
  }
  visit(source, false)
  return found
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : []
  })
}

t.test('the walk finds a long function, names it, and honours the comment on it or around it', (t) => {
  const dir = t.testdir({
    'a.ts': [
      `export function short() {\n  return 1\n}`,
      `export function long() {\n${'  void 0\n'.repeat(8)}}`,
      `// Long by design: a table.\nexport const table = () => {\n${'  void 0\n'.repeat(8)}}`,
      `/** Long by design: a switch. */\nexport function outer() {\n  return { inner() {\n${'    void 0\n'.repeat(8)}  } }\n}`,
    ].join('\n'),
  })
  const found = longFunctions(join(dir, 'a.ts'), 8).map(({ name, lines, explained }) => ({ name, lines, explained }))
  t.same(found, [
    { name: 'long', lines: 10, explained: false },
    { name: 'table', lines: 10, explained: true },
    { name: 'outer', lines: 12, explained: true },
    { name: 'inner', lines: 10, explained: true },
  ])
  t.end()
})

t.test(`every function in src/ over ${MAX_LINES} lines says why it is long`, (t) => {
  const all = sourceFiles(SRC).flatMap((file) => longFunctions(file))
  for (const fn of all) t.comment(`${String(fn.lines).padStart(4)} ${fn.name} ${fn.where}${fn.explained ? ' (long by design)' : ''}`)
  const key = (fn: LongFunction) => `${fn.where.replace(/:\d+$/, '')} ${fn.name}`
  const unexplained = all.filter((fn) => !fn.explained && !PENDING.includes(key(fn)))
  t.same(
    unexplained.map((fn) => `${fn.where} ${fn.name} (${fn.lines} lines)`),
    [],
    `split these into named steps, or say why one is best whole with a "Long by design: …" comment`,
  )
  const stillLong = new Set(all.map(key))
  t.same(
    PENDING.filter((entry) => !stillLong.has(entry)),
    [],
    'a PENDING entry that is no longer long comes off the list',
  )
  t.end()
})
