/**
 * What the one tar reader (src/archive/tar.ts) adds for its readers beyond the installer's use (which
 * test/installer/archive.test.ts covers): where each member's data starts, a seekable file source that
 * skips data unread, the end marker and data hidden after it, and error kinds with their byte offsets.
 */
import { open } from 'node:fs/promises'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { CorruptArchive, TarReader, fileSource } from '../../src/archive/tar.js'
import { tarBytes } from '../fixtures/tar.js'

async function* chunks(bytes: Buffer, size = 100): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

const entries = [
  { name: 'a.txt', type: 'file' as const, content: 'alpha' },
  { name: 'big', type: 'file' as const, content: 'x'.repeat(5000) },
  { name: 'c.txt', type: 'file' as const, content: 'gamma' },
]

async function readAll(reader: TarReader): Promise<{ name: string; at: number; data: string }[]> {
  const out: { name: string; at: number; data: string }[] = []
  for (let header = await reader.next(); header !== null; header = await reader.next()) {
    const at = reader.position
    let data = ''
    if (header.name !== 'big') for await (const piece of reader.data()) data += piece.toString('latin1')
    out.push({ name: header.name, at, data })
  }
  return out
}

t.test('a seekable file source gives the same members and data offsets, skipping what is not read', async (t) => {
  const bytes = tarBytes(entries)
  const streamed = await readAll(new TarReader(chunks(bytes)))
  t.same(streamed.map((m) => m.name), ['a.txt', 'big', 'c.txt'])
  for (const member of streamed) if (member.data !== '') t.equal(bytes.toString('latin1', member.at, member.at + member.data.length), member.data, `${member.name}'s data starts at ${member.at}`)
  const file = join(t.testdir(), 'a.tar')
  writeFileSync(file, bytes)
  const handle = await open(file, 'r')
  t.teardown(() => handle.close())
  const source = fileSource(handle, bytes.length, 512)
  let read = 0
  const counting = Object.assign(
    (async function* () {
      for await (const chunk of source) {
        read += chunk.length
        yield chunk
      }
    })(),
    { skip: source.skip },
  )
  const reader = new TarReader(counting)
  t.same(await readAll(reader), streamed)
  t.ok(read < bytes.length - 4096, `the 5000 bytes of big were skipped, not read (${read} of ${bytes.length} read)`)
  t.ok(reader.sawEndMarker)
  t.notOk(reader.dataAfterEnd)
})

t.test('the end: marker or not, and data hidden after it', async (t) => {
  const one = tarBytes([entries[0]!])
  const noMarker = new TarReader(chunks(one.subarray(0, 1024)))
  await readAll(noMarker)
  t.notOk(noMarker.sawEndMarker, 'a stream that just stops has no end marker')
  const hidden = new TarReader(chunks(Buffer.concat([one, tarBytes([entries[2]!])])))
  t.same((await readAll(hidden)).map((m) => m.name), ['a.txt'], 'a plain read stops at the marker')
  t.ok(hidden.dataAfterEnd, 'what follows it is noticed')
})

t.test('errors say what is wrong and where', async (t) => {
  const bytes = tarBytes(entries)
  const damaged = Buffer.from(bytes)
  damaged[1024 + 10] = damaged[1024 + 10]! ^ 0xff // big's header (a.txt: header + one data block)
  const failure = (work: Promise<unknown>) => work.then(() => null, (error: unknown) => error)
  const checksum = await failure(readAll(new TarReader(chunks(damaged))))
  t.type(checksum, CorruptArchive)
  t.match(checksum, { kind: 'checksum', at: 1024, message: /the tar header at byte 1024 has a wrong checksum/ })
  const cut = await failure(readAll(new TarReader(chunks(bytes.subarray(0, 2000)))))
  t.type(cut, CorruptArchive)
  t.match(cut, { kind: 'truncated', at: 2000 })
  const file = join(t.testdir(), 'cut.tar')
  writeFileSync(file, bytes.subarray(0, 2000))
  const handle = await open(file, 'r')
  t.teardown(() => handle.close())
  t.match(await failure(readAll(new TarReader(fileSource(handle, 2000)))), { kind: 'truncated' }, 'a seek past the end of the file is a truncation too')
})
