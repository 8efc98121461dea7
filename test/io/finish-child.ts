/** Child of finish.test.ts: finishWith on work that settles with a code, throws, or never settles. */
import { finishWith } from '../../src/io/finish.js'

const mode = process.argv[2]
const work =
  mode === 'code' ? Promise.resolve(3) : mode === 'throws' ? Promise.reject(new Error('boom')) : new Promise<number>(() => {})
finishWith(work, (text) => process.stderr.write(text), 'prog')
