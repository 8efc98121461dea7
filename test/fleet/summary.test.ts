/**
 * edgebundle report: the summary of fetched <host>.jsonl reports (pure), and the command around it.
 * The reports here are the installer's own --json output shapes (src/installer/report.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { run } from '../../src/cli/main.js'
import { formatFleetSummary, summarizeFleet, summarizeHost } from '../../src/fleet/summary.js'

const bundle = (dryRun = false, kubeedge = '1.23') => ({
  event: 'bundle', dir: `/var/lib/edgebundle/fleet/edgebundle-${kubeedge}-ubuntu-amd64-containerd`, name: `edgebundle-${kubeedge}-ubuntu-amd64-containerd`, os: 'ubuntu', arch: 'amd64', runtime: 'containerd', runtimeVersion: '1.7.34', kubeedge, dryRun,
})
const lines = (...events: object[]) => events.map((e) => JSON.stringify(e)).join('\n') + '\n'
const installed = lines({ event: 'verified', files: 40, bytes: 1, ms: 1 }, bundle(), { event: 'change', step: 's', action: 'wrote /etc/x', dryRun: false }, { event: 'done', exitCode: 0, dryRun: false, steps: 12, changed: 30, unchanged: 2, warnings: 1 })
const unchanged = lines(bundle(), { event: 'done', exitCode: 0, dryRun: false, steps: 12, changed: 0, unchanged: 32, warnings: 0 })
const corrupted = lines(
  { event: 'verify-start', files: 40 },
  { event: 'verify-problem', problem: { kind: 'mismatch', path: 'README.md', expected: 'a'.repeat(64), actual: 'b'.repeat(64) } },
  { event: 'error', exitCode: 3, message: 'the bundle in /x failed verification (1 problem); nothing was changed' },
)
const preflight = lines(bundle(), { event: 'check', kind: 'os-release', severity: 'error', outcome: 'failed', message: 'the OS is centos' }, { event: 'error', exitCode: 4, message: 'preflight failed: 1 check', hint: 'see above' })

t.test('each host: installed, unchanged, failed with the reason, dry runs, rollback and uninstall', async (t) => {
  t.match(summarizeHost('a', installed), { host: 'a', state: 'installed', exitCode: 0, changed: 30, unchanged: 2, warnings: 1, version: { bundle: 'edgebundle-1.23-ubuntu-amd64-containerd', kubeedge: '1.23', runtimeVersion: '1.7.34' } })
  t.match(summarizeHost('b', unchanged), { state: 'unchanged', changed: 0 })
  const bad = summarizeHost('c', corrupted)
  t.match(bad, { state: 'failed', exitCode: 3 })
  t.match(bad.reason, /^exit 3: the bundle in \/x failed verification \(1 problem\); nothing was changed: .*README\.md/, 'the message and the problem it names')
  t.notOk('version' in bad, 'no bundle event: no version')
  t.match(summarizeHost('d', preflight), { state: 'failed', exitCode: 4, reason: 'exit 4: preflight failed: 1 check' })
  t.match(summarizeHost('e', 'Segmentation fault\n'), { state: 'failed', exitCode: null, reason: /did not finish.*Segmentation fault/ }, 'no final event: failed, with what the report holds')
  t.match(summarizeHost('f', ''), { state: 'failed', exitCode: null })
  t.match(summarizeHost('g', lines(bundle(true), { event: 'done', exitCode: 0, dryRun: true, steps: 12, changed: 5, unchanged: 1 })), { state: 'would-change', dryRun: true, changed: 5 })
  const rolledBack = lines({ event: 'rolled-back', run: 1, name: 'x', finished: true, records: 9, dryRun: false, reason: 'rollback' }, { event: 'done', exitCode: 0, dryRun: false, steps: 0, warnings: 0 })
  t.match(summarizeHost('h', rolledBack), { state: 'rolled-back', changed: 1 })
  t.match(summarizeHost('i', rolledBack.replace('"rollback"', '"uninstall"')), { state: 'uninstalled' })
  t.match(summarizeHost('j', lines({ event: 'info', message: 'nothing to undo' }, { event: 'done', exitCode: 0, dryRun: false, steps: 0, warnings: 0 })), { state: 'unchanged' })
})

t.test('the fleet: counts, versions installed (real runs only), a table', async (t) => {
  const other = lines(bundle(false, '1.22'), { event: 'done', exitCode: 0, dryRun: false, steps: 12, changed: 3, unchanged: 0 })
  const summary = summarizeFleet([
    { host: 'edge-2', text: unchanged },
    { host: 'edge-1', text: installed },
    { host: 'edge-3', text: corrupted },
    { host: 'edge-4', text: other },
    { host: 'edge-5', text: lines(bundle(true), { event: 'done', exitCode: 0, dryRun: true, steps: 12, changed: 0, unchanged: 1 }) },
  ])
  t.same(summary.hosts.map((h) => h.host), ['edge-1', 'edge-2', 'edge-3', 'edge-4', 'edge-5'], 'sorted by host')
  t.match(summary.counts, { installed: 2, unchanged: 2, failed: 1, 'would-change': 0 })
  t.match(summary.versions, [
    { bundle: 'edgebundle-1.22-ubuntu-amd64-containerd', hosts: ['edge-4'] },
    { bundle: 'edgebundle-1.23-ubuntu-amd64-containerd', hosts: ['edge-1', 'edge-2'] },
  ], 'a dry run installs nothing: edge-5 is not counted')
  const text = formatFleetSummary(summary)
  t.match(text, /^5 hosts: 2 installed, 2 unchanged, 1 failed\n/)
  t.match(text, /edge-3 +failed +- +- +exit 3: the bundle in \/x failed verification/)
  t.match(text, /Versions installed:\nBUNDLE +KUBEEDGE +RUNTIME +PLATFORM +HOSTS\nedgebundle-1\.22-ubuntu-amd64-containerd +1\.22 +containerd 1\.7\.34 +ubuntu\/amd64 +1 \(edge-4\)/)
})

t.test('edgebundle report DIR: text, --json, exit 1 on a failed host, exit 2 without reports', async (t) => {
  const cli = async (argv: string[]) => {
    let stdout = ''
    let stderr = ''
    const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) })
    return { code, stdout, stderr }
  }
  const dir = t.testdir({ 'edge-1.jsonl': installed, 'edge-2.jsonl': unchanged, 'notes.txt': 'not a report' })
  const ok = await cli(['report', dir])
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /^2 hosts: 1 installed, 1 unchanged, 0 failed/)
  const json = await cli(['report', dir, '--json'])
  t.match(JSON.parse(json.stdout), { counts: { installed: 1, unchanged: 1 }, hosts: [{ host: 'edge-1' }, { host: 'edge-2' }] })
  writeFileSync(join(dir, 'edge-3.example.com.jsonl'), corrupted)
  const failed = await cli(['report', dir])
  t.equal(failed.code, 1, 'a failed host: exit 1')
  t.match(failed.stdout, /edge-3\.example\.com +failed/, 'the host name keeps its dots')
  t.match(failed.stderr, /1 of 3 hosts failed/)
  const empty = join(dir, 'empty')
  mkdirSync(empty)
  const none = await cli(['report', empty])
  t.equal(none.code, 2)
  t.match(none.stderr, /holds no <host>\.jsonl reports/)
  const missing = await cli(['report', join(dir, 'nope')])
  t.equal(missing.code, 2)
  t.match(missing.stderr, /is not a folder of reports/)
})
