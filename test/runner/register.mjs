/** `node --import=./test/runner/register.mjs test/x.test.ts` runs the test from its bundle (bundle.mjs). */
import { register } from 'node:module'

register('./hooks.mjs', import.meta.url)
keepChildrenPlain()

/**
 * tap starts each test file with @tapjs/processinfo, which hooks every spawn (through process-on-spawn's
 * global state) and puts itself in NODE_OPTIONS so that every Node process a test starts loads it too. It
 * serves coverage, which is off (.taprc), and costs each child Node process about 0.25 CPU-s, on hundreds of
 * `edgebundle` runs. The spawns of a test are left as the test wrote them.
 */
function keepChildrenPlain() {
  const spawnHooks = globalThis[Symbol.for('process-on-spawn@*:singletonId')]
  if (spawnHooks !== undefined) {
    spawnHooks.listeners = []
    spawnHooks.unwrap()
  }
  const options = process.env.NODE_OPTIONS
  if (options === undefined) return
  const kept = options.replace(/"?--(?:import|loader|experimental-loader)=\S*@tapjs\/processinfo\S*?"?(?=\s|$)/g, '').trim()
  if (kept === '') delete process.env.NODE_OPTIONS
  else process.env.NODE_OPTIONS = kept
}
