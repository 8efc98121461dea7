import t from 'tap'
import { keadmImageReference } from '../../src/resolve/resolve.js'
import { resolve } from '../helpers.js'

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

t.test("edged's own sandbox image default, on each side of 1.13 (common/constants/default.go)", async (t) => {
  t.equal(resolve({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.12' }).kubeedge.defaultPodSandboxImage, 'kubeedge/pause:3.1')
  t.equal(resolve({ os: 'ubuntu', runtime: 'containerd', 'kubeedge-version': '1.13' }).kubeedge.defaultPodSandboxImage, 'kubeedge/pause:3.6')
})
