/**
 * install.ps1, the Windows launcher, without PowerShell (none runs on this machine: no pwsh package in
 * Debian, no .NET to install it as a tool, and wine's powershell.exe is a stub). So its text is checked by
 * structure: it scans cleanly, stays short, checks SHA256SUMS with Get-FileHash before anything else, and
 * hands every argument to install.exe and its exit code back. The parts that decide (the line grammar and
 * the path rules) are regular expressions: they are taken out of the rendered script and run here, with
 * JavaScript's engine, which reads these patterns as .NET does (character classes, anchors, counted
 * repeats; ReadAllLines leaves no line break for .NET's `$` to treat differently), against the one
 * SHA256SUMS grammar of src/archive/sha256sums.ts.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { packageRoot } from '../../../src/io/package-root.js'
import { WINDOWS_PATHS, configSourcePath } from '../../../src/model/layout.js'
import { UTF8_BOM, renderInstallPs1 } from '../../../src/render/script/powershell.js'
import { checksumPathProblem, formatSha256Sums, parseSha256Sums } from '../../../src/archive/sha256sums.js'
import { HOSTILE, linuxPlan, windowsPlan } from '../../fixtures/plans.js'
import { readPsLiteral, scanPowerShell } from '../../fixtures/powershell.js'
import { templates } from '../../helpers.js'

const plan = { ...windowsPlan(), name: `edgebundle-1.23-windows-amd64-containerd ${HOSTILE}` }
const script = renderInstallPs1(plan, templates)
const body = script.slice(1)
const lines = body.split('\n')

/** The code lines (not comments, not blank), trimmed. */
const code = lines.map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))

/** The single-quoted literal that follows `before` in the script, read as PowerShell reads it. */
function literalAfter(before: string): string {
  const at = body.indexOf(before)
  if (at < 0) throw new Error(`no ${before} in install.ps1`)
  return readPsLiteral(body, at + before.length).value
}

t.test('install.ps1 starts with a UTF-8 byte order mark, so Windows PowerShell 5.1 reads it as UTF-8', async (t) => {
  t.ok(script.startsWith(UTF8_BOM))
  t.equal(script.indexOf(UTF8_BOM, 1), -1)
})

t.test('the launcher is short and scans cleanly: comments, literals and brackets all close', async (t) => {
  t.ok(lines.length <= 150, `${lines.length} lines`)
  const scan = scanPowerShell(body)
  t.same(scan.problems, [])
  t.notMatch(scan.code, 'touch /tmp/pwned', 'the bundle name stays inside a literal or a comment')
  t.ok(scan.literals.includes(plan.name), 'and reads back to itself')
  const template = readFileSync(join(packageRoot(), 'templates/install.ps1.hbs'), 'utf8')
  // "$name:" in a double-quoted string is a scope-qualified variable in PowerShell, not "$name" then ":".
  for (const match of template.matchAll(/"[^"\n]*"/g)) {
    if (/\$[A-Za-z_]\w*:/.test(match[0]) && !/\$(?:env|script|global|using):/.test(match[0])) t.fail(`scope trap in ${match[0]}`)
  }
})

t.test('the header documents the bundle and the arguments, as comments', async (t) => {
  const header = body.slice(0, body.indexOf('#Requires'))
  for (const line of header.split('\n')) if (line !== '' && !line.startsWith('#')) t.fail(`header line outside a comment: ${line}`)
  for (const text of ['edgebundle-1.23-windows-amd64-containerd', 'windows/amd64', plan.runtime.endpoint, '--dry-run', '--root DIR', 'SHA256SUMS.sig', 'Exit codes']) {
    t.match(header, text)
  }
})

t.test('it verifies first, then starts install.exe with every argument and returns its exit code', async (t) => {
  t.notOk(code.some((line) => /^param\s*\(/i.test(line)), 'no param() block: every argument reaches $args')
  t.ok(code.includes('$Arguments = @($args)'))
  t.equal(code.at(-1), 'exit $LASTEXITCODE', 'the last statement passes install.exe\'s exit code through')
  const start = code.findIndex((line) => line.startsWith('& (') && line.endsWith('@Arguments'))
  t.match(code[start], /^& \(\[System\.IO\.Path\]::Combine\(\$bundle, 'install\.exe'\)\) @Arguments$/)
  const hash = code.findIndex((line) => line.includes('Get-FileHash -LiteralPath $full -Algorithm SHA256'))
  const stop = code.findIndex((line) => line.startsWith('Stop-Launcher 3 ([string]$problems.Count'))
  t.ok(hash >= 0 && stop > hash && start > stop, 'hash every file → stop on any problem → start install.exe')
  t.match(body, /\$listed\.ContainsKey\('install\.exe'\)/, 'install.exe itself must be listed')
  // Exit codes: 3 for every integrity problem, 2 for a pasted script, 1 when install.exe cannot start.
  const codes = [...body.matchAll(/Stop-Launcher (\d)/g)].map((m) => m[1])
  t.same([...new Set(codes)].sort(), ['1', '2', '3'])
  t.match(body, /Stop-Launcher 3 \('SHA256SUMS is missing/)
  // No step of the plan is carried out here any more.
  for (const gone of ['tar.exe', 'sc.exe', 'Copy-Item', 'Remove-Item', 'Start-Service', 'New-Service', 'Set-Content']) t.notMatch(body, gone)
})

t.test("the launcher's line grammar and path rules, run: never looser than src/archive/sha256sums.ts", async (t) => {
  const lineRule = new RegExp(literalAfter('($line -cmatch '))
  t.match(body, /\$line -cmatch '/, 'case-sensitive (-cmatch): upper-case hex is refused, as sha256sums.ts refuses it')
  const ruleBody = body.slice(body.indexOf('function Test-BundlePath'))
  const pathRules = [...ruleBody.slice(0, ruleBody.indexOf('\n}\n')).matchAll(/\$Path -match '/g)].map((m) => new RegExp(readPsLiteral(ruleBody, m.index! + m[0].length - 1).value))
  t.equal(pathRules.length, 2)
  const launcherAccepts = (line: string) => {
    const match = lineRule.exec(line)
    return match !== null && pathRules.every((rule) => !rule.test(match[2]!))
  }
  const sha = 'a'.repeat(64)
  // Every file a Windows bundle has, in the form the builder writes.
  const real = formatSha256Sums(
    ['install.exe', 'install.ps1', 'plan.json', 'manifest.json', 'README.md', 'signer.pub', 'sbom.cdx.json', 'archives.json', configSourcePath(WINDOWS_PATHS.containerdConfig), ...plan.steps.flatMap((s) => (s.kind === 'write-file' ? [s.source] : s.kind === 'install-archive' || s.kind === 'import-image' ? [s.file] : []))].map((path) => ({ path, sha256: sha })),
  )
  for (const line of real.trimEnd().split('\n')) t.ok(launcherAccepts(line), `accepts ${line.slice(66)}`)
  t.ok(real.includes('config/C/Program Files/containerd/config.toml'), 'spaces in names included')

  const hostilePaths = ['../install.exe', 'a/../../x', '/etc/passwd', 'C:/Windows/System32/x.dll', 'C:x', 'a\\..\\..\\x', 'a//b', './a', 'a/./b', 'a/', '.', '..', 'install.exe:stream', 'a\u0001b', 'a\u007fb', 'a|b', 'a*b', 'a?b', 'a"b', 'a<b', 'a>b']
  for (const path of hostilePaths) t.notOk(launcherAccepts(`${sha}  ${path}`), `refuses ${JSON.stringify(path)}`)
  for (const line of [`${'A'.repeat(64)}  install.exe`, `${sha} install.exe`, `${sha} *install.exe`, `${sha}  `, `${'a'.repeat(63)}  x`, `${sha}x  y`, '']) {
    t.notOk(launcherAccepts(line), `refuses the line ${JSON.stringify(line)}`)
  }
  // Whatever the launcher accepts, the strict parser accepts too.
  for (const line of [...real.trimEnd().split('\n'), ...hostilePaths.map((p) => `${sha}  ${p}`), `${sha}  ...`, `${sha}  a b/c d`]) {
    if (!launcherAccepts(line)) continue
    t.same(parseSha256Sums(`${line}\n`).problems, [], `sha256sums.ts accepts ${JSON.stringify(line)}`)
    t.equal(checksumPathProblem(lineRule.exec(line)![2]!), null)
  }
})

t.test('rendering refuses a Linux plan', async (t) => {
  t.throws(() => renderInstallPs1(linuxPlan(), templates), /install\.sh/)
})
