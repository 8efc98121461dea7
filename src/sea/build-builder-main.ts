/**
 * `npm run build:exe`: writes the builder as one linux-x64 executable, dist/edgebundle-linux-x64 (or
 * --out FILE). Node comes from the npm registry into the cache on first use (--cache-dir, --offline,
 * --npm-registry as for `edgebundle exe`); a second run with unchanged sources takes it from the cache.
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { packageRoot } from '../io/package-root.js'
import { resolveCacheDir } from '../fetch/cache.js'
import { createHttpClient } from '../fetch/http.js'
import { EdgebundleError } from '../model/errors.js'
import { BUILDER_EXECUTABLE, buildBuilderExecutable } from './builder-exe.js'

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, 'cache-dir': { type: 'string' }, offline: { type: 'boolean' }, 'npm-registry': { type: 'string' } },
    strict: true,
  })
  const out = values.out ?? join(packageRoot(), 'dist', BUILDER_EXECUTABLE)
  const http = values.offline ? undefined : createHttpClient()
  try {
    const built = await buildBuilderExecutable({
      cacheDir: resolveCacheDir(values['cache-dir']),
      out,
      offline: values.offline ?? false,
      ...(http ? { http } : {}),
      ...(values['npm-registry'] ? { npmRegistry: values['npm-registry'] } : {}),
      note: (message) => process.stderr.write(`${message}\n`),
    })
    const mib = (built.size / 1024 / 1024).toFixed(1)
    process.stdout.write(`${out}: ${mib} MiB, Node v${built.nodeVersion}, ${built.cached ? 'from the cache' : `built in ${(built.timings.totalMs / 1000).toFixed(1)} s`}\n`)
    return 0
  } catch (error) {
    if (error instanceof EdgebundleError) {
      process.stderr.write(`build:exe: ${error.message}\n${error.hint ? `  ${error.hint}\n` : ''}`)
      return error.exitCode
    }
    throw error
  } finally {
    await http?.close()
  }
}

main().then((code) => {
  process.exitCode = code
})
