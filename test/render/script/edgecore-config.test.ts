/**
 * `install.sh edgecore-config`, run for real under dash, bash and BusyBox ash with --root: on the
 * edgecore.yaml keadm join writes (shaped from the field table at the release tag), it writes the same bytes
 * as the installer executable's edit, journals its own run with keadm's file backed up, changes nothing a
 * second time, and rollback gives keadm's file back.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { editEdgecoreYaml } from '../../../src/installer/edgecore-config.js'
import { render } from '../../helpers.js'
import { goYaml, keadmShaped, loadFacts } from '../keadm-facts.js'
import { journalOf, layBundle, runScript, shells } from './helpers.js'

const facts = loadFacts()
const CONFIG = 'etc/kubeedge/config/edgecore.yaml'

const shellList = shells(t.testdir())
for (const [version, tag] of [['1.12', 'v1.12.7'], ['1.17', 'v1.17.5']] as const) {
  const plan = render({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': version, 'pause-image': 'registry.local:5000/edge/pause:3.9' }).plan
  const keadmText = goYaml({ apiVersion: 'edgecore.config.kubeedge.io/v1alpha2', kind: 'EdgeCore', ...keadmShaped(facts, facts.tags[tag]!.edgecore.root) })
  for (const shell of shellList) {
    t.test(`${version}, ${shell.name}: edgecore-config writes what the executable writes, journaled, undone by rollback`, { skip: shell.skip ?? false }, (t) => {
      const layout = layBundle(t.testdir(), plan)
      mkdirSync(join(layout.root, 'etc/kubeedge/config'), { recursive: true })
      writeFileSync(join(layout.root, CONFIG), keadmText, { mode: 0o644 })
      const first = runScript(layout, ['edgecore-config', '--root', layout.root], { shell })
      t.equal(first.status, 0, first.out)
      t.match(first.out, /wrote \/etc\/kubeedge\/config\/edgecore\.yaml/)
      t.match(first.out, /edgecore was not restarted/, '--root: no restart, and it says so')
      const expected = editEdgecoreYaml(keadmText, plan.kubeedge.edgecoreConfig!, 'edgecore.yaml')
      t.equal(readFileSync(join(layout.root, CONFIG), 'utf8'), expected.changed ? expected.content : null, 'the same bytes as the installer executable')
      t.match(journalOf(layout.root), /^begin 1 \S+\n(dir 1 - \S+\n)+replace 1 edgecore-config \/etc\/kubeedge\/config\/edgecore\.yaml\nend 1\n$/)
      t.equal(readFileSync(join(layout.root, 'var/lib/edgebundle/backup/1/etc/kubeedge/config/edgecore.yaml'), 'utf8'), keadmText, "keadm's file is backed up")

      const second = runScript(layout, ['edgecore-config', '--root', layout.root], { shell })
      t.equal(second.status, 0, second.out)
      t.match(second.out, /already has modules\.edged\.podSandboxImage/)
      t.notMatch(journalOf(layout.root), /begin 2/, 'nothing to journal the second time')

      const back = runScript(layout, ['rollback', '--root', layout.root], { shell })
      t.equal(back.status, 0, back.out)
      t.equal(readFileSync(join(layout.root, CONFIG), 'utf8'), keadmText, "rollback gives keadm's file back")
      t.end()
    })
  }
}

t.test('1.18+: nothing to write; before keadm join: an error naming the file', (t) => {
  const dir = t.testdir()
  const p23 = render({ os: 'ubuntu', runtime: 'containerd' }).plan
  const layout = layBundle(join(dir, 'late'), p23)
  const none = runScript(layout, ['edgecore-config', '--root', layout.root])
  t.equal(none.status, 0, none.out)
  t.match(none.out, /needs nothing from this bundle/)
  const p17 = render({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.17' }).plan
  const early = layBundle(join(dir, 'early'), p17)
  const missing = runScript(early, ['edgecore-config', '--root', early.root])
  t.equal(missing.status, 1, missing.out)
  t.match(missing.out, /keadm join has not written \/etc\/kubeedge\/config\/edgecore\.yaml/)
  // The install report asks for `edgecore-config` after keadm join exactly where there is something to write.
  t.match(readFileSync(join(early.bundle, 'install.sh'), 'utf8'), /^EDGECORE_EDITS=1$/m)
  t.match(readFileSync(join(layout.bundle, 'install.sh'), 'utf8'), /^EDGECORE_EDITS=0$/m)
  t.end()
})
