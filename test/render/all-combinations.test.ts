/**
 * Every supported combination (every KubeEdge version, every runtime source): each rendered TOML/JSON/YAML
 * parses back with its parser and holds the chosen values, and each install.sh passes shellcheck.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse as parseToml } from 'smol-toml'
import { parse as parseYaml } from 'yaml'
import { renderBundle } from '../../src/render/bundle.js'
import { validateRequest, type RawRequest } from '../../src/resolve/request.js'
import { listMatrix, unsupportedReason } from '../../src/resolve/resolve.js'
import { catalog, templates } from '../helpers.js'

function parse(format: string, content: string): unknown {
  switch (format) {
    case 'toml':
      return parseToml(content)
    case 'json':
      return JSON.parse(content)
    case 'yaml':
      return parseYaml(content)
    default:
      return undefined
  }
}

/** Every string leaf of a parsed document. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (Array.isArray(value)) return value.flatMap(strings)
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings)
  return []
}

const PAUSE = '127.0.0.1:5000/edge/pause:3.9'
const SUBNET = '10.123.0.0/16'

interface Variant {
  raw: RawRequest
  label: string
}

function variants(): Variant[] {
  const out: Variant[] = []
  for (const entry of listMatrix(catalog)) {
    const { os, arch, runtime, kubeedge } = entry.target
    for (const source of catalog.runtimes[runtime].sources.allowed) {
      if (unsupportedReason(catalog, entry.target, source) !== null) continue
      const packageFormat = catalog.platforms.oses[os].packageFormat
      if (source === 'packages' && packageFormat === 'none') continue
      // Where the runtime's default version cannot serve this KubeEdge (only with a source other than release),
      // a node's own runtime of a version that can: CRI-O before 1.26 still serves CRI v1alpha2 for KubeEdge 1.12.
      const nodeVersion = source !== 'release' && runtime === 'cri-o' && kubeedge === '1.12' ? { 'runtime-version': '1.25.5' } : {}
      const raw: RawRequest = {
        ...nodeVersion,
        os, arch, runtime, 'kubeedge-version': kubeedge, 'runtime-source': source,
        'pause-image': PAUSE, 'cni-subnet': SUBNET, 'registry-mirror': ['https://mirror.example.com'],
        ...(os === 'windows' ? {} : { 'cgroup-driver': 'systemd' }),
        ...(source === 'packages' ? { packages: [`runtime-1.0.${packageFormat}`] } : {}),
      }
      out.push({ raw, label: `${kubeedge} ${os}/${arch} ${runtime} (${source})` })
    }
  }
  return out
}

const scripts = new Map<string, string>()

t.test('every rendered config parses back and holds the chosen values', (t) => {
  const all = variants()
  t.ok(all.length > 300, `${all.length} variants`)
  for (const { raw, label } of all) {
    const bundle = renderBundle(catalog, validateRequest(catalog, raw), templates)
    const { plan, nodeFiles, resolved } = bundle
    const parsed = new Map(nodeFiles.map((f) => [f.dest, parse(f.format, f.content)]))
    for (const file of nodeFiles) {
      const structured = /\.(toml|json|conflist|yaml)$|crio\.conf\.d|net\.d\/.*\.conf$|registries\.conf\.d/.test(file.dest)
      if (structured !== (file.format !== 'text')) t.fail(`${label}: ${file.dest} is declared ${file.format}`)
    }
    const everything = [...parsed.values()].flatMap(strings)
    // The sandbox image reaches the runtime's own config (or cri-dockerd's unit) and edgecore.
    const runtimeConfigs = nodeFiles.filter((f) => /config\.toml$|crio\.conf\.d|daemon\.json$|cri-docker\.service$/.test(f.dest))
    const dockershim = resolved.runtime.name === 'docker' && resolved.kubeedge.features.dockershim
    if (resolved.runtime.name !== 'virtlet' && !dockershim) {
      if (!runtimeConfigs.some((f) => f.content.includes(PAUSE))) t.fail(`${label}: no runtime config names the pause image`)
    }
    const edged = (parseYaml(nodeFiles.find((f) => f.dest.endsWith('edgecore-edged.yaml'))!.content) as { modules: { edged: Record<string, any> } }).modules.edged
    if (edged['podSandboxImage'] !== PAUSE) t.fail(`${label}: edgecore podSandboxImage`)
    if (resolved.family === 'linux') {
      if (edged['tailoredKubeletConfig']?.cgroupDriver !== 'systemd') t.fail(`${label}: edgecore cgroupDriver`)
      if (!plan.kubeedge.keadmJoinArgs.includes('--cgroupdriver=systemd')) t.fail(`${label}: keadm --cgroupdriver`)
      if (!everything.includes(SUBNET)) t.fail(`${label}: CNI subnet missing`)
      const cgroupSetting = runtimeConfigs.map((f) => f.content).join('\n')
      const ok =
        resolved.runtime.name === 'virtlet' ||
        /SystemdCgroup = true/.test(cgroupSetting) || /cgroup_manager = "systemd"/.test(cgroupSetting) ||
        /native\.cgroupdriver=systemd/.test(cgroupSetting) || /"systemd-cgroup": true/.test(cgroupSetting)
      if (!ok) t.fail(`${label}: the runtime config does not use the systemd cgroup driver`)
    }
    const endpoint = plan.runtime.endpoint
    if (!plan.kubeedge.keadmJoinArgs.includes(`--remote-runtime-endpoint=${endpoint}`)) t.fail(`${label}: keadm endpoint`)
    if (plan.kubeedge.keadmJoinArgs[0] !== `--kubeedge-version=v${plan.kubeedge.release}`) t.fail(`${label}: keadm version`)
    if (!strings(edged).includes(endpoint)) t.fail(`${label}: edgecore endpoint`)
    const script = bundle.files.find((f) => f.path === 'install.sh')
    if (script) scripts.set(createHash('sha256').update(script.content).digest('hex'), script.content)
    // Docker before KubeEdge 1.14: dockershim.sock is edged's own, served after the join, so there is no CRI check.
    const lastKind = dockershim ? 'enable-service' : 'check-runtime'
    if (!plan.steps.length || plan.steps[0]!.kind !== 'preflight' || plan.steps.at(-1)!.kind !== lastKind) t.fail(`${label}: plan order`)
    if (plan.steps.some((s) => s.kind === 'check-runtime' && /dockershim/.test(s.endpoint))) t.fail(`${label}: a CRI check waits for dockershim.sock`)
    // No rendered CNI network config names a spec version the runtime cannot read (iSulad: 0.4.0 before 2.1.4).
    const conflist = nodeFiles.find((f) => f.dest.endsWith('10-containerd-net.conflist'))
    if (conflist && (JSON.parse(conflist.content) as { cniVersion: string }).cniVersion !== (resolved.runtime.name === 'isulad' ? '0.4.0' : '1.0.0')) t.fail(`${label}: conflist cniVersion`)
  }
  t.pass(`checked ${all.length} variants`)
  t.end()
})

const shellcheck = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' })
if (shellcheck.status !== 0 && process.env['CI']) throw new Error('shellcheck is not installed; .ci/run installs it')

/**
 * shellcheck costs about a second per 1,400-line script, and a thousand scripts differ only in their main block
 * and quoted values. So each distinct function library is linted once, with its scripts' main blocks folded
 * into functions of their own: the same code, one shellcheck run per library.
 */
function combinedScripts(): { combined: string[]; wholeSamples: string[] } {
  // Comments, single-quoted literals and integer settings are data to shellcheck (nothing in '…' expands;
  // shQuote is tested on hostile values on its own), so scripts that differ only there have the same shape
  // and are linted once. A quoted value may span lines (a list of images, one per line): an assignment whose
  // one quoted string runs to the end of a later line is taken whole; a ' inside "…" never starts one.
  const shape = (text: string) =>
    text
      .replace(/^([A-Za-z_][A-Za-z0-9_]*)='[^']*'$/gm, "$1=''")
      .replace(/^([A-Za-z_][A-Za-z0-9_]*)=[0-9]+$/gm, '$1=0')
      .split('\n')
      .filter((line) => !/^\s*#/.test(line))
      .map((line) => line.replace(/'[^']*'/g, "''"))
      .join('\n')
  // A main block of nothing but calls with literal arguments ("$@" at most) gives shellcheck nothing that
  // depends on their order or repetition, only on each call's shape: those blocks are linted as one function
  // holding each distinct call once. Any other main block is linted whole, in a function of its own.
  // A literal is '…' pieces, with "'" for a quote inside (shQuote's way).
  const plainCall = /^\s*[a-z_][a-z0-9_]*(?: (?:(?:'[^']*'|"'")+|"\$@"))*$/
  const byLibrary = new Map<string, { library: string; calls: Map<string, string>; mains: Map<string, string>; script: string }>()
  for (const script of scripts.values()) {
    const lines = script.split('\n')
    const mainStart = lines.lastIndexOf('{')
    if (mainStart < 0) throw new Error('install.sh has no braced main block')
    const library = lines.slice(0, mainStart).join('\n')
    const mainLines = lines.slice(mainStart + 1, lines.lastIndexOf('}')).filter((line) => line.trim() !== '')
    const key = shape(library)
    const group = byLibrary.get(key) ?? { library, calls: new Map<string, string>(), mains: new Map<string, string>(), script }
    if (mainLines.every((line) => plainCall.test(line))) for (const line of mainLines) group.calls.set(shape(line), line)
    else group.mains.set(shape(mainLines.join('\n')), mainLines.join('\n'))
    byLibrary.set(key, group)
  }
  const combined = [...byLibrary.values()].map(({ library, calls, mains }) => {
    const bodies = [...(calls.size > 0 ? [[...calls.values()].join('\n')] : []), ...mains.values()]
    return [library, ...bodies.map((main, index) => `main_${index}() {\n${main}\n}`), ...bodies.map((_, index) => `main_${index} "$@"`)].join('\n')
  })
  return { combined, wholeSamples: [...byLibrary.values()].map((group) => group.script) }
}

t.test('every distinct install.sh passes shellcheck', { skip: shellcheck.status !== 0 && 'shellcheck is not installed here' }, (t) => {
  t.ok(scripts.size > 50, `${scripts.size} distinct scripts`)
  const dir = t.testdir()
  const { combined, wholeSamples } = combinedScripts()
  t.ok(combined.length < 10, `${combined.length} distinct function libraries`)
  const files = combined.map((content, index) => {
    const path = join(dir, `combined-${index}.sh`)
    writeFileSync(path, content)
    return path
  })
  const result = spawnSync('shellcheck', ['--shell=sh', '--severity=style', '--format=gcc', ...files], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  t.equal(result.status, 0, result.stdout.split('\n').slice(0, 20).join('\n'))
  // And one whole script per library exactly as shipped, to be sure the folding changes nothing.
  const sampleFiles = wholeSamples.map((content, index) => {
    const path = join(dir, `sample-${index}.sh`)
    writeFileSync(path, content)
    return path
  })
  const whole = spawnSync('shellcheck', ['--shell=sh', '--severity=style', '--format=gcc', ...sampleFiles], { encoding: 'utf8' })
  t.equal(whole.status, 0, whole.stdout.split('\n').slice(0, 20).join('\n'))
  t.end()
})
