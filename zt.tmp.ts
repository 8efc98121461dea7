import { indexArchive } from './src/installer/archive/index.js'
let hangs = 0
for (let round = 0; round < 40; round++) {
  const t = performance.now()
  try {
    await Promise.race([
      Promise.all([1, 2, 3, 4, 5, 6].map(() => indexArchive('/tmp/kata.tar.zst', 'tar.zst', 0))),
      new Promise((_, no) => setTimeout(() => no(new Error('hang')), 30000)),
    ])
  } catch (e) { hangs++; console.log(round, String(e)) }
  if (round % 10 === 0) console.log(round, Math.round(performance.now() - t))
}
console.log('hangs', hangs)
