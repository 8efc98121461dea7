/** Process entry point of the builder CLI. exitCode (not exit()) lets piped output drain first. */
import { run } from './main.js'

run(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
