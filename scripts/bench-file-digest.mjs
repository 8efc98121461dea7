// Hashing a large file: readFileSync (baseline) against 1 MiB pieces through one reused buffer, as
// test/fixtures/files.ts does. Prints CPU seconds (user + system) of each and the ratio.
//   node scripts/bench-file-digest.mjs [size in MiB, default 100] [rounds, default 5]
import { createHash } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const mib = Number(process.argv[2] ?? 100)
const rounds = Number(process.argv[3] ?? 5)
const dir = mkdtempSync(join(tmpdir(), 'bench-file-digest-'))
const file = join(dir, 'big.bin')
writeFileSync(file, Buffer.alloc(mib << 20, 0x5a))

const piece = Buffer.allocUnsafe(1 << 20)
const whole = () => createHash('sha256').update(readFileSync(file)).digest('hex')
const inPieces = () => {
  const hash = createHash('sha256')
  const fd = openSync(file, 'r')
  for (let read; (read = readSync(fd, piece, 0, piece.length, null)) > 0; ) hash.update(piece.subarray(0, read))
  closeSync(fd)
  return hash.digest('hex')
}
const cpu = (work) => {
  const before = process.cpuUsage()
  for (let i = 0; i < rounds; i++) work()
  const used = process.cpuUsage(before)
  return { user: used.user / 1e6, system: used.system / 1e6, total: (used.user + used.system) / 1e6 }
}
try {
  if (whole() !== inPieces()) throw new Error('the two digests differ')
  const baseline = cpu(whole)
  const pieces = cpu(inPieces)
  const show = (name, r) => console.log(`${name.padEnd(22)} ${r.total.toFixed(2)} CPU-s (user ${r.user.toFixed(2)}, system ${r.system.toFixed(2)})`)
  console.log(`${rounds} × sha256 of a ${mib} MiB file`)
  show('readFileSync (baseline)', baseline)
  show('1 MiB pieces', pieces)
  console.log(`ratio: ${(pieces.total / baseline.total).toFixed(3)} of the baseline's CPU`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
