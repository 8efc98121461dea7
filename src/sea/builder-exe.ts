/**
 * The builder itself as one linux-x64 executable (`npm run build:exe` → dist/edgebundle-linux-x64), made
 * through the same SEA path and cache as the installers.
 *
 * The builder is ESM that reads bundles/ and templates/ next to its sources; a SEA runs one CommonJS
 * script with no package folder. So esbuild bundles it to CommonJS with an import.meta.url shim, and the
 * folders travel as SEA assets that the loaders use when running as a SEA (src/io/embedded.ts). The
 * bundled installer and postject go along too, so the executable can build installer executables
 * without node_modules or esbuild.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { join, relative } from 'node:path'
import { packageRoot } from '../io/package-root.js'
import { type BuiltExecutable, type ExecutableOptions, type SeaScript, buildSeaExecutable, bundleInstallerScript, installExecutable, loadEsbuild, packageVersion, seaScriptOptions } from './build-exe.js'
import { SEA_ASSETS } from '../io/embedded.js'

export const BUILDER_EXECUTABLE = 'edgebundle-linux-x64'

/** Every file under `dir` (recursively) whose name passes `keep`, as "<path relative to dir, />" → text. */
function readTree(dir: string, keep: (name: string) => boolean): Record<string, string> {
  const files: Record<string, string> = {}
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(folder, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.isFile() && keep(entry.name)) files[relative(dir, path).split('\\').join('/')] = readFileSync(path, 'utf8')
    }
  }
  walk(dir)
  return files
}

/** The builder CLI as one CommonJS script for the SEA. */
export async function bundleBuilderScript(root: string = packageRoot()): Promise<SeaScript> {
  const esbuild = loadEsbuild(root)
  const result = await esbuild.build({
    ...seaScriptOptions(root, 'src/cli/entry.ts'),
    // Error classes name themselves from new.target.name; keep those names readable.
    keepNames: true,
    define: {
      EDGEBUNDLE_VERSION: JSON.stringify(packageVersion(root)),
      // CommonJS has no import.meta: the modules that use it (packageRoot, createRequire) get the file URL of
      // the script, which in a SEA is the executable itself.
      'import.meta.url': '__edgebundle_import_meta_url',
    },
    banner: {
      js: 'var __edgebundle_import_meta_url = require("node:url").pathToFileURL(typeof __filename === "string" ? __filename : process.execPath).href;',
    },
  })
  const code = result.outputFiles[0]!.text
  return { code, sha256: createHash('sha256').update(code).digest('hex'), origin: 'esbuild' }
}

/** The SEA assets: bundles/ (YAML only: the JSON schemas are for editors), templates/, the installer, postject. */
export async function builderAssets(root: string = packageRoot(), installer?: SeaScript): Promise<Record<string, string>> {
  const postject = createRequire(join(root, 'package.json')).resolve('postject')
  return {
    [SEA_ASSETS.catalog]: JSON.stringify(readTree(join(root, 'bundles'), (name) => name.endsWith('.yaml'))),
    [SEA_ASSETS.templates]: JSON.stringify(readTree(join(root, 'templates'), () => true)),
    [SEA_ASSETS.installer]: (installer ?? (await bundleInstallerScript())).code,
    [SEA_ASSETS.postject]: readFileSync(postject, 'utf8'),
  }
}

/** Builds (or takes from the cache) the builder executable; with `out`, copies it there. */
export async function buildBuilderExecutable(options: ExecutableOptions & { out?: string }): Promise<BuiltExecutable> {
  const root = packageRoot()
  const script = await bundleBuilderScript(root)
  const built = await buildSeaExecutable(
    {
      kind: 'builder',
      platform: 'linux/amd64',
      fileName: BUILDER_EXECUTABLE,
      script,
      assets: await builderAssets(root),
      smoke: { args: ['--version'], expect: packageVersion(root) },
    },
    options,
  )
  if (options.out !== undefined) await installExecutable(built, options.out)
  return built
}
