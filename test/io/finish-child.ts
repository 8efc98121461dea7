/** Child of finish.test.ts: finishWith on work that settles with a code, throws, or never settles. */
import { finishWith, tracked } from '../../src/io/finish.js'

const mode = process.argv[2]
const work =
  mode === 'code'
    ? tracked('quick step', async () => 3)
    : mode === 'throws'
      ? Promise.reject(new Error('boom'))
      : tracked('ubuntu/arm64/kata: archive index', () => new Promise<number>(() => {}))
finishWith(work, (text) => process.stderr.write(text), 'prog')
