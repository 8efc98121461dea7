import t from 'tap'
import { type JournalRecord, JournalError, formatRecord, nodePaths, parseJournal, parseRecord } from '../../src/installer/journal.js'

t.test('records round-trip, spaces in the last field and in Windows step ids included', async (t) => {
  const records: JournalRecord[] = [
    { op: 'begin', run: 1, name: 'edgebundle-1.23-windows-amd64-containerd' },
    { op: 'dir', run: 1, step: '-', path: '/var/lib/edgebundle' },
    { op: 'new', run: 1, step: 'write-file:C:\\Program Files\\containerd\\config.toml', path: 'C:\\Program Files\\containerd\\config.toml' },
    { op: 'replace', run: 2, step: 'odd%step', path: '/etc/a file with spaces' },
    { op: 'mode', run: 2, step: 'write-file:/etc/x', oldMode: '600', path: '/etc/x' },
    { op: 'service', run: 2, step: 'service:containerd', name: 'containerd' },
    { op: 'package', run: 2, step: 'packages', manager: 'dpkg', name: 'docker-ce' },
    { op: 'container', run: 2, step: 'run-virtlet', name: 'virtlet' },
    { op: 'end', run: 2 },
  ]
  const text = records.map((r) => `${formatRecord(r)}\n`).join('')
  t.match(text, /^new 1 write-file:C:\\Program%20Files\\containerd\\config\.toml C:\\Program Files\\containerd\\config\.toml$/m, 'a step id keeps no space')
  t.match(text, /^replace 2 odd%25step \/etc\/a file with spaces$/m)
  t.same(parseJournal(text), records)
})

t.test('a damaged line is an error naming its line', async (t) => {
  for (const line of ['', 'burn 1 /etc', 'new 1 step', 'new x step /p', 'new 0 step /p', 'end 1 extra', 'mode 1 s 9z9 /p']) {
    t.throws(() => parseRecord(line, 7), JournalError, JSON.stringify(line))
  }
  t.throws(() => parseJournal('begin 1 b\nnope\n'), /journal line 2/)
})

t.test('node paths: ancestors, backups and the drive under --root', async (t) => {
  const posix = nodePaths('posix', '/mnt/image')
  t.same(posix.ancestors('/usr/local/bin/x'), ['/usr', '/usr/local', '/usr/local/bin'])
  t.equal(posix.backupPath(3, '/etc/crictl.yaml'), '/var/lib/edgebundle/backup/3/etc/crictl.yaml')
  t.equal(posix.host('/etc/x'), '/mnt/image/etc/x')
  t.ok(posix.isAtOrUnder('/usr/local/bin/x', '/usr/local'))
  t.notOk(posix.isAtOrUnder('/usr/localbin', '/usr/local'))
  const windows = nodePaths('windows', '/mnt/image')
  t.same(windows.ancestors('C:\\Program Files\\containerd\\x'), ['C:\\', 'C:\\Program Files', 'C:\\Program Files\\containerd'], 'the drive is a folder of the image')
  t.same(nodePaths('windows', undefined).ancestors('C:\\Program Files\\x'), ['C:\\Program Files'], 'a live drive is there')
  t.equal(windows.backupPath(1, 'C:\\Program Files\\x'), 'C:\\ProgramData\\edgebundle\\state\\backup\\1\\C\\Program Files\\x')
  t.ok(windows.isAtOrUnder('c:\\program files\\X', 'C:\\Program Files'), 'Windows paths compare without case')
})
