/** Reading through two buffers that take turns: every byte in order, whatever the size against the chunk, and an early stop. */
import { createHash, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { reusedChunks, sha256OfFile } from '../../src/io/file-chunks.js'

t.test('every byte, in order, for sizes around the chunk size', async (t) => {
  const dir = t.testdir()
  for (const size of [0, 1, 4095, 4096, 4097, 8192, 3 * 4096 + 5]) {
    const bytes = randomBytes(size)
    const file = join(dir, `f${size}`)
    writeFileSync(file, bytes)
    const copies: Buffer[] = []
    for await (const chunk of reusedChunks(file, 4096)) {
      t.ok(chunk.length > 0 && chunk.length <= 4096)
      copies.push(Buffer.from(chunk))
    }
    t.ok(Buffer.concat(copies).equals(bytes), `${size} bytes`)
    t.same(await sha256OfFile(file), { sha256: createHash('sha256').update(bytes).digest('hex'), size })
  }
})

t.test('stopping early closes the file without waiting for the rest', async (t) => {
  const file = join(t.testdir(), 'f')
  writeFileSync(file, randomBytes(64 * 1024))
  let seen = 0
  for await (const chunk of reusedChunks(file, 4096)) {
    seen += chunk.length
    if (seen >= 8192) break
  }
  t.equal(seen, 8192)
})
