/**
 * Real bundle folders for the installer tests: the rendered part of a bundle (plan.json, install script,
 * config/) from the render API, a placeholder for each artifact the plan uses (render downloads
 * nothing), optionally an executable, and SHA256SUMS written by coreutils' sha256sum as the builder's
 * contract says (`sha256sum -c` compatible).
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { loadCatalog } from '../../src/catalog/load.js'
import { fileTemplates } from '../../src/io/templates.js'
import { bundleFilesOf } from '../../src/installer/bundle.js'
import type { Plan } from '../../src/model/plan.js'
import { renderBundle } from '../../src/render/bundle.js'
import { type RawRequest, validateRequest } from '../../src/resolve/request.js'

/** Every file but SHA256SUMS, sorted, relative: what the builder writes. */
export function writeChecksums(bundle: string): void {
  execFileSync('sh', ['-c', "find . -type f ! -name SHA256SUMS -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum > SHA256SUMS"], { cwd: bundle })
}

export interface MadeBundle {
  dir: string
  plan: Plan
  /** Bundle-relative paths of the placeholders standing in for artifacts. */
  placeholders: string[]
}

/** Renders `request` into `dir` (created), adds placeholders, the executable (if given) and SHA256SUMS. */
export function makeBundle(dir: string, request: RawRequest, executable?: { source: string; name: string }): MadeBundle {
  const catalog = loadCatalog()
  const rendered = renderBundle(catalog, validateRequest(catalog, request), fileTemplates())
  mkdirSync(dir, { recursive: true })
  for (const file of rendered.files) {
    const path = join(dir, ...file.path.split('/'))
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, file.content)
    chmodSync(path, Number.parseInt(file.mode, 8))
  }
  const placeholders: string[] = []
  for (const step of rendered.plan.steps) {
    for (const file of bundleFilesOf(step)) {
      const path = join(dir, ...file.split('/'))
      if (existsSync(path)) continue
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, `placeholder for ${file}\n`)
      placeholders.push(file)
    }
  }
  if (executable) {
    const path = join(dir, executable.name)
    copyFileSync(executable.source, path)
    chmodSync(path, 0o755)
  }
  writeChecksums(dir)
  return { dir, plan: rendered.plan, placeholders }
}

/** "  3. install-runc: …" → the step ids of a text dry run, in printed order. */
export function stepIdsFromText(stdout: string): string[] {
  return [...stdout.matchAll(/^\s+\d+\. (.+?): /gm)].map((match) => match[1]!)
}

/** The parsed lines of --json output. */
export function jsonEvents(stdout: string): Array<Record<string, unknown> & { event: string }> {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown> & { event: string })
}
