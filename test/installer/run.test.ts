/**
 * The installer's flow in-process (the same code the executable runs): usage, --version, bundle discovery,
 * a dry run of a Windows bundle (--json), and every integrity failure exiting 3. install.test.ts carries
 * out Linux bundles.
 */
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { checkPlan } from '../../src/installer/bundle.js'
import { PlanFormatError } from '../../src/installer/errors.js'
import { hostNode } from '../../src/installer/host.js'
import { type InstallerIo, runInstaller } from '../../src/installer/run.js'
import { jsonEvents, makeBundle, writeChecksums } from './fixtures.js'
import { makeInstallableBundle } from './node-fixtures.js'

const work = mkdtempSync(join(tmpdir(), 'edgebundle-installer-run-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
let counter = 0
const freshDir = (name: string) => join(work, `${++counter}-${name}`)

async function install(argv: string[], context: Partial<Pick<InstallerIo, 'isSea' | 'execPath' | 'cwd'>> = {}) {
  // The real node: every test here either fails before touching it or works under --root / --dry-run.
  let stdout = ''
  let stderr = ''
  const code = await runInstaller(argv, {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    isSea: context.isSea ?? false,
    execPath: context.execPath ?? '/usr/bin/node',
    cwd: context.cwd ?? process.cwd(),
    nodeVersion: 'v22.23.3',
    platform: 'linux-x64',
    now: () => performance.now(),
    node: hostNode(),
  })
  return { code, stdout, stderr }
}

const ubuntu = { os: 'ubuntu', arch: 'arm64', runtime: 'containerd' }
const windows = { os: 'windows', arch: 'amd64', runtime: 'containerd' }

t.test('usage: --help, commands, bad flags', async (t) => {
  const help = await install(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /^Usage: install \[COMMAND\] \[options\]/)
  for (const word of ['--dry-run', 'rollback', 'uninstall', 'status', 'verify', '--pubkey', '--cloudcore', '--join']) t.match(help.stdout, word)
  for (const argv of [['--bogus'], ['extra'], ['install', 'rollback'], ['--bundle'], ['--bundle', '--dry-run'], ['--bundle='], ['--pubkey='], ['rollback', '--cloudcore', 'h:1', '--token', 't']]) {
    const result = await install(argv)
    t.equal(result.code, 2, argv.join(' '))
    t.match(result.stderr, /^install: /, argv.join(' '))
  }
  t.match((await install(['--bogus'])).stderr, /unknown option --bogus/)
  t.match((await install(['extra'])).stderr, /unknown command "extra"/)
  const json = await install(['--bogus', '--json'])
  t.equal(json.code, 2)
  t.match(jsonEvents(json.stdout), [{ event: 'error', exitCode: 2 }], '--json answers in JSON even for bad usage')
})

t.test('--version names the installer, Node, the platform and the bundle when there is one', async (t) => {
  const bundle = makeBundle(freshDir('version'), ubuntu)
  const alone = await install(['--version'])
  t.equal(alone.code, 0)
  t.match(alone.stdout, /^edgebundle installer \S+ \(Node\.js v22\.23\.3, linux-x64\)\nbundle: none found\n$/)
  const inside = await install(['--version'], { isSea: true, execPath: join(bundle.dir, 'install') })
  t.match(inside.stdout, /^bundle: edgebundle-1\.23-ubuntu-arm64-containerd$/m)
  const json = await install(['--version', '--json', '--bundle', bundle.dir])
  t.match(jsonEvents(json.stdout), [{ event: 'version', node: 'v22.23.3', platform: 'linux-x64', bundle: 'edgebundle-1.23-ubuntu-arm64-containerd' }])
})

t.test('finds the bundle from the executable, or --bundle; refuses folders that are none', async (t) => {
  const bundle = makeInstallableBundle(freshDir('locate'), ubuntu, freshDir('locate-work'))
  const fromExe = await install(['verify'], { isSea: true, execPath: join(bundle.dir, 'install'), cwd: tmpdir() })
  t.equal(fromExe.code, 0, fromExe.stderr)
  t.match(fromExe.stdout, /^verified \d+ files/m)
  const relative = await install(['verify', '--bundle', '.'], { cwd: bundle.dir })
  t.equal(relative.code, 0, '--bundle is taken relative to the working folder')

  const notSea = await install(['verify'])
  t.equal(notSea.code, 2)
  t.match(notSea.stderr, /Pass --bundle DIR/)
  const empty = mkdtempSync(join(work, 'empty-'))
  t.equal((await install(['verify', '--bundle', empty])).code, 2)
  t.equal((await install(['verify', '--bundle', join(empty, 'nope')])).code, 2)
  const stray = await install(['verify'], { isSea: true, execPath: join(empty, 'install') })
  t.equal(stray.code, 2)
  t.match(stray.stderr, /not inside an unpacked bundle/)
})

t.test('a dry run of a Windows bundle under --root, with --json: one event per line, steps in order', async (t) => {
  const bundle = makeInstallableBundle(freshDir('windows'), windows, freshDir('windows-work'))
  const root = mkdtempSync(join(work, 'windows-root-'))
  const json = await install(['--dry-run', '--json', '--bundle', bundle.dir, '--root', root])
  t.equal(json.code, 0, json.stdout)
  t.equal(json.stderr, '', 'nothing but JSON, and only on stdout')
  const events = jsonEvents(json.stdout)
  const steps = events.filter((e) => e.event === 'step')
  t.same(steps.map((e) => e.id), bundle.plan.steps.map((step) => step.id))
  t.same(steps.map((e) => e.index), bundle.plan.steps.map((_, i) => i + 1))
  t.ok(events.some((e) => e.event === 'change' && /^write C:\\Program Files\\containerd\\config\.toml$/.test(String(e.action))), 'Windows node paths')
  t.match(events.at(-1), { event: 'done', exitCode: 0, dryRun: true, steps: bundle.plan.steps.length })
  t.same(readdirSync(root), [], 'a dry run writes nothing')
})

t.test('integrity: any changed, missing, unlisted or unsafe file exits 3 and names it', async (t) => {
  const expectIntegrity = async (t: Test, dir: string, pattern: RegExp, kind: string) => {
    const text = await install(['--dry-run', '--bundle', dir])
    t.equal(text.code, 3, text.stderr)
    t.match(text.stderr, pattern)
    t.match(text.stderr, /nothing was changed/)
    t.notMatch(text.stdout, /dry run:/, 'no step is listed')
    const json = await install(['--dry-run', '--json', '--bundle', dir])
    t.equal(json.code, 3)
    const events = jsonEvents(json.stdout)
    t.ok(events.some((e) => e.event === 'verify-problem' && (e.problem as { kind: string }).kind === kind), kind)
    t.match(events.at(-1), { event: 'error', exitCode: 3 })
  }

  const tampered = makeBundle(freshDir('tampered'), ubuntu)
  appendFileSync(join(tampered.dir, 'config', 'etc', 'containerd', 'config.toml'), '# changed\n')
  await expectIntegrity(t, tampered.dir, /FAILED config\/etc\/containerd\/config\.toml: checksum mismatch/, 'mismatch')

  const missing = makeBundle(freshDir('missing'), ubuntu)
  rmSync(join(missing.dir, missing.placeholders[0]!))
  await expectIntegrity(t, missing.dir, new RegExp(`FAILED ${missing.placeholders[0]!.replace(/\./g, '\\.')}: missing`), 'missing')

  const unlisted = makeBundle(freshDir('unlisted'), ubuntu)
  const sums = join(unlisted.dir, 'SHA256SUMS')
  writeFileSync(sums, readFileSync(sums, 'utf8').split('\n').filter((line) => !line.endsWith(`  ${unlisted.placeholders[0]}`)).join('\n'))
  await expectIntegrity(t, unlisted.dir, /: not listed in SHA256SUMS \(added after the bundle was built\)/, 'unlisted')
  // Gone from the folder and from SHA256SUMS: only plan.json still names it.
  rmSync(join(unlisted.dir, unlisted.placeholders[0]!))
  await expectIntegrity(t, unlisted.dir, /used by plan\.json \(step install-containerd\) but not listed in SHA256SUMS/, 'not-covered')

  const escaping = makeBundle(freshDir('escaping'), ubuntu)
  appendFileSync(join(escaping.dir, 'SHA256SUMS'), `${'0'.repeat(64)}  ../../etc/passwd\n`)
  await expectIntegrity(t, escaping.dir, /refused path: has a "\.\." segment/, 'unsafe-path')

  const noSums = makeBundle(freshDir('nosums'), ubuntu)
  rmSync(join(noSums.dir, 'SHA256SUMS'))
  const result = await install(['--dry-run', '--bundle', noSums.dir])
  t.equal(result.code, 3)
  t.match(result.stderr, /SHA256SUMS is missing/)
})

t.test('a plan of another schema version or shape is refused with exit 2, after verification', async (t) => {
  const bundle = makeBundle(freshDir('schema'), ubuntu)
  const planPath = join(bundle.dir, 'plan.json')
  const plan = JSON.parse(readFileSync(planPath, 'utf8'))
  writeFileSync(planPath, JSON.stringify({ ...plan, schemaVersion: 2 }))
  writeChecksums(bundle.dir)
  const result = await install(['--dry-run', '--bundle', bundle.dir])
  t.equal(result.code, 2)
  t.match(result.stderr, /schemaVersion 2; this installer carries out version 1/)

  t.throws(() => checkPlan({ ...plan, steps: [{ id: 'x', kind: 'format-disk', description: 'no' }] }), PlanFormatError)
  t.throws(() => checkPlan({ ...plan, steps: [plan.steps[1], plan.steps[1]] }), /is used twice/)
  t.throws(() => checkPlan({ ...plan, steps: [{ ...plan.steps[1], file: 7 }] }), /file is not a string/)
  t.throws(() => checkPlan({ ...plan, steps: [{ ...plan.steps[0], checks: [{ kind: 'moon-phase', severity: 'error' }] }] }), /unknown check/)
  t.equal(checkPlan(plan), plan)
})
