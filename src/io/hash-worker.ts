/**
 * SHA-256 of large files on a second thread. Hashing is the main thread's work (crypto's update is
 * synchronous), so a bundle verifies at one core's speed however many files are read at once; its
 * largest file (the 100 MiB executable) hashed beside the rest halves the time on two cores.
 *
 * The worker is started on first use (~20 ms) and runs one file at a time, reading it through one
 * buffer, so memory stays flat. It is plain CommonJS evaluated from a string: the installer's single
 * executable has no files to load a worker from.
 */
import { Worker } from 'node:worker_threads'

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const { closeSync, openSync, readSync } = require('node:fs')
const buffer = Buffer.allocUnsafe(256 * 1024)
parentPort.on('message', ({ id, path }) => {
  let fd
  try {
    const hash = createHash('sha256')
    let size = 0
    fd = openSync(path, 'r')
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, null)
      if (read === 0) break
      hash.update(read === buffer.length ? buffer : buffer.subarray(0, read))
      size += read
    }
    parentPort.postMessage({ id, sha256: hash.digest('hex'), size })
  } catch (error) {
    parentPort.postMessage({ id, error: { message: String(error && error.message), code: error && error.code } })
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
})
`

type Reply = { id: number; sha256: string; size: number } | { id: number; error: { message: string; code?: string } }

/** Below this, a file is hashed faster where it is than it is handed to another thread. */
export const OFFLOAD_BYTES = 16 * 1024 * 1024

export class HashWorker {
  private worker: Worker | null = null
  private nextId = 0
  private readonly pending = new Map<number, { resolve: (value: { sha256: string; size: number }) => void; reject: (error: Error) => void }>()

  /** Nothing is being hashed there now. */
  get idle(): boolean {
    return this.pending.size === 0
  }

  hash(path: string): Promise<{ sha256: string; size: number }> {
    const worker = this.start()
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      worker.postMessage({ id, path })
    })
  }

  /** Stops the thread; hashes still pending fail. */
  async close(): Promise<void> {
    const worker = this.worker
    this.worker = null
    if (worker !== null) await worker.terminate()
  }

  private start(): Worker {
    if (this.worker !== null) return this.worker
    const worker = new Worker(WORKER_SOURCE, { eval: true })
    worker.on('message', (reply: Reply) => {
      const waiting = this.pending.get(reply.id)
      if (waiting === undefined) return
      this.pending.delete(reply.id)
      if ('error' in reply) waiting.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }))
      else waiting.resolve({ sha256: reply.sha256, size: reply.size })
    })
    const failAll = (error: Error) => {
      for (const waiting of this.pending.values()) waiting.reject(error)
      this.pending.clear()
      if (this.worker === worker) this.worker = null
    }
    worker.on('error', failAll)
    worker.on('exit', () => failAll(new Error('the hashing thread stopped')))
    this.worker = worker
    return worker
  }
}
