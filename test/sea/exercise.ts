/**
 * What every platform's installer executable must do inside a real bundle folder (the same checks for
 * linux-x64 natively, linux-arm64 under qemu, win-x64 under wine): name its target and Node in --version,
 * find its bundle from its own path, list the plan's steps in order in a dry run under --root (text and
 * --json) and change nothing, and exit 3 when a file of the bundle was changed.
 */
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { RawRequest } from '../../src/resolve/request.js'
import type { BuiltExecutable } from '../../src/sea/build-exe.js'
import { jsonEvents, stepIdsFromText, writeChecksums } from '../installer/fixtures.js'
import { makeInstallableBundle } from '../installer/node-fixtures.js'
import type { RunResult } from './fixtures.js'

export interface Exercise {
  built: BuiltExecutable
  request: RawRequest
  /** process.platform-process.arch as the executable reports it. */
  reports: string
  run: (executable: string, args: string[], cwd: string) => RunResult
}

export async function exerciseInstaller(t: Test, { built, request, reports, run }: Exercise): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'edgebundle-exe-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const bundle = makeInstallableBundle(join(work, 'bundle'), request, work)
  const executable = join(bundle.dir, built.fileName)
  copyFileSync(built.path, executable)
  chmodSync(executable, 0o755)
  writeChecksums(bundle.dir)
  // The dry runs look at an empty root: what they report is what a fresh node would get.
  const root = join(work, 'root')
  mkdirSync(root)
  const ids = bundle.plan.steps.map((step) => step.id)

  const version = run(executable, ['--version'], work)
  t.equal(version.code, 0, `--version: ${version.stderr}`)
  t.match(version.stdout, new RegExp(`^edgebundle installer \\S+ \\(Node\\.js v${built.nodeVersion.replace(/\./g, '\\.')}, ${reports}\\)$`, 'm'))
  t.match(version.stdout, new RegExp(`^bundle: ${bundle.plan.name}$`, 'm'), 'it finds the bundle it sits in')
  t.equal(built.nodeVersion, '22.23.3')

  // Run from another folder: the bundle is found from the executable's own path, not the working folder.
  const dry = run(executable, ['--dry-run', '--root', root], work)
  t.equal(dry.code, 0, `--dry-run: ${dry.stderr}`)
  t.match(dry.stdout, /^verified \d+ files /m)
  t.same(stepIdsFromText(dry.stdout), ids, 'every step, in plan order')
  t.match(dry.stdout, /dry run complete/)

  const json = run(executable, ['--dry-run', '--json', '--root', root], bundle.dir)
  t.equal(json.code, 0, `--dry-run --json: ${json.stderr}`)
  const events = jsonEvents(json.stdout)
  t.same(events.filter((e) => e.event === 'step').map((e) => e.id), ids)
  t.match(events.at(-1), { event: 'done', exitCode: 0, dryRun: true })
  t.ok(events.some((e) => e.event === 'change'), 'the dry run lists what would change')
  t.same(readdirSync(root), [], 'and changes nothing')

  const target = bundle.plan.files[0]!.source
  appendFileSync(join(bundle.dir, ...target.split('/')), '# tampered\n')
  const tampered = run(executable, ['--dry-run', '--root', root], work)
  t.equal(tampered.code, 3, 'a changed file is an integrity failure')
  t.match(tampered.stderr, `FAILED ${target}: checksum mismatch`)
  t.notMatch(tampered.stdout, /dry run:/, 'no step is listed after a failed verification')
}
