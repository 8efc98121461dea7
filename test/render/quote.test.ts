/** The quoting helpers, fed hostile values: sh words are checked by real shells, PowerShell literals by its rules. */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { commentText, psQuote, shQuote, shWord } from '../../src/render/quote.js'
import { readPsLiteral } from '../fixtures/powershell.js'

function hostile(marker: string): string[] {
  return [
    '',
    'plain',
    "it's",
    "''",
    "'",
    'a\nb\n',
    '\n',
    'tab\there',
    `$(touch ${marker})`,
    `\`touch ${marker}\``,
    `"$(touch ${marker})"`,
    `'; touch ${marker}; '`,
    `"'"'"'`,
    '$HOME ${PATH} $1 $@ $* $? $$ $!',
    '\\ \\\\ \\n \\',
    '* ? [a-z] ~root {a,b}',
    '-n',
    '--',
    '; & | > < >> 2>&1 #comment',
    '’‘‚‛ “” ＇',
    'ünïcødé ✓ 日本',
    '%PATH% @args $env:Path',
    '\r\n',
  ]
}

const shells = [['dash'], ['bash'], ['busybox', 'sh']].filter(([cmd]) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0)

t.test('shQuote single-quotes and escapes single quotes as in k3s-style scripts', async (t) => {
  t.equal(shQuote("it's"), `'it'"'"'s'`)
  t.equal(shQuote(''), `''`)
  t.equal(shQuote('a b'), `'a b'`)
  t.throws(() => shQuote('a\u0000b'), /NUL/)
})

t.test('every shQuoted value reaches a command unchanged in dash, bash and BusyBox sh', async (t) => {
  const marker = join(t.testdir(), 'pwned')
  const values = hostile(marker)
  for (const shell of shells) {
    const script = values.map((value) => `printf '%s\\0' ${shQuote(value)}`).join('\n')
    const result = spawnSync(shell[0]!, [...shell.slice(1), '-c', script], { encoding: 'utf8' })
    t.equal(result.status, 0, `${shell.join(' ')}: ${result.stderr}`)
    t.same(result.stdout.split('\u0000').slice(0, -1), values, shell.join(' '))
  }
  t.notOk(existsSync(marker), 'no value ran as a command')
})

t.test('shWord leaves harmless words bare for display and quotes the rest', async (t) => {
  t.equal(shWord('--cgroupdriver=systemd'), '--cgroupdriver=systemd')
  t.equal(shWord('--remote-runtime-endpoint=unix:///run/containerd/containerd.sock'), '--remote-runtime-endpoint=unix:///run/containerd/containerd.sock')
  t.equal(shWord('a b'), `'a b'`)
  t.equal(shWord("it's"), `'it'"'"'s'`)
  t.equal(shWord('<TOKEN>'), `'<TOKEN>'`)
  t.equal(shWord(''), `''`)
})

t.test('psQuote makes a literal that PowerShell reads back whole, whatever quotes the value holds', async (t) => {
  t.equal(psQuote("it's"), `'it''s'`)
  t.equal(psQuote('’'), `'’’'`)
  t.equal(psQuote('$(Remove-Item C:\\)'), `'$(Remove-Item C:\\)'`)
  for (const value of hostile('C:\\pwned')) {
    const literal = psQuote(value)
    const read = readPsLiteral(literal)
    t.equal(read.value, value, JSON.stringify(value))
    t.equal(read.end, literal.length, `${JSON.stringify(value)}: the literal ends where it should`)
  }
  t.throws(() => psQuote('\u0000'), /NUL/)
})

t.test('commentText keeps a value on its comment line', async (t) => {
  t.equal(commentText('a\nrm -rf /\r\u2028b\u0085c\u0000'), 'a rm -rf /  b c ')
  t.equal(commentText('plain #> text'), 'plain #> text')
})
