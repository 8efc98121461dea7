/** The shared Handlebars instance: strict, no HTML escaping, only its own helpers. */
import t from 'tap'
import { compileTemplate } from '../../src/render/handlebars.js'

t.test('values come out as they are, through the quoting helpers', async (t) => {
  const render = compileTemplate<{ v: string }>('raw={{v}} sh={{sh v}} ps={{ps v}} # {{comment v}}')
  t.equal(render({ v: `a<b>&"it's"\nx` }), `raw=a<b>&"it's"\nx sh='a<b>&"it'"'"'s"\nx' ps='a<b>&"it''s"\nx' # a<b>&"it's" x`)
})

t.test('a missing field is an error, not an empty string', async (t) => {
  t.throws(() => compileTemplate<Record<string, string>>('{{name}} {{other}}')({ name: 'x' }), /"other" not defined/)
  // Strict mode does not cover helper arguments; the helpers refuse undefined themselves.
  t.throws(() => compileTemplate<Record<string, string>>('{{sh other}}')({ name: 'x' }), /expected a string, got undefined/)
})

t.test('helpers take strings only', async (t) => {
  t.throws(() => compileTemplate<{ n: number }>('{{sh n}}')({ n: 1 }), /expected a string/)
})

t.test('an unknown helper fails when the template compiles', async (t) => {
  t.throws(() => compileTemplate('{{shell x}}')({ x: 'y' }))
  t.throws(() => compileTemplate('{{#shout}}x{{/shout}}')({}))
})

t.test('\\{{ stays literal: docker inspect formats pass through', async (t) => {
  t.equal(compileTemplate<object>(`'\\{{.State.Running}}'`)({}), `'{{.State.Running}}'`)
})
