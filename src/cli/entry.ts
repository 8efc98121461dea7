/** Process entry point of the builder CLI. */
import { finishWith } from '../io/finish.js'
import { run } from './main.js'

finishWith(run(process.argv.slice(2)), (text) => process.stderr.write(text), 'edgebundle')
