/**
 * The token's ways in: --token, or KUBEEDGE_TOKEN in the environment (what the fleet playbooks use, so the
 * token is in no command line); --token wins when both are given, as the usage text says.
 */
import t from 'tap'
import { USAGE, parseInstallerArgs } from '../../src/installer/cli.js'

t.test('the token from the environment, --token first', async (t) => {
  const cloudcore = ['--cloudcore', '10.0.0.1:10000']
  t.equal(parseInstallerArgs(cloudcore, { KUBEEDGE_TOKEN: 'from-env' }).join?.token, 'from-env', 'environment only')
  t.equal(parseInstallerArgs([...cloudcore, '--token', 'from-flag'], { KUBEEDGE_TOKEN: 'from-env' }).join?.token, 'from-flag', '--token wins')
  t.equal(parseInstallerArgs([...cloudcore, '--token', 'from-flag'], {}).join?.token, 'from-flag')
  t.throws(() => parseInstallerArgs(cloudcore, {}), /--cloudcore needs a token/, 'neither: a usage error')
  t.throws(() => parseInstallerArgs(cloudcore, { KUBEEDGE_TOKEN: '' }), /--cloudcore needs a token/, 'an empty variable is no token')
  t.throws(() => parseInstallerArgs(cloudcore, { KUBEEDGE_TOKEN: 'two\nlines' }), /line breaks/, 'a token with a line break is refused, from the environment too')
  t.equal(parseInstallerArgs([], { KUBEEDGE_TOKEN: 'unused' }).join, null, 'without --cloudcore the variable is ignored')
  t.match(USAGE, /KUBEEDGE_TOKEN in the environment instead \(kept out of\s+every command line; --token wins when both are given\)/)
})
