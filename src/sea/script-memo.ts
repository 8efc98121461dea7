/**
 * The installer script esbuild made, remembered with the digest of every file it was made from, so a
 * warm build skips esbuild: starting its service and bundling take 0.3–0.6 s, most of a warm build, and
 * the executable's cache key needs the script's digest before anything else can be looked up.
 *
 *   <cache>/sea/scripts/<key16>.json   { format, key, inputs: { path: sha256 }, sha256 }
 *   <cache>/sea/scripts/<key16>.js     the script
 *
 * key covers esbuild's version, the source folder and the options; inputs are esbuild's own list of the
 * files it read (metafile.inputs) plus the package.json and tsconfig.json files that steer resolution.
 * Content digests, not mtimes: a checkout or a copy that keeps the bytes keeps the memo, and an edit that
 * keeps the size and the second does not fool it.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomically } from '../archive/publish.js'

const MEMO_FORMAT = 1

export interface MadeScript {
  code: string
  sha256: string
  /** Files the script depends on, relative to `root`, '/'-separated, with the size esbuild read (null: not read by esbuild). */
  inputs: Record<string, number | null>
}

interface Memo {
  format: number
  key: string
  /** null: the file was absent (a tsconfig.json that appears later changes the script). */
  inputs: Record<string, string | null>
  sha256: string
}

const sha256Of = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex')

async function contentOf(root: string, relative: string): Promise<Buffer | null> {
  try {
    return await readFile(join(root, ...relative.split('/')))
  } catch {
    return null
  }
}

/** The remembered script when every input still has the digest it had; null otherwise. */
async function recall(dir: string, name: string, key: string, root: string): Promise<{ code: string; sha256: string } | null> {
  let memo: Memo
  let code: string
  try {
    memo = JSON.parse(await readFile(join(dir, `${name}.json`), 'utf8')) as Memo
    if (memo.format !== MEMO_FORMAT || memo.key !== key) return null
    code = await readFile(join(dir, `${name}.js`), 'utf8')
  } catch {
    return null
  }
  if (sha256Of(code) !== memo.sha256) return null
  const paths = Object.keys(memo.inputs)
  const now = await Promise.all(paths.map(async (path) => (await contentOf(root, path).then((bytes) => bytes && sha256Of(bytes)))))
  return paths.every((path, i) => now[i] === memo.inputs[path]) ? { code, sha256: memo.sha256 } : null
}

/**
 * Written beside and renamed: a reader sees the old memo or the new one, never half of one. Not written
 * when an input's size is no longer what esbuild read: it was edited during the build, and the digest
 * taken now would vouch for a script made from its old bytes.
 */
async function remember(dir: string, name: string, key: string, root: string, made: MadeScript): Promise<void> {
  const inputs: Record<string, string | null> = {}
  for (const path of Object.keys(made.inputs).sort()) {
    const bytes = await contentOf(root, path)
    const read = made.inputs[path] ?? null
    if (read !== null && read !== bytes?.length) return
    inputs[path] = bytes && sha256Of(bytes)
  }
  const memo: Memo = { format: MEMO_FORMAT, key, inputs, sha256: made.sha256 }
  // The script first: a memo is only ever read beside the script it vouches for.
  await writeFileAtomically(join(dir, `${name}.js`), made.code)
  await writeFileAtomically(join(dir, `${name}.json`), `${JSON.stringify(memo)}\n`)
}

/**
 * The script `make` would make now: remembered under `dir` when its inputs are unchanged, else made and
 * remembered. A memo that cannot be written costs only the next build's time.
 */
export async function memoizedScript(
  dir: string,
  keyParts: unknown,
  root: string,
  make: () => Promise<MadeScript>,
): Promise<{ code: string; sha256: string; recalled: boolean }> {
  const key = sha256Of(JSON.stringify(keyParts))
  const name = key.slice(0, 16)
  const known = await recall(dir, name, key, root)
  if (known !== null) return { ...known, recalled: true }
  const made = await make()
  await remember(dir, name, key, root, made).catch(() => {})
  return { code: made.code, sha256: made.sha256, recalled: false }
}
