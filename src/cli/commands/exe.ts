/**
 * edgebundle exe: builds the installer executable (`install`, `install.exe`) for one platform into a
 * folder, from the cache when this installer version was built before. Bundle builds use the same API
 * (src/sea/build-exe.ts); this command makes one on its own, e.g. to try a new Node runtime.
 */
import { resolve } from 'node:path'
import { resolveCacheDir } from '../../fetch/cache.js'
import { type Http, type HttpClient, createHttpClient } from '../../fetch/http.js'
import { UsageError } from '../../model/errors.js'
import { buildInstallerExecutable, installExecutable } from '../../sea/build-exe.js'
import { EXE_PLATFORMS, type ExePlatform, executableName, parsePlatformKey } from '../../sea/runtimes.js'
import { VERSION } from '../version.js'

export interface ExeFlags {
  platform: string
  out: string
  nodeBinary?: string[]
  npmRegistry?: string
  cacheDir?: string
  offline?: boolean
  json?: boolean
}

export interface ExeCommandIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  http?: Http | undefined
  env?: NodeJS.ProcessEnv | undefined
}

function parsePlatform(value: string): ExePlatform {
  const platform = (EXE_PLATFORMS as readonly string[]).includes(value) ? (value as ExePlatform) : null
  if (platform === null) throw new UsageError(`--platform ${value}: expected one of ${EXE_PLATFORMS.join(', ')}`)
  return platform
}

/** --node-binary KEY=PATH, repeatable; KEY is an arch (Linux) or a platform: arm=/opt/node, windows/amd64=node.exe. */
export function parseNodeBinaries(values: string[] = [], cwd: string = process.cwd()): Partial<Record<ExePlatform, string>> {
  const given: Partial<Record<ExePlatform, string>> = {}
  for (const value of values) {
    const equals = value.indexOf('=')
    const platform = equals > 0 ? parsePlatformKey(value.slice(0, equals)) : null
    const path = value.slice(equals + 1)
    if (platform === null || path === '') {
      throw new UsageError(`--node-binary ${value}: expected PLATFORM=PATH, PLATFORM one of ${EXE_PLATFORMS.join(', ')} (or just the arch for Linux: amd64, arm64, arm)`)
    }
    if (given[platform] !== undefined) throw new UsageError(`--node-binary: ${platform} is given twice`)
    given[platform] = resolve(cwd, path)
  }
  return given
}

export async function exeCommand(flags: ExeFlags, io: ExeCommandIo): Promise<void> {
  const platform = parsePlatform(flags.platform)
  const env = io.env ?? process.env
  let client: HttpClient | undefined
  const http = flags.offline ? undefined : (io.http ?? (client = createHttpClient({ env, userAgent: `edgebundle/${VERSION}` })))
  let built
  try {
    built = await buildInstallerExecutable(platform, {
      cacheDir: resolveCacheDir(flags.cacheDir, env),
      offline: flags.offline ?? false,
      nodeBinaries: parseNodeBinaries(flags.nodeBinary),
      env,
      ...(http ? { http } : {}),
      ...(flags.npmRegistry ? { npmRegistry: flags.npmRegistry } : {}),
      note: (message) => io.stderr(`${message}\n`),
    })
  } finally {
    await client?.close()
  }
  const dest = resolve(flags.out, executableName(platform))
  await installExecutable(built, dest)
  if (flags.json) {
    io.stdout(`${JSON.stringify({ ...built, dest }, null, 2)}\n`)
    return
  }
  const how = built.cached ? 'from the cache' : `built in ${(built.timings.totalMs / 1000).toFixed(1)} s`
  io.stdout(`${dest}: installer for ${platform}, Node v${built.nodeVersion}, ${(built.size / 1024 / 1024).toFixed(1)} MiB, ${how}\n`)
}
