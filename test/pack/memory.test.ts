/**
 * Packing and inspecting stream: memory does not grow with the size of the files. Measured loosely, no timing
 * involved: while a 20 MB file is packed (and its archive inspected), a sampler forces a garbage collection and records rss and the
 * memory of live Buffers. Without the forced collections the numbers say more about when V8 chooses to
 * collect the 256 KiB chunks already dropped than about what is held. A separate test file so that it
 * runs in a fresh process with nothing else allocated.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { inspectBundle } from '../../src/inspect/inspect.js'
import { writeBundleArchive } from '../../src/pack/index.js'
import { BIG_SIZE, sha256Of, writePseudoRandom } from './fixtures.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Bytes this process has read so far (Linux's rchar), or null where /proc/self/io cannot be read. */
function bytesRead(): number | null {
  try {
    const match = /^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))
    return match ? Number(match[1]) : null
  } catch {
    return null
  }
}

/** Peak growth of rss and of live Buffer memory while `work` runs. */
async function measure(work: () => Promise<unknown>): Promise<{ rss: number; buffers: number }> {
  gc()
  const before = process.memoryUsage()
  let peakRss = before.rss
  let peakBuffers = before.arrayBuffers
  // The next sample is armed only after a collection has finished, never on a fixed interval: on a loaded
  // machine one forced full collection takes longer than 50 ms, and an interval then collects on every
  // event-loop turn. A 20 MB zip is about 1400 turns (zlib's 16 KiB steps), so the test crawled for minutes
  // and hit tap's timeout, which looked like a hang. Work is counted in bytes read (packing and inspecting
  // each read their input once), not in wall time: on a busy machine 10 ms pass with hardly any work done,
  // and collecting anyway made the collections most of this test's CPU (~40 CPU-s of 45). One collection
  // per MiB read: chunks dropped since the last one are still counted until V8's sweeper frees them, so
  // the peak may overshoot by about that MiB (peaks here stay under 8 MiB, against bounds of 10 and 20),
  // while a collection per 256 KiB cost 15 CPU-s for the same verdicts instead of 5.
  let timer: NodeJS.Timeout | undefined
  let running = true
  let readAtLastSample = bytesRead()
  const sample = () => {
    const read = bytesRead()
    if (read === null || readAtLastSample === null || read - readAtLastSample >= 1024 * 1024) {
      gc()
      const now = process.memoryUsage()
      peakRss = Math.max(peakRss, now.rss)
      peakBuffers = Math.max(peakBuffers, now.arrayBuffers)
      readAtLastSample = read
    }
    if (running) timer = setTimeout(sample, 10)
  }
  timer = setTimeout(sample, 10)
  try {
    await work()
  } finally {
    running = false
    clearTimeout(timer)
  }
  return { rss: peakRss - before.rss, buffers: peakBuffers - before.arrayBuffers }
}

const MiB = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`

t.test('packing a 20 MB file, and verifying the archive, keep memory far below its size', async (t) => {
  const dir = t.testdir()
  const big = join(dir, 'big.bin')
  await writePseudoRandom(big, BIG_SIZE)
  for (const format of ['tar.gz', 'zip'] as const) {
    const output = join(dir, `out.${format}`)
    const packing = await measure(() =>
      writeBundleArchive(
        [
          { path: 'top/big.bin', mode: 0o644, source: { file: big } },
          { path: 'top/small.txt', mode: 0o644, source: { content: 'small\n' } },
        ],
        output,
        // One member in flight: what is held then is the streaming itself, not the parallelism (each
        // worker adds a 1 MiB member and its output, whatever the file's size).
        { format, mtime: new Date(0), gzip: { workers: 1 } },
      ),
    )
    t.comment(`${format} pack: peak rss +${MiB(packing.rss)}, peak live Buffer memory +${MiB(packing.buffers)}, for a ${MiB(BIG_SIZE)} file`)
    // Reading the file whole would hold all of it; streaming holds a few 256 KiB chunks and zlib's state.
    // (Half the file, not less: right after a collection V8 may not have swept every dropped chunk yet.)
    t.ok(packing.buffers < BIG_SIZE / 2, `${format} pack: live Buffer memory grew by ${packing.buffers} bytes, under half the file`)
    t.ok(packing.rss < BIG_SIZE / 2, `${format} pack: rss grew by ${packing.rss} bytes, under half the file`)

    // Reading is held to a looser bound: gunzip and inflate add native buffers, and their chunks are
    // dropped faster than V8 sweeps them. Holding the file whole would still exceed it.
    let hashed = ''
    const reading = await measure(async () => {
      const report = await inspectBundle(output)
      hashed = report.files.find((f) => f.path === 'big.bin')?.sha256 ?? ''
    })
    t.comment(`${format} inspect: peak rss +${MiB(reading.rss)}, peak live Buffer memory +${MiB(reading.buffers)}`)
    t.equal(hashed, sha256Of(big), `${format} inspect: hashed the big file as it streamed past`)
    t.ok(reading.buffers < BIG_SIZE, `${format} inspect: live Buffer memory grew by ${reading.buffers} bytes, less than the file`)
    t.ok(reading.rss < BIG_SIZE, `${format} inspect: rss grew by ${reading.rss} bytes, less than the file`)
  }
})
