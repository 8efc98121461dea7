/**
 * Loaded first in every test process tap starts: .taprc's test-env puts it in their NODE_OPTIONS (tap's
 * spawn appends processinfo's own --import there after it), and NODE_OPTIONS' --import run before the
 * command line's, among them tap's --import of @tapjs/processinfo.
 *
 * processinfo records what a test process loads and starts, for coverage and `tap --changed`. On Node 20
 * and 22 it registers a loader hook, on a thread of its own, through which each of the ~200 modules a test
 * loads makes a round trip; it wraps spawn and puts itself in NODE_OPTIONS so that every process a test
 * starts loads it too; at exit it writes a record under .tap/. Coverage is off (.taprc) and --changed is not
 * used, so that work buys nothing: a small test file took 1.3 CPU-s with it and 0.65 without, and 45 of the
 * suite's files 186 CPU-s against 117. Its singleton is set here, so it registers none of that, and its
 * loader hook is not registered. (Node 24.13 and later take its synchronous hooks instead, left as they are.)
 *
 * This module then takes itself and processinfo out of NODE_OPTIONS: the processes a test starts are plain.
 */
import module from 'node:module'

const PROCESSINFO = '/@tapjs/processinfo/'

globalThis[Symbol.for('@tapjs/processinfo.ProcessInfoNodeData')] ??= { files: [], sources: Object.create(null) }
// process-on-spawn, which processinfo loads, wraps every spawn when it is first loaded, unless its state
// is already there: with no listener, the wrapper would only copy each spawn's environment.
globalThis[Symbol.for('process-on-spawn@*:singletonId')] ??= { version: 1, listeners: [], unwrap: () => {} }

const register = module.register
if (typeof register === 'function') {
  module.register = function registerUnlessProcessinfo(specifier, ...rest) {
    if (String(specifier).includes(PROCESSINFO)) return undefined
    return register.call(this, specifier, ...rest)
  }
}

// tap's spawn adds processinfo to NODE_OPTIONS as well as to the command line.
const options = process.env.NODE_OPTIONS
if (options !== undefined) {
  const kept = options.replace(/"?--(?:import|loader|experimental-loader)=\S*(?:@tapjs\/processinfo\S*?|skip-processinfo\.mjs)"?(?=\s|$)/g, '').trim()
  if (kept === '') delete process.env.NODE_OPTIONS
  else process.env.NODE_OPTIONS = kept
}
