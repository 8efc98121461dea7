import t from 'tap'
import { keadmImageReference } from '../../src/resolve/resolve.js'

t.test('keadm names images as Set.Current does', async (t) => {
  t.equal(keadmImageReference('kubeedge/installation-package', '1.23.1', undefined), 'kubeedge/installation-package:v1.23.1')
  t.equal(keadmImageReference('eclipse-mosquitto:1.6.15', '1.23.1', undefined), 'eclipse-mosquitto:1.6.15', 'a tagged image keeps its tag')
  t.equal(
    keadmImageReference('kubeedge/installation-package', '1.15.4', 'reg.local:5000/kubeedge'),
    'reg.local:5000/kubeedge/installation-package:v1.15.4',
    'the repository replaces the first path component',
  )
  t.equal(keadmImageReference('eclipse-mosquitto:1.6.15', '1.12.7', 'reg.local/edge'), 'reg.local/edge/eclipse-mosquitto:1.6.15', 'a one-component name is prefixed')
})
