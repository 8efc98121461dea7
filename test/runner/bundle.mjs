/**
 * Test files run as one pre-bundled ES module each instead of through tsx, module by module: a test file
 * with its slice of src/ is one file to load, not ~150 TypeScript modules transformed and resolved one at
 * a time through loader hooks (test/resolve/resolve.test.ts: 3.1 CPU-seconds under tsx, 2.4 from its bundle).
 *
 * Each bundle is kept in node_modules/.cache/edgebundle-tests/ with the SHA-256 of every file it was made
 * from; a bundle whose inputs changed is made again. `npm test` bundles every entry in one esbuild call
 * before tap starts (prebuild.mjs); a file run on its own (`npx tap test/x.test.ts`) is bundled on first
 * load by the resolve hook (hooks.mjs). Both come here.
 *
 * What stays as it was under tsx: import.meta.url, .dirname and .filename are the source file's own (so
 * packageRoot(), createRequire and paths next to a test resolve as before), npm packages are imported
 * from node_modules (not copied in, except into CHILD_SCRIPTS), function and class names are kept, and
 * errors map to the .ts lines.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')
export const CACHE = join(ROOT, 'node_modules', '.cache', 'edgebundle-tests')

/**
 * Scripts that tests start as child processes, some of them many times over (crash.test.ts runs the
 * installer 31 times). Their npm packages are bundled in as well, as dist/edgebundle.mjs has them: a child
 * then loads one file rather than some hundreds from node_modules (the CLI's --version: about 0.3 CPU-s
 * against 0.66). Test files keep importing packages from node_modules: tap must stay one copy.
 */
export const CHILD_SCRIPTS = ['test/installer/crash-child.ts', 'test/io/finish-child.ts', 'src/cli/entry.ts']
const SELF_CONTAINED = new Set(CHILD_SCRIPTS.map((name) => join(ROOT, name)))

/** What makes every bundle besides its inputs: a change to this file, tsconfig.json or esbuild remakes them all. */
const RUNNER_DIGEST = createHash('sha256')
  .update(readFileSync(fileURLToPath(import.meta.url)))
  .update(readFileSync(join(ROOT, 'tsconfig.json')))
  .update(JSON.parse(readFileSync(join(ROOT, 'node_modules', 'esbuild', 'package.json'), 'utf8')).version)
  .digest('hex')

const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex')

/** Where the bundle of `entry` (an absolute .ts path under the repo) is kept. */
export function bundlePath(entry) {
  return join(CACHE, relative(ROOT, entry).replace(/\.ts$/, '.mjs'))
}

/** The bundle of `entry` if it was made by this runner from inputs that are unchanged, else null. */
export function freshBundle(entry) {
  const out = bundlePath(entry)
  let record
  try {
    record = JSON.parse(readFileSync(`${out}.inputs.json`, 'utf8'))
  } catch {
    return null
  }
  if (record.runner !== RUNNER_DIGEST) return null
  for (const [path, digest] of Object.entries(record.inputs)) {
    try {
      if (sha256(join(ROOT, path)) !== digest) return null
    } catch {
      return null
    }
  }
  return out
}

/**
 * import.meta.url/dirname/filename become the source file's own. esbuild's define does it on the syntax
 * tree, per file: strings and comments that name import.meta are left as they are.
 */
const sourceLocation = {
  name: 'source-location',
  setup(build) {
    const tsconfigRaw = readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      const { transform } = await import('esbuild')
      const define = {
        'import.meta.url': JSON.stringify(pathToFileURL(args.path).href),
        'import.meta.dirname': JSON.stringify(dirname(args.path)),
        'import.meta.filename': JSON.stringify(args.path),
      }
      const text = readFileSync(args.path, 'utf8')
      // An inline map: the bundle's map then leads back to the .ts lines.
      const { code } = await transform(text, { loader: 'ts', format: 'esm', target: 'node20', define, tsconfigRaw, sourcefile: args.path, sourcemap: 'inline' })
      return { contents: code, loader: 'js' }
    })
  },
}

/**
 * A plain JavaScript module of the repository (this runner) stays a module of its own, imported where it
 * is: bundled, its import.meta would be the bundle's.
 */
const javascriptAsIs = {
  name: 'javascript-as-is',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\/.*\.mjs$/ }, (args) => ({ path: pathToFileURL(resolve(args.resolveDir, args.path)).href, external: true }))
  },
}

/** Writes `text` to `path` so that a reader sees the old file or the whole new one. */
function publish(path, text) {
  mkdirSync(dirname(path), { recursive: true })
  const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  writeFileSync(temp, text)
  renameSync(temp, path)
}

/**
 * Bundles `entries` (absolute .ts paths): the test files in one esbuild run, the child scripts in another.
 * Each bundle is written with its inputs' digests.
 */
export async function bundleEntries(entries) {
  const children = entries.filter((entry) => SELF_CONTAINED.has(entry))
  const tests = entries.filter((entry) => !SELF_CONTAINED.has(entry))
  await Promise.all([bundleGroup(tests, { packages: 'external' }), bundleGroup(children, SELF_CONTAINED_OPTIONS)])
}

/** Packages bundled in; the CommonJS ones among them call require() for Node built-ins, as in scripts/build-cli.mjs. */
const SELF_CONTAINED_OPTIONS = {
  banner: { js: "import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(import.meta.url);" },
}

async function bundleGroup(entries, options) {
  if (entries.length === 0) return
  const { build } = await import('esbuild')
  const result = await build({
    ...options,
    absWorkingDir: ROOT,
    entryPoints: entries,
    outdir: CACHE,
    outbase: ROOT,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    write: false,
    logLevel: 'error',
    plugins: [sourceLocation, javascriptAsIs],
  })
  // Bundles (and their maps) first, then the records: a reader that finds a fresh record finds its bundle.
  for (const file of result.outputFiles) publish(file.path, file.contents)
  const digests = new Map()
  for (const [key, meta] of Object.entries(result.metafile.outputs)) {
    if (!meta.entryPoint) continue
    const inputs = {}
    for (const input of Object.keys(meta.inputs)) {
      if (!digests.has(input)) digests.set(input, sha256(join(ROOT, input)))
      inputs[input] = digests.get(input)
    }
    publish(`${join(ROOT, key)}.inputs.json`, JSON.stringify({ runner: RUNNER_DIGEST, inputs }))
  }
}
