import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { catalogJsonSchemas } from '../../src/catalog/json-schema.js'
import { defaultBundlesDir, readCatalogFiles } from '../../src/catalog/load.js'
import { parseCatalog } from '../../src/catalog/parse.js'
import { CatalogError } from '../../src/model/errors.js'
import { RUNTIMES } from '../../src/model/target.js'

const files = readCatalogFiles(defaultBundlesDir())

t.test('the shipped catalog loads and covers every runtime and KubeEdge 1.12-1.23', (t) => {
  const catalog = parseCatalog(files)
  t.same(Object.keys(catalog.runtimes).sort(), [...RUNTIMES].sort())
  t.same(catalog.kubeedge.versions, ['1.12', '1.13', '1.14', '1.15', '1.16', '1.17', '1.18', '1.19', '1.20', '1.21', '1.22', '1.23'])
  t.equal(catalog.kubeedge.default, '1.23')
  for (const rule of catalog.matrix.unsupported) t.ok(rule.reason.length > 10 && !rule.reason.includes('\n'), `one-line reason: ${rule.reason}`)
  t.end()
})

t.test('every runtime default version meets its own constraints wherever the combination is not refused', async (t) => {
  const { listMatrix } = await import('../../src/resolve/resolve.js')
  const { satisfies } = await import('../../src/resolve/versions.js')
  const catalog = parseCatalog(files)
  let checked = 0
  for (const entry of listMatrix(catalog)) {
    if (!entry.supported) continue
    const runtime = catalog.runtimes[entry.target.runtime]
    for (const name of [runtime.name, ...(runtime.base ? [runtime.base] : [])]) {
      const r = catalog.runtimes[name]
      const version = r.defaultVersion.find((d) => satisfies(entry.target.kubeedge, d.kubeedge))!.version
      for (const c of r.constraints) {
        if (c.kubeedge !== undefined && !satisfies(entry.target.kubeedge, c.kubeedge)) continue
        if (!satisfies(version, c.requires)) t.fail(`${name} ${version} (default for KubeEdge ${entry.target.kubeedge}) breaks ${c.requires}: ${c.reason}`)
        checked++
      }
      // A pinned default must be a pinned version when the source is release.
      if (entry.source === 'release' && Object.keys(r.versions).length > 0 && !(version in r.versions)) t.fail(`${name} default ${version} is not pinned`)
    }
  }
  t.ok(checked > 100, `${checked} constraint checks`)
  t.end()
})

t.test('every runtime constraint and choice cites upstream source (file @ tag) in a comment before it', async (t) => {
  const { parseDocument, isMap, isSeq } = await import('yaml')
  let checked = 0
  for (const runtime of RUNTIMES) {
    const doc = parseDocument(files[`runtimes/${runtime}.yaml`]!)
    for (const section of ['constraints', 'choices']) {
      const node = doc.get(section, true)
      if (!isSeq(node) && !isMap(node)) continue
      // A comment covers the entries after it up to the next comment (one citation for a group of rules).
      let cited = node.commentBefore ?? ''
      node.items.forEach((item, index) => {
        const own = isSeq(node) ? (item as { commentBefore?: string | null }).commentBefore : (item as { key: { commentBefore?: string | null } }).key.commentBefore
        if (own && !(index === 0 && cited)) cited = own
        t.match(cited, / @ [\w.-]*v?\d/, `runtimes/${runtime}.yaml ${section}[${index}] cites a file at a tag`)
        checked++
      })
    }
  }
  t.ok(checked >= 12, `${checked} rules`)
  t.end()
})

const referencePath = join(defaultBundlesDir(), '..', '..', 'shared', 'reference', 'upstream-artifacts.yaml')

t.test('pinned checksums match shared/reference/upstream-artifacts.yaml where both exist', { skip: !safeExists(referencePath) && 'shared/ is not beside the checkout' }, (t) => {
  const catalog = parseCatalog(files)
  const reference = readFileSync(referencePath, 'utf8')
  let compared = 0
  for (const [id, component] of Object.entries(catalog.components)) {
    for (const entry of Object.values(component.versions)) {
      for (const sha of Object.values(entry.sha256)) {
        t.ok(reference.includes(sha as string), `${id} ${sha} appears in the reference`)
        compared++
      }
    }
  }
  t.ok(compared >= 29, `compared ${compared} checksums`)
  t.end()
})

function safeExists(path: string): boolean {
  try {
    readFileSync(path)
    return true
  } catch {
    return false
  }
}

const broken: [name: string, file: string, edit: (text: string) => string, expected: RegExp][] = [
  ['unknown key in a runtime', 'runtimes/containerd.yaml', (s) => `${s}\nsurprise: true\n`, /runtimes\/containerd\.yaml: \(top\): Unrecognized key.*surprise/],
  ['component not declared', 'runtimes/cri-o.yaml', (s) => s.replace('id: cri-o, version: 1.36.3', 'id: cri-oh, version: 1.36.3'), /component "cri-oh" is not declared/],
  ['component version missing', 'runtimes/containerd.yaml', (s) => s.replace('id: runc, version: 1.4.3', 'id: runc, version: 1.4.9'), /runc has no version 1\.4\.9/],
  ['bad checksum', 'components.yaml', (s) => s.replace('b98f74a0f8522f0a83867178729c1aa70f2158f90c45a2ca8fa791db1c76b303', 'b98f74a0'), /expected 64 lower-case hex digits/],
  ['bad version range', 'kubeedge.yaml', (s) => s.replace('range: "<1.14"', 'range: "less than 1.14"'), /not a version range/],
  ['default not among versions', 'kubeedge.yaml', (s) => s.replace('default: "1.23"', 'default: "1.24"'), /default must be one of versions/],
  ['unknown os in a matrix rule', 'matrix.yaml', (s) => s.replace('os: windows, kubeedge: "<1.16"', 'os: solaris, kubeedge: "<1.16"'), /matrix\.yaml: unsupported\.0\.when\.os/],
  ['duplicate YAML key', 'platforms.yaml', (s) => s.replace('  ubuntu:\n', '  ubuntu:\n    family: linux\n'), /not valid YAML|Map keys must be unique/],
  ['no default version for a KubeEdge version', 'runtimes/containerd.yaml', (s) => s.replace('{kubeedge: "<1.16", version: "1.7.34"}', '{kubeedge: "<1.13", version: "1.7.34"}'), /no defaultVersion covers KubeEdge 1\.13/],
  ['missing file', 'runtimes/virtlet.yaml', () => '', /runtimes\/virtlet\.yaml/],
]

for (const [name, file, edit, expected] of broken) {
  t.test(`a broken catalog is refused: ${name}`, (t) => {
    const copy = { ...files }
    const text = edit(copy[file]!)
    if (text === '') delete copy[file]
    else copy[file] = text
    t.throws(() => parseCatalog(copy), CatalogError)
    try {
      parseCatalog(copy)
    } catch (error) {
      t.match((error as Error).message, expected)
    }
    t.end()
  })
}

t.test('bundles/schema/*.json are up to date (run `npm run schema` after changing src/catalog/schema.ts)', (t) => {
  for (const [name, text] of Object.entries(catalogJsonSchemas())) {
    t.equal(readFileSync(join(defaultBundlesDir(), 'schema', name), 'utf8'), text, name)
  }
  t.end()
})
