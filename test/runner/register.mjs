/** `node --import=./test/runner/register.mjs test/x.test.ts` runs the test from its bundle (bundle.mjs). */
import { register } from 'node:module'

register('./hooks.mjs', import.meta.url)
